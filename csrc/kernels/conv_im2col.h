// im2col / col2im for conv.cpp (the portable and float64 convolution path).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include "core/threads.h"
#include "kernels/broadcast.h"
#include "kernels/conv.h"

namespace gc {
namespace conv {

// Row helper for stride-1 rows: one masked vector op per 16 floats (8 doubles). A call to
// memcpy per 10-float row cost more than the copy itself (LeNet's 10x10 maps).
// rowcopy: dst[j] = lo <= j < hi ? src[j] : 0 for j < n (src read only inside [lo, hi)).
#ifdef __AVX512F__
inline uint32_t lanes(int64_t a, int64_t b, int L) {  // bits [clamp(a), clamp(b)) of L lanes
  a = std::clamp<int64_t>(a, 0, L); b = std::clamp<int64_t>(b, 0, L);
  return b <= a ? 0u : uint32_t(((uint64_t(1) << b) - 1) & ~((uint64_t(1) << a) - 1));
}
inline void rowcopy(float* dst, const float* src, int64_t n, int64_t lo, int64_t hi) {
  for (int64_t j = 0; j < n; j += 16)
    _mm512_mask_storeu_ps(dst + j, __mmask16(lanes(0, n - j, 16)),
                          _mm512_maskz_loadu_ps(__mmask16(lanes(lo - j, hi - j, 16)), src + j));
}
inline void rowcopy(double* dst, const double* src, int64_t n, int64_t lo, int64_t hi) {
  for (int64_t j = 0; j < n; j += 8)
    _mm512_mask_storeu_pd(dst + j, __mmask8(lanes(0, n - j, 8)),
                          _mm512_maskz_loadu_pd(__mmask8(lanes(lo - j, hi - j, 8)), src + j));
}
// acc + masked load; masked store.
template <class T> struct Simd;
template <> struct Simd<float> {
  static __m512 zero() { return _mm512_setzero_ps(); }
  static __m512 add_masked(__m512 a, uint32_t m, const float* p) { return _mm512_add_ps(a, _mm512_maskz_loadu_ps(__mmask16(m), p)); }
  static void store(float* p, uint32_t m, __m512 v) { _mm512_mask_storeu_ps(p, __mmask16(m), v); }
};
template <> struct Simd<double> {
  static __m512d zero() { return _mm512_setzero_pd(); }
  static __m512d add_masked(__m512d a, uint32_t m, const double* p) { return _mm512_add_pd(a, _mm512_maskz_loadu_pd(__mmask8(m), p)); }
  static void store(double* p, uint32_t m, __m512d v) { _mm512_mask_storeu_pd(p, __mmask8(m), v); }
};
#else
template <class T> void rowcopy(T* dst, const T* src, int64_t n, int64_t lo, int64_t hi) {
  for (int64_t j = 0; j < n; ++j) dst[j] = j >= lo && j < hi ? src[j] : T(0);
}
#endif

// col[(c, p, q), (i - i0, j)] for output rows [i0, i1) from one image-group xg (Cg, H, W).
template <class T>
void im2col(const Geo& g, const T* xg, int64_t i0, int64_t i1, T* col, bool par) {
  const int64_t cols = (i1 - i0) * g.Wo;
  const Spans spans(g);
  GC_PARALLEL_FOR(par && g.K * cols >= kParallelMin,
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t p = 0; p < g.kh; ++p)
      for (int64_t q = 0; q < g.kw; ++q) {
        T* dst = col + ((c * g.kh + p) * g.kw + q) * cols;
        const Span s = spans[q];
        for (int64_t i = i0; i < i1; ++i, dst += g.Wo) {
          const int64_t ih = i * g.sh - g.pt + p * g.dh;
          if (ih < 0 || ih >= g.H) { std::fill(dst, dst + g.Wo, T(0)); continue; }
          const T* src = xg + (c * g.H + ih) * g.W + s.off;  // src[j * sw] is x at column j
          if (g.sw == 1) { rowcopy(dst, src, g.Wo, s.lo, s.hi); continue; }
          std::fill(dst, dst + s.lo, T(0));
          for (int64_t j = s.lo; j < s.hi; ++j) dst[j] = src[j * g.sw];
          std::fill(dst + s.hi, dst + g.Wo, T(0));
        }
      });
}

// dxg (Cg, H, W) += col2im(dcol) for output rows [i0, i1): the adjoint of im2col (dcol's rows
// are ld apart when given, else packed). Rows of
// different channels touch different planes, so the channel loop splits across threads.
// Stride 1 along W with AVX-512: each 16-float (8-double) chunk of a dx row sums its kh*kw
// contributions in a register and is stored once (adding dcol rows into dx one by one made
// every masked store feed a later overlapping load: 9% of a LeNet step).
template <class T>
void col2im(const Geo& g, const T* dcol, int64_t i0, int64_t i1, T* dxg, bool par, int64_t ld = -1) {
  const int64_t cols = (i1 - i0) * g.Wo, st = ld < 0 ? cols : ld;  // st: dcol's row stride
#ifdef __AVX512F__
  if (g.sw == 1) {
    constexpr int L = 64 / sizeof(T);
    const int64_t h0 = std::max<int64_t>(0, i0 * g.sh - g.pt);
    const int64_t h1 = std::min<int64_t>(g.H, (i1 - 1) * g.sh - g.pt + (g.kh - 1) * g.dh + 1);
    GC_PARALLEL_FOR(par && g.K * cols >= kParallelMin,
    for (int64_t c = 0; c < g.Cg; ++c)
      for (int64_t ih = h0; ih < h1; ++ih)
        for (int64_t w0 = 0; w0 < g.W; w0 += L) {
          auto acc = Simd<T>::zero();
          for (int64_t p = 0; p < g.kh; ++p) {
            const int64_t t = ih + g.pt - p * g.dh;  // = i * sh for the output row i that reads ih
            if (t < 0 || t % g.sh) continue;
            const int64_t i = t / g.sh;
            if (i < i0 || i >= i1) continue;
            const T* row = dcol + (c * g.kh + p) * g.kw * st + (i - i0) * g.Wo;
            for (int64_t q = 0; q < g.kw; ++q) {
              const int64_t off = q * g.dw - g.pl;  // dx column iw reads dcol column iw - off
              const uint32_t m = lanes(std::max<int64_t>(off, 0) - w0, std::min(g.Wo + off, g.W) - w0, L);
              if (!m) continue;
              acc = Simd<T>::add_masked(acc, m, row + q * st - off + w0);
            }
          }
          T* dst = dxg + (c * g.H + ih) * g.W + w0;
          const uint32_t ms = lanes(0, g.W - w0, L);
          Simd<T>::store(dst, ms, Simd<T>::add_masked(acc, ms, dst));
        });
    return;
  }
#endif
  const Spans spans(g);
  GC_PARALLEL_FOR(par && g.K * cols >= kParallelMin,
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t p = 0; p < g.kh; ++p)
      for (int64_t q = 0; q < g.kw; ++q) {
        const T* src = dcol + ((c * g.kh + p) * g.kw + q) * st;
        const Span s = spans[q];
        for (int64_t i = i0; i < i1; ++i, src += g.Wo) {
          const int64_t ih = i * g.sh - g.pt + p * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          T* dst = dxg + (c * g.H + ih) * g.W + s.off;
          for (int64_t j = s.lo; j < s.hi; ++j) dst[j * g.sw] += src[j];
        }
      });
}

}  // namespace conv
}  // namespace gc
