// gradcore's own thread count. Every parallel region is written
//   #pragma omp parallel ... num_threads(::gc::threads())
// or, for a loop worth splitting only when it is large, GC_PARALLEL_FOR(cond, for (...) ...).
// so gradcore never reads or writes OpenMP's global setting (omp_set_num_threads would change
// torch's and every other OpenMP library's thread count in the host process). In a child
// forked after a parallel region, OpenMP's thread pool did not survive the fork: threads()
// returns 1 there (a pthread_atfork child handler), so the child runs every kernel on its own
// thread instead of waiting forever for the parent's pool (as PyTorch does).
//
// Shared cores: a parallel region ends when its slowest thread does, so when other processes
// keep the cores busy every region waits for a time slice (a 0.3 ms MLP step took 1.5 ms with
// one busy process beside it on 2 cores, 0.35 ms on one thread). threads() therefore halves
// (2 -> 1) while this process is being preempted often (involuntary context switches per
// thread and second over kSwitchesPerSec, sampled every kWindowMs), holds that for a while
// (doubling up to kMaxHoldMs while the cores stay shared) and then tries again.
// GRADCORE_ADAPTIVE_THREADS=0 turns this off. Results do not depend on the thread count.
// A kernel call sees one value throughout (ThreadPin, set by gc::call), so buffers sized by
// threads() match the regions that use them.
#pragma once

namespace gc {
int threads();             // threads a parallel region may use now (1 in a forked child)
int configured_threads();  // the setting (set_threads, GRADCORE_NUM_THREADS or the core count)
void set_threads(int n);   // n >= 1; affects gradcore only
bool forked_child();       // this process is a fork of a process that ran gradcore kernels
bool cores_shared();       // the adaptive check's verdict now (threads() halves while it holds)
void set_adaptive_threads(bool on);
bool adaptive_threads();

// Inside a kernel call (ThreadPin): -1 until the call first asks threads(), then its answer.
extern thread_local int t_pinned;

// Pins threads() on this thread for the duration of one kernel call (inline: one TLS lookup).
struct ThreadPin {
  ThreadPin() : slot(&t_pinned), saved(*slot) { if (!saved) *slot = -1; }
  ~ThreadPin() { *slot = saved; }
  ThreadPin(const ThreadPin&) = delete;
  ThreadPin& operator=(const ThreadPin&) = delete;
  int* slot;
  int saved;
};
}  // namespace gc

// GC_PARALLEL_FOR(cond, for-loop): the loop split over threads() threads when `cond` holds and
// more than one thread is allowed, else run on the calling thread. Not `#pragma omp parallel
// for if (cond)`: with a false `if` clause libgomp still starts a team of one (a malloc and a
// futex wake, ~0.4 us), which was most of a small in-place kernel's time. The _DYNAMIC form
// schedules iterations one at a time, _SIMD asks for vectorisation on both paths.
#define GC_PARALLEL_FOR_IMPL_(pragma, cond, ...)                        \
  do {                                                                  \
    if ((cond) && ::gc::threads() > 1) { _Pragma(pragma) __VA_ARGS__ }  \
    else { __VA_ARGS__ }                                                \
  } while (0)
#define GC_PARALLEL_FOR(cond, ...) \
  GC_PARALLEL_FOR_IMPL_("omp parallel for num_threads(::gc::threads())", cond, __VA_ARGS__)
#define GC_PARALLEL_FOR_DYNAMIC(cond, ...) GC_PARALLEL_FOR_IMPL_( \
    "omp parallel for schedule(dynamic, 1) num_threads(::gc::threads())", cond, __VA_ARGS__)
#define GC_PARALLEL_FOR_SIMD(cond, ...)                                        \
  do {                                                                         \
    if ((cond) && ::gc::threads() > 1) {                                       \
      _Pragma("omp parallel for simd num_threads(::gc::threads())") __VA_ARGS__ \
    } else { _Pragma("omp simd") __VA_ARGS__ }                                 \
  } while (0)
