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

// Where a recorded buffer lies inside one of the program's inputs: replays with new inputs
// point it at the same offset of the new input (no copy).
struct InputRef { Buf* buf; int slot; ptrdiff_t offset; };

struct Program {
  std::vector<RecordedCall> calls;
  std::vector<Buf> inputs;      // the recorded call's input buffers (slot order)
  std::vector<InputRef> refs;   // every recorded Buf that points into an input
  // Check every call once against its schema (a replay then skips the checks) and find the
  // buffers inside `inputs`.
  void prepare();
  // Replay; `new_inputs` (same dtypes and sizes as `inputs`) stand in for the recorded inputs
  // (empty: the recorded ones).
  void run(const std::vector<Buf>& new_inputs = {});
};

struct TraceEvent { int id; int64_t t0_ns, t1_ns; double flops; int tid; };
// Start recording every kernel call (clears earlier events); stop returns the events.
void trace_start();
std::vector<TraceEvent> trace_stop();

}  // namespace gc
