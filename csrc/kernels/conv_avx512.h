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
#include "core/threads.h"
#include "kernels/conv.h"
#include "kernels/scratch.h"
#include "kernels/sgemm_avx512.h"

namespace gc {
namespace conv {

constexpr int kMaxRuns = 34;  // runs in one 32-lane panel row
constexpr int kMaxTaps = 32;  // kh, kw limits of the implicit path
constexpr int kMaxChunks = 64; // 16-column chunks of an output row in the direct weight grad

inline uint32_t lane_mask(int64_t a, int64_t b) {  // bits [a, b) of 32, clamped
  a = std::clamp<int64_t>(a, 0, 32); b = std::clamp<int64_t>(b, 0, 32);
  return b <= a ? 0u : uint32_t(((uint64_t(1) << b) - 1) & ~((uint64_t(1) << a) - 1));
}

// Runs have disjoint lanes: zero-masked loads OR-ed in (merge-masked loads chained every run on
// the previous one's latency: the packing loops ran ~2x slower). Masked-off lanes are not read.
inline void load_run(__m512& v0, __m512& v1, uint32_t m, const float* src) {
  v0 = _mm512_or_ps(v0, _mm512_maskz_loadu_ps(__mmask16(m), src));
  v1 = _mm512_or_ps(v1, _mm512_maskz_loadu_ps(__mmask16(m >> 16), src + 16));
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
  const int nt = ::gc::threads();
#else
  const int nt = 1;
#endif
  const int64_t nc = std::clamp<int64_t>((P + 2 * nt - 1) / (2 * nt) + 31, 32, 256) / 32 * 32;
  const int64_t nblk = (P + nc - 1) / nc, items = g.G * nblk;
  const bool outer = outer_ok && nt > 1 && items >= 2 && g.macs() >= kConvParallelMin;
  std::atomic<bool> fail{false};
#pragma omp parallel if (outer) num_threads(::gc::threads())
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
// Row of position (i, j): one masked load per run of kernel columns q of one (c, p); the masks
// are constant unless the window crosses the left or right edge (padding).
inline void pack_taps(const Geo& g, const float* xg, int64_t r0, int64_t n, int64_t t0, int64_t nt, float* b) {
  const int64_t HW = g.H * g.W;
  struct Run { int64_t coff, prow, qa, la, len; uint32_t full; };
  Run run[kMaxRuns];
  int nr = 0;
  for (int64_t t = t0; t < t0 + nt;) {  // runs of kernel columns q in one (c, p)
    const int64_t q = t % g.kw, len = std::min(g.kw - q, t0 + nt - t), la = t - t0;
    run[nr++] = {t / (g.kh * g.kw) * HW + q - la, t / g.kw % g.kh * g.dh - g.pt, q, la, len,
                 lane_mask(la, la + len)};
    t += len;
  }
  int64_t i = r0 / g.Wo, j = r0 % g.Wo;
  constexpr int64_t kPad = INT64_MIN;  // (offsets can be negative: lane 0 may lie left of column 0)
  int64_t rowp[kMaxRuns];  // per run: x offset of lane 0 at iw0 = 0, or kPad for a padding row
  auto rows = [&]() {
    for (int s = 0; s < nr; ++s) {
      const int64_t ih = i * g.sh + run[s].prow;
      rowp[s] = ih >= 0 && ih < g.H ? run[s].coff + ih * g.W : kPad;
    }
  };
  rows();
  for (int64_t r = 0; r < n; ++r) {
    __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
    const int64_t iw0 = j * g.sw - g.pl;  // x column of q = 0
    const bool inside = iw0 >= 0 && iw0 + g.kw <= g.W;
    for (int s = 0; s < nr; ++s) {
      if (rowp[s] == kPad) continue;
      const Run& e = run[s];
      const uint32_t m = inside ? e.full
                                : lane_mask(e.la + std::max<int64_t>(-iw0 - e.qa, 0), e.la + std::min(g.W - iw0 - e.qa, e.len));
      if (m) load_run(v0, v1, m, xg + rowp[s] + iw0);
    }
    _mm512_store_ps(b + r * 32, v0);
    _mm512_store_ps(b + r * 32 + 16, v1);
    if (++j == g.Wo) { j = 0; ++i; rows(); }
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

// ---- direct forward for few input channels ------------------------------------------------
// y rows computed in registers: 16 output columns x OB channels, each tap one masked x load and
// OB broadcast FMAs. Used for Cg <= 4 at stride 1 along W: LeNet's 1->16 5x5 layer (K = 25)
// measured 1.0 ms with the implicit GEMM (packing cost as much as the FMAs, and 16 channels fill
// 16 of the micro-kernel's 24 rows) and 0.3 ms direct, 64 images on one thread.
inline bool direct_forward_ok(const Geo& g) { return g.sw == 1 && g.Cg <= 4; }

// Output row i of channels [o0, o0 + OB): xg = the image-group's x, wp = the block's packed
// weights (tap k, channel o at wp[k * OB + o]: one cache line per tap), yo = y + (n*O + gi*Og +
// o0) * Ho*Wo, bo = bias + gi*Og + o0 or null; xm[q][chunk] = lanes whose x column is inside.
template <int OB>
inline void direct_row(const Geo& g, const float* xg, const float* wp, const float* bo, float* yo,
                       int64_t i, const __mmask16 (*xm)[kMaxChunks], const __mmask16* ym) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  for (int64_t ch = 0, j0 = 0; j0 < g.Wo; ++ch, j0 += 16) {
    __m512 acc[OB];
#pragma GCC unroll 16
    for (int o = 0; o < OB; ++o) acc[o] = bo ? _mm512_set1_ps(bo[o]) : _mm512_setzero_ps();
    for (int64_t c = 0; c < g.Cg; ++c)
      for (int64_t p = 0; p < g.kh; ++p) {
        const int64_t ih = i * g.sh - g.pt + p * g.dh;
        if (ih < 0 || ih >= g.H) continue;
        const float* xr = xg + c * HW + ih * g.W + j0 - g.pl;
        const float* wk = wp + (c * g.kh + p) * g.kw * OB;
        for (int64_t q = 0; q < g.kw; ++q, wk += OB) {
          const __m512 xv = _mm512_maskz_loadu_ps(xm[q][ch], xr + q * g.dw);
#pragma GCC unroll 16
          for (int o = 0; o < OB; ++o) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(wk[o]), xv, acc[o]);
        }
      }
#pragma GCC unroll 16
    for (int o = 0; o < OB; ++o) _mm512_mask_storeu_ps(yo + o * HoWo + i * g.Wo + j0, ym[ch], acc[o]);
  }
}

// Channel blocks of 16, 8, 4, 1: f(o0, OB) for each block of one group.
template <class F>
inline void channel_blocks(int64_t Og, F f) {
  for (int64_t o0 = 0; o0 < Og;) {
    const int64_t left = Og - o0;
    const int ob = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : 1;
    f(o0, ob);
    o0 += ob;
  }
}

inline bool direct_forward(const Geo& g, const float* x, const float* w, const float* b, float* y) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo, items = g.N * g.G * g.Ho, nch = (g.Wo + 15) / 16;
  if (nch > kMaxChunks || g.kw > kMaxTaps) return false;
  // packed weights: block (gi, o0, OB) at (gi*Og + o0) * K, tap-major
  float* wp = thread_scratch<float>(2, size_t(std::max<int64_t>(g.O * g.K, 1)));
  if (!wp) return false;
  for (int64_t gi = 0; gi < g.G; ++gi)
    channel_blocks(g.Og, [&](int64_t o0, int ob) {
      const int64_t base = (gi * g.Og + o0) * g.K;
      for (int64_t k = 0; k < g.K; ++k)
        for (int o = 0; o < ob; ++o) wp[base + k * ob + o] = w[base + o * g.K + k];
    });
  __mmask16 xm[kMaxTaps][kMaxChunks], ym[kMaxChunks];
  for (int64_t ch = 0; ch < nch; ++ch) {
    const int64_t j0 = ch * 16;
    ym[ch] = __mmask16(lane_mask(0, g.Wo - j0) & 0xFFFFu);
    for (int64_t q = 0; q < g.kw; ++q) {  // lane l reads x column j0 + l + q*dw - pl
      const int64_t off = q * g.dw - g.pl;
      xm[q][ch] = __mmask16(lane_mask(-off - j0, g.W - off - j0) & 0xFFFFu);
    }
  }
  GC_PARALLEL_FOR(g.macs() >= kConvParallelMin && items > 1,
  for (int64_t it = 0; it < items; ++it) {
    const int64_t n = it / (g.G * g.Ho), gi = it / g.Ho % g.G, i = it % g.Ho;
    const float* xg = x + (n * g.C + gi * g.Cg) * HW;
    channel_blocks(g.Og, [&](int64_t o0, int ob) {
      const int64_t o = gi * g.Og + o0;
      const float* wb = wp + o * g.K;
      const float* bo = b ? b + o : nullptr;
      float* yo = y + (n * g.O + o) * HoWo;
      if (ob == 16) direct_row<16>(g, xg, wb, bo, yo, i, xm, ym);
      else if (ob == 8) direct_row<8>(g, xg, wb, bo, yo, i, xm, ym);
      else if (ob == 4) direct_row<4>(g, xg, wb, bo, yo, i, xm, ym);
      else direct_row<1>(g, xg, wb, bo, yo, i, xm, ym);
    });
  });
  return true;
}

// ---- input grad as a direct convolution ----------------------------------------------------
// At stride 1, dx = conv(dy, W') with W'[c, o, p, q] = W[o, c, kh-1-p, kw-1-q] and padding
// dilation*(k-1) - pad: the direct kernel above then replaces GEMM + col2im. LeNet's 16->32 5x5
// layer, 64 images on one thread: 3.1 ms -> see bench/bench_conv.py.
inline bool direct_input_ok(const Geo& g) {
  return g.Cg >= 8 && g.sh == 1 && g.sw == 1 && g.pt <= g.dh * (g.kh - 1) && g.pl <= g.dw * (g.kw - 1) &&
         g.kh <= kMaxTaps && g.kw <= kMaxTaps;
}

inline bool direct_input_grad(const Geo& g, const float* gy, const float* w, float* dx) {
  const int64_t kk = g.kh * g.kw;
  float* wf = thread_scratch<float>(3, size_t(std::max<int64_t>(g.C * g.Og * kk, 1)));
  if (!wf) return false;
  for (int64_t gi = 0; gi < g.G; ++gi)
    for (int64_t o = 0; o < g.Og; ++o)
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int64_t t = 0; t < kk; ++t)
          wf[((gi * g.Cg + c) * g.Og + o) * kk + kk - 1 - t] = w[((gi * g.Og + o) * g.Cg + c) * kk + t];
  Geo t = g;
  t.C = g.O; t.H = g.Ho; t.W = g.Wo; t.O = g.C; t.Ho = g.H; t.Wo = g.W;
  t.pt = g.dh * (g.kh - 1) - g.pt; t.pl = g.dw * (g.kw - 1) - g.pl;
  t.Cg = g.Og; t.Og = g.Cg; t.K = g.Og * kk;
  return direct_forward(t, gy, wf, nullptr, dx);
}

// ---- weight grad, direct, for few input channels -------------------------------------------
// dW[o, c, p, q] += sum over rows i of one image-group and 16-column chunks of
// dy[o, i, j] * x[c, i*sh - pt + p*dh, j - pl + q*dw]: OB x KW vector accumulators in registers
// (KW x loads + OB dy loads per OB*KW FMAs), summed across lanes once per (c, p, o-block).
template <int KW>
inline void direct_wgrad_kw(const Geo& g, const float* gy, const float* x, int64_t n, int64_t gi,
                            int64_t i0, int64_t i1, float* acc) {
  constexpr int OB = (24 - KW) / (KW + 1);  // OB*KW + KW + OB zmm: more spilled (31 - KW)
  const int64_t HoWo = g.Ho * g.Wo, nch = (g.Wo + 15) / 16;
  __mmask16 xm[KW][kMaxChunks], dm[kMaxChunks];  // x lanes valid for (q, chunk); dy lanes < Wo
  for (int64_t ch = 0; ch < nch; ++ch) {
    const int64_t j0 = ch * 16;
    dm[ch] = __mmask16(lane_mask(0, g.Wo - j0) & 0xFFFFu);
    for (int q = 0; q < KW; ++q) {
      const int64_t off = q * g.dw - g.pl;
      xm[q][ch] = __mmask16(dm[ch] & lane_mask(-off - j0, g.W - off - j0));
    }
  }
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t p = 0; p < g.kh; ++p)
      for (int64_t o0 = 0; o0 < g.Og; o0 += OB) {
        const int ob = int(std::min<int64_t>(OB, g.Og - o0));
        __m512 a[OB][KW];
#pragma GCC unroll 16
        for (int o = 0; o < OB; ++o)
#pragma GCC unroll 8
          for (int q = 0; q < KW; ++q) a[o][q] = _mm512_setzero_ps();
        // rows whose input row ih = i*sh - pt + p*dh is inside: no branch in the loop (GCC kept
        // the accumulators in memory across a `continue`)
        const int64_t lo = g.pt - p * g.dh, ia = std::max(i0, lo > 0 ? (lo + g.sh - 1) / g.sh : 0);
        const int64_t hi = g.H - 1 + lo, ib = hi < 0 ? ia : std::min(i1, hi / g.sh + 1);
        __mmask16 om[OB];
        for (int o = 0; o < OB; ++o) om[o] = o < ob ? __mmask16(0xFFFF) : __mmask16(0);
        for (int64_t i = ia; i < ib; ++i) {
          const float* xr = x + ((n * g.C + gi * g.Cg + c) * g.H + i * g.sh - lo) * g.W;
          const float* dr = gy + (n * g.O + gi * g.Og + o0) * HoWo + i * g.Wo;
          for (int64_t ch = 0; ch < nch; ++ch) {
            const int64_t j0 = ch * 16;
            __m512 xv[KW], dv[OB];
#pragma GCC unroll 8
            for (int q = 0; q < KW; ++q) xv[q] = _mm512_maskz_loadu_ps(xm[q][ch], xr + j0 + q * g.dw - g.pl);
#pragma GCC unroll 16
            for (int o = 0; o < OB; ++o)  // rows past the last channel load nothing
              dv[o] = _mm512_maskz_loadu_ps(__mmask16(om[o] & dm[ch]), dr + o * HoWo + j0);
#pragma GCC unroll 16
            for (int o = 0; o < OB; ++o)
#pragma GCC unroll 8
              for (int q = 0; q < KW; ++q) a[o][q] = _mm512_fmadd_ps(dv[o], xv[q], a[o][q]);
          }
        }
#pragma GCC unroll 16
        for (int o = 0; o < OB; ++o)  // constant bounds: a[][] stays in registers
#pragma GCC unroll 8
          for (int q = 0; q < KW; ++q)
            if (o < ob) acc[(gi * g.Og + o0 + o) * g.K + (c * g.kh + p) * KW + q] += _mm512_reduce_add_ps(a[o][q]);
      }
}

inline bool direct_wgrad_ok(const Geo& g) { return g.sw == 1 && g.Cg <= 4 && g.kw <= 7 && g.Wo <= 16 * kMaxChunks; }

inline void direct_wgrad(const Geo& g, const float* gy, const float* x, int64_t n, int64_t gi, int64_t i0,
                         int64_t i1, float* acc) {
  switch (g.kw) {
    case 1: direct_wgrad_kw<1>(g, gy, x, n, gi, i0, i1, acc); break;
    case 2: direct_wgrad_kw<2>(g, gy, x, n, gi, i0, i1, acc); break;
    case 3: direct_wgrad_kw<3>(g, gy, x, n, gi, i0, i1, acc); break;
    case 4: direct_wgrad_kw<4>(g, gy, x, n, gi, i0, i1, acc); break;
    case 5: direct_wgrad_kw<5>(g, gy, x, n, gi, i0, i1, acc); break;
    case 6: direct_wgrad_kw<6>(g, gy, x, n, gi, i0, i1, acc); break;
    default: direct_wgrad_kw<7>(g, gy, x, n, gi, i0, i1, acc); break;
  }
}

}  // namespace conv
}  // namespace gc
#endif  // __AVX512F__
