// Upsampling (F.interpolate) over NCHW planes with torch's source-index formulas, forward and
// backward adjacent. Per axis of input length L and output length n, with scale factor s given
// by the user (attribute > 0) or not (0):
//   nearest:   src(i) = min(floor(i * r), L - 1),  r = 1/s or L/n, in float32 as torch
//              (n == L: src = i; n == 2L: src = i / 2)
//   bilinear:  r = (L-1)/(n-1) (align_corners; 0 if n == 1) or 1/s or L/n;
//              x = r*i (align_corners) or max(r*(i + 0.5) - 0.5, 0); i0 = min(floor(x), L-1),
//              i1 = i0 + (i0 < L-1), l1 = clamp(x - i0, 0, 1), l0 = 1 - l1  (n == L: copy)
//              y = lh0 (lw0 x[h0,w0] + lw1 x[h0,w1]) + lh1 (lw0 x[h1,w0] + lw1 x[h1,w1])
// The backward kernels scatter-add g with the same indices and weights into a zeroed dx.
// Index tables are computed once per call into the calling thread's scratch.
#include <algorithm>
#include <cmath>
#include <new>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"
#include "kernels/scratch.h"

namespace gc {
namespace {

struct Planes { int64_t P, H, W, Ho, Wo; };

// x: the low-resolution side (input of the forward), y: the high-resolution side.
Planes planes(const char* op, const Buf& x, const Buf& y) {
  GC_CHECK(x.ndim == 4 && y.ndim == 4 && x.shape[0] == y.shape[0] && x.shape[1] == y.shape[1],
           op << ": input " << x.shape_str() << " and output " << y.shape_str() << " must be 4-D with equal N, C");
  GC_CHECK((x.shape[2] > 0 && x.shape[3] > 0) || y.numel() == 0,
           op << ": input " << x.shape_str() << " has an empty spatial dim");
  check_same_dtype(op, x, y);
  return {x.shape[0] * x.shape[1], x.shape[2], x.shape[3], y.shape[2], y.shape[3]};
}

double scale_attr(Attrs at, size_t i, const char* op) {
  const double s = attr(at, i, op);
  GC_CHECK(s >= 0 && std::isfinite(s), op << ": scale factor must be >= 0 (0: none), got " << s);
  return s;
}

// ---- nearest -------------------------------------------------------------------------------
void nearest_index(int64_t* idx, int64_t L, int64_t n, double s) {
  const float r = s > 0 ? float(1.0 / s) : float(L) / float(n);
  for (int64_t i = 0; i < n; ++i)
    idx[i] = n == L ? i : n == 2 * L ? i >> 1 : std::min(int64_t(std::floor(float(i) * r)), L - 1);
}

template <bool Backward>
void upsample_nearest(Ins in, Outs out, Attrs at) {
  const char* op = Backward ? "upsample_nearest2d_backward" : "upsample_nearest2d";
  const Buf &x = Backward ? out[0] : in[0], &y = Backward ? in[0] : out[0];
  const Planes p = planes(op, x, y);
  int64_t* hi = thread_scratch<int64_t>(3, size_t(p.Ho + p.Wo + 1));
  if (!hi) throw std::bad_alloc();
  int64_t* wi = hi + p.Ho;
  nearest_index(hi, p.H, p.Ho, scale_attr(at, 0, op));
  nearest_index(wi, p.W, p.Wo, scale_attr(at, 1, op));
  float_dispatch(x.dtype, op, [&]<class T>() {
    const int64_t HW = p.H * p.W, HoWo = p.Ho * p.Wo;
    T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    GC_PARALLEL_FOR(p.P * std::max(HW, HoWo) >= kParallelMin,
    for (int64_t q = 0; q < p.P; ++q) {
      T* xq = xp + q * HW; T* yq = yp + q * HoWo;
      if constexpr (Backward) std::fill(xq, xq + HW, T(0));
      for (int64_t i = 0; i < p.Ho; ++i) {
        T* xr = xq + hi[i] * p.W; T* yr = yq + i * p.Wo;
        for (int64_t j = 0; j < p.Wo; ++j) {
          if constexpr (Backward) xr[wi[j]] += yr[j];
          else yr[j] = xr[wi[j]];
        }
      }
    });
  });
}
GC_KERNEL("upsample_nearest2d(T x, *, float scale_h, float scale_w) -> T y", upsample_nearest<false>);
GC_KERNEL("upsample_nearest2d_backward(T g, *, float scale_h, float scale_w) -> T dx", upsample_nearest<true>);

// ---- bilinear ------------------------------------------------------------------------------
template <class T>
void linear_index(int64_t* i0, int64_t* i1, T* l0, T* l1, int64_t L, int64_t n, bool align, double s) {
  const T r = align ? (n > 1 ? T(L - 1) / T(n - 1) : T(0)) : s > 0 ? T(1.0 / s) : T(L) / T(n);
  for (int64_t i = 0; i < n; ++i) {
    if (n == L) { i0[i] = i1[i] = i; l0[i] = 1; l1[i] = 0; continue; }
    T x = align ? r * T(i) : r * (T(i) + T(0.5)) - T(0.5);
    if (!align && x < 0) x = 0;
    i0[i] = std::min(int64_t(std::floor(x)), L - 1);
    l1[i] = std::min(std::max(x - T(i0[i]), T(0)), T(1));
    l0[i] = T(1) - l1[i];
    i1[i] = i0[i] + (i0[i] < L - 1 ? 1 : 0);
  }
}

template <bool Backward>
void upsample_bilinear(Ins in, Outs out, Attrs at) {
  const char* op = Backward ? "upsample_bilinear2d_backward" : "upsample_bilinear2d";
  const Buf &x = Backward ? out[0] : in[0], &y = Backward ? in[0] : out[0];
  const Planes p = planes(op, x, y);
  const bool align = attr(at, 0, op) != 0;
  const double sh = scale_attr(at, 1, op), sw = scale_attr(at, 2, op);
  float_dispatch(x.dtype, op, [&]<class T>() {
    const int64_t n = p.Ho + p.Wo;
    int64_t* ix = thread_scratch<int64_t>(3, size_t(2 * n + 1));
    T* lx = thread_scratch<T>(3, size_t(2 * n + 1));
    if (!ix || !lx) throw std::bad_alloc();
    int64_t *h0 = ix, *h1 = ix + p.Ho, *w0 = ix + 2 * p.Ho, *w1 = w0 + p.Wo;
    T *a0 = lx, *a1 = lx + p.Ho, *b0 = lx + 2 * p.Ho, *b1 = b0 + p.Wo;
    linear_index<T>(h0, h1, a0, a1, p.H, p.Ho, align, sh);
    linear_index<T>(w0, w1, b0, b1, p.W, p.Wo, align, sw);
    const int64_t HW = p.H * p.W, HoWo = p.Ho * p.Wo;
    T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    GC_PARALLEL_FOR(p.P * std::max(HW, HoWo) >= kParallelMin,
    for (int64_t q = 0; q < p.P; ++q) {
      T* xq = xp + q * HW; T* yq = yp + q * HoWo;
      if constexpr (Backward) std::fill(xq, xq + HW, T(0));
      for (int64_t i = 0; i < p.Ho; ++i) {
        T* r0 = xq + h0[i] * p.W; T* r1 = xq + h1[i] * p.W; T* yr = yq + i * p.Wo;
        for (int64_t j = 0; j < p.Wo; ++j) {
          if constexpr (Backward) {
            const T g = yr[j];
            r0[w0[j]] += a0[i] * b0[j] * g; r0[w1[j]] += a0[i] * b1[j] * g;
            r1[w0[j]] += a1[i] * b0[j] * g; r1[w1[j]] += a1[i] * b1[j] * g;
          } else {
            yr[j] = a0[i] * (b0[j] * r0[w0[j]] + b1[j] * r0[w1[j]]) +
                    a1[i] * (b0[j] * r1[w0[j]] + b1[j] * r1[w1[j]]);
          }
        }
      }
    });
  });
}
GC_KERNEL("upsample_bilinear2d(T x, *, int align_corners, float scale_h, float scale_w) -> T y", upsample_bilinear<false>);
GC_KERNEL("upsample_bilinear2d_backward(T g, *, int align_corners, float scale_h, float scale_w) -> T dx", upsample_bilinear<true>);

}  // namespace
}  // namespace gc
