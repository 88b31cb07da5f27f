// BLIS-style float32 GEMM for AVX-512 builds (included by matmul.cpp only).
// C (m x n, row-major, ldc) = op(A) @ op(B), single-threaded; callers split C across threads.
// A is stored (m, k) with lda, or (k, m) when ta; B is stored (k, n) with ldb, or (n, k) when tb.
//
// Loop nest (BLIS, with the roles swapped for row-major C so the vectors run along N):
//   i0 over M by kMb:  k0 over K by kKc:  pack A[i0:, k0:] into 12-row panels   (L3-ish)
//                        j0 over N by kNb:  pack B[k0:, j0:] into 32-column panels (L2)
//                          ir over A panels (one A micro-panel, kc x 12, stays in L1)
//                            jr over B panels: micro-kernel, 12 x 32 tile of C.
// Each element of A and B is packed once when m <= kMb. Packing absorbs the transposes and
// zero-pads the edge panels; edge tiles store through masks, rows beyond m are skipped.
// The micro-kernel holds 12 x 2 zmm accumulators, per k: 2 vector loads of B, 12 broadcasts
// of A, 24 FMAs; ~207 GFLOP/s on one core with its panels in cache, ~185 inside a 1024^3 gemm.
// Tried and dropped: the 2 threads sharing one packed A (team packs A, splits each N block by
// columns; 2 barriers per K block) measured ~320 vs ~350 GFLOP/s for the plain C split at 1024^3.
#pragma once
#ifdef __AVX512F__
#include <immintrin.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>

namespace gc {
namespace sgemm {

constexpr int kMr = 12, kNr = 32;
// kc 512 beat 384 in 5 of 6 alternated runs (1024^3, 2 threads: ~350 -> ~365 GFLOP/s).
constexpr int64_t kKc = 512;       // A micro-panel 12 x 512 x 4 B = 24 KB of the 48 KB L1
constexpr int64_t kNb = 480;       // packed B block 512 x 480 x 4 B = 960 KB of the 2 MB L2
constexpr int64_t kMb = 3072;      // packed A block 3072 x 512 x 4 B = 6 MB

// Per-thread packing buffers, allocated once (64-byte aligned) and reused.
struct Scratch {
  float* a = nullptr;
  float* b = nullptr;
  Scratch() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kMb * kKc));
    b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kNb * kKc));
    // No throwing here: this runs inside an OpenMP region, where an exception terminates.
    if (!a || !b) { std::free(a); std::free(b); a = b = nullptr; }
  }
  ~Scratch() { std::free(a); std::free(b); }
};
inline Scratch& scratch() { static thread_local Scratch s; return s; }

inline __mmask16 mask_lo(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
inline __mmask16 mask_hi(int n) { return n <= 16 ? __mmask16(0) : mask_lo(n - 16); }

// Transpose a 16 x kk block (kk <= 16): src[r * ls + c] -> dst[c * ld + r] for c < kk; rows
// >= nrows read as zero; smask picks the rows stored in each destination row.
inline void transpose16(const float* src, int64_t ls, float* dst, int64_t ld, int nrows = 16,
                        __mmask16 smask = 0xFFFF, int kk = 16) {
  __m512 r[16], t[16];
  const __mmask16 lmask = mask_lo(kk);
  for (int i = 0; i < 16; ++i) r[i] = i < nrows ? _mm512_maskz_loadu_ps(lmask, src + i * ls) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
  // r[j] now holds column j (rows 0..15); smask keeps the first rows of each stored column.
  for (int i = 0; i < kk; ++i) _mm512_mask_storeu_ps(dst + i * ld, smask, r[i]);
}

// Pack rows [0, m) x k-range [0, kc) of op(A) into panels of kMr rows: panel p, element (k, i)
// at a[p * kc * kMr + k * kMr + i]; rows past m are zero.
inline void pack_a(const float* A, int64_t lda, bool ta, int64_t m, int64_t kc, float* a) {
  for (int64_t i0 = 0; i0 < m; i0 += kMr, a += kc * kMr) {
    const int mr = int(std::min<int64_t>(kMr, m - i0));
    if (ta) {  // op(A)[i][k] = A[k * lda + i]: each k is a contiguous run of mr floats
      const __mmask16 mk = mask_lo(mr);
      const float* s = A + i0;
      for (int64_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(a + k * kMr, __mmask16(0x0FFF),
                              _mm512_maskz_loadu_ps(mk, s + k * lda));
    } else {   // op(A)[i][k] = A[(i0 + i) * lda + k]: gather mr rows, interleave
      // 12 (or mr) rows x 16 k as a 16 x 16 transpose; each stored k-row keeps 12 lanes.
      for (int64_t k = 0; k < kc; k += 16)
        transpose16(A + i0 * lda + k, lda, a + k * kMr, kMr, mr, 0x0FFF, int(std::min<int64_t>(16, kc - k)));
    }
  }
}

// Pack k-range [0, kc) x columns [0, n) of op(B) into panels of kNr columns: panel p, element
// (k, j) at b[p * kc * kNr + k * kNr + j]; columns past n are zero.
//
// Both orders read B from memory it was not in cache for (a big weight matrix streams from
// DRAM once per product), so the source is prefetched a little ahead of the copy: without it
// the pack stalls on each line. On Zen 4, 256 x 4096 @ (4096 x 4096)^T at 2 threads, alternated
// in one process: 186 -> 191 GFLOP/s; 1 thread 95 -> 98.
constexpr int64_t kPackAheadRows = 4;    // !tb: the source row this many rows down
constexpr int64_t kPackAheadCols = 32;   // tb: each source row this many floats ahead
inline void pack_b(const float* B, int64_t ldb, bool tb, int64_t kc, int64_t n, float* b) {
  if (!tb) {  // op(B)[k][j] = B[k * ldb + j]: each source row read once, in order
    const int64_t full = n / kNr * kNr;
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = B + k * ldb;
      float* d = b + k * kNr;
      if (k + kPackAheadRows < kc)
        for (int64_t j = 0; j < n; j += 16)
          _mm_prefetch(reinterpret_cast<const char*>(s + kPackAheadRows * ldb + j), _MM_HINT_T0);
      int64_t j0 = 0;
      for (; j0 < full; j0 += kNr, d += kc * kNr) {
        _mm512_store_ps(d, _mm512_loadu_ps(s + j0));
        _mm512_store_ps(d + 16, _mm512_loadu_ps(s + j0 + 16));
      }
      if (j0 < n) {  // the last, zero-padded panel
        const int nr = int(n - j0);
        _mm512_store_ps(d, _mm512_maskz_loadu_ps(mask_lo(nr), s + j0));
        _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(mask_hi(nr), s + j0 + 16));
      }
    }
    return;
  }
  // op(B)[k][j] = B[(j0 + j) * ldb + k]: transpose 16 x 16 blocks
  for (int64_t j0 = 0; j0 < n; j0 += kNr, b += kc * kNr) {
    const int nr = int(std::min<int64_t>(kNr, n - j0));
    const float* s = B + j0 * ldb;
    const int n0 = std::min(nr, 16), n1 = std::max(nr - 16, 0);
    for (int64_t k = 0; k < kc; k += 16) {
      const int kk = int(std::min<int64_t>(16, kc - k));
      if (k + kPackAheadCols < kc)
        for (int r = 0; r < nr; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(s + r * ldb + k + kPackAheadCols), _MM_HINT_T0);
      transpose16(s + k, ldb, b + k * kNr, kNr, n0, 0xFFFF, kk);
      transpose16(s + 16 * ldb + k, ldb, b + k * kNr + 16, kNr, n1, 0xFFFF, kk);
    }
  }
}

// MR x 32 tile: C[0:m, 0:n] (+)= a-panel (kc x 12, its first MR rows used) @ b-panel (kc x 32).
// MR < 12 runs a panel's edge (m < 12 rows) without the FMAs of its zero rows: 256 rows are 21
// full panels and one of 4, and the full tile there wasted 3% of the product's FMAs.
template <int MR>
inline void kernel_rows(int64_t kc, const float* __restrict a, const float* __restrict b,
                        float* C, int64_t ldc, int m, int n, bool accum) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps();
    // The C tile is touched only after kc steps: fetch its lines now (both 64-byte halves).
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + 31), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += kMr;
    b += kNr;
  }
  const __mmask16 m0 = mask_lo(n), m1 = mask_hi(n);
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* r = C + i * ldc;
    if (accum) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, r));
      c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, r + 16));
    }
    _mm512_mask_storeu_ps(r, m0, c0[i]);
    _mm512_mask_storeu_ps(r + 16, m1, c1[i]);
  }
}

// The 12 x 32 tile, or a narrower one for an edge panel of m < 12 rows.
inline void kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* C,
                   int64_t ldc, int m, int n, bool accum) {
  if (m > 8) kernel_rows<kMr>(kc, a, b, C, ldc, m, n, accum);
  else if (m > 4) kernel_rows<8>(kc, a, b, C, ldc, m, n, accum);
  else kernel_rows<4>(kc, a, b, C, ldc, m, n, accum);
}

// C (m x n, ldc) = op(A) @ op(B) (+= when accum) on the calling thread; k >= 1. Returns false (and leaves C
// alone) when this thread's packing buffers could not be allocated: the caller falls back.
inline bool gemm(const float* A, int64_t lda, bool ta, const float* B, int64_t ldb, bool tb,
                 float* C, int64_t ldc, int64_t m, int64_t n, int64_t k, bool accum = false) {
  Scratch& s = scratch();
  if (!s.a) return false;
  // Balanced blocks: split K and N evenly rather than leaving a thin remainder block.
  const int64_t nkb = (k + kKc - 1) / kKc, kcb = (k + nkb - 1) / nkb;
  const int64_t nnb = (n + kNb - 1) / kNb, ncb = (n + nnb - 1) / nnb;
  const int64_t ncb32 = (ncb + kNr - 1) / kNr * kNr;
  for (int64_t i0 = 0; i0 < m; i0 += kMb) {
    const int64_t mc = std::min(kMb, m - i0);
    for (int64_t k0 = 0; k0 < k; k0 += kcb) {
      const int64_t kc = std::min(kcb, k - k0);
      pack_a(ta ? A + k0 * lda + i0 : A + i0 * lda + k0, lda, ta, mc, kc, s.a);
      for (int64_t j0 = 0; j0 < n; j0 += ncb32) {
        const int64_t nc = std::min(ncb32, n - j0);
        pack_b(tb ? B + j0 * ldb + k0 : B + k0 * ldb + j0, ldb, tb, kc, nc, s.b);
        for (int64_t ir = 0; ir < mc; ir += kMr) {
          const float* ap = s.a + (ir / kMr) * kc * kMr;
          const int mr = int(std::min<int64_t>(kMr, mc - ir));
          for (int64_t jr = 0; jr < nc; jr += kNr) {
            kernel(kc, ap, s.b + (jr / kNr) * kc * kNr, C + (i0 + ir) * ldc + j0 + jr, ldc, mr,
                   int(std::min<int64_t>(kNr, nc - jr)), accum || k0 > 0);
          }
        }
      }
    }
  }
  return true;
}

}  // namespace sgemm
}  // namespace gc
#endif  // __AVX512F__
