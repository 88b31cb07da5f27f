#include "core/program.h"
#include <chrono>
#include <mutex>
#include <unistd.h>

namespace gc {

void Program::prepare() {
  refs.clear();
  for (auto& c : calls) {
    check_call(c.id, c.ins, c.outs, c.attrs);  // once here, not on every replay
    const KernelDef& k = kernels()[c.id];
    if (!k.list_tail)
      for (size_t j = c.attrs.size(); j < k.attrs.size(); ++j) c.attrs.push_back(k.attrs[j].def);
    for (auto* side : {&c.ins, &c.outs})
      for (auto& b : *side) {
        const char* p = static_cast<const char*>(b.data);
        for (int s = 0; s < int(inputs.size()); ++s) {
          const char* base = static_cast<const char*>(inputs[s].data);
          const size_t n = inputs[s].numel() * dtype_size(inputs[s].dtype);
          if (p >= base && p < base + n) { refs.push_back({&b, s, p - base}); break; }
        }
      }
  }
}

void Program::run(const std::vector<Buf>& given) {
  const std::vector<Buf>& new_inputs = given.empty() ? inputs : given;
  {
    GC_CHECK(new_inputs.size() == inputs.size(), "Program.run: " << new_inputs.size()
             << " inputs given, the program was recorded with " << inputs.size());
    for (size_t s = 0; s < inputs.size(); ++s) {
      const Buf &a = inputs[s], &b = new_inputs[s];
      GC_CHECK(a.dtype == b.dtype && a.numel() == b.numel(), "Program.run: input #" << s << " is "
               << dtype_name(b.dtype) << " " << b.shape_str() << ", recorded as "
               << dtype_name(a.dtype) << " " << a.shape_str());
    }
    for (auto& r : refs) r.buf->data = static_cast<char*>(new_inputs[r.slot].data) + r.offset;
  }
  for (const auto& c : calls) call_checked_before(c.id, c.ins, c.outs, c.attrs);
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
