// softmax, log_softmax, logsumexp along one run of dims. x is viewed as (outer, D, inner):
// D is the reduced extent, `inner` the stride between its elements. With inner == 1 each
// outer index is one contiguous row, vectorized along D. Otherwise a tile of up to kTile
// adjacent inner indices is processed together: each of its D rows is a contiguous segment,
// vectorized across the tile. OpenMP runs over rows / tiles above kParallelMin elements.
// Stability: every exp is of x - max(x) <= 0 (no overflow); a slice of all -inf gives nan
// for softmax/log_softmax (-inf - -inf), as torch; logsumexp shifts by 0 when max is ±inf,
// as torch, so it gives -inf for all -inf (and an empty D) and +inf when an element is +inf.
// A NaN anywhere in a slice makes the whole slice NaN (through the sums).
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

constexpr int64_t kTile = 64;
template <class T> using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> using Col = Eigen::Array<T, Eigen::Dynamic, 1, 0, kTile, 1>;  // on the stack
template <class T> using In = Eigen::Map<const Arr<T>>;
template <class T> using Out = Eigen::Map<Arr<T>>;
template <class T> constexpr T kInf = std::numeric_limits<T>::infinity();

// e[0:n) = exp(x[0:n) - m), vectorized (Eigen), exactly 0 where x - m < lo: Eigen clamps
// exp's argument near -88.7 (float) / -709 (double), so exp(-inf) would come out ~1e-38 and
// a masked (-inf) logit would get a non-zero probability. The fix-up is a plain loop that
// the compiler vectorizes (Eigen 3.4's select() does not). NaN stays NaN. m: a scalar or a
// pointer to one shift per element. e may alias neither x nor m.
template <class T, class M> void exp_shifted(const T* x, M m, T* e, int64_t n) {
  const T lo = std::is_same_v<T, float> ? T(-87.3) : T(-708.3);
  if constexpr (std::is_pointer_v<M>) {
    Out<T>(e, n) = (In<T>(x, n) - In<T>(m, n)).exp();
    for (int64_t i = 0; i < n; ++i) e[i] = x[i] - m[i] < lo ? T(0) : e[i];
  } else {
    Out<T>(e, n) = (In<T>(x, n) - m).exp();
    for (int64_t i = 0; i < n; ++i) e[i] = x[i] - m < lo ? T(0) : e[i];
  }
}

struct Layout { int64_t outer = 1, D = 1, inner = 1; };
// Reduce dims [d0, d1) of x.
Layout layout(const char* op, const Buf& x, int d0, int d1) {
  GC_CHECK(0 <= d0 && d0 <= d1 && d1 <= (x.ndim ? x.ndim : 1),
           op << ": dims [" << d0 << ", " << d1 << ") out of range for " << x.shape_str());
  Layout l;
  for (int j = 0; j < x.ndim; ++j) (j < d0 ? l.outer : j < d1 ? l.D : l.inner) *= x.shape[j];
  return l;
}

// f(base, w, obase) for every tile: base = offset of element (o, 0, i0), w = tile width,
// obase = offset of (o, i0) in a keepdim output. With inner == 1 a tile is one row.
template <class F> void for_tiles(const Layout& l, F f) {
  const int64_t per = (l.inner + kTile - 1) / kTile, n = l.outer * per;
  GC_PARALLEL_FOR(l.outer * l.D * l.inner >= kParallelMin,
  for (int64_t t = 0; t < n; ++t) {
    int64_t o = t / per, i0 = (t % per) * kTile;
    f(o * l.D * l.inner + i0, std::min(kTile, l.inner - i0), o * l.inner + i0);
  });
}

// Column maxima of a tile of D rows of width w, row stride st (NaN handling: see top).
template <class T> Col<T> tile_max(const T* x, int64_t D, int64_t st, int64_t w) {
  Col<T> m = Col<T>::Constant(w, -kInf<T>);
  for (int64_t d = 0; d < D; ++d) m = m.max(In<T>(x + d * st, w));
  return m;
}
template <class T> T row_max(const T* x, int64_t D) {
  return D ? In<T>(x, D).maxCoeff() : -kInf<T>;
}

// ---- softmax / log_softmax ------------------------------------------------------------
// softmax:      y = exp(x - m) / s,       s = sum_d exp(x - m),  m = max_d x
// log_softmax:  y = (x - m) - log(s)      (x - (m + log s) loses digits when |m| >> log s)
// The exps go to y first (scratch), then y is scaled (softmax) or overwritten (log_softmax).
template <class T, bool Log> void softmax_row(const T* x, T* y, int64_t D) {
  In<T> xr(x, D); Out<T> yr(y, D);
  const T m = row_max(x, D);
  exp_shifted(x, m, y, D);
  if constexpr (Log) yr = (xr - m) - std::log(yr.sum());
  else yr *= T(1) / yr.sum();
}
template <class T, bool Log> void softmax_tile(const T* x, T* y, int64_t D, int64_t st, int64_t w) {
  const Col<T> m = tile_max(x, D, st, w);
  Col<T> s = Col<T>::Zero(w);
  for (int64_t d = 0; d < D; ++d) {
    exp_shifted(x + d * st, m.data(), y + d * st, w);
    s += In<T>(y + d * st, w);
  }
  if constexpr (Log) s = s.log(); else s = s.inverse();
  for (int64_t d = 0; d < D; ++d) {
    Out<T> yd(y + d * st, w);
    if constexpr (Log) yd = (In<T>(x + d * st, w) - m) - s; else yd *= s;
  }
}

template <bool Log> void softmax_fwd(Ins in, Outs out, Attrs at) {
  const char* op = Log ? "log_softmax" : "softmax";
  check_same_dtype(op, in[0], out[0]); check_same_shape(op, in[0], out[0]);
  int dim = int(attr(at, 0, op));
  Layout l = layout(op, in[0], dim, dim + 1);
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const T* x = in[0].ptr<T>(); T* y = out[0].ptr<T>();
    for_tiles(l, [&](int64_t b, int64_t w, int64_t) {
      if (l.inner == 1) softmax_row<T, Log>(x + b, y + b, l.D);
      else softmax_tile<T, Log>(x + b, y + b, l.D, l.inner, w);
    });
  });
}
GC_KERNEL("softmax(T x, *, int dim) -> T y", softmax_fwd<false>);
GC_NOALIAS("softmax");
GC_KERNEL("log_softmax(T x, *, int dim) -> T y", softmax_fwd<true>);
GC_NOALIAS("log_softmax");

// softmax backward:      dx = y * (g - sum_d g*y)
// log_softmax backward:  dx = g - exp(y) * sum_d g
template <class T, bool Log> void softmax_bwd_row(const T* g, const T* y, T* dx, int64_t D) {
  In<T> gr(g, D), yr(y, D); Out<T> dr(dx, D);
  if constexpr (Log) { const T sg = gr.sum(); exp_shifted(y, T(0), dx, D); dr = gr - dr * sg; }
  else dr = yr * (gr - (gr * yr).sum());
}
template <class T, bool Log>
void softmax_bwd_tile(const T* g, const T* y, T* dx, int64_t D, int64_t st, int64_t w) {
  Col<T> s = Col<T>::Zero(w);
  for (int64_t d = 0; d < D; ++d) {
    if constexpr (Log) s += In<T>(g + d * st, w);
    else s += In<T>(g + d * st, w) * In<T>(y + d * st, w);
  }
  for (int64_t d = 0; d < D; ++d) {
    In<T> gd(g + d * st, w), yd(y + d * st, w); Out<T> dd(dx + d * st, w);
    if constexpr (Log) { exp_shifted(y + d * st, T(0), dx + d * st, w); dd = gd - dd * s; }
    else dd = yd * (gd - s);
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
      if (l.inner == 1) softmax_bwd_row<T, Log>(g + b, y + b, dx + b, l.D);
      else softmax_bwd_tile<T, Log>(g + b, y + b, dx + b, l.D, l.inner, w);
    });
  });
}
GC_KERNEL("softmax_backward(T g, T y, *, int dim) -> T grad", softmax_bwd<false>);
GC_NOALIAS("softmax_backward");
GC_KERNEL("log_softmax_backward(T g, T y, *, int dim) -> T grad", softmax_bwd<true>);
GC_NOALIAS("log_softmax_backward");

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
      const T* xt = xp + b;
      T e[kTile];  // scratch for one chunk of exps
      if (l.inner == 1) {
        T m = row_max(xt, l.D), sum = T(0);
        if (std::isinf(m)) m = T(0);
        for (int64_t c = 0; c < l.D; c += kTile) {
          int64_t n = std::min(kTile, l.D - c);
          exp_shifted(xt + c, m, e, n);
          sum += In<T>(e, n).sum();
        }
        yp[ob] = m + std::log(sum);
        return;
      }
      Col<T> m = tile_max(xt, l.D, l.inner, w);
      for (int64_t j = 0; j < w; ++j) if (std::isinf(m[j])) m[j] = T(0);
      Col<T> s = Col<T>::Zero(w);
      for (int64_t d = 0; d < l.D; ++d) {
        exp_shifted(xt + d * l.inner, m.data(), e, w);
        s += In<T>(e, w);
      }
      Out<T>(yp + ob, w) = m + s.log();
    });
  });
}
GC_KERNEL("logsumexp(T x, *, int d0, int d1) -> T y", logsumexp_fwd);
GC_NOALIAS("logsumexp");
// dx = g * exp(x - y), g and y keepdim-shaped (broadcast over the reduced dims)  ins: g, x, y
void logsumexp_bwd(Ins in, Outs out, Attrs) {
  check_same_dtype("logsumexp_backward", in[0], in[1]); check_same_dtype("logsumexp_backward", in[0], in[2]);
  check_same_shape("logsumexp_backward", in[1], out[0]);
  float_dispatch(in[0].dtype, "logsumexp_backward", [&]<class T>() {
    bmap<T, T, T, T>("logsumexp_backward", out[0], [](T g, T x, T y) { return g * std::exp(x - y); },
                     in[0], in[1], in[2]);
  });
}
GC_KERNEL("logsumexp_backward(T g, T x, T y) -> T grad", logsumexp_bwd);

}  // namespace
}  // namespace gc
