// layer_norm and group_norm: each normalises contiguous slices (a row; a group of channels of
// one sample) by their own statistics. The shared method and helpers: norm.cpp, norm.h.
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
