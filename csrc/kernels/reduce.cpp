// Reductions to a broadcast-compatible ("keepdim") shape: sum_to (sum, mean, and the engine's
// un-broadcasting of gradients), amax_to/amin_to, max_dim/min_dim with indices, and the
// scatter that routes a gradient back to the selected indices.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>
#include <Eigen/Core>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

// Merge x's dims into alternating kept / reduced runs. `out` has x's ndim (or fewer, leading
// ones implied) and each of its dims equals x's or is 1 (reduced).
struct Plan { int m = 0; int64_t d[kMaxDims]; bool red[kMaxDims]; };
Plan plan_reduce(const char* op, const Buf& x, const Buf& out) {
  GC_CHECK(out.ndim <= x.ndim, op << ": cannot reduce " << x.shape_str() << " to " << out.shape_str());
  Plan p;
  for (int j = 0; j < x.ndim; ++j) {
    int jo = j - (x.ndim - out.ndim);
    int64_t od = jo >= 0 ? out.shape[jo] : 1, xd = x.shape[j];
    GC_CHECK(od == xd || od == 1, op << ": cannot reduce " << x.shape_str() << " to " << out.shape_str());
    if (xd == 1) continue;  // size-1 dims change nothing
    bool r = od == 1;
    if (p.m > 0 && p.red[p.m - 1] == r) { p.d[p.m - 1] *= xd; continue; }
    p.d[p.m] = xd; p.red[p.m] = r; ++p.m;
  }
  return p;
}

// A sum over [0, n) split into blocks whose edges depend on n only (never on the thread
// count): block sums f(lo, hi) land in their own slots, then are added in order, so a full
// reduction gives the same bits for every set_num_threads.
constexpr int64_t kFixedBlock = 2048;
template <class F> double fixed_block_sum(int64_t n, F f) {
  const int64_t nb = (n + kFixedBlock - 1) / kFixedBlock;
  double stack[256];
  std::vector<double> heap(nb > 256 ? nb : 0);
  double* part = nb > 256 ? heap.data() : stack;
  GC_PARALLEL_FOR(n >= kParallelMin,
  for (int64_t b = 0; b < nb; ++b) part[b] = f(b * kFixedBlock, std::min(n, (b + 1) * kFixedBlock)););
  double s = 0;
  for (int64_t b = 0; b < nb; ++b) s += part[b];
  return s;
}

// Generic reduction with combine(acc, v) and identity, then finish(acc) per output element.
template <class T, class Acc, class Comb, class Fin>
void reduce_to(const char* op, const Buf& x, const Buf& out, Acc init, Comb comb, Fin fin) {
  Plan p = plan_reduce(op, x, out);
  const T* xp = x.ptr<T>(); T* op_ = out.ptr<T>();
  const int64_t nx = x.numel(), no = out.numel();
  if (nx == 0) { for (int64_t i = 0; i < no; ++i) op_[i] = fin(init); return; }
  if (p.m == 0) { for (int64_t i = 0; i < no; ++i) op_[i] = fin(comb(init, xp[i])); return; }
  if (p.m == 1 && p.red[0]) {  // everything: one value
    Acc acc = init;
    if constexpr (std::is_same_v<Acc, double>) {
      if (nx >= kParallelMin && comb(0.0, 1.0) == 1.0 && comb(2.0, 1.0) == 3.0) {
        op_[0] = fin(fixed_block_sum(nx, [&](int64_t lo, int64_t hi) {
          double s = 0; for (int64_t i = lo; i < hi; ++i) s += double(xp[i]); return s; }));
        return;
      }
    }
    for (int64_t i = 0; i < nx; ++i) acc = comb(acc, xp[i]);
    op_[0] = fin(acc);
    return;
  }
  if (p.m == 2 && !p.red[0]) {  // (K, R): one contiguous run per output
    const int64_t K = p.d[0], R = p.d[1];
    GC_PARALLEL_FOR(nx >= kParallelMin,
    for (int64_t k = 0; k < K; ++k) {
      Acc acc = init; const T* row = xp + k * R;
      for (int64_t r = 0; r < R; ++r) acc = comb(acc, row[r]);
      op_[k] = fin(acc);
    });
    return;
  }
  // General: (..., R?, K) runs. Accumulators per output element, then finish.
  std::vector<Acc> acc(no, init);
  std::vector<int64_t> ost(p.m);
  { int64_t s = 1; for (int j = p.m - 1; j >= 0; --j) { ost[j] = p.red[j] ? 0 : s; if (!p.red[j]) s *= p.d[j]; } }
  const int64_t inner = p.d[p.m - 1], outer = nx / inner;
  const bool inner_red = p.red[p.m - 1];
  if (p.m == 2 && !inner_red) {  // (R, K), e.g. a bias gradient: rows stream through a
    const int64_t R = p.d[0], K = p.d[1];  // column block held in cache, block per thread
    constexpr int64_t kBlock = 256;
    GC_PARALLEL_FOR(nx >= kParallelMin,
    for (int64_t k0 = 0; k0 < K; k0 += kBlock) {
      const int64_t k1 = std::min(K, k0 + kBlock);
      Acc* a = acc.data();
      for (int64_t r = 0; r < R; ++r) {
        const T* row = xp + r * K;
        for (int64_t k = k0; k < k1; ++k) a[k] = comb(a[k], row[k]);
      }
    });
  } else {
    for (int64_t r = 0; r < outer; ++r) {
      int64_t o = 0, rem = r;
      for (int j = p.m - 2; j >= 0; --j) { o += (rem % p.d[j]) * ost[j]; rem /= p.d[j]; }
      const T* row = xp + r * inner;
      if (inner_red) { Acc a = acc[o]; for (int64_t i = 0; i < inner; ++i) a = comb(a, row[i]); acc[o] = a; }
      else { Acc* ao = acc.data() + o; for (int64_t i = 0; i < inner; ++i) ao[i] = comb(ao[i], row[i]); }
    }
  }
  for (int64_t i = 0; i < no; ++i) op_[i] = fin(acc[i]);
}

// Sum of a contiguous block with Eigen's vectorized (multi-accumulator) reduction; callers
// keep blocks short and add block sums in double, which bounds float32 rounding error.
constexpr int64_t kSumBlock = 2048;
template <class T> double block_sum(const T* p, int64_t n) {
  return double(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p, n).sum());
}
template <class T> double row_sum(const T* p, int64_t n) {
  double s = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) s += block_sum(p + b, std::min(kSumBlock, n - b));
  return s;
}

// ---- sum_to -----------------------------------------------------------------------------
// y = p0 * sum of x over the dims where y has size 1 (p0 = 1 for sum, 1/n for mean)
// dx = p0 * g broadcast back to x (the `expand` kernel, then affine; or sum_backward below)
void sum_to(Ins in, Outs out, Attrs at) {
  double scale = at.size() > 0 ? at[0] : 1.0;
  check_same_dtype("sum", in[0], out[0]);
  if (in[0].dtype == DType::i64) {
    // int64 sums wrap on overflow (as torch), computed unsigned: signed overflow is UB
    reduce_to<int64_t>("sum", in[0], out[0], int64_t(0), [](int64_t a, int64_t v) {
                         return int64_t(uint64_t(a) + uint64_t(v)); },
                       [](int64_t a) { return a; });
    return;
  }
  float_dispatch(in[0].dtype, "sum", [&]<class T>() {
    const Buf &x = in[0], &y = out[0];
    Plan p = plan_reduce("sum", x, y);
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    const int64_t nx = x.numel();
    if (nx > 0 && p.m >= 1 && p.m <= 2 && p.red[p.m - 1] && (p.m == 1 || !p.red[0])) {
      // Contiguous runs (everything, or rows): vectorized block sums, blocks added in double.
      const int64_t R = p.d[p.m - 1], rows = nx / R;
      if (rows == 1) {
        double s = fixed_block_sum(R, [&](int64_t lo, int64_t hi) { return block_sum(xp + lo, hi - lo); });
        yp[0] = T(s * scale);
      } else {
        GC_PARALLEL_FOR(nx >= kParallelMin,
        for (int64_t r = 0; r < rows; ++r) yp[r] = T(row_sum(xp + r * R, R) * scale););
      }
      return;
    }
    reduce_to<T>("sum", x, y, 0.0, [](double a, T v) { return a + double(v); },
                 [=](double a) { return T(a * scale); });
  });
}
GC_KERNEL("sum_to(A x, *, float scale=1) -> A y", sum_to);
// dx = p0 * g broadcast to dx's shape
void sum_backward(Ins in, Outs out, Attrs at) {
  double scale = at.size() > 0 ? at[0] : 1.0;
  float_dispatch(in[0].dtype, "sum_backward", [&]<class T>() {
    T s = T(scale);
    bmap<T, T>("sum_backward", out[0], [=](T g) { return g * s; }, in[0]);
  });
}
GC_KERNEL("sum_backward(T g, *, float scale=1) -> T grad", sum_backward);

// ---- amax_to / amin_to (NaN propagates) ---------------------------------------------------
// dx = g * [x == y] / count(x == y)   (ties share the gradient evenly, as torch)
template <bool Max> void extreme_to(Ins in, Outs out, Attrs) {
  const char* op = Max ? "amax" : "amin";
  check_same_dtype(op, in[0], out[0]);
  GC_CHECK(in[0].numel() > 0 || out[0].numel() == 0,
           op << ": cannot reduce an empty tensor " << in[0].shape_str() << " (no identity)");
  any_dispatch(in[0].dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) { throw type_error(std::string(op) + ": bool input"); }
    else {
      // ±inf for floats (an all -inf row's max is -inf, not -FLT_MAX); integers have no inf.
      constexpr bool fl = std::numeric_limits<T>::has_infinity;
      T init = Max ? (fl ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest())
                   : (fl ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max());
      reduce_to<T>(op, in[0], out[0], init, [](T a, T v) {
        if (v != v || a != a) return v != v ? v : a;
        return Max ? (v > a ? v : a) : (v < a ? v : a); }, [](T a) { return a; });
    }
  });
}
GC_KERNEL("amax_to(A x) -> A y", extreme_to<true>);
GC_KERNEL("amin_to(A x) -> A y", extreme_to<false>);
// count_eq_to: out = number of x elements equal to y (y keepdim-shaped), as x's float dtype
void count_eq_to(Ins in, Outs out, Attrs) {
  check_same_dtype("count_eq", in[0], out[0]);
  float_dispatch(in[0].dtype, "count_eq", [&]<class T>() {
    const Buf& x = in[0]; const Buf& y = in[1];
    std::vector<T> mask(x.numel());
    Buf m = x; m.data = mask.data();
    bmap<T, T, T>("count_eq", m, [](T a, T b) { return a == b || (a != a && b != b) ? T(1) : T(0); }, x, y);
    reduce_to<T>("count_eq", m, out[0], 0.0, [](double a, T v) { return a + v; }, [](double a) { return T(a); });
  });
}
GC_KERNEL("count_eq_to(T x, T y) -> T count", count_eq_to);
GC_NOALIAS("count_eq_to");
// extreme_backward: dx = (x == y) ? g / count : 0     ins: g, x, y, count (g, y, count keepdim)
void extreme_backward(Ins in, Outs out, Attrs) {
  float_dispatch(in[0].dtype, "amax_backward", [&]<class T>() {
    bmap<T, T, T, T, T>("amax_backward", out[0], [](T g, T x, T y, T c) {
      return (x == y || (x != x && y != y)) ? g / c : T(0); }, in[0], in[1], in[2], in[3]);
  });
}
GC_KERNEL("extreme_backward(T g, T x, T y, T count) -> T grad", extreme_backward);

// ---- max_dim / min_dim: values and int64 indices along one dim ----------------------------
// First index of the extreme; a NaN wins (as torch).       attrs: dim
template <bool Max> void extreme_dim(Ins in, Outs out, Attrs at) {
  const char* op = Max ? "max" : "min";
  const Buf& x = in[0];
  int dim = int(attr(at, 0, op));
  GC_CHECK(dim >= 0 && dim < x.ndim, op << ": dim " << dim << " out of range for " << x.shape_str());
  GC_CHECK(x.shape[dim] > 0, op << ": dim " << dim << " of " << x.shape_str() << " is empty");
  GC_TYPE_CHECK(out[1].dtype == DType::i64, op << ": indices must be int64");
  check_same_dtype(op, x, out[0]);
  int64_t outer = 1, inner = 1, D = x.shape[dim];
  for (int j = 0; j < dim; ++j) outer *= x.shape[j];
  for (int j = dim + 1; j < x.ndim; ++j) inner *= x.shape[j];
  GC_CHECK(out[0].numel() == outer * inner && out[1].numel() == outer * inner, op << ": bad output size");
  any_dispatch(x.dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) { throw type_error(std::string(op) + ": bool input"); }
    else {
      const T* xp = x.ptr<T>(); T* vp = out[0].ptr<T>(); int64_t* ip = out[1].ptr<int64_t>();
      GC_PARALLEL_FOR(x.numel() >= kParallelMin,
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = xp + o * D * inner + i;
          T best = p[0]; int64_t bi = 0;
          for (int64_t d = 1; d < D && best == best; ++d) {
            T v = p[d * inner];
            if (v != v || (Max ? v > best : v < best)) { best = v; bi = d; }
          }
          vp[o * inner + i] = best; ip[o * inner + i] = bi;
        });
    }
  });
}
GC_KERNEL("max_dim(A x, *, int dim) -> (A values, i64 indices)", extreme_dim<true>);
GC_NOALIAS("max_dim");
GC_KERNEL("min_dim(A x, *, int dim) -> (A values, i64 indices)", extreme_dim<false>);
GC_NOALIAS("min_dim");
// scatter_dim: dx = 0 except dx[.., idx, ..] = g along dim     ins: g, idx   attrs: dim
void scatter_dim(Ins in, Outs out, Attrs at) {
  const Buf& g = in[0]; const Buf& idx = in[1]; const Buf& dx = out[0];
  int dim = int(attr(at, 0, "scatter_dim"));
  GC_CHECK(dim >= 0 && dim < dx.ndim, "scatter_dim: bad dim");
  int64_t outer = 1, inner = 1, D = dx.shape[dim];
  for (int j = 0; j < dim; ++j) outer *= dx.shape[j];
  for (int j = dim + 1; j < dx.ndim; ++j) inner *= dx.shape[j];
  GC_CHECK(g.numel() == outer * inner && idx.numel() == outer * inner, "scatter_dim: bad sizes");
  check_same_dtype("scatter_dim", g, dx);
  GC_TYPE_CHECK(idx.dtype == DType::i64, "scatter_dim: indices must be int64");
  float_dispatch(g.dtype, "scatter_dim", [&]<class T>() {
    const T* gp = g.ptr<T>(); const int64_t* ip = idx.ptr<int64_t>(); T* d = dx.ptr<T>();
    std::fill(d, d + dx.numel(), T(0));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = ip[o * inner + i];
        GC_CHECK(k >= 0 && k < D, "scatter_dim: index " << k << " out of range " << D);
        d[(o * D + k) * inner + i] = gp[o * inner + i];
      }
  });
}
GC_KERNEL("scatter_dim(T g, i64 index, *, int dim) -> T grad", scatter_dim);
GC_NOALIAS("scatter_dim");

}  // namespace
}  // namespace gc
