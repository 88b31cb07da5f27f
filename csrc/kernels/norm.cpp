// Normalisation kernels: batch_norm (+ its running-statistics update), layer_norm, group_norm.
// Each op normalises slices of M elements by their own mean and variance:
//   batch_norm  x (N, C, S...)  one slice per channel c: its N*S elements (strided runs of S)
//   layer_norm  x (R, D)        one slice per row: its D trailing elements (contiguous)
//   group_norm  x (N, C, S...)  one slice per (n, group): (C/G)*S contiguous elements
// then y = (x - mean) rstd w + b (rstd = 1/sqrt(var + eps), biased var; w, b per channel for
// batch/group norm, per trailing element for layer norm).
// Statistics take ONE pass: sums of u = x - K and u^2 with K = the slice's first element (the
// shifted-data variance var = (sum u^2 - (sum u)^2/M)/M, which avoids the cancellation of
// sum x^2 - (sum x)^2/M when |mean| >> std); contiguous runs use Eigen's vectorized sums over
// blocks of <= 2048 elements added in double, short strided runs accumulate in double. A
// second pass writes the output.
// Backward, per slice, xhat = (x - mean) rstd and gw = g w:
//   dx = rstd (gw - sum(gw)/M - xhat sum(gw xhat)/M)     (batch_norm in eval: dx = gw rstd)
//   dw = sum of g xhat, db = sum of g, over every element that weight element scales
// Optional tensors: an empty (0,) weight/bias means none; an empty (0,) output of a backward
// kernel is not computed (its input needs no gradient). Reductions run in a fixed order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>
#include <Eigen/Core>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

template <class T> using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> using CMap = Eigen::Map<const Arr<T>>;
template <class T> using MMap = Eigen::Map<Arr<T>>;
constexpr int64_t kBlock = 2048;  // float sums over at most this many elements, then double
constexpr int64_t kShort = 256;   // batch_norm runs shorter than this are grouped per task
constexpr int64_t kTiny = 16;     // runs shorter than this skip Eigen (its setup would dominate)

struct Sums { double a = 0, b = 0; };

// s += (sum u, sum u^2), u = x - k, over a contiguous run
template <class T> void shifted_sums(const T* x, int64_t n, T k, Sums& s) {
  if (n < kTiny) {
    for (int64_t i = 0; i < n; ++i) { const double u = double(x[i] - k); s.a += u; s.b += u * u; }
    return;
  }
  for (int64_t i = 0; i < n; i += kBlock) {
    CMap<T> xv(x + i, std::min(kBlock, n - i));
    s.a += double((xv - k).sum());
    s.b += double((xv - k).square().sum());
  }
}
// s += (sum g, sum g (x - m)), over a contiguous run
template <class T> void grad_sums(const T* g, const T* x, int64_t n, T m, Sums& s) {
  if (n < kTiny) {
    for (int64_t i = 0; i < n; ++i) { s.a += double(g[i]); s.b += double(g[i]) * double(x[i] - m); }
    return;
  }
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t len = std::min(kBlock, n - i);
    CMap<T> gv(g + i, len), xv(x + i, len);
    s.a += double(gv.sum());
    s.b += double((gv * (xv - m)).sum());
  }
}
// mean and biased variance of M elements from their shifted sums
inline void moments(const Sums& s, double k, int64_t M, double& mean, double& var) {
  mean = k + s.a / double(M);
  var = std::max(0.0, (s.b - s.a * s.a / double(M)) / double(M));
}

void float_check(const char* op, const Buf& x) {
  GC_TYPE_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                op << ": input must be float32 or float64, got " << dtype_name(x.dtype));
}
// A vector argument of n elements and x's dtype; with `optional`, an empty (0,) buffer is absent.
bool vec_arg(const char* op, const char* name, const Buf& v, const Buf& x, int64_t n, bool optional) {
  if (optional && v.ndim == 1 && v.shape[0] == 0 && n != 0) return false;
  GC_TYPE_CHECK(v.dtype == x.dtype, op << ": " << name << " is " << dtype_name(v.dtype)
                << " but the input is " << dtype_name(x.dtype));
  GC_CHECK(v.numel() == n, op << ": " << name << " " << v.shape_str() << " must have " << n
           << " elements for input " << x.shape_str());
  return true;
}
// An output of x's shape (or, with `optional`, empty = not wanted).
bool like_arg(const char* op, const char* name, const Buf& o, const Buf& x, bool optional) {
  if (optional && o.ndim == 1 && o.shape[0] == 0 && x.numel() != 0) return false;
  check_same_dtype(op, x, o);
  GC_CHECK(o.numel() == x.numel(), op << ": " << name << " " << o.shape_str()
           << " must have the shape of input " << x.shape_str());
  return true;
}

// ---- batch_norm --------------------------------------------------------------------------
struct BnDims { int64_t N, C, S; };
BnDims bn_dims(const char* op, const Buf& x) {
  GC_CHECK(x.ndim >= 2, op << ": input must be (N, C, ...) with at least 2 dims, got " << x.shape_str());
  BnDims d{x.shape[0], x.shape[1], 1};
  for (int i = 2; i < x.ndim; ++i) d.S *= x.shape[i];
  return d;
}

// Per-channel sums: forward (Bwd = false) of u = x - k[c] and u^2; backward of g and
// g (x - k[c]). Runs of S >= kShort: one task per channel. Shorter runs: a task takes a block
// of channels whose runs are adjacent in each sample and accumulates per position in double.
template <class T, bool Bwd>
void bn_channel_sums(const BnDims& d, const T* x, const T* g, const T* k, Sums* out) {
  const int64_t N = d.N, C = d.C, S = d.S;
  const bool par = N * C * S >= kParallelMin;
  if (N * S == 0) {
    std::fill(out, out + C, Sums{});
    return;
  }
  if (S >= kShort) {
    GC_PARALLEL_FOR(par && C > 1,
    for (int64_t c = 0; c < C; ++c) {
      Sums s;
      for (int64_t n = 0; n < N; ++n) {
        const int64_t off = (n * C + c) * S;
        if constexpr (Bwd) grad_sums(g + off, x + off, S, k[c], s);
        else shifted_sums(x + off, S, k[c], s);
      }
      out[c] = s;
    });
    return;
  }
  const int64_t bw = kShort / S, nb = (C + bw - 1) / bw;  // bw * S <= kShort
  GC_PARALLEL_FOR(par && nb > 1,
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t c0 = blk * bw, c1 = std::min(C, c0 + bw), R = (c1 - c0) * S;
    double a1[kShort], a2[kShort];
    T kk[kShort];
    for (int64_t j = 0; j < R; ++j) { a1[j] = a2[j] = 0; kk[j] = k[c0 + j / S]; }
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + (n * C + c0) * S;
      if constexpr (Bwd) {
        const T* gr = g + (n * C + c0) * S;
        for (int64_t j = 0; j < R; ++j) {
          a1[j] += double(gr[j]);
          a2[j] += double(gr[j]) * double(xr[j] - kk[j]);
        }
      } else {
        for (int64_t j = 0; j < R; ++j) {
          const double u = double(xr[j] - kk[j]);
          a1[j] += u; a2[j] += u * u;
        }
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      Sums s;
      for (int64_t j = (c - c0) * S; j < (c - c0 + 1) * S; ++j) { s.a += a1[j]; s.b += a2[j]; }
      out[c] = s;
    }
  });
}

// Elementwise pass over a BN layout: `run(off, len, c)` for a run of S elements of channel c
// (S > 1, parallel over (n, c)), or `row(off)` for the C channels of one sample (S == 1).
template <class Run, class Row> void bn_for_each(const BnDims& d, Run run, Row row) {
  const bool par = d.N * d.C * d.S >= kParallelMin;
  if (d.S == 1) {
    GC_PARALLEL_FOR(par,
    for (int64_t n = 0; n < d.N; ++n) row(n * d.C););
    return;
  }
  GC_PARALLEL_FOR(par,
  for (int64_t r = 0; r < d.N * d.C; ++r) run(r * d.S, d.S, r % d.C););
}

// training: mean, var = batch statistics over (N, S) per channel (rm, rv unused, may be empty);
// eval: mean, var = running_mean, running_var.  y = (x - mean) * (w invstd) + b
// ins: x, weight, bias, running_mean, running_var   outs: y, save_mean, save_invstd, save_var
// (all (C,)) attrs: training, eps
void batch_norm(Ins in, Outs out, Attrs at) {
  const char* op = "batch_norm";
  const Buf &x = in[0], &w = in[1], &b = in[2], &rm = in[3], &rv = in[4];
  const bool training = attr(at, 0, op) != 0;
  const double eps = attr(at, 1, op);
  float_check(op, x);
  const BnDims d = bn_dims(op, x);
  const int64_t C = d.C, M = d.N * d.S;
  const bool hw = vec_arg(op, "weight", w, x, C, true), hb = vec_arg(op, "bias", b, x, C, true);
  if (!training) {
    vec_arg(op, "running_mean", rm, x, C, false);
    vec_arg(op, "running_var", rv, x, C, false);
  }
  GC_CHECK(eps >= 0, op << ": eps must be >= 0, got " << eps);
  like_arg(op, "output", out[0], x, false);
  for (int i = 1; i < 4; ++i) vec_arg(op, "saved statistic", out[i], x, C, false);
  static thread_local std::vector<Sums> tls_sums;
  std::vector<Sums>& sums = tls_sums;
  float_dispatch(x.dtype, op, [&]<class T>() {
    static thread_local std::vector<T> tls_coef;
    std::vector<T>& sc = tls_coef;
    sc.resize(size_t(2 * C));
    const T* xp = x.ptr<T>();
    T *mean = out[1].ptr<T>(), *inv = out[2].ptr<T>(), *var = out[3].ptr<T>(), *sh = sc.data() + C;
    if (training) {
      sums.resize(size_t(C));
      for (int64_t c = 0; c < C; ++c) mean[c] = M ? xp[c * d.S] : T(0);  // shift: x[0, c, 0]
      bn_channel_sums<T, false>(d, xp, nullptr, mean, sums.data());
      for (int64_t c = 0; c < C; ++c) {
        double m = 0, v = 0;  // an empty batch (M = 0): y is empty, the statistics unused
        if (M) moments(sums[c], double(mean[c]), M, m, v);
        mean[c] = T(m); var[c] = T(v); inv[c] = T(1.0 / std::sqrt(v + eps));
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        mean[c] = rm.ptr<T>()[c]; var[c] = rv.ptr<T>()[c];
        inv[c] = T(1.0 / std::sqrt(double(var[c]) + eps));
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      sc[c] = hw ? T(double(w.ptr<T>()[c]) * double(inv[c])) : inv[c];
      sh[c] = hb ? b.ptr<T>()[c] : T(0);
    }
    T* yp = out[0].ptr<T>();
    bn_for_each(d, [&](int64_t off, int64_t len, int64_t c) {
      const T m = mean[c], a = sc[c], bc = sh[c];
      for (int64_t i = off; i < off + len; ++i) yp[i] = (xp[i] - m) * a + bc;
    }, [&](int64_t off) {
      MMap<T>(yp + off, C) =
          (CMap<T>(xp + off, C) - CMap<T>(mean, C)) * CMap<T>(sc.data(), C) + CMap<T>(sh, C);
    });
  });
}
GC_KERNEL("batch_norm(T x, T weight, T bias, T running_mean, T running_var, *, int training, float eps) -> (T y, T save_mean, T save_invstd, T save_var)", batch_norm);

// training: dx = k (g - sum(g)/M - (x - mean) invstd^2 sum(g (x - mean))/M), k = w invstd
// eval (statistics are constants): dx = k g.  Both: dw = invstd sum(g (x - mean)), db = sum(g)
// ins: g, x, weight, save_mean, save_invstd   outs: dx, dweight, dbias   attrs: training
void batch_norm_backward(Ins in, Outs out, Attrs at) {
  const char* op = "batch_norm_backward";
  const Buf &g = in[0], &x = in[1], &w = in[2], &mb = in[3], &ib = in[4];
  const bool training = attr(at, 0, op) != 0;
  float_check(op, x);
  const BnDims d = bn_dims(op, x);
  const int64_t C = d.C, M = d.N * d.S;
  like_arg(op, "grad", g, x, false);
  const bool hw = vec_arg(op, "weight", w, x, C, true);
  vec_arg(op, "save_mean", mb, x, C, false); vec_arg(op, "save_invstd", ib, x, C, false);
  const bool ndx = like_arg(op, "dx", out[0], x, true);
  const bool ndw = vec_arg(op, "dweight", out[1], x, C, true);
  const bool ndb = vec_arg(op, "dbias", out[2], x, C, true);
  static thread_local std::vector<Sums> tls_sums;
  std::vector<Sums>& sums = tls_sums;
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *gp = g.ptr<T>(), *xp = x.ptr<T>(), *mean = mb.ptr<T>(), *inv = ib.ptr<T>();
    if ((ndx && training) || ndw || ndb) {
      sums.resize(size_t(C));
      bn_channel_sums<T, true>(d, xp, gp, mean, sums.data());
      for (int64_t c = 0; c < C; ++c) {
        if (ndw) out[1].ptr<T>()[c] = T(double(inv[c]) * sums[c].b);
        if (ndb) out[2].ptr<T>()[c] = T(sums[c].a);
      }
    }
    if (!ndx) return;
    static thread_local std::vector<T> tls_coef;
    std::vector<T>& k = tls_coef;
    k.resize(size_t(3 * C));
    T *k1 = k.data(), *k2 = k1 + C, *k3 = k2 + C;
    for (int64_t c = 0; c < C; ++c) {
      const double iv = double(inv[c]), kc = (hw ? double(w.ptr<T>()[c]) : 1.0) * iv;
      k1[c] = T(kc);
      k2[c] = training ? T(-kc * iv * iv * sums[c].b / double(M)) : T(0);
      k3[c] = training ? T(-kc * sums[c].a / double(M)) : T(0);
    }
    T* dx = out[0].ptr<T>();
    bn_for_each(d, [&](int64_t off, int64_t len, int64_t c) {
      const T a = k1[c], bb = k2[c], cc = k3[c], m = mean[c];
      for (int64_t i = off; i < off + len; ++i) dx[i] = gp[i] * a + (xp[i] - m) * bb + cc;
    }, [&](int64_t off) {
      MMap<T>(dx + off, C) = CMap<T>(gp + off, C) * CMap<T>(k1, C)
                             + (CMap<T>(xp + off, C) - CMap<T>(mean, C)) * CMap<T>(k2, C) + CMap<T>(k3, C);
    });
  });
}
GC_KERNEL("batch_norm_backward(T grad, T x, T weight, T save_mean, T save_invstd, *, int training) -> (T dx, T dweight, T dbias)", batch_norm_backward);

// In place, as torch: [num_batches_tracked += 1;] f = momentum, or 1/num_batches_tracked
// (cumulative average) when momentum < 0;
//   running_mean = (1 - f) running_mean + f save_mean
//   running_var  = (1 - f) running_var  + f save_var M/(M - 1)      (unbiased batch variance)
// Tensors: running_mean, running_var, save_mean, save_var (all (C,), one float dtype)
// [, num_batches_tracked (int64, one element)].  attrs: momentum, count M (= N*S; 0: an empty
// batch, which only counts in num_batches_tracked)
void batch_norm_update_stats(Ins in, Outs, Attrs at) {
  const char* op = "batch_norm_update_stats";
  GC_CHECK(in.size() == 4 || in.size() == 5, op << ": expected running_mean, running_var, save_mean, "
           "save_var[, num_batches_tracked], got " << in.size() << " tensors");
  const double momentum = attr(at, 0, op), M = attr(at, 1, op);
  const Buf& rm = in[0];
  float_check(op, rm);
  static const char* const names[] = {"running_mean", "running_var", "save_mean", "save_var"};
  for (int i = 0; i < 4; ++i) vec_arg(op, names[i], in[i], rm, rm.numel(), false);
  GC_CHECK(M == 0 || M > 1, op << ": the unbiased variance needs more than 1 value per channel, got " << M);
  const bool has_nbt = in.size() == 5;
  GC_CHECK(momentum >= 0 || has_nbt, op << ": momentum=None (cumulative average) needs num_batches_tracked");
  if (has_nbt) GC_TYPE_CHECK(in[4].dtype == DType::i64 && in[4].numel() == 1,
                             op << ": num_batches_tracked must be a one-element int64 tensor, got "
                             << dtype_name(in[4].dtype) << " " << in[4].shape_str());
  double f = momentum;
  if (has_nbt) {
    int64_t& nbt = in[4].ptr<int64_t>()[0];
    nbt += 1;
    if (momentum < 0) f = 1.0 / double(nbt);
  }
  if (M == 0) return;  // an empty batch leaves the statistics alone (as torch)
  const double unbias = M / (M - 1);
  float_dispatch(rm.dtype, op, [&]<class T>() {
    T *rmp = in[0].ptr<T>(), *rvp = in[1].ptr<T>();
    const T *mp = in[2].ptr<T>(), *vp = in[3].ptr<T>();
    for (int64_t c = 0, C = rm.numel(); c < C; ++c) {
      rmp[c] = T(f * double(mp[c]) + (1 - f) * double(rmp[c]));
      rvp[c] = T(f * double(vp[c]) * unbias + (1 - f) * double(rvp[c]));
    }
  });
}
GC_KERNEL("batch_norm_update_stats(any... state, *, float momentum, int count) -> ()", batch_norm_update_stats);

// ---- layer_norm --------------------------------------------------------------------------
// x (R, D): D = the normalized trailing elements. mean, rstd: (R,). w, b: D elements each.
// ins: x, weight, bias   outs: y, mean, rstd   attrs: D, eps
void layer_norm(Ins in, Outs out, Attrs at) {
  const char* op = "layer_norm";
  const Buf &x = in[0], &w = in[1], &b = in[2];
  float_check(op, x);
  const int64_t D = int64_t(attr(at, 0, op)), n = x.numel();
  const double eps = attr(at, 1, op);
  GC_CHECK(D > 0 && n % D == 0, op << ": input " << x.shape_str() << " does not split into rows of "
           << D << " normalized elements");
  GC_CHECK(eps >= 0, op << ": eps must be >= 0, got " << eps);
  const int64_t R = n / D;
  const bool hw = vec_arg(op, "weight", w, x, D, true), hb = vec_arg(op, "bias", b, x, D, true);
  like_arg(op, "output", out[0], x, false);
  vec_arg(op, "mean", out[1], x, R, false); vec_arg(op, "rstd", out[2], x, R, false);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T* xp = x.ptr<T>(); T *yp = out[0].ptr<T>(), *mp = out[1].ptr<T>(), *rp = out[2].ptr<T>();
    GC_PARALLEL_FOR(n >= kParallelMin && R > 1,
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = xp + r * D;
      Sums s;
      shifted_sums(xr, D, xr[0], s);
      double m, v;
      moments(s, double(xr[0]), D, m, v);
      const T tm = T(m), ts = T(1.0 / std::sqrt(v + eps));
      mp[r] = tm; rp[r] = ts;
      CMap<T> xv(xr, D);
      MMap<T> yv(yp + r * D, D);
      if (hw && hb) yv = (xv - tm) * ts * CMap<T>(w.ptr<T>(), D) + CMap<T>(b.ptr<T>(), D);
      else if (hw) yv = (xv - tm) * ts * CMap<T>(w.ptr<T>(), D);
      else if (hb) yv = (xv - tm) * ts + CMap<T>(b.ptr<T>(), D);
      else yv = (xv - tm) * ts;
    });
  });
}
GC_KERNEL("layer_norm(T x, T weight, T bias, *, int normalized_numel, float eps) -> (T y, T mean, T rstd)", layer_norm);

// Per row: gw = g w;  dx = rstd (gw - sum(gw)/D - xhat sum(gw xhat)/D) (gw is built in dx first).
// dw[j] = sum_r g xhat, db[j] = sum_r g: rows are cut into a fixed number of chunks (set by R
// and D, not by the thread count), partial column sums per chunk in double, added in order.
// ins: g, x, weight, mean, rstd   outs: dx, dweight, dbias   attrs: D
void layer_norm_backward(Ins in, Outs out, Attrs at) {
  const char* op = "layer_norm_backward";
  const Buf &g = in[0], &x = in[1], &w = in[2], &mb = in[3], &rb = in[4];
  float_check(op, x);
  like_arg(op, "grad", g, x, false);
  const int64_t D = int64_t(attr(at, 0, op)), n = x.numel();
  GC_CHECK(D > 0 && n % D == 0, op << ": input " << x.shape_str() << " does not split into rows of "
           << D << " normalized elements");
  const int64_t R = n / D;
  vec_arg(op, "mean", mb, x, R, false); vec_arg(op, "rstd", rb, x, R, false);
  const bool hw = vec_arg(op, "weight", w, x, D, true);
  const bool ndx = like_arg(op, "dx", out[0], x, true);
  const bool ndw = vec_arg(op, "dweight", out[1], x, D, true);
  const bool ndb = vec_arg(op, "dbias", out[2], x, D, true);
  static thread_local std::vector<double> tls_part;
  std::vector<double>& part = tls_part;
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *gp = g.ptr<T>(), *xp = x.ptr<T>(), *mp = mb.ptr<T>(), *rp = rb.ptr<T>();
    if (ndx) {
      T* dxp = out[0].ptr<T>();
      GC_PARALLEL_FOR(n >= kParallelMin && R > 1,
      for (int64_t r = 0; r < R; ++r) {
        MMap<T> dv(dxp + r * D, D);
        CMap<T> gv(gp + r * D, D), xv(xp + r * D, D);
        if (hw) dv = gv * CMap<T>(w.ptr<T>(), D); else dv = gv;
        Sums s;  // (sum gw, sum gw (x - mean))
        grad_sums(dxp + r * D, xp + r * D, D, mp[r], s);
        const T ts = rp[r], a = T(s.a / double(D)), bb = T(double(ts) * s.b / double(D));
        dv = ts * (dv - a - (xv - mp[r]) * ts * bb);
      });
    }
    if (!ndw && !ndb) return;
    const int64_t nch = std::clamp<int64_t>(std::min(R / 64, (int64_t(1) << 20) / D), 1, 32);
    const int64_t per = (R + nch - 1) / nch;
    part.assign(size_t(2 * nch * D), 0.0);
    GC_PARALLEL_FOR(n >= kParallelMin && nch > 1,
    for (int64_t ch = 0; ch < nch; ++ch) {
      double *pw = part.data() + 2 * ch * D, *pb = pw + D;
      for (int64_t r = ch * per; r < std::min(R, (ch + 1) * per); ++r) {
        const T *gr = gp + r * D, *xr = xp + r * D, m = mp[r], ts = rp[r];
        for (int64_t j = 0; j < D; ++j) {
          pb[j] += double(gr[j]);
          pw[j] += double(gr[j]) * double((xr[j] - m) * ts);
        }
      }
    });
    for (int64_t j = 0; j < D; ++j) {
      double sw = 0, sb = 0;
      for (int64_t ch = 0; ch < nch; ++ch) { sw += part[2 * ch * D + j]; sb += part[(2 * ch + 1) * D + j]; }
      if (ndw) out[1].ptr<T>()[j] = T(sw);
      if (ndb) out[2].ptr<T>()[j] = T(sb);
    }
  });
}
GC_KERNEL("layer_norm_backward(T grad, T x, T weight, T mean, T rstd, *, int normalized_numel) -> (T dx, T dweight, T dbias)", layer_norm_backward);

// ---- group_norm --------------------------------------------------------------------------
// x (N, C, S...), G groups of C/G channels; group (n, k) is the contiguous run of (C/G)*S
// elements at (n, k C/G, 0). mean, rstd: (N, G). w, b: (C,).
struct GnDims { int64_t N, C, S, G, Cg; };
GnDims gn_dims(const char* op, const Buf& x, double groups) {
  const BnDims d = bn_dims(op, x);
  const int64_t G = int64_t(groups);
  GC_CHECK(G > 0 && d.C % G == 0, op << ": expected the " << d.C << " channels of input " << x.shape_str()
           << " to be divisible by num_groups=" << G);
  return {d.N, d.C, d.S, G, d.C / G};
}

// ins: x, weight, bias   outs: y, mean, rstd   attrs: num_groups, eps
void group_norm(Ins in, Outs out, Attrs at) {
  const char* op = "group_norm";
  const Buf &x = in[0], &w = in[1], &b = in[2];
  float_check(op, x);
  const GnDims d = gn_dims(op, x, attr(at, 0, op));
  const double eps = attr(at, 1, op);
  GC_CHECK(eps >= 0, op << ": eps must be >= 0, got " << eps);
  const bool hw = vec_arg(op, "weight", w, x, d.C, true), hb = vec_arg(op, "bias", b, x, d.C, true);
  like_arg(op, "output", out[0], x, false);
  vec_arg(op, "mean", out[1], x, d.N * d.G, false); vec_arg(op, "rstd", out[2], x, d.N * d.G, false);
  const int64_t M = d.Cg * d.S, ng = d.N * d.G;
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *xp = x.ptr<T>(), *wp = hw ? w.ptr<T>() : nullptr, *bp = hb ? b.ptr<T>() : nullptr;
    T *yp = out[0].ptr<T>(), *mp = out[1].ptr<T>(), *rp = out[2].ptr<T>();
    GC_PARALLEL_FOR(x.numel() >= kParallelMin && ng > 1,
    for (int64_t i = 0; i < ng; ++i) {
      const T* xr = xp + i * M;
      double m = 0, v = 0;
      if (M > 0) { Sums s; shifted_sums(xr, M, xr[0], s); moments(s, double(xr[0]), M, m, v); }
      const T tm = T(m), ts = T(1.0 / std::sqrt(v + eps));
      mp[i] = tm; rp[i] = ts;
      for (int64_t c = (i % d.G) * d.Cg, j = 0; j < d.Cg; ++c, ++j) {
        const T a = wp ? T(double(wp[c]) * double(ts)) : ts, bc = bp ? bp[c] : T(0);
        const T* xc = xr + j * d.S;
        T* yc = yp + i * M + j * d.S;
        for (int64_t s = 0; s < d.S; ++s) yc[s] = (xc[s] - tm) * a + bc;
      }
    });
  });
}
GC_KERNEL("group_norm(T x, T weight, T bias, *, int num_groups, float eps) -> (T y, T mean, T rstd)", group_norm);

// Per (n, c): sg = sum_s g, sgx = sum_s g (x - mean) (double scratch, 2 N C). Then
// dw[c] = sum_n rstd sgx, db[c] = sum_n sg; per group A = sum_c w sg, B = rstd sum_c w sgx
// (= sum gw xhat): dx = g w rstd - rstd A/M - (x - mean) rstd^2 B/M, M = (C/G) S.
// ins: g, x, weight, mean, rstd   outs: dx, dweight, dbias   attrs: num_groups
void group_norm_backward(Ins in, Outs out, Attrs at) {
  const char* op = "group_norm_backward";
  const Buf &g = in[0], &x = in[1], &w = in[2], &mb = in[3], &rb = in[4];
  float_check(op, x);
  const GnDims d = gn_dims(op, x, attr(at, 0, op));
  like_arg(op, "grad", g, x, false);
  const bool hw = vec_arg(op, "weight", w, x, d.C, true);
  vec_arg(op, "mean", mb, x, d.N * d.G, false); vec_arg(op, "rstd", rb, x, d.N * d.G, false);
  const bool ndx = like_arg(op, "dx", out[0], x, true);
  const bool ndw = vec_arg(op, "dweight", out[1], x, d.C, true);
  const bool ndb = vec_arg(op, "dbias", out[2], x, d.C, true);
  const int64_t NC = d.N * d.C, M = d.Cg * d.S, ng = d.N * d.G;
  const bool par = x.numel() >= kParallelMin;
  static thread_local std::vector<Sums> tls_sums;
  std::vector<Sums>& sums = tls_sums;  // per (n, c), then per c (the dw, db accumulators)
  sums.assign(size_t(NC + d.C), Sums{});
  float_dispatch(x.dtype, op, [&]<class T>() {
    const T *gp = g.ptr<T>(), *xp = x.ptr<T>(), *mp = mb.ptr<T>(), *rp = rb.ptr<T>();
    const T* wp = hw ? w.ptr<T>() : nullptr;
    GC_PARALLEL_FOR(par && ng > 1,
    for (int64_t i = 0; i < ng; ++i)    // row (n, k Cg + j) of (N*C, S) is i Cg + j
      for (int64_t r = i * d.Cg; r < (i + 1) * d.Cg; ++r)
        grad_sums(gp + r * d.S, xp + r * d.S, d.S, mp[i], sums[r]););
    if (ndw || ndb) {
      Sums* acc = sums.data() + NC;
      for (int64_t i = 0; i < ng; ++i) {
        const double rs = double(rp[i]);
        for (int64_t r = i * d.Cg, c = (i % d.G) * d.Cg; r < (i + 1) * d.Cg; ++r, ++c) {
          acc[c].a += sums[r].a; acc[c].b += rs * sums[r].b;
        }
      }
      for (int64_t c = 0; c < d.C; ++c) {
        if (ndw) out[1].ptr<T>()[c] = T(acc[c].b);
        if (ndb) out[2].ptr<T>()[c] = T(acc[c].a);
      }
    }
    if (!ndx) return;
    T* dxp = out[0].ptr<T>();
    GC_PARALLEL_FOR(par && ng > 1,
    for (int64_t i = 0; i < ng; ++i) {
      const int64_t n = i / d.G, c0 = (i % d.G) * d.Cg;
      double A = 0, B = 0;
      for (int64_t c = c0; c < c0 + d.Cg; ++c) {
        const double wc = wp ? double(wp[c]) : 1.0;
        A += wc * sums[n * d.C + c].a; B += wc * sums[n * d.C + c].b;
      }
      const double rs = double(rp[i]);
      B *= rs;
      const T k2 = T(-rs * rs * B / double(M)), k3 = T(-rs * A / double(M)), m = mp[i];
      for (int64_t c = c0; c < c0 + d.Cg; ++c) {
        const int64_t off = (n * d.C + c) * d.S;
        const T k1 = T((wp ? double(wp[c]) : 1.0) * rs);
        for (int64_t s = off; s < off + d.S; ++s) dxp[s] = gp[s] * k1 + (xp[s] - m) * k2 + k3;
      }
    });
  });
}
GC_KERNEL("group_norm_backward(T grad, T x, T weight, T mean, T rstd, *, int num_groups) -> (T dx, T dweight, T dbias)", group_norm_backward);

}  // namespace
}  // namespace gc
