// A Program is a recorded list of kernel calls over fixed buffers, replayed through `call` in
// C++ with no Python in between (the recorder in python/gradcore/dispatch.py builds it; the
// buffers are kept alive by the binding). A Trace is the first user of the `call` hook slot:
// it timestamps every kernel call on any thread, inside replays too (the profiler).
#pragma once
#include <cstdint>
#include <vector>
#include "core/registry.h"

namespace gc {

struct RecordedCall {
  int id;
  std::vector<Buf> ins, outs;
  std::vector<double> attrs;
};

struct Program {
  std::vector<RecordedCall> calls;
  void run() const;
};

struct TraceEvent { int id; int64_t t0_ns, t1_ns; double flops; int tid; };
// Start recording every kernel call (clears earlier events); stop returns the events.
void trace_start();
std::vector<TraceEvent> trace_stop();

}  // namespace gc
