// softmax, log_softmax, logsumexp along one run of dims. x is viewed as (outer, D, inner):
// D is the reduced extent, `inner` the stride between its elements. A "column" is one
// (o, i) pair; columns are processed in tiles of up to kTile adjacent i, so that for
// inner > 1 every pass reads contiguous rows of the tile, and for inner == 1 a tile is one
// contiguous row of length D. OpenMP runs over tiles above kParallelMin elements.
// Stability: every exp is of x - max(x) <= 0 (no overflow); a column of all -inf gives nan
// for softmax/log_softmax (-inf - -inf), as torch; logsumexp shifts by 0 when max is ±inf,
// as torch, so it gives -inf for all -inf (and an empty D) and +inf when an element is +inf.
#include <cmath>
#include <limits>
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

constexpr int64_t kTile = 64;

struct Layout { int64_t outer = 1, D = 1, inner = 1; };
// Reduce dims [d0, d1) of x.
Layout layout(const char* op, const Buf& x, int d0, int d1) {
  GC_CHECK(0 <= d0 && d0 <= d1 && d1 <= (x.ndim ? x.ndim : 1),
           op << ": dims [" << d0 << ", " << d1 << ") out of range for " << x.shape_str());
  Layout l;
  for (int j = 0; j < x.ndim; ++j) (j < d0 ? l.outer : j < d1 ? l.D : l.inner) *= x.shape[j];
  return l;
}

// Run f(base, w) for every tile: base = offset of element (o, 0, i0) in x, w tile width.
template <class F> void for_tiles(const Layout& l, F f) {
  const int64_t per = (l.inner + kTile - 1) / kTile, n = l.outer * per;
#pragma omp parallel for if (l.outer * l.D * l.inner >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    int64_t o = t / per, i0 = (t % per) * kTile;
    f(o * l.D * l.inner + i0, std::min(kTile, l.inner - i0), o * l.inner + i0);
  }
}

// Column maxima of a tile (NaN is not picked up here; it propagates through the exp sums).
template <class T> void tile_max(const T* x, int64_t D, int64_t st, int64_t w, T* m) {
  for (int64_t j = 0; j < w; ++j) m[j] = -std::numeric_limits<T>::infinity();
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) m[j] = std::max(m[j], x[d * st + j]);
}

// ---- softmax / log_softmax ------------------------------------------------------------
// softmax:      y = exp(x - m) / s,       s = sum_d exp(x - m),  m = max_d x
// log_softmax:  y = x - m - log(s)
// Row (inner == 1) fixes st = w = 1 at compile time so the passes along D vectorize.
template <class T, bool Log, bool Row>
void softmax_tile(const T* x, T* y, int64_t D, int64_t st, int64_t w) {
  if constexpr (Row) { st = 1; w = 1; }
  T m[kTile], s[kTile];
  tile_max(x, D, st, w, m);
  for (int64_t j = 0; j < w; ++j) s[j] = T(0);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) {
      T e = std::exp(x[d * st + j] - m[j]);
      s[j] += e;
      if constexpr (!Log) y[d * st + j] = e;
    }
  // log_softmax as (x - m) - log(s): x - (m + log(s)) loses digits when |m| >> log(s).
  for (int64_t j = 0; j < w; ++j) s[j] = Log ? std::log(s[j]) : T(1) / s[j];
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j)
      y[d * st + j] = Log ? (x[d * st + j] - m[j]) - s[j] : y[d * st + j] * s[j];
}

template <bool Log> void softmax_fwd(Ins in, Outs out, Attrs at) {
  const char* op = Log ? "log_softmax" : "softmax";
  check_same_dtype(op, in[0], out[0]); check_same_shape(op, in[0], out[0]);
  int dim = int(attr(at, 0, op));
  Layout l = layout(op, in[0], dim, dim + 1);
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const T* x = in[0].ptr<T>(); T* y = out[0].ptr<T>();
    for_tiles(l, [&](int64_t b, int64_t w, int64_t) {
      if (l.inner == 1) softmax_tile<T, Log, true>(x + b, y + b, l.D, 1, 1);
      else softmax_tile<T, Log, false>(x + b, y + b, l.D, l.inner, w);
    });
  });
}
GC_KERNEL("softmax", 1, 1, softmax_fwd<false>);
GC_KERNEL("log_softmax", 1, 1, softmax_fwd<true>);

// softmax backward:      dx = y * (g - sum_d g*y)
// log_softmax backward:  dx = g - exp(y) * sum_d g
template <class T, bool Log, bool Row>
void softmax_bwd_tile(const T* g, const T* y, T* dx, int64_t D, int64_t st, int64_t w) {
  if constexpr (Row) { st = 1; w = 1; }
  T s[kTile];
  for (int64_t j = 0; j < w; ++j) s[j] = T(0);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) s[j] += Log ? g[d * st + j] : g[d * st + j] * y[d * st + j];
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) {
      int64_t k = d * st + j;
      dx[k] = Log ? g[k] - std::exp(y[k]) * s[j] : y[k] * (g[k] - s[j]);
    }
}

template <bool Log> void softmax_bwd(Ins in, Outs out, Attrs at) {  // ins: g, y
  const char* op = Log ? "log_softmax_backward" : "softmax_backward";
  check_same_dtype(op, in[0], in[1]); check_same_dtype(op, in[0], out[0]);
  check_same_shape(op, in[0], in[1]); check_same_shape(op, in[0], out[0]);
  int dim = int(attr(at, 0, op));
  Layout l = layout(op, in[0], dim, dim + 1);
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const T* g = in[0].ptr<T>(); const T* y = in[1].ptr<T>(); T* dx = out[0].ptr<T>();
    for_tiles(l, [&](int64_t b, int64_t w, int64_t) {
      if (l.inner == 1) softmax_bwd_tile<T, Log, true>(g + b, y + b, dx + b, l.D, 1, 1);
      else softmax_bwd_tile<T, Log, false>(g + b, y + b, dx + b, l.D, l.inner, w);
    });
  });
}
GC_KERNEL("softmax_backward", 2, 1, softmax_bwd<false>);
GC_KERNEL("log_softmax_backward", 2, 1, softmax_bwd<true>);

// ---- logsumexp --------------------------------------------------------------------------
// y = m + log(sum_d exp(x - m)), m = max_d x (0 when ±inf)      attrs: d0, d1 (dims [d0, d1))
// out has x's shape with 1 in the reduced dims (keepdim).
void logsumexp_fwd(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &y = out[0];
  check_same_dtype("logsumexp", x, y);
  Layout l = layout("logsumexp", x, int(attr(at, 0, "logsumexp")), int(attr(at, 1, "logsumexp")));
  GC_CHECK(y.numel() == l.outer * l.inner, "logsumexp: output " << y.shape_str()
           << " does not fit the reduction of " << x.shape_str());
  float_dispatch(x.dtype, "logsumexp", [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    for_tiles(l, [&](int64_t b, int64_t w, int64_t ob) {
      T m[kTile], s[kTile];
      const T* xt = xp + b;
      tile_max(xt, l.D, l.inner, w, m);
      for (int64_t j = 0; j < w; ++j) { s[j] = T(0); if (std::isinf(m[j])) m[j] = T(0); }
      for (int64_t d = 0; d < l.D; ++d)
        for (int64_t j = 0; j < w; ++j) s[j] += std::exp(xt[d * l.inner + j] - m[j]);
      for (int64_t j = 0; j < w; ++j) yp[ob + j] = m[j] + std::log(s[j]);
    });
  });
}
GC_KERNEL("logsumexp", 1, 1, logsumexp_fwd);
// dx = g * exp(x - y), g and y keepdim-shaped (broadcast over the reduced dims)  ins: g, x, y
void logsumexp_bwd(Ins in, Outs out, Attrs) {
  check_same_dtype("logsumexp_backward", in[0], in[1]); check_same_dtype("logsumexp_backward", in[0], in[2]);
  check_same_shape("logsumexp_backward", in[1], out[0]);
  float_dispatch(in[0].dtype, "logsumexp_backward", [&]<class T>() {
    bmap<T, T, T, T>("logsumexp_backward", out[0], [](T g, T x, T y) { return g * std::exp(x - y); },
                     in[0], in[1], in[2]);
  });
}
GC_KERNEL("logsumexp_backward", 3, 1, logsumexp_bwd);

}  // namespace
}  // namespace gc
