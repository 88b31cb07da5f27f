// Normalisation kernels: batch_norm (+ its running-statistics update) here; layer_norm and
// group_norm in norm_layer.cpp; the shared helpers in norm.h.
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
#include "kernels/norm.h"

namespace gc {
namespace {
using namespace gc::norm;

// ---- batch_norm --------------------------------------------------------------------------
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

}  // namespace
}  // namespace gc
