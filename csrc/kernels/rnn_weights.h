// The recurrent backward kernels' time loop (backward_frame) and their weight and bias
// gradients (included by rnn.h):
//   dW_ih = dGi^T X   dW_hh = dGh^T H_prev   db_ih = sum dGi   db_hh = sum dGh   dx = dGi W_ih
// over the gate gradients of all steps (dGi == dGh except for GRU).
//
// float32 on AVX-512: StepWeights adds the update of each group of 4 steps inside the backward
// time loop, while those steps' gate gradients are still in cache, instead of one product over
// all L*N rows afterwards (which packed dG^T and X, H_prev: 655 KB and 245 KB for an LSTM of
// input 32, hidden 64, batch 32, 20 steps). The time loop splits batch rows over the threads;
// the weight gradients split by gate (rows of dW), so each thread reads all rows of a group's
// dG: a thread adds a group once every thread has published its steps' gate gradients (no
// waiting inside the loop: a thread descheduled for a while delays the other only at the end).
// Each element of dW adds, group by group in time-loop order, the group's sum over its rows in
// order, on one thread: the same bits for every thread count. LSTM backward (the sizes above,
// 2 threads): 283 -> 268 us. Elsewhere: backward_weights, after the loop.
#pragma once
#include <atomic>
#include <thread>
#include <vector>

namespace gc::rnn {

// The copies and sums after the recurrence run split over the threads from this many elements:
// on one thread they kept the other idle for ~10% of an LSTM step (input 32, hidden 64, batch
// 32, 20 steps). Each split is by rows of the result, so every sum keeps its order.
constexpr int64_t kTailParallelMin = int64_t(1) << 15;

// Sums of the columns [c0, c1) of a (rows, cols) matrix, accumulated in double, each column over
// the rows in order; written to each non-empty output. 16 columns at a time.
template <class T>
void colsum_range(const T* a, int64_t rows, int64_t cols, int64_t c0, int64_t c1, T* o1, T* o2) {
  for (int64_t b0 = c0; b0 < c1; b0 += 16) {
    const int64_t b1 = std::min(c1, b0 + 16);
    double acc[16] = {};
    if (b1 - b0 == 16) {  // a full block: fixed trip counts, so the sums vectorise
      for (int64_t r = 0; r < rows; ++r)
        for (int c = 0; c < 16; ++c) acc[c] += double(a[r * cols + b0 + c]);
    } else {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = b0; c < b1; ++c) acc[c - b0] += double(a[r * cols + c]);
    }
    for (T* o : {o1, o2})
      if (o) for (int64_t c = b0; c < b1; ++c) o[c] = T(acc[c - b0]);
  }
}

// All column sums (colsum_range), threads taking blocks of 16 columns.
template <class T> void colsum(const T* a, int64_t rows, int64_t cols, T* o1, T* o2) {
  if (!o1 && !o2) return;
  const int64_t blocks = (cols + 15) / 16;
  GC_PARALLEL_FOR(rows * cols >= kTailParallelMin,
  for (int64_t b = 0; b < blocks; ++b)
    colsum_range(a, rows, cols, b * 16, std::min(cols, b * 16 + 16), o1, o2););
}

// After the time loop, from the gate gradients of all steps, dGi and dGh ((L, N, GH) each):
// dx, and unless `weights_done` (StepWeights ran) the weight and bias gradients.
template <class T>
void backward_weights(const Dims& d, const T* dGi, const T* dGh, const T* x, const T* w_ih,
                      const T* hs, const Buf& dx, const Buf& dw_ih, const Buf& dw_hh,
                      const Buf& db_ih, const Buf& db_hh, bool weights_done) {
  const int64_t R = d.L * d.N;
  const T* hp = hs + d.prev(0) * d.NH();
  if (dx.numel()) gemm_one<T>(dGi, w_ih, dx.ptr<T>(), R, d.I, d.GH(), false, false, true);
  if (weights_done) return;
  T *wi = dw_ih.ptr<T>(), *wh = dw_hh.ptr<T>();
  T* bi = db_ih.numel() ? db_ih.ptr<T>() : nullptr;
  T* bh = db_hh.numel() ? db_hh.ptr<T>() : nullptr;
  if (dGi == dGh && d.I > 0) {
    // One product dG^T [X | H_prev] for both weights: dG^T is packed once instead of twice and
    // the thin X side (I columns) joins the wide kernel. LSTM input 32, hidden 64, 640 rows,
    // one thread: the two products 502 us, the fused one 404 us (+ ~20 us of copies).
    const int64_t W = d.I + d.H, GH = d.GH();
    Block<T> xh_(R * W), dw_(GH * W);
    T *xh = xh_.p, *dw = dw_.p;
    GC_PARALLEL_FOR(R * W >= kTailParallelMin,
    for (int64_t r = 0; r < R; ++r) {
      std::copy(x + r * d.I, x + (r + 1) * d.I, xh + r * W);
      std::copy(hp + r * d.H, hp + (r + 1) * d.H, xh + r * W + d.I);
    });
    gemm_one<T>(dGi, xh, dw, GH, W, R, true, false, true);
    GC_PARALLEL_FOR(GH * W >= kTailParallelMin,
    for (int64_t j = 0; j < GH; ++j) {
      std::copy(dw + j * W, dw + j * W + d.I, wi + j * d.I);
      std::copy(dw + j * W + d.I, dw + (j + 1) * W, wh + j * d.H);
    });
  } else {
    gemm_one<T>(dGi, x, wi, d.GH(), d.I, R, true, false, true);
    gemm_one<T>(dGh, hp, wh, d.GH(), d.H, R, true, false, true);
  }
  if (dGi == dGh) {
    colsum<T>(dGi, R, d.GH(), bi, bh);
  } else {
    colsum<T>(dGi, R, d.GH(), bi, nullptr);
    colsum<T>(dGh, R, d.GH(), bh, nullptr);
  }
}

template <class T> struct StepWeights {
  bool on = false;  // the float32 AVX-512 path: the time loop calls published() and add()
  StepWeights(const Dims&, const T*, const T*, const T*, const T*, const Buf&, const Buf&,
              const Buf&, const Buf&) {}
  void published(int, int64_t) {}
  void add(int, int, int64_t&, bool, bool) {}
  void finish() {}
};

#ifdef __AVX512F__
template <> struct StepWeights<float> {
  bool on;
  const Dims& d;
  const float *dGi, *dGh, *x, *hs;
  float *dwi, *dwh, *dbi, *dbh;
  std::vector<double> bi, bh;  // the bias sums so far, in double
  struct alignas(64) Count { std::atomic<int64_t> v{0}; };
  std::vector<Count> done;  // per thread: how many steps' gate gradients it has published
  // Steps per update: K = 4N rows between loads and stores of dW (one step's 32 rows spent
  // ~10% of the update on them). Fixed, so the sums' order does not depend on timing.
  static constexpr int64_t kGroup = 4;

  StepWeights(const Dims& d_, const float* dGi_, const float* dGh_, const float* x_,
              const float* hs_, const Buf& dw_ih, const Buf& dw_hh, const Buf& db_ih,
              const Buf& db_hh)
      : on(d_.L > 0 && d_.N > 0 && d_.GH() > 0), d(d_), dGi(dGi_), dGh(dGh_), x(x_), hs(hs_),
        dwi(dw_ih.ptr<float>()), dwh(dw_hh.ptr<float>()),
        dbi(db_ih.numel() ? db_ih.ptr<float>() : nullptr),
        dbh(db_hh.numel() ? db_hh.ptr<float>() : nullptr),
        bi(dbi || (dbh && dGh_ == dGi_) ? d_.GH() : 0), bh(dbh && dGh_ != dGi_ ? d_.GH() : 0),
        done(size_t(std::max(1, ::gc::threads()))) {}

  // Thread j has written its rows of dG for steps 0 .. s (time-loop order).
  void published(int j, int64_t s) { done[j].v.store(s + 1, std::memory_order_release); }

  // Thread j of nth adds to its gates' rows of dW and of the bias sums every group of steps
  // from `next` on that all threads have published (with `wait`: all groups, spinning for the
  // others; else only those ready now, so a thread a step behind costs no wait until the end).
  // On the caller (nth = 1, !par), a big update splits its gates over the threads instead.
  void add(int j, int nth, int64_t& next, bool par, bool wait) {
    int64_t ready = d.L;
    for (int o = 0; o < nth; ++o) {
      int64_t v = done[o].v.load(std::memory_order_acquire);
      for (int spin = 0; wait && v < d.L; ++spin, v = done[o].v.load(std::memory_order_acquire)) {
        if (spin < 4096) _mm_pause();
        else std::this_thread::yield();
      }
      ready = std::min(ready, v);
    }
    const int64_t blocks = (d.GH() + 7) / 8;
    for (; next * kGroup < ready && (ready == d.L || (next + 1) * kGroup <= ready); ++next) {
      if (!par && d.N * d.GH() * (d.I + d.H) >= kStepParallelMin && ::gc::threads() > 1) {
        const int nt = ::gc::threads();
#pragma omp parallel for num_threads(nt)
        for (int i = 0; i < nt; ++i)
          add_gates(next, blocks * i / nt * 8, blocks * (i + 1) / nt * 8);
      } else {
        add_gates(next, blocks * j / nth * 8, blocks * (j + 1) / nth * 8);
      }
    }
  }

  // The bias gradients from the sums (after the time loop).
  void finish() {
    if (!on) return;
    for (int64_t m = 0; m < d.GH() && dbi; ++m) dbi[m] = float(bi[m]);
    const std::vector<double>& h = dGh == dGi ? bi : bh;
    for (int64_t m = 0; m < d.GH() && dbh; ++m) dbh[m] = float(h[m]);
  }

 private:
  // Group q's update of the gates [m0, m1) (multiples of 8, clipped to GH). The group's steps
  // are adjacent times, so its rows of dG, X and H_prev are contiguous: one update over them.
  void add_gates(int64_t q, int64_t m0, int64_t m1) {
    m0 = std::min(m0, d.GH()), m1 = std::min(m1, d.GH());
    if (m1 <= m0) return;
    const int64_t s0 = q * kGroup, s1 = std::min(d.L, s0 + kGroup);
    const int64_t GH = d.GH(), t = d.rev ? s0 : d.L - s1, row = t * d.N, K = (s1 - s0) * d.N;
    const bool first = q == 0;
    update(dGi + row * GH, x + row * d.I, K, d.I, dwi, m0, m1, first);
    update(dGh + row * GH, hs + d.prev(t) * d.NH(), K, d.H, dwh, m0, m1, first);
    bias(dGi + row * GH, K, bi, m0, m1, first);
    bias(dGh + row * GH, K, bh, m0, m1, first);
  }

  // acc[m0:m1] (+)= the column sums of K rows of gate gradients g (GH apart), in double, in a
  // fixed order (four chains over the rows, then their sum).
  void bias(const float* g, int64_t K, std::vector<double>& acc, int64_t m0, int64_t m1,
            bool first) {
    if (acc.empty()) return;
    const int64_t GH = d.GH();
    for (int64_t m = m0; m < m1; m += 8) {
      const __mmask8 k = __mmask8((1u << std::min<int64_t>(8, m1 - m)) - 1);
      auto row = [&](int64_t n) { return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, g + n * GH + m)); };
      __m512d s[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                      _mm512_setzero_pd()};  // four chains: rows n = 0, 1, 2, 3 mod 4
      int64_t n = 0;
      for (; n + 4 <= K; n += 4)
        for (int c = 0; c < 4; ++c) s[c] = _mm512_add_pd(s[c], row(n + c));
      for (int c = 0; n < K; ++n, ++c) s[c] = _mm512_add_pd(s[c], row(n));
      __m512d r = _mm512_add_pd(_mm512_add_pd(s[0], s[1]), _mm512_add_pd(s[2], s[3]));
      if (!first) r = _mm512_add_pd(_mm512_maskz_loadu_pd(k, &acc[m]), r);
      _mm512_mask_storeu_pd(&acc[m], k, r);
    }
  }

  // dW[m0:m1, :] (+)= g[:, m0:m1]^T B over K rows: g (K, GH), B (K, w) rows w apart,
  // dW (GH, w). MR x 32 register tiles; g's elements are broadcast in place, B's rows are
  // loaded in place: nothing is packed.
  void update(const float* g, const float* B, int64_t K, int64_t w, float* dW, int64_t m0,
              int64_t m1, bool first) const {
    const int64_t GH = d.GH();
    for (int64_t j0 = 0; j0 < w; j0 += 32) {
      const int nr = int(std::min<int64_t>(32, w - j0));
      int64_t m = m0;
      for (; m + 8 <= m1; m += 8) tile<8>(g + m, GH, B + j0, w, dW + m * w + j0, w, K, nr, first);
      const float* a = g + m;
      float* c = dW + m * w + j0;
      switch (m1 - m) {
        case 7: tile<7>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 6: tile<6>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 5: tile<5>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 4: tile<4>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 3: tile<3>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 2: tile<2>(a, GH, B + j0, w, c, w, K, nr, first); break;
        case 1: tile<1>(a, GH, B + j0, w, c, w, K, nr, first); break;
        default: break;
      }
    }
  }
  // C (MR x nr, rows ldc apart) (+)= sum over the K rows n of a[n * lda + i] * b[n * ldb + :]:
  // the group's sum in registers, then added to C (unless first).
  template <int MR>
  static void tile(const float* a, int64_t lda, const float* b, int64_t ldb, float* C,
                   int64_t ldc, int64_t K, int nr, bool first) {
    if (first) tile<MR, true>(a, lda, b, ldb, C, ldc, K, nr);
    else tile<MR, false>(a, lda, b, ldb, C, ldc, K, nr);
  }
  template <int MR, bool First>
  static void tile(const float* a, int64_t lda, const float* b, int64_t ldb, float* C,
                   int64_t ldc, int64_t K, int nr) {
    const __mmask16 k0 = sgemm::mask_lo(nr), k1 = sgemm::mask_hi(nr);
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
    // do-while (K >= 1 here): with a loop that may not run, GCC 12 kept the sums in memory
    // too, storing all 16 every iteration (the update ran at half speed)
    int64_t n = 0;
    do {
      const __m512 b0 = _mm512_maskz_loadu_ps(k0, b), b1 = _mm512_maskz_loadu_ps(k1, b + 16);
      for (int i = 0; i < MR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
      }
      a += lda, b += ldb;
    } while (++n < K);
    for (int i = 0; i < MR; ++i) {
      if constexpr (!First) {
        c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(k0, C + i * ldc));
        c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(k1, C + i * ldc + 16));
      }
      _mm512_mask_storeu_ps(C + i * ldc, k0, c0[i]);
      _mm512_mask_storeu_ps(C + i * ldc + 16, k1, c1[i]);
    }
  }
};
#endif

// The backward kernels' time loop, over_rows' row blocks each running every step (t in reverse
// of the forward's order): cell(t, n0, n1, par) writes the gate gradients of rows [n0, n1) and
// publishes them to StepWeights, then product(t, n0, n1, par) carries dh into the step before
// (not after the last step when no dh0 is wanted), then the thread adds the weight gradients of
// the groups every thread has published; at the end it waits for and adds the rest.
template <class T, class Cell, class Product>
void backward_frame(const Dims& d, int64_t work, StepWeights<T>& sw, bool want_dh0, Cell cell,
                    Product product) {
  over_rows(d.N, work, [&](int64_t n0, int64_t n1, bool par) {
    const auto [j, nth] = team(par);
    int64_t next = 0;  // the first group whose weight gradients this thread has not added
    for (int64_t s = 0; s < d.L; ++s) {
      const int64_t t = d.rev ? s : d.L - 1 - s;
      cell(t, n0, n1, par);
      if (sw.on) sw.published(j, s);
      if (want_dh0 || s + 1 < d.L) product(t, n0, n1, par);
      if (sw.on) sw.add(j, nth, next, par, false);
    }
    if (sw.on) sw.add(j, nth, next, par, true);
  });
  sw.finish();
}

}  // namespace gc::rnn
