// bmap: the one elementwise loop. Writes every element of a C-contiguous `out`, reading each
// input broadcast (numpy rules) to out's shape. Adjacent dims that broadcast alike are merged,
// the innermost dim runs as a tight loop, and OpenMP splits the outer rows above kParallelMin.
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/threads.h"
#include "core/view.h"

namespace gc {

// Below this many elements a parallel region costs more than it saves (bench_elementwise.py).
constexpr int64_t kParallelMin = 32768;

inline void check_broadcast(const char* op, const Buf& in, const Buf& out) {
  bool ok = in.ndim <= out.ndim;
  for (int j = 0; ok && j < in.ndim; ++j) {
    int64_t d = in.shape[in.ndim - 1 - j], o = out.shape[out.ndim - 1 - j];
    ok = d == o || d == 1;
  }
  GC_CHECK(ok, op << ": input " << in.shape_str() << " does not broadcast to " << out.shape_str());
}

template <class> using BufFor = Buf;  // one Buf per input type

// out[i] = f(in[i]...) for i in [lo, hi). Elementwise: iteration i reads and writes only index
// i, so there is no loop-carried dependence even when out is one of the inputs (in place).
template <class TO, class F, class... TI>
inline void contig_loop(TO* __restrict o, int64_t lo, int64_t hi, F f, const TI*... in) {
#pragma GCC ivdep
  for (int64_t i = lo; i < hi; ++i) o[i] = f(in[i]...);
}

// This thread's share [lo, hi) of n items inside a parallel region, in 64-byte multiples.
inline std::pair<int64_t, int64_t> thread_range(int64_t n) {
#ifdef _OPENMP
  int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
  int64_t t = 0, nt = 1;
#endif
  int64_t chunk = ((n + nt - 1) / nt + 15) / 16 * 16;
  return {std::min(n, t * chunk), std::min(n, (t + 1) * chunk)};
}

template <class TO, class... TI, class F>
void bmap(const char* op, const Buf& out, F f, const BufFor<TI>&... ins) {
  constexpr int K = sizeof...(TI);
  const Buf* bufs[K] = {&ins...};
  // The element types are the caller's promise: a mismatch would read or write out of bounds.
  const DType want[K] = {dtype_of<TI>()...};
  GC_TYPE_CHECK(out.dtype == dtype_of<TO>(), op << ": output is " << dtype_name(out.dtype)
                << ", expected " << dtype_name(dtype_of<TO>()));
  for (int k = 0; k < K; ++k) {
    GC_TYPE_CHECK(bufs[k]->dtype == want[k], op << ": input #" << k << " is "
                  << dtype_name(bufs[k]->dtype) << ", expected " << dtype_name(want[k]));
    check_broadcast(op, *bufs[k], out);
  }
  const int64_t n = out.numel();
  if (n == 0) return;
  TO* o = out.ptr<TO>();
  const void* ptrs[K] = {ins.data...};
  // Fast path: every input is full-size or a single element.
  bool flat = true; int64_t step[K];
  for (int k = 0; k < K; ++k) {
    int64_t m = bufs[k]->numel();
    step[k] = m == n ? 1 : 0;
    flat = flat && (m == n || m == 1);
  }
  auto at = [&]<size_t... I>(std::index_sequence<I...>, int64_t i, const int64_t* off) {
    return f(static_cast<const TI*>(ptrs[I])[off[I] + i * step[I]]...);
  };
  using Seq = std::index_sequence_for<TI...>;
  if (flat) {
    bool contig = true;
    for (int k = 0; k < K; ++k) contig = contig && step[k] == 1;
    if (contig) {
      // Typed pointers in a plain loop so the compiler vectorizes it; no parallel region at
      // all below the threshold (entering one that an if() clause turns off still costs).
      auto span = [&]<size_t... I>(std::index_sequence<I...>, int64_t lo, int64_t hi) {
        contig_loop(o, lo, hi, f, static_cast<const TI*>(ptrs[I])...);
      };
      if (n < kParallelMin) { span(Seq{}, 0, n); return; }
#pragma omp parallel num_threads(::gc::threads())
      {
        auto [lo, hi] = thread_range(n);
        span(Seq{}, lo, hi);
      }
    } else {
      int64_t zero[K] = {};
      if (n < kParallelMin) { for (int64_t i = 0; i < n; ++i) o[i] = at(Seq{}, i, zero); return; }
#pragma omp parallel for num_threads(::gc::threads())
      for (int64_t i = 0; i < n; ++i) o[i] = at(Seq{}, i, zero);
    }
    return;
  }
  // General path: per-input strides over out's dims (0 where broadcast), then merge dims.
  int nd = out.ndim;
  int64_t shape[kMaxDims], st[K][kMaxDims];
  for (int j = 0; j < nd; ++j) shape[j] = out.shape[j];
  for (int k = 0; k < K; ++k) {
    const Buf& b = *bufs[k]; int64_t s = 1;
    for (int j = nd - 1; j >= 0; --j) {
      int jb = j - (nd - b.ndim);
      int64_t d = jb >= 0 ? b.shape[jb] : 1;
      st[k][j] = d == 1 ? 0 : s;
      s *= d;
    }
  }
  int m = 0;  // merged dim count
  for (int j = 0; j < nd; ++j) {
    if (m > 0) {
      bool merge = true;
      for (int k = 0; k < K; ++k) merge = merge && st[k][m - 1] == st[k][j] * shape[j];
      if (merge) { shape[m - 1] *= shape[j]; for (int k = 0; k < K; ++k) st[k][m - 1] = st[k][j]; continue; }
    }
    shape[m] = shape[j];
    for (int k = 0; k < K; ++k) st[k][m] = st[k][j];
    ++m;
  }
  const int64_t inner = shape[m - 1], outer = n / inner;
  int64_t istep[K];
  for (int k = 0; k < K; ++k) istep[k] = st[k][m - 1];
  GC_PARALLEL_FOR(n >= kParallelMin,
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off[K] = {}, rem = r;
    for (int j = m - 2; j >= 0; --j) {
      int64_t idx = rem % shape[j]; rem /= shape[j];
      for (int k = 0; k < K; ++k) off[k] += idx * st[k][j];
    }
    TO* orow = o + r * inner;
    auto inner_at = [&]<size_t... I>(std::index_sequence<I...>, int64_t i) {
      return f(static_cast<const TI*>(ptrs[I])[off[I] + i * istep[I]]...);
    };
    for (int64_t i = 0; i < inner; ++i) orow[i] = inner_at(Seq{}, i);
  });
}

}  // namespace gc
