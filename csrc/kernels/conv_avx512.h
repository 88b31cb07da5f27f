// Implicit-GEMM float32 convolution for AVX-512 builds (included by conv.cpp only): the im2col
// matrix is never written; sgemm's packed panels are filled straight from x, then its 12x32
// micro-kernel runs on them (sgemm_avx512.h).
//   forward:     C (Og, positions) = W_g (Og, K) @ col (K, positions); a B panel is 32 output
//                positions (across rows and images) x kc taps: each tap row is a few masked
//                loads, one per run of positions in one output row (stride 1 along W).
//                C goes to a per-thread buffer, then to y (+ bias) row segment by segment.
//   weight grad: dW_g (Og, K) += dy (Og, positions) @ col^T; a B panel is kc positions x 32 taps:
//                each position row is one masked load per run of kernel columns (dilation 1
//                along W).
// Measured on LeNet's convolutions (1 thread): im2col + pack_b wrote and re-read every col
// element (the im2col pass alone was ~14% of a training step).
#pragma once
#ifdef __AVX512F__
#include <immintrin.h>
#include <algorithm>
#include <atomic>
#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/conv.h"
#include "kernels/scratch.h"
#include "kernels/sgemm_avx512.h"

namespace gc {
namespace conv {

constexpr int kMaxRuns = 34;  // runs in one 32-lane panel row
constexpr int kMaxTaps = 32;  // kh, kw limits of the implicit path

inline uint32_t lane_mask(int64_t a, int64_t b) {  // bits [a, b) of 32, clamped
  a = std::clamp<int64_t>(a, 0, 32); b = std::clamp<int64_t>(b, 0, 32);
  return b <= a ? 0u : uint32_t(((uint64_t(1) << b) - 1) & ~((uint64_t(1) << a) - 1));
}

inline void load_run(__m512& v0, __m512& v1, uint32_t m, const float* src) {
  v0 = _mm512_mask_loadu_ps(v0, __mmask16(m), src);          // masked-off lanes are not read
  v1 = _mm512_mask_loadu_ps(v1, __mmask16(m >> 16), src + 16);
}

inline bool implicit_forward_ok(const Geo& g) {
  return g.sw == 1 && g.kh <= kMaxTaps && g.kw <= kMaxTaps;
}
inline bool implicit_wgrad_ok(const Geo& g) { return g.dw == 1; }

// B panels for positions [P0, P0 + n) (over the whole batch) x taps [k0, k0 + kc) of group gi.
inline void pack_positions(const Geo& g, const float* x, int64_t gi, int64_t P0, int64_t n,
                           int64_t k0, int64_t kc, float* b) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  struct Run { int64_t xoff, i, j, ls, len; };
  Run run[kMaxRuns];
  uint32_t qmask[kMaxTaps][kMaxRuns];
  int64_t qoff[kMaxTaps][kMaxRuns], rowoff[kMaxTaps][kMaxRuns];
  for (int64_t p0 = 0; p0 < n; p0 += 32, b += kc * 32) {
    const int64_t nl = std::min<int64_t>(32, n - p0);
    int nr = 0;
    for (int64_t l = 0; l < nl;) {  // runs of positions within one output row
      const int64_t pos = P0 + p0 + l, img = pos / HoWo, r = pos % HoWo, j = r % g.Wo;
      const int64_t len = std::min(g.Wo - j, nl - l);
      run[nr++] = {(img * g.C + gi * g.Cg) * HW, r / g.Wo, j, l, len};
      l += len;
    }
    for (int64_t q = 0; q < g.kw; ++q) {
      const Span sp = col_span(g, q);  // valid j in [lo, hi); x column j + off
      for (int s = 0; s < nr; ++s) {
        const Run& e = run[s];
        qmask[q][s] = lane_mask(e.ls + std::max<int64_t>(sp.lo - e.j, 0), e.ls + std::min(sp.hi - e.j, e.len));
        qoff[q][s] = e.j + sp.off - e.ls;  // lane l reads column j + (l - ls) + off
      }
    }
    for (int64_t p = 0; p < g.kh; ++p)
      for (int s = 0; s < nr; ++s) {
        const int64_t ih = run[s].i * g.sh - g.pt + p * g.dh;
        rowoff[p][s] = ih >= 0 && ih < g.H ? run[s].xoff + ih * g.W : -1;  // -1: padding row
      }
    int64_t c = k0 / (g.kh * g.kw), p = k0 / g.kw % g.kh, q = k0 % g.kw;
    for (int64_t k = 0; k < kc; ++k) {
      __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
      const float* xc = x + c * HW;
      for (int s = 0; s < nr; ++s)
        if (rowoff[p][s] >= 0 && qmask[q][s]) load_run(v0, v1, qmask[q][s], xc + rowoff[p][s] + qoff[q][s]);
      _mm512_store_ps(b + k * 32, v0);
      _mm512_store_ps(b + k * 32 + 16, v1);
      if (++q == g.kw) { q = 0; if (++p == g.kh) { p = 0; ++c; } }
    }
  }
}

// y = conv(x, w) (+ b) for float32. Returns false (y unspecified) if scratch could not be had.
inline bool implicit_forward(const Geo& g, const float* x, const float* w, const float* bias, float* y,
                             bool outer_ok) {
  const int64_t HoWo = g.Ho * g.Wo, P = g.N * HoWo, K = g.K;
  const int64_t nkb = (K + sgemm::kKc - 1) / sgemm::kKc, kcb = (K + nkb - 1) / nkb;
  const int64_t mp = (g.Og + sgemm::kMr - 1) / sgemm::kMr, mrows = mp * sgemm::kMr;
  float* a = thread_scratch<float>(3, size_t(g.G * mrows * K));
  if (!a) return false;
  for (int64_t gi = 0; gi < g.G; ++gi)  // packed W: per group, per k-block, mp panels
    for (int64_t k0 = 0; k0 < K; k0 += kcb)
      sgemm::pack_a(w + gi * g.Og * K + k0, K, false, g.Og, std::min(kcb, K - k0), a + (gi * K + k0) * mrows);
#ifdef _OPENMP
  const int nt = omp_get_max_threads();
#else
  const int nt = 1;
#endif
  const int64_t nc = std::clamp<int64_t>((P + 2 * nt - 1) / (2 * nt) + 31, 32, 256) / 32 * 32;
  const int64_t nblk = (P + nc - 1) / nc, items = g.G * nblk;
  const bool outer = outer_ok && nt > 1 && items >= 2 && g.macs() >= kConvParallelMin;
  std::atomic<bool> fail{false};
#pragma omp parallel if (outer)
  {
    float* bb = thread_scratch<float>(1, size_t(kcb * nc));
    float* ct = thread_scratch<float>(2, size_t(mrows * nc));
    if (!bb || !ct) fail = true;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      if (!bb || !ct) continue;
      const int64_t gi = it / nblk, P0 = it % nblk * nc, n = std::min(nc, P - P0);
      for (int64_t k0 = 0; k0 < K; k0 += kcb) {
        const int64_t kc = std::min(kcb, K - k0);
        pack_positions(g, x, gi, P0, n, k0, kc, bb);
        const float* ak = a + (gi * K + k0) * mrows;
        for (int64_t ir = 0; ir < mp; ++ir)
          for (int64_t jr = 0; jr < n; jr += 32)
            sgemm::kernel(kc, ak + ir * kc * sgemm::kMr, bb + jr * kc, ct + ir * sgemm::kMr * nc + jr, nc,
                          int(std::min<int64_t>(sgemm::kMr, g.Og - ir * sgemm::kMr)),
                          int(std::min<int64_t>(32, n - jr)), k0 > 0);
      }
      for (int64_t o = 0; o < g.Og; ++o) {  // C rows to y, one image-row segment at a time
        const float bo = bias ? bias[gi * g.Og + o] : 0.f;
        const float* cr = ct + o * nc;
        for (int64_t l = 0; l < n;) {
          const int64_t pos = P0 + l, img = pos / HoWo, r = pos % HoWo, len = std::min(HoWo - r, n - l);
          float* dst = y + (img * g.O + gi * g.Og + o) * HoWo + r;
          for (int64_t t = 0; t < len; ++t) dst[t] = cr[l + t] + bo;
          l += len;
        }
      }
    }
  }
  return !fail;
}

// B panel: positions [r0, r0 + n) of one image-group xg (Cg, H, W) x taps [t0, t0 + nt).
inline void pack_taps(const Geo& g, const float* xg, int64_t r0, int64_t n, int64_t t0, int64_t nt, float* b) {
  const int64_t HW = g.H * g.W;
  struct Run { int64_t c, p, qa, la, len; };
  Run run[kMaxRuns];
  int nr = 0;
  for (int64_t t = t0; t < t0 + nt;) {  // runs of kernel columns q in one (c, p)
    const int64_t q = t % g.kw, len = std::min(g.kw - q, t0 + nt - t);
    run[nr++] = {t / (g.kh * g.kw), t / g.kw % g.kh, q, t - t0, len};
    t += len;
  }
  int64_t i = r0 / g.Wo, j = r0 % g.Wo;
  for (int64_t r = 0; r < n; ++r) {
    __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
    const int64_t iw0 = j * g.sw - g.pl;  // x column of q = 0
    for (int s = 0; s < nr; ++s) {
      const Run& e = run[s];
      const int64_t ih = i * g.sh - g.pt + e.p * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      // q in [qa, qa + len) with 0 <= iw0 + q < W
      const uint32_t m = lane_mask(e.la + std::max<int64_t>(-iw0 - e.qa, 0), e.la + std::min(g.W - iw0 - e.qa, e.len));
      if (m) load_run(v0, v1, m, xg + e.c * HW + ih * g.W + iw0 + e.qa - e.la);
    }
    _mm512_store_ps(b + r * 32, v0);
    _mm512_store_ps(b + r * 32 + 16, v1);
    if (++j == g.Wo) { j = 0; ++i; }
  }
}

// acc[(gi*Og + o) * K + t] += sum over positions [r0, r0 + n) (n <= sgemm::kKc) of image img of
// dy[img, gi*Og + o, pos] * col[t, pos]. abuf: mp * 12 * n floats, bbuf: 32 * n.
inline void implicit_wgrad(const Geo& g, const float* gy, const float* x, int64_t img, int64_t gi,
                           int64_t r0, int64_t n, float* abuf, float* bbuf, float* acc) {
  const int64_t HoWo = g.Ho * g.Wo, mp = (g.Og + sgemm::kMr - 1) / sgemm::kMr;
  sgemm::pack_a(gy + (img * g.O + gi * g.Og) * HoWo + r0, HoWo, false, g.Og, n, abuf);
  const float* xg = x + (img * g.C + gi * g.Cg) * g.H * g.W;
  for (int64_t t0 = 0; t0 < g.K; t0 += 32) {
    const int64_t nt = std::min<int64_t>(32, g.K - t0);
    pack_taps(g, xg, r0, n, t0, nt, bbuf);
    for (int64_t ir = 0; ir < mp; ++ir)
      sgemm::kernel(n, abuf + ir * n * sgemm::kMr, bbuf, acc + (gi * g.Og + ir * sgemm::kMr) * g.K + t0, g.K,
                    int(std::min<int64_t>(sgemm::kMr, g.Og - ir * sgemm::kMr)), int(nt), true);
  }
}

}  // namespace conv
}  // namespace gc
#endif  // __AVX512F__
