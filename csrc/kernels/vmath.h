// float32 sigmoid and tanh over arrays, 16 lanes at a time with AVX-512 (the recurrent cells'
// nonlinearities, which were a third of an LSTM forward through Eigen's rational forms).
// Both rest on e = exp(-|x|) (or exp(-2|x|)), which lies in (0, 1], so nothing overflows:
//   sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below;
//   tanh(|x|) = -u / (2 + u) for u = expm1(-2|x|) (see tanh16), the sign put back.
// exp: Cody-Waite reduction r = t - n ln2 (|r| <= ln2 / 2), a degree-7 Taylor polynomial,
// scaled by 2^n (scalef, which underflows to 0 gracefully), then one correctly rounded divide.
// Measured against float64 (tests/test_rnn_float32.py): at most 2.5 ulp. NaN propagates,
// ±inf give ±1 (tanh) and 1 / 0 (sigmoid).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <Eigen/Core>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace gc::vmath {

#ifdef __AVX512F__
// t = n ln2 + r with n integral and |r| <= ln2 / 2 (Cody-Waite: ln2 in a high and a low part).
inline __m512 reduce_ln2(__m512 t, __m512& r) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  return n;
}

// c[0] r^(K-1) + ... + c[K-1] by Horner's rule.
template <size_t K> inline __m512 horner(__m512 r, const float (&c)[K]) {
  __m512 p = _mm512_set1_ps(c[0]);
  for (size_t i = 1; i < K; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
  return p;
}

// exp(t) for t in [-104, 0] (t is clamped there; NaN stays NaN).
inline __m512 exp_neg(__m512 t) {
  t = _mm512_max_ps(_mm512_set1_ps(-104.0f), t);  // max(c, NaN) = NaN: the NaN survives
  __m512 r;
  const __m512 n = reduce_ln2(t, r);
  static constexpr float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f,
                                1.0f, 1.0f};
  return _mm512_scalef_ps(horner(r, c), n);
}

inline __m512 abs16(__m512 x) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 e = exp_neg(_mm512_sub_ps(_mm512_setzero_ps(), abs16(x)));
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_blend_ps(neg, _mm512_set1_ps(1.0f), e);  // x < 0: e / (1 + e)
  return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// tanh(a) = -u / (2 + u) with u = expm1(-2a) in (-1, 0]: one formula for every a (the cell's
// two tanh per element cost 31 operations each with exp, a Taylor branch below 0.4 and a blend;
// 20 now). expm1(t) = 2^n expm1(r) + (2^n - 1) for t = n ln2 + r, expm1(r) = r + r^2 P(r)
// (Taylor to r^8), so small a keeps its relative accuracy: no cancellation in 1 - exp.
inline __m512 tanh16(__m512 x) {
  const __m512 a = abs16(x);
  const __m512 t = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_mul_ps(a, _mm512_set1_ps(-2.0f)));
  __m512 r;
  const __m512 n = reduce_ln2(t, r);
  static constexpr float c[] = {1.0f / 40320, 1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24,
                                1.0f / 6, 0.5f};
  const __m512 p = horner(r, c);
  const __m512 q = _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r);        // expm1(r)
  const __m512 s = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);         // 2^n (0 below 2^-149)
  const __m512 u = _mm512_fmadd_ps(s, q, _mm512_sub_ps(s, _mm512_set1_ps(1.0f)));
  const __m512 y = _mm512_div_ps(_mm512_sub_ps(_mm512_setzero_ps(), u),
                                 _mm512_add_ps(_mm512_set1_ps(2.0f), u));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(int(0x80000000u)));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign));
}

// y[i] = f(a[i]) for n floats (y may alias a); the tail runs masked.
template <class F> inline void map16(const float* a, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(a + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, a + i)));
  }
}

inline void sigmoid(const float* a, float* y, int64_t n) { map16(a, y, n, sigmoid16); }
inline void tanh(const float* a, float* y, int64_t n) { map16(a, y, n, tanh16); }

// One row of the LSTM cell (rnn.cpp), 16 lanes of all four gates per pass: the pre-activations
// are P + (xp + bias) for P = h W_hh^T (gate blocks of H) and xp = x W_ih^T, or P + bias when xp
// is null (P holds both products); g receives the activated [i f g o] (it may be xp);
// c = f cp + i g, tc = tanh(c), h = o tc. One pass instead of seven over the row (each gate's
// load, activation and store stay in registers).
inline void lstm_cell(const float* P, const float* xp, float* g, const float* bs, const float* cp,
                      float* c, float* tc, float* h, int64_t H) {
  for (int64_t j = 0; j < H; j += 16) {
    const __mmask16 m = H - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (H - j)) - 1);
    auto pre = [&](int64_t q) {  // gate q's pre-activation at lanes j..j+15
      const int64_t o = q * H + j;
      const __m512 b = _mm512_maskz_loadu_ps(m, bs + o);
      return _mm512_add_ps(_mm512_maskz_loadu_ps(m, P + o),
                           xp ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, xp + o), b) : b);
    };
    const __m512 i = sigmoid16(pre(0)), f = sigmoid16(pre(1)), gg = tanh16(pre(2)), o = sigmoid16(pre(3));
    _mm512_mask_storeu_ps(g + j, m, i);
    _mm512_mask_storeu_ps(g + H + j, m, f);
    _mm512_mask_storeu_ps(g + 2 * H + j, m, gg);
    _mm512_mask_storeu_ps(g + 3 * H + j, m, o);
    const __m512 cn = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, cp + j), _mm512_mul_ps(i, gg));
    const __m512 t = tanh16(cn);
    _mm512_mask_storeu_ps(c + j, m, cn);
    _mm512_mask_storeu_ps(tc + j, m, t);
    _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(o, t));
  }
}
#endif

// The same formulas through Eigen's vectorized exp: float64, and float without AVX-512.
// y must not alias a.
template <class T> void sigmoid_eigen(const T* a, T* y, int64_t n) {
  Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> A(a, n);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> Y(y, n);
  Y = (-A.abs()).exp();
  Y = (A < T(0)).select(Y, T(1)) / (T(1) + Y);
}
template <class T> void tanh_eigen(const T* a, T* y, int64_t n) {
  Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> A(a, n);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> Y(y, n);
  Y = (T(-2) * A.abs()).exp();
  Y = (T(1) - Y) / (T(1) + Y);
  for (int64_t i = 0; i < n; ++i) {  // the sign back; below 0.4 (cancellation) std::tanh
    const T x = a[i];
    y[i] = std::abs(x) < T(0.4) ? std::tanh(x) : std::copysign(y[i], x);
  }
}

}  // namespace gc::vmath
