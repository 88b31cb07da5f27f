#include "core/program.h"
#include <chrono>
#include <mutex>
#include <unistd.h>

namespace gc {

void Program::run() const {
  for (const auto& c : calls) call(c.id, c.ins, c.outs, c.attrs);
}

namespace {
std::mutex g_trace_mu;
std::vector<TraceEvent> g_events;
thread_local int64_t t_start = 0;
thread_local int t_tid = 0;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch()).count();
}

void trace_hook(int id, Ins ins, Outs outs, Attrs attrs, bool after) {
  if (!after) { t_start = now_ns(); return; }
  const int64_t t1 = now_ns();
  const KernelDef& k = kernels()[id];
  const double fl = k.flops ? k.flops(ins, outs, attrs) : 0.0;
  std::lock_guard<std::mutex> lock(g_trace_mu);
  if (!t_tid) t_tid = int(gettid());
  g_events.push_back({id, t_start, t1, fl, t_tid});
}
}  // namespace

void trace_start() {
  std::lock_guard<std::mutex> lock(g_trace_mu);
  g_events.clear();
  set_call_hook(trace_hook);
}

std::vector<TraceEvent> trace_stop() {
  set_call_hook(nullptr);
  std::lock_guard<std::mutex> lock(g_trace_mu);
  std::vector<TraceEvent> out;
  out.swap(g_events);
  return out;
}

}  // namespace gc
