// 2-D pooling over NCHW planes, forward and backward adjacent; every loop runs per (n, c) plane,
// so planes split across threads with no write conflicts. Window of output (i, j): rows
// i*sh - ph + p*dh (p < kh), columns likewise; out-of-range taps are padding.
//   max_pool2d:  y = max over the window's valid taps (-inf padding), idx = h*W + w of the first
//                maximum (a NaN wins, as torch)                 dx[idx] += g
//   avg_pool2d:  y = sum over valid taps / divisor                dx[window] += g / divisor
//                divisor = divisor_override, else the window clipped to the padded input
//                (count_include_pad) or to the input
//   adaptive_avg_pool2d: window rows [floor(i*H/Ho), ceil((i+1)*H/Ho)), columns likewise; mean.
// Output sizes as torch: (H + 2ph - dh*(kh-1) - 1 (+ sh-1 if ceil_mode)) / sh + 1, one less when
// ceil_mode makes the last window start past the input and its left padding.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

struct Pool {
  int64_t N, C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil;
};

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
  int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;  // floor division
  if (ceil && (out - 1) * s >= in + p) --out;
  return out;
}

// x (N, C, H, W) -> y (N, C, Ho, Wo); attrs from `first`: kernel_h, kernel_w, stride_h,
// stride_w, pad_h, pad_w, then (with_dilation) dilation_h, dilation_w, then ceil_mode.
Pool pool_geometry(const char* op, const Buf& x, const Buf& y, Attrs at, bool with_dilation) {
  GC_CHECK(x.ndim == 4, op << ": input must be 4-D (N, C, H, W), got " << x.shape_str());
  GC_CHECK(y.ndim == 4 && y.shape[0] == x.shape[0] && y.shape[1] == x.shape[1],
           op << ": output " << y.shape_str() << " must be 4-D with the N and C of input " << x.shape_str());
  Pool g{x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[2], y.shape[3]};
  size_t a = 0;
  g.kh = int64_t(attr(at, a++, op)); g.kw = int64_t(attr(at, a++, op));
  g.sh = int64_t(attr(at, a++, op)); g.sw = int64_t(attr(at, a++, op));
  g.ph = int64_t(attr(at, a++, op)); g.pw = int64_t(attr(at, a++, op));
  g.dh = g.dw = 1;
  if (with_dilation) { g.dh = int64_t(attr(at, a++, op)); g.dw = int64_t(attr(at, a++, op)); }
  g.ceil = attr(at, a++, op) != 0;
  GC_CHECK(g.kh >= 1 && g.kw >= 1, op << ": kernel_size must be >= 1, got (" << g.kh << ", " << g.kw << ")");
  GC_CHECK(g.sh >= 1 && g.sw >= 1, op << ": stride must be >= 1, got (" << g.sh << ", " << g.sw << ")");
  GC_CHECK(g.dh >= 1 && g.dw >= 1, op << ": dilation must be >= 1, got (" << g.dh << ", " << g.dw << ")");
  GC_CHECK(g.ph >= 0 && g.pw >= 0 && g.ph <= g.kh / 2 && g.pw <= g.kw / 2,
           op << ": padding (" << g.ph << ", " << g.pw << ") must be >= 0 and at most half of kernel_size ("
           << g.kh << ", " << g.kw << ")");
  const int64_t Ho = pool_out(g.H, g.kh, g.sh, g.ph, g.dh, g.ceil), Wo = pool_out(g.W, g.kw, g.sw, g.pw, g.dw, g.ceil);
  GC_CHECK(Ho >= 1 && Wo >= 1, op << ": input " << x.shape_str() << " is too small for kernel_size (" << g.kh
           << ", " << g.kw << ") with padding (" << g.ph << ", " << g.pw << ") and dilation (" << g.dh << ", "
           << g.dw << ")");
  GC_CHECK(g.Ho == Ho && g.Wo == Wo, op << ": output " << y.shape_str() << " does not fit input "
           << x.shape_str() << ": spatial size (" << Ho << ", " << Wo << ") expected");
  return g;
}

// ---- max_pool2d ----------------------------------------------------------------------------
template <class T>
void max_pool_plane(const Pool& g, const T* x, T* y, int64_t* idx) {
  for (int64_t i = 0; i < g.Ho; ++i) {
    int64_t h0 = i * g.sh - g.ph;
    const int64_t h1 = std::min(h0 + (g.kh - 1) * g.dh + 1, g.H);
    while (h0 < 0) h0 += g.dh;
    for (int64_t j = 0; j < g.Wo; ++j) {
      int64_t w0 = j * g.sw - g.pw;
      const int64_t w1 = std::min(w0 + (g.kw - 1) * g.dw + 1, g.W);
      while (w0 < 0) w0 += g.dw;
      T best = -std::numeric_limits<T>::infinity();
      int64_t bi = h0 < h1 && w0 < w1 ? h0 * g.W + w0 : -1;  // -1: a window of padding only
      for (int64_t h = h0; h < h1; h += g.dh)
        for (int64_t w = w0; w < w1; w += g.dw) {
          const T v = x[h * g.W + w];
          if (v > best || v != v) { best = v; bi = h * g.W + w; }
        }
      y[i * g.Wo + j] = best;
      idx[i * g.Wo + j] = bi;
    }
  }
}

// 2x2 windows, stride 2, no padding or dilation: the common case, branch-free (a branchy loop
// mispredicted on random data: ~15 ns per output). (b > m) | (b != b) keeps "first max, a NaN
// wins" without short-circuit branches.
template <class T>
inline void max4(const T* r0, const T* r1, int64_t j, int64_t W, int64_t base, T* y, int64_t* idx) {
  const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
  T m = a; int64_t o = 0;
  bool t = (b > m) | (b != b); m = t ? b : m; o = t ? 1 : o;
  t = (c > m) | (c != c); m = t ? c : m; o = t ? W : o;
  t = (d > m) | (d != d); m = t ? d : m; o = t ? W + 1 : o;
  y[j] = m;
  idx[j] = base + 2 * j + o;
}

template <class T>
void max_pool_plane_2x2(const Pool& g, const T* x, T* y, int64_t* idx) {
  const int64_t W = g.W;
  for (int64_t i = 0; i < g.Ho; ++i) {
    const T* r0 = x + 2 * i * W;
    const T* r1 = r0 + W;
    T* yr = y + i * g.Wo;
    int64_t* ir = idx + i * g.Wo;
    const int64_t base = 2 * i * W;
    int64_t j = 0;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      // 16 outputs per step: even/odd lanes of 32 inputs per row are the window's columns.
      const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
      const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
      const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 1);
      for (; j < g.Wo; j += 16) {
        const int64_t n = std::min<int64_t>(16, g.Wo - j);
        const __mmask16 mo = __mmask16((1u << n) - 1);
        const __mmask16 m0 = __mmask16((1u << std::min<int64_t>(16, 2 * n)) - 1);
        const __mmask16 m1 = __mmask16(n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
        const __m512 p0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * j), p1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * j + 16);
        const __m512 q0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * j), q1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * j + 16);
        __m512 m = _mm512_permutex2var_ps(p0, ev, p1);
        const __m512 b = _mm512_permutex2var_ps(p0, od, p1);
        const __m512 c = _mm512_permutex2var_ps(q0, ev, q1);
        const __m512 d = _mm512_permutex2var_ps(q0, od, q1);
        __m512i o = _mm512_setzero_si512();
        __mmask16 t = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
        m = _mm512_mask_blend_ps(t, m, b); o = _mm512_mask_blend_epi32(t, o, _mm512_set1_epi32(1));
        t = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
        m = _mm512_mask_blend_ps(t, m, c); o = _mm512_mask_blend_epi32(t, o, _mm512_set1_epi32(int(W)));
        t = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
        m = _mm512_mask_blend_ps(t, m, d); o = _mm512_mask_blend_epi32(t, o, _mm512_set1_epi32(int(W + 1)));
        _mm512_mask_storeu_ps(yr + j, mo, m);
        o = _mm512_add_epi32(o, lane2);  // + 2 * lane
        const __m512i b64 = _mm512_set1_epi64(base + 2 * j);
        _mm512_mask_storeu_epi64(ir + j, __mmask8(mo), _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(o))));
        _mm512_mask_storeu_epi64(ir + j + 8, __mmask8(mo >> 8),
                                 _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(o, 1))));
      }
    }
#endif
    for (; j < g.Wo; ++j) max4(r0, r1, j, W, base, yr, ir);
  }
}

void max_pool2d(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &y = out[0], &idx = out[1];
  const Pool g = pool_geometry("max_pool2d", x, y, at, true);
  check_same_dtype("max_pool2d", x, y);
  GC_TYPE_CHECK(idx.dtype == DType::i64, "max_pool2d: indices must be int64, got " << dtype_name(idx.dtype));
  check_same_shape("max_pool2d", y, idx);
  const bool two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
                   g.dh == 1 && g.dw == 1 && !g.ceil;
  float_dispatch(x.dtype, "max_pool2d", [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>(); int64_t* ip = idx.ptr<int64_t>();
    const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
    GC_PARALLEL_FOR(g.N * g.C * HW >= kParallelMin,
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      if (two) max_pool_plane_2x2(g, xp + p * HW, yp + p * HoWo, ip + p * HoWo);
      else max_pool_plane(g, xp + p * HW, yp + p * HoWo, ip + p * HoWo);
    });
  });
}
GC_KERNEL("max_pool2d(T x, *, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, int ceil_mode) -> (T y, i64 idx)", max_pool2d);

// dx = 0, then dx[n, c].flat[idx] += g for every output (windows may overlap). idx -1 (a window
// of padding only) passes nothing; any other index outside the plane is an error.
void max_pool2d_backward(Ins in, Outs out, Attrs) {
  const char* op = "max_pool2d_backward";
  const Buf &g = in[0], &idx = in[1], &dx = out[0];
  GC_CHECK(g.ndim == 4 && dx.ndim == 4 && g.shape[0] == dx.shape[0] && g.shape[1] == dx.shape[1],
           op << ": gradient " << g.shape_str() << " and input " << dx.shape_str() << " must be 4-D with equal N, C");
  check_same_shape(op, g, idx);
  check_same_dtype(op, g, dx);
  GC_TYPE_CHECK(idx.dtype == DType::i64, op << ": indices must be int64, got " << dtype_name(idx.dtype));
  const int64_t P = dx.shape[0] * dx.shape[1], HW = dx.shape[2] * dx.shape[3], HoWo = g.shape[2] * g.shape[3];
  std::atomic<bool> bad{false};
  float_dispatch(g.dtype, op, [&]<class T>() {
    const T* gp = g.ptr<T>(); const int64_t* ip = idx.ptr<int64_t>(); T* d = dx.ptr<T>();
    GC_PARALLEL_FOR(P * HW >= kParallelMin,
    for (int64_t p = 0; p < P; ++p) {
      T* dp = d + p * HW;
      std::fill(dp, dp + HW, T(0));
      for (int64_t k = 0; k < HoWo; ++k) {
        const int64_t i = ip[p * HoWo + k];
        if (i >= 0 && i < HW) dp[i] += gp[p * HoWo + k];
        else if (i != -1) bad = true;
      }
    });
  });
  GC_CHECK(!bad, op << ": an index is outside the " << dx.shape[2] << "x" << dx.shape[3] << " input plane");
}
GC_KERNEL("max_pool2d_backward(T g, i64 idx) -> T dx", max_pool2d_backward);

// ---- avg_pool2d ----------------------------------------------------------------------------
// attrs: kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad,
// divisor_override (0: none). Calls f(h0, h1, w0, w1, divisor) per output with the clipped window.
template <class F>
void avg_windows(const Pool& g, bool include_pad, int64_t divisor_override, F f) {
  for (int64_t i = 0; i < g.Ho; ++i)
    for (int64_t j = 0; j < g.Wo; ++j) {
      int64_t h0 = i * g.sh - g.ph, w0 = j * g.sw - g.pw;
      int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
      const int64_t padded = (h1 - h0) * (w1 - w0);
      h0 = std::max<int64_t>(h0, 0); w0 = std::max<int64_t>(w0, 0);
      h1 = std::min(h1, g.H); w1 = std::min(w1, g.W);
      const int64_t div = divisor_override ? divisor_override
                          : include_pad ? padded : (h1 - h0) * (w1 - w0);
      f(i * g.Wo + j, h0, h1, w0, w1, div);
    }
}

struct AvgAttrs { Pool g; bool include_pad; int64_t div; };
AvgAttrs avg_geometry(const char* op, const Buf& x, const Buf& y, Attrs at) {
  AvgAttrs a{pool_geometry(op, x, y, at, false), attr(at, 7, op) != 0,
              at.size() > 8 ? int64_t(at[8]) : 0};
  GC_CHECK(a.div >= 0, op << ": divisor_override must be positive, got " << a.div);
  return a;
}

void avg_pool2d(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &y = out[0];
  const AvgAttrs a = avg_geometry("avg_pool2d", x, y, at);
  const Pool& g = a.g;
  check_same_dtype("avg_pool2d", x, y);
  float_dispatch(x.dtype, "avg_pool2d", [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
    GC_PARALLEL_FOR(g.N * g.C * HW >= kParallelMin,
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      const T* xq = xp + p * HW;
      avg_windows(g, a.include_pad, a.div, [&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t div) {
        T s = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += xq[h * g.W + w];
        yp[p * HoWo + o] = h0 < h1 && w0 < w1 ? s / T(div) : T(0);
      });
    });
  });
}
GC_KERNEL("avg_pool2d(T x, *, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int ceil_mode, int count_include_pad, int divisor_override=0) -> T y", avg_pool2d);

// in: g (N, C, Ho, Wo); out: dx (N, C, H, W); the forward's attributes.
void avg_pool2d_backward(Ins in, Outs out, Attrs at) {
  const Buf &gy = in[0], &dx = out[0];
  const AvgAttrs a = avg_geometry("avg_pool2d_backward", dx, gy, at);
  const Pool& g = a.g;
  check_same_dtype("avg_pool2d_backward", gy, dx);
  float_dispatch(gy.dtype, "avg_pool2d_backward", [&]<class T>() {
    const T* gp = gy.ptr<T>(); T* d = dx.ptr<T>();
    const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
    GC_PARALLEL_FOR(g.N * g.C * HW >= kParallelMin,
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      T* dq = d + p * HW;
      std::fill(dq, dq + HW, T(0));
      avg_windows(g, a.include_pad, a.div, [&](int64_t o, int64_t h0, int64_t h1, int64_t w0, int64_t w1, int64_t div) {
        const T v = gp[p * HoWo + o] / T(div);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dq[h * g.W + w] += v;
      });
    });
  });
}
GC_KERNEL("avg_pool2d_backward(T g, *, int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, int ceil_mode, int count_include_pad, int divisor_override=0) -> T dx", avg_pool2d_backward);

// ---- adaptive_avg_pool2d -------------------------------------------------------------------
void adaptive_check(const char* op, const Buf& x, const Buf& y) {
  GC_CHECK(x.ndim == 4 && y.ndim == 4 && y.shape[0] == x.shape[0] && y.shape[1] == x.shape[1],
           op << ": input " << x.shape_str() << " and output " << y.shape_str() << " must be 4-D with equal N, C");
  GC_CHECK(x.numel() > 0 || y.numel() == 0, op << ": input " << x.shape_str() << " is empty");
  check_same_dtype(op, x, y);
}

// Bin i of n over a length-L axis: [floor(i*L/n), ceil((i+1)*L/n)).
inline int64_t bin_start(int64_t i, int64_t L, int64_t n) { return i * L / n; }
inline int64_t bin_end(int64_t i, int64_t L, int64_t n) { return ((i + 1) * L + n - 1) / n; }

template <bool Backward, class T>
void adaptive_plane(const T* src, T* dst, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  for (int64_t i = 0; i < Ho; ++i) {
    const int64_t h0 = bin_start(i, H, Ho), h1 = bin_end(i, H, Ho);
    for (int64_t j = 0; j < Wo; ++j) {
      const int64_t w0 = bin_start(j, W, Wo), w1 = bin_end(j, W, Wo);
      const T area = T((h1 - h0) * (w1 - w0));
      if constexpr (Backward) {
        const T v = src[i * Wo + j] / area;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dst[h * W + w] += v;
      } else {
        T s = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += src[h * W + w];
        dst[i * Wo + j] = s / area;
      }
    }
  }
}

void adaptive_avg_pool2d(Ins in, Outs out, Attrs) {
  const Buf &x = in[0], &y = out[0];
  adaptive_check("adaptive_avg_pool2d", x, y);
  const int64_t P = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3], Ho = y.shape[2], Wo = y.shape[3];
  float_dispatch(x.dtype, "adaptive_avg_pool2d", [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    GC_PARALLEL_FOR(P * H * W >= kParallelMin,
    for (int64_t p = 0; p < P; ++p) adaptive_plane<false>(xp + p * H * W, yp + p * Ho * Wo, H, W, Ho, Wo););
  });
}
GC_KERNEL("adaptive_avg_pool2d(T x) -> T y", adaptive_avg_pool2d);

void adaptive_avg_pool2d_backward(Ins in, Outs out, Attrs) {
  const Buf &gy = in[0], &dx = out[0];
  adaptive_check("adaptive_avg_pool2d_backward", dx, gy);
  const int64_t P = dx.shape[0] * dx.shape[1], H = dx.shape[2], W = dx.shape[3], Ho = gy.shape[2], Wo = gy.shape[3];
  float_dispatch(gy.dtype, "adaptive_avg_pool2d_backward", [&]<class T>() {
    const T* gp = gy.ptr<T>(); T* d = dx.ptr<T>();
    GC_PARALLEL_FOR(P * H * W >= kParallelMin,
    for (int64_t p = 0; p < P; ++p) {
      std::fill(d + p * H * W, d + (p + 1) * H * W, T(0));
      adaptive_plane<true>(gp + p * Ho * Wo, d + p * H * W, H, W, Ho, Wo);
    });
  });
}
GC_KERNEL("adaptive_avg_pool2d_backward(T g) -> T dx", adaptive_avg_pool2d_backward);

}  // namespace
}  // namespace gc
