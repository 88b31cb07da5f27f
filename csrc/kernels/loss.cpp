// Loss kernels: fused softmax cross-entropy (class-index and probability targets), NLL,
// binary cross-entropy (on probabilities and on logits) and smooth L1. Forward and backward
// adjacent; backward kernels overwrite their output.
//
// Class-dim layout: x is viewed as (N, C, S) with S = d1*d2*... (1 for (N, C) input, and N = 1
// for an unbatched (C,) input); targets are (N, S). Reductions over the N*S samples are summed
// serially in double, so results do not depend on the thread count.
#include <cmath>
#include <vector>
#include <Eigen/Core>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"
#include "kernels/elementwise.h"

namespace gc {
namespace {

enum Reduction { kNone = 0, kMean = 1, kSum = 2 };

struct Layout { int64_t N, C, S; };

// x: (C,) with t: (), or (N, C, d1, ...) with t: (N, d1, ...). `t_float`: t has x's shape.
Layout class_layout(const char* op, const Buf& x, const Buf& t, bool t_float) {
  GC_CHECK(x.ndim >= 1, op << ": input must have at least 1 dim (classes), got " << x.shape_str());
  Layout L{1, x.ndim == 1 ? x.shape[0] : x.shape[1], 1};
  if (x.ndim > 1) L.N = x.shape[0];
  for (int d = 2; d < x.ndim; ++d) L.S *= x.shape[d];
  bool ok;
  if (t_float) {
    ok = t.ndim == x.ndim;
    for (int d = 0; ok && d < x.ndim; ++d) ok = t.shape[d] == x.shape[d];
  } else {
    ok = t.ndim == (x.ndim == 1 ? 0 : x.ndim - 1);
    for (int d = 0; ok && d < t.ndim; ++d) ok = t.shape[d] == x.shape[d == 0 ? 0 : d + 1];
  }
  GC_CHECK(ok, op << ": input " << x.shape_str() << " and target " << t.shape_str()
                  << " do not match (expected target " << (t_float ? "of the input's shape" :
                  "(N, d1, ...) for input (N, C, d1, ...), or () for input (C,)") << ")");
  return L;
}

// Class weights: an empty buffer means none; otherwise (C,) of x's dtype.
bool has_weight(const char* op, const Buf& w, const Buf& x, int64_t C) {
  if (w.numel() == 0 && w.ndim == 1) return false;
  GC_CHECK(w.ndim == 1 && w.shape[0] == C, op << ": weight " << w.shape_str() << " must be (C,) = ("
                                               << C << ",)");
  check_same_dtype(op, w, x);
  return true;
}

// Targets must lie in [0, C) unless equal to ignore_index (std::out_of_range -> IndexError in
// ops/loss.py, as torch's "Target 5 is out of bounds").
void check_targets(const char* op, const Buf& t, int64_t C, int64_t ignore) {
  GC_TYPE_CHECK(t.dtype == DType::i64, op << ": target must be int64 class indices, got "
                                          << dtype_name(t.dtype));
  const int64_t* tp = t.ptr<int64_t>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (tp[i] != ignore && (tp[i] < 0 || tp[i] >= C)) {
      std::ostringstream os;
      os << op << ": target " << tp[i] << " is out of bounds for " << C << " classes";
      throw std::out_of_range(os.str());
    }
}

// An argument's element count must be what the op's shape contract says (never read or
// written past a buffer's end).
void need_numel(const char* op, const char* what, const Buf& b, int64_t n) {
  GC_CHECK(b.numel() == n, op << ": " << what << " " << b.shape_str() << " must have " << n
                              << " element" << (n == 1 ? "" : "s"));
}

// Sum of per-sample losses (serial, double) -> loss; wsum = sum of target weights (mean's divisor).
template <class T> void reduce_samples(const T* elem, int64_t n, double wsum, int red, const Buf& loss,
                                       const Buf& ws) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(elem[i]);
  loss.ptr<T>()[0] = T(red == kMean ? s / wsum : s);
  ws.ptr<T>()[0] = T(wsum);
}

// ---- cross_entropy (class indices) ---------------------------------------------------------
// Per sample: m = max_c x_c, ls = log sum_c e^(x_c - m) (so lse = m + ls); eps = label_smoothing,
// w = class weights (1 if none), W = sum_c w_c:
//   elem = (1-eps) w_t ((m - x_t) + ls) + eps/C (W ls + sum_c w_c (m - x_c))   (0 if t == ignore)
//   mean = sum elem / sum_{not ignored} w_t          sum = sum elem
//   dx_c = g' [((1-eps) w_t + eps W/C) p_c - (1-eps) w_t [c == t] - eps w_c / C],
//   p_c = e^((x_c - m) - ls) (the softmax; the shift by m first keeps digits when |m| >> ls)
// Contiguous rows (S == 1) run on Eigen arrays, whose exp is vectorised.
template <class T> using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> struct RowStats { T m, ls; double wsx; };  // wsx = sum_c w_c (m - x_c)

template <class T>
RowStats<T> row_stats(const T* xr, int64_t C, int64_t S, const T* wp, bool smooth) {
  RowStats<T> r{T(0), T(0), 0.0};
  if (S == 1) {
    Eigen::Map<const Arr<T>> x(xr, C);
    r.m = x.maxCoeff();
    r.ls = std::log((x - r.m).exp().sum());
    if (smooth) r.wsx = wp ? double((Eigen::Map<const Arr<T>>(wp, C) * (r.m - x)).sum())
                           : double((r.m - x).sum());
    return r;
  }
  double m = -INFINITY, se = 0;
  for (int64_t c = 0; c < C; ++c) m = std::fmax(m, double(xr[c * S]));
  for (int64_t c = 0; c < C; ++c) {
    se += std::exp(double(xr[c * S]) - m);
    if (smooth) r.wsx += (wp ? double(wp[c]) : 1.0) * (m - double(xr[c * S]));
  }
  r.m = T(m); r.ls = T(std::log(se));
  return r;
}

// ins: x, target, weight   outs: elem (N, S...), stats (N, S..., 2) = (m, ls), loss (), wsum ()
// attrs: ignore_index, label_smoothing, reduction
void cross_entropy(Ins in, Outs out, Attrs at) {
  const char* op = "cross_entropy";
  const Buf &x = in[0], &t = in[1], &w = in[2];
  Layout L = class_layout(op, x, t, false);
  const int64_t ignore = int64_t(attr(at, 0, op)), n = L.N * L.S;
  const double eps = attr(at, 1, op);
  const int red = int(attr(at, 2, op));
  GC_CHECK(L.C > 0 || n == 0, op << ": input " << x.shape_str() << " has no classes");
  check_targets(op, t, L.C, ignore);
  const bool hw = has_weight(op, w, x, L.C);
  need_numel(op, "output 'elem'", out[0], n); need_numel(op, "output 'stats'", out[1], 2 * n);
  need_numel(op, "output 'loss'", out[2], 1); need_numel(op, "output 'wsum'", out[3], 1);
  float_dispatch(x.dtype, op, [&]<class T>() {
    check_same_dtype(op, x, out[0]);
    const T* xp = x.ptr<T>(); const int64_t* tp = t.ptr<int64_t>();
    const T* wp = hw ? w.ptr<T>() : nullptr;
    T *ep = out[0].ptr<T>(), *sp = out[1].ptr<T>();
    const int64_t C = L.C, S = L.S;
    double W = double(C);
    if (hw) { W = 0; for (int64_t c = 0; c < C; ++c) W += double(wp[c]); }
    GC_PARALLEL_FOR(n * C >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) {
      const T* xr = xp + (i / S) * C * S + i % S;  // x[n, :, s], stride S
      RowStats<T> r = row_stats(xr, C, S, wp, eps != 0);
      sp[2 * i] = r.m; sp[2 * i + 1] = r.ls;
      int64_t k = tp[i];
      if (k == ignore) { ep[i] = T(0); continue; }
      double e = (1 - eps) * (hw ? double(wp[k]) : 1.0) * (double(r.m - xr[k * S]) + double(r.ls));
      if (eps != 0) e += eps / double(C) * (W * double(r.ls) + r.wsx);
      ep[i] = T(e);
    });
    double wsum = 0;
    for (int64_t i = 0; i < n; ++i) if (tp[i] != ignore) wsum += hw ? double(wp[tp[i]]) : 1.0;
    reduce_samples<T>(ep, n, wsum, red, out[2], out[3]);
  });
}
GC_KERNEL("cross_entropy(T x, i64 target, T weight, *, int ignore_index, float label_smoothing, int reduction) -> (T elem, T stats, T loss, T wsum)", cross_entropy);
GC_NOALIAS("cross_entropy");

// ins: g (elem's shape for 'none', else ()), x, target, weight, stats, wsum   out: dx (x's shape)
void cross_entropy_backward(Ins in, Outs out, Attrs at) {
  const char* op = "cross_entropy_backward";
  const Buf &g = in[0], &x = in[1], &t = in[2], &w = in[3], &st = in[4], &ws = in[5];
  Layout L = class_layout(op, x, t, false);
  const int64_t ignore = int64_t(attr(at, 0, op)), n = L.N * L.S;
  const double eps = attr(at, 1, op);
  const int red = int(attr(at, 2, op));
  const bool hw = has_weight(op, w, x, L.C);
  check_targets(op, t, L.C, ignore);
  GC_CHECK(g.numel() == (red == kNone ? n : 1), op << ": gradient " << g.shape_str() << " does not fit");
  need_numel(op, "input 'stats'", st, 2 * n); need_numel(op, "input 'wsum'", ws, 1);
  check_same_shape(op, x, out[0]);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *xp = x.ptr<T>(), *gp = g.ptr<T>(), *sp = st.ptr<T>();
    const T* wp = hw ? w.ptr<T>() : nullptr;
    const int64_t* tp = t.ptr<int64_t>();
    T* dp = out[0].ptr<T>();
    const int64_t C = L.C, S = L.S;
    double W = double(C);
    if (hw) { W = 0; for (int64_t c = 0; c < C; ++c) W += double(wp[c]); }
    const double scale = red == kMean ? 1.0 / double(ws.ptr<T>()[0]) : 1.0;
    const double b = eps / double(C);
    GC_PARALLEL_FOR(n * C >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i / S) * C * S + i % S;
      const T* xr = xp + off; T* dr = dp + off;
      const int64_t k = tp[i];
      const T m = sp[2 * i], ls = sp[2 * i + 1];
      const double gs = k == ignore ? 0.0 : double(gp[red == kNone ? i : 0]) * scale;
      const double a = k == ignore ? 0.0 : (1 - eps) * (hw ? double(wp[k]) : 1.0);
      const T pc = T(gs * (a + b * W)), bw = T(gs * b);
      if (S == 1) {
        Eigen::Map<Arr<T>> d(dr, C);
        Eigen::Map<const Arr<T>> xv(xr, C);
        if (hw) d = ((xv - m) - ls).exp() * pc - bw * Eigen::Map<const Arr<T>>(wp, C);
        else d = ((xv - m) - ls).exp() * pc - bw;
      } else {
        for (int64_t c = 0; c < C; ++c)
          dr[c * S] = pc * std::exp((xr[c * S] - m) - ls) - bw * (hw ? wp[c] : T(1));
      }
      if (k != ignore) dr[k * S] -= T(gs * a);
    });
  });
}
GC_KERNEL("cross_entropy_backward(T g, T x, i64 target, T weight, T stats, T wsum, *, int ignore_index, float label_smoothing, int reduction) -> T dx", cross_entropy_backward);
GC_NOALIAS("cross_entropy_backward");

// ---- cross_entropy (class probabilities) ---------------------------------------------------
// q = (1-eps) y + eps/C;  elem = sum_c w_c q_c (lse - x_c);  mean divides by N*S (as torch)
// dx_c = g' (p_c sum_c' w_c' q_c' - w_c q_c)
// ins: x, y (x's shape), weight   outs: elem, lse, loss (), wsum ()   attrs: eps, reduction
void cross_entropy_soft(Ins in, Outs out, Attrs at) {
  const char* op = "cross_entropy";
  const Buf &x = in[0], &y = in[1], &w = in[2];
  Layout L = class_layout(op, x, y, true);
  check_same_dtype(op, x, y);
  const double eps = attr(at, 0, op);
  const int red = int(attr(at, 1, op));
  const bool hw = has_weight(op, w, x, L.C);
  const int64_t n = L.N * L.S, C = L.C, S = L.S;
  need_numel(op, "output 'elem'", out[0], n); need_numel(op, "output 'lse'", out[1], n);
  need_numel(op, "output 'loss'", out[2], 1); need_numel(op, "output 'wsum'", out[3], 1);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *xp = x.ptr<T>(), *yp = y.ptr<T>(), *wp = hw ? w.ptr<T>() : nullptr;
    T *ep = out[0].ptr<T>(), *lp = out[1].ptr<T>();
    GC_PARALLEL_FOR(n * C >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i / S) * C * S + i % S;
      double m = -INFINITY, se = 0;
      for (int64_t c = 0; c < C; ++c) m = std::fmax(m, double(xp[off + c * S]));
      for (int64_t c = 0; c < C; ++c) se += std::exp(double(xp[off + c * S]) - m);
      double lse = m + std::log(se), e = 0;
      for (int64_t c = 0; c < C; ++c) {
        double q = (1 - eps) * double(yp[off + c * S]) + eps / double(C);
        e += (hw ? double(wp[c]) : 1.0) * q * (lse - double(xp[off + c * S]));
      }
      lp[i] = T(lse); ep[i] = T(e);
    });
    reduce_samples<T>(ep, n, double(n), red, out[2], out[3]);
  });
}
GC_KERNEL("cross_entropy_soft(T x, T y, T weight, *, float label_smoothing, int reduction) -> (T elem, T lse, T loss, T wsum)", cross_entropy_soft);
GC_NOALIAS("cross_entropy_soft");

// ins: g, x, y, weight, lse, wsum   out: dx   attrs: eps, reduction
void cross_entropy_soft_backward(Ins in, Outs out, Attrs at) {
  const char* op = "cross_entropy_backward";
  const Buf &g = in[0], &x = in[1], &y = in[2], &w = in[3], &lse = in[4], &ws = in[5];
  Layout L = class_layout(op, x, y, true);
  const double eps = attr(at, 0, op);
  const int red = int(attr(at, 1, op));
  const bool hw = has_weight(op, w, x, L.C);
  const int64_t n = L.N * L.S, C = L.C, S = L.S;
  GC_CHECK(g.numel() == (red == kNone ? n : 1), op << ": gradient " << g.shape_str() << " does not fit");
  need_numel(op, "input 'lse'", lse, n); need_numel(op, "input 'wsum'", ws, 1);
  check_same_shape(op, x, out[0]);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *xp = x.ptr<T>(), *yp = y.ptr<T>(), *gp = g.ptr<T>(), *lp = lse.ptr<T>();
    const T* wp = hw ? w.ptr<T>() : nullptr;
    T* dp = out[0].ptr<T>();
    const double scale = red == kMean ? 1.0 / double(ws.ptr<T>()[0]) : 1.0;
    GC_PARALLEL_FOR(n * C >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i / S) * C * S + i % S;
      double gs = double(gp[red == kNone ? i : 0]) * scale, wq = 0;
      for (int64_t c = 0; c < C; ++c)
        wq += (hw ? double(wp[c]) : 1.0) * ((1 - eps) * double(yp[off + c * S]) + eps / double(C));
      for (int64_t c = 0; c < C; ++c) {
        double q = (1 - eps) * double(yp[off + c * S]) + eps / double(C);
        double p = std::exp(double(xp[off + c * S]) - double(lp[i]));
        dp[off + c * S] = T(gs * (p * wq - (hw ? double(wp[c]) : 1.0) * q));
      }
    });
  });
}
GC_KERNEL("cross_entropy_soft_backward(T g, T x, T y, T weight, T lse, T wsum, *, float label_smoothing, int reduction) -> T dx", cross_entropy_soft_backward);
GC_NOALIAS("cross_entropy_soft_backward");

// ---- nll_loss --------------------------------------------------------------------------
// elem = -w_t x_t (0 where t == ignore); mean = sum elem / sum w_t;  dx_t = -g' w_t, 0 elsewhere
// ins: x (log-probabilities), target, weight   outs: elem, loss (), wsum ()
// attrs: ignore_index, reduction
void nll_loss(Ins in, Outs out, Attrs at) {
  const char* op = "nll_loss";
  const Buf &x = in[0], &t = in[1], &w = in[2];
  Layout L = class_layout(op, x, t, false);
  const int64_t ignore = int64_t(attr(at, 0, op)), n = L.N * L.S;
  const int red = int(attr(at, 1, op));
  check_targets(op, t, L.C, ignore);
  const bool hw = has_weight(op, w, x, L.C);
  need_numel(op, "output 'elem'", out[0], n);
  need_numel(op, "output 'loss'", out[1], 1); need_numel(op, "output 'wsum'", out[2], 1);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *xp = x.ptr<T>(), *wp = hw ? w.ptr<T>() : nullptr;
    const int64_t* tp = t.ptr<int64_t>();
    T* ep = out[0].ptr<T>();
    double wsum = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = tp[i];
      if (k == ignore) { ep[i] = T(0); continue; }
      double wt = hw ? double(wp[k]) : 1.0;
      ep[i] = T(-wt * double(xp[(i / L.S) * L.C * L.S + k * L.S + i % L.S]));
      wsum += wt;
    }
    reduce_samples<T>(ep, n, wsum, red, out[1], out[2]);
  });
}
GC_KERNEL("nll_loss(T x, i64 target, T weight, *, int ignore_index, int reduction) -> (T elem, T loss, T wsum)", nll_loss);
GC_NOALIAS("nll_loss");

// ins: g, target, weight, wsum   out: dx (x's shape)   attrs: ignore_index, reduction
void nll_loss_backward(Ins in, Outs out, Attrs at) {
  const char* op = "nll_loss_backward";
  const Buf &g = in[0], &t = in[1], &w = in[2], &ws = in[3], &dx = out[0];
  Layout L = class_layout(op, dx, t, false);
  const int64_t ignore = int64_t(attr(at, 0, op)), n = L.N * L.S;
  const int red = int(attr(at, 1, op));
  const bool hw = has_weight(op, w, dx, L.C);
  check_targets(op, t, L.C, ignore);
  GC_CHECK(g.numel() == (red == kNone ? n : 1), op << ": gradient " << g.shape_str() << " does not fit");
  need_numel(op, "input 'wsum'", ws, 1);
  float_dispatch(dx.dtype, op, [&]<class T>() {
    const T *gp = g.ptr<T>(), *wp = hw ? w.ptr<T>() : nullptr;
    const int64_t* tp = t.ptr<int64_t>();
    T* dp = dx.ptr<T>();
    std::fill(dp, dp + dx.numel(), T(0));
    const double scale = red == kMean ? 1.0 / double(ws.ptr<T>()[0]) : 1.0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = tp[i];
      if (k == ignore) continue;
      dp[(i / L.S) * L.C * L.S + k * L.S + i % L.S] =
          T(-double(gp[red == kNone ? i : 0]) * scale * (hw ? double(wp[k]) : 1.0));
    }
  });
}
GC_KERNEL("nll_loss_backward(T g, i64 target, T weight, T wsum, *, int ignore_index, int reduction) -> T dx", nll_loss_backward);
GC_NOALIAS("nll_loss_backward");

// ---- binary_cross_entropy on probabilities ------------------------------------------------
// l = -(y max(log p, -100) + (1-y) max(log(1-p), -100))     (torch clamps the logs at -100)
// dp = g (p - y) / max(p (1-p), 1e-12)       dy = g (log(1-p) - log p)  (unclamped: +-inf at p = 0, 1, as torch)
template <class T> T clog(T v) { return std::fmax(std::log(v), T(-100)); }
void bce(Ins in, Outs out, Attrs) {
  check_same_shape("binary_cross_entropy", in[0], in[1]);
  check_same_shape("binary_cross_entropy", in[0], out[0]);
  check_same_dtype("binary_cross_entropy", in[0], in[1]);
  float_dispatch(in[0].dtype, "binary_cross_entropy", [&]<class T>() {
    const T* p = in[0].ptr<T>();
    for (int64_t i = 0, n = in[0].numel(); i < n; ++i)
      if (!(p[i] >= T(0) && p[i] <= T(1)))
        throw std::runtime_error("binary_cross_entropy: all elements of input should be between 0 and 1");
    bmap<T, T, T>("binary_cross_entropy", out[0], [](T p, T y) {
      return -(y * clog(p) + (T(1) - y) * clog(T(1) - p)); }, in[0], in[1]);
  });
}
GC_KERNEL("bce(T p, T y) -> T loss", bce);
// ins: g, p, y   attrs: which (0: d/dp, 1: d/dy)
void bce_backward(Ins in, Outs out, Attrs at) {
  const bool dy = attr(at, 0, "bce_backward") != 0;
  float_dispatch(in[0].dtype, "binary_cross_entropy_backward", [&]<class T>() {
    bmap<T, T, T, T>("binary_cross_entropy_backward", out[0], [=](T g, T p, T y) {
      return dy ? g * (std::log1p(-p) - std::log(p)) : g * (p - y) / std::fmax(p * (T(1) - p), T(1e-12));
    }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("bce_backward(T g, T p, T y, *, int which) -> T grad", bce_backward);

// ---- binary_cross_entropy_with_logits ----------------------------------------------------
// sp = log(1 + e^-x) (stable),  lw = 1 + (pw - 1) y:     l = (1-y) x + lw sp
// dx = (1-y) - lw sigmoid(-x)     dy = (pw - 1) sp - x     dpw = y sp
// ins: x, y, pw (broadcast to out)   backward ins: g, x, y, pw   attrs: which (0: x, 1: y, 2: pw)
template <class T> T softplus_neg(T x) { return std::fmax(-x, T(0)) + std::log1p(std::exp(-std::fabs(x))); }
template <class T> T sigmoid_neg(T x) {
  return x >= T(0) ? std::exp(-x) / (T(1) + std::exp(-x)) : T(1) / (T(1) + std::exp(x));
}
void bce_logits(Ins in, Outs out, Attrs) {
  check_same_dtype("binary_cross_entropy_with_logits", in[0], in[1]);
  check_same_dtype("binary_cross_entropy_with_logits", in[0], in[2]);
  float_dispatch(in[0].dtype, "binary_cross_entropy_with_logits", [&]<class T>() {
    bmap<T, T, T, T>("binary_cross_entropy_with_logits", out[0], [](T x, T y, T pw) {
      return (T(1) - y) * x + (T(1) + (pw - T(1)) * y) * softplus_neg(x); }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("bce_logits(T x, T y, T pos_weight) -> T loss", bce_logits);
void bce_logits_backward(Ins in, Outs out, Attrs at) {
  const int which = int(attr(at, 0, "bce_logits_backward"));
  float_dispatch(in[0].dtype, "binary_cross_entropy_with_logits_backward", [&]<class T>() {
    // pw == 1 (no pos_weight) drops the (pw - 1) terms exactly: 0 * inf would turn an
    // infinite y or x into NaN where torch gives ±inf.
    bmap<T, T, T, T, T>("binary_cross_entropy_with_logits_backward", out[0], [=](T g, T x, T y, T pw) {
      if (which == 0) return g * ((T(1) - y) - (pw == T(1) ? T(1) : T(1) + (pw - T(1)) * y) * sigmoid_neg(x));
      if (which == 1) return g * ((pw == T(1) ? T(0) : (pw - T(1)) * softplus_neg(x)) - x);
      return g * y * softplus_neg(x);
    }, in[0], in[1], in[2], in[3]);
  });
}
GC_KERNEL("bce_logits_backward(T g, T x, T y, T pos_weight, *, int which) -> T grad", bce_logits_backward);

// ---- smooth_l1 on d = input - target (p0 = beta >= 0) -----------------------------------------
// l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta      dd = g d / beta if |d| < beta else g sign(d)
GC_UNARY_P(smooth_l1, "float beta", select(std::fabs(x) < T(p0), T(0.5) * x * x / T(p0), std::fabs(x) - T(0.5 * p0)));
// (a NaN d gives a NaN gradient, as torch's smooth_l1/huber backward)
GC_UNARY_BWD_P(smooth_l1_backward, "float beta", std::fabs(s) < T(p0) ? g * s / T(p0)
                                 : (s > T(0) ? g : s < T(0) ? -g : s == T(0) ? T(0) : s));

}  // namespace
}  // namespace gc
