// The shared machinery of the recurrent kernels (rnn.cpp): argument checks, the per-thread
// row blocks, the step product over W_hh's panels, the cell nonlinearities, and the frames
// every cell type's forward and backward kernel runs in. Included by rnn.cpp only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/threads.h"
#include "core/alloc.h"
#include "core/registry.h"
#include "kernels/matmul.h"
#include "kernels/vmath.h"
#include "kernels/sgemm_avx512.h"

namespace gc::rnn {

template <class T> using Arr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using CArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// A step's rows run their cell math in parallel from this many gate elements (N * G * H) on
// (only reached with one thread per call, see over_rows).
constexpr int64_t kRowsParallelMin = int64_t(1) << 15;

template <class F> void for_rows(int64_t N, int64_t work, F f) {
  if (work < kRowsParallelMin) {
    for (int64_t n = 0; n < N; ++n) f(n);
    return;
  }
#pragma omp parallel for num_threads(::gc::threads())
  for (int64_t n = 0; n < N; ++n) f(n);
}

// Run f(n0, n1, par) over blocks of batch rows, one per thread (par = true), when the
// recurrence (L*N*GH*H multiply-adds) is big enough to pay for a parallel region; blocks are
// multiples of 8 rows (the step product's tile). Otherwise f(0, N, false) on the caller.
constexpr int64_t kRecurParallelMin = int64_t(1) << 20;
template <class F> void over_rows(int64_t N, int64_t work, F f) {
#ifdef _OPENMP
  const int64_t blocks = (N + 7) / 8;
  const int nt = int(std::min<int64_t>(::gc::threads(), blocks));
  if (nt > 1 && work >= kRecurParallelMin) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t t = omp_get_thread_num(), nth = omp_get_num_threads();
      const int64_t n0 = std::min(N, blocks * t / nth * 8), n1 = std::min(N, blocks * (t + 1) / nth * 8);
      if (n1 > n0) f(n0, n1, true);
    }
    return;
  }
#endif
  f(int64_t(0), N, false);
}

// cell(n) for the rows [n0, n1) of one step: serial inside a per-thread block, else for_rows.
template <class F> void step_rows(int64_t n0, int64_t n1, int64_t G, bool par, F cell) {
  if (par) {
    for (int64_t n = n0; n < n1; ++n) cell(n);
  } else {
    for_rows(n1 - n0, (n1 - n0) * G, [&](int64_t i) { cell(n0 + i); });
  }
}

// A sequence-sized buffer (gate gradients, ...) for one kernel call, from the storage cache
// (core/alloc.h): reused across calls like tensor storage, and given back on return, where a
// thread_local buffer would keep the largest one ever needed alive for good. 64-byte aligned.
template <class T> struct Block {
  size_t bytes;
  T* p;
  explicit Block(int64_t n)
      : bytes(std::max<size_t>(size_t(n) * sizeof(T), 64)), p(static_cast<T*>(storage_alloc(bytes))) {}
  ~Block() { storage_free(p, bytes); }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
};

// C (m x n) = A (m x k, row-major) @ op(B) for many A and one B (W_hh over a whole sequence).
// float32 on AVX-512: each product runs an 8 x 32 register tile over 32-column panels of op(B),
// reading A in place (no packing of the few rows of A): 8-row tiles waste less of a small
// batch than sgemm's 12 (32 rows: 32 vs 36). An untransposed B whose width is a multiple of 32
// is its own panels (rows n apart: the backward's W_hh, read in place); otherwise B is packed
// once (sgemm::pack_b). Packing the backward's W_hh took ~5 us of a 0.55 ms LSTM step, on one
// thread while the other waited. Not float32 on AVX-512: gemm_one.
constexpr int64_t kStepParallelMin = int64_t(1) << 21;  // as gemm_one's threshold
template <class T> struct StepGemm {
  const T* B;
  int64_t n, k;
  bool tb;
  std::unique_ptr<Block<float>> buf;
  // Panel p starts at panels + p * pstep; its row kk (32 floats) at + kk * ldp.
  const float* panels = nullptr;
  int64_t ldp = 32, pstep = 0;
  StepGemm(const T* B_, int64_t n_, int64_t k_, bool tb_) : B(B_), n(n_), k(k_), tb(tb_) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (k > 0 && n > 0 && !tb && n % 32 == 0) {
        panels = B, ldp = n, pstep = 32;
      } else if (k > 0 && n > 0) {
        buf = std::make_unique<Block<float>>((n + 31) / 32 * 32 * k);
        sgemm::pack_b(B, tb ? k : n, tb, k, n, buf->p);
        panels = buf->p, ldp = 32, pstep = 32 * k;
      }
    }
#endif
  }
  // `inner`: the caller is one of over_rows' threads, so the product stays on this thread;
  // otherwise a big product (a small batch with a big hidden size) splits its column panels.
  // With `first` (packed too, same n): C = A1 @ op(first's B) + A @ op(B) in one pass, A1 (m, first.k):
  // the forward's input projection x_t W_ih^T joins each step's product.
  // `zero_a`: A is known to be zero (and B finite), so only first's product is formed (where
  // panels are; gemm_one multiplies the zeros).
  void operator()(const T* A, T* C, int64_t m, bool inner, const StepGemm* first = nullptr,
                  const T* A1 = nullptr, bool zero_a = false) const {
    const bool split = !inner && m * n * k >= kStepParallelMin;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (panels) { mul_panels(A, C, m, split, first, A1, zero_a ? 0 : k); return; }
    }
#endif
    (void)zero_a;
    gemm_one<T>(A, B, C, m, n, k, false, tb, split);
  }
#ifdef __AVX512F__
  // The MR x 32 tile over two products into the same sums: A1 (k1 columns) with its panel b1
  // (rows ld1 apart) first (k1 = 0: none), then A (k columns) with b (rows ldb apart).
  template <int MR>
  static void tile(int64_t k1, const float* A1, const float* b1, int64_t ld1, int64_t k,
                   const float* A, const float* b, int64_t ldb, float* C, int64_t ldc, int nr) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
    auto product = [&](int64_t kn, const float* a, const float* p, int64_t ld) {
      for (int64_t kk = 0; kk < kn; ++kk, p += ld) {
        const __m512 p0 = _mm512_loadu_ps(p), p1 = _mm512_loadu_ps(p + 16);
        for (int i = 0; i < MR; ++i) {
          const __m512 ai = _mm512_set1_ps(a[i * kn + kk]);
          c0[i] = _mm512_fmadd_ps(ai, p0, c0[i]);
          c1[i] = _mm512_fmadd_ps(ai, p1, c1[i]);
        }
      }
    };
    product(k1, A1, b1, ld1);
    product(k, A, b, ldb);
    const __mmask16 m0 = sgemm::mask_lo(nr), m1 = sgemm::mask_hi(nr);
    for (int i = 0; i < MR; ++i) {
      _mm512_mask_storeu_ps(C + i * ldc, m0, c0[i]);
      _mm512_mask_storeu_ps(C + i * ldc + 16, m1, c1[i]);
    }
  }
  // A's first kb of its k columns (kb = 0: none).
  void mul_panels(const float* A, float* C, int64_t m, bool split, const StepGemm* first,
                  const float* A1, int64_t kb) const {
    const int64_t k1 = first ? first->k : 0, ld1 = first ? first->ldp : 0;
    GC_PARALLEL_FOR(split,
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
      const float* b = panels + j0 / 32 * pstep;
      const float* b1 = first ? first->panels + j0 / 32 * first->pstep : nullptr;
      const int nr = int(std::min<int64_t>(32, n - j0));
      int64_t i = 0;
      for (; i + 8 <= m; i += 8)
        tile<8>(k1, A1 + i * k1, b1, ld1, kb, A + i * k, b, ldp, C + i * n + j0, n, nr);
      const float *a = A + i * k, *a1 = A1 + i * k1;
      float* c = C + i * n + j0;
      switch (m - i) {
        case 7: tile<7>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 6: tile<6>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 5: tile<5>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 4: tile<4>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 3: tile<3>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 2: tile<2>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        case 1: tile<1>(k1, a1, b1, ld1, kb, a, b, ldp, c, n, nr); break;
        default: break;
      }
    });
  }
#endif
};

// Small per-call buffers (a step's rows, bias sums) that only grow.
// Slots: 0 per-step rows, 1 bias sums.
template <class T> T* scratch(int slot, int64_t n) {
  static thread_local std::vector<T> buf[2];
  std::vector<T>& b = buf[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// The cells' nonlinearities (kernels/vmath.h): y must not alias a.
template <class T> inline void vsigmoid(const T* a, T* y, int64_t n) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) { vmath::sigmoid(a, y, n); return; }
#endif
  vmath::sigmoid_eigen(a, y, n);
}
template <class T> inline void vtanh(const T* a, T* y, int64_t n) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) { vmath::tanh(a, y, n); return; }
#endif
  vmath::tanh_eigen(a, y, n);
}

struct Dims {
  int64_t L, N, I, H, G;
  bool rev;
  int64_t NH() const { return N * H; }
  int64_t GH() const { return G * H; }
  int64_t prev(int64_t t) const { return rev ? t + 1 : t; }  // state row read at time t
  int64_t out(int64_t t) const { return rev ? t : t + 1; }   // state row written at time t
  int64_t h0_row() const { return rev ? L : 0; }
};

inline Dims dims(const char* op, int64_t G, const Buf& x, const Buf& w_ih, const Buf& w_hh, Attrs at) {
  GC_CHECK(x.ndim == 3, op << ": input must be (L, N, input_size), got " << x.shape_str());
  GC_CHECK(w_hh.ndim == 2 && w_hh.shape[0] == G * w_hh.shape[1],
           op << ": weight_hh must be (" << G << " * hidden_size, hidden_size), got " << w_hh.shape_str());
  GC_CHECK(w_ih.ndim == 2 && w_ih.shape[0] == w_hh.shape[0] && w_ih.shape[1] == x.shape[2],
           op << ": weight_ih " << w_ih.shape_str() << " must be (" << w_hh.shape[0] << ", "
              << x.shape[2] << ") for input " << x.shape_str() << " and weight_hh " << w_hh.shape_str());
  check_same_dtype(op, x, w_ih);
  check_same_dtype(op, x, w_hh);
  return {x.shape[0], x.shape[1], x.shape[2], w_hh.shape[1], G, at.size() > 0 && at[0] != 0};
}

inline bool same_shape(const Buf& b, std::initializer_list<int64_t> s) {
  if (b.ndim != int(s.size())) return false;
  int i = 0;
  for (int64_t v : s) if (b.shape[i++] != v) return false;
  return true;
}
inline std::string shape_str(std::initializer_list<int64_t> s) {
  std::string r = "(";
  for (int64_t v : s) r += std::to_string(v) + ", ";
  if (s.size() > 1) r.resize(r.size() - 2);
  return r + ")";
}
// `b` must have shape s; or, with optional, be empty (absent).
inline bool check(const char* op, const char* name, const Buf& b, const Buf& x,
           std::initializer_list<int64_t> s, bool optional = false) {
  if (optional && b.numel() == 0 && !same_shape(b, s)) return false;
  GC_CHECK(same_shape(b, s), op << ": " << name << " must be " << shape_str(s)
                                << (optional ? " or empty" : "") << ", got " << b.shape_str());
  check_same_dtype(op, b, x);
  return b.numel() > 0;
}

// bsum (GH + H) = b_ih + b_hh (zeros without bias); for GRU the n-gate part is b_in only and
// the H values after the gates hold b_hn (added inside r * (W_hn h + b_hn)).
template <class T> T* bias_sum(const Dims& d, const Buf& b_ih, const Buf& b_hh, bool gru) {
  T* bs = scratch<T>(1, d.GH() + d.H);
  const T* bi = b_ih.numel() ? b_ih.ptr<T>() : nullptr;
  const T* bh = b_hh.numel() ? b_hh.ptr<T>() : nullptr;
  for (int64_t j = 0; j < d.GH(); ++j) {
    const bool hh = !(gru && j >= 2 * d.H);
    bs[j] = (bi ? bi[j] : T(0)) + (hh && bh ? bh[j] : T(0));
  }
  for (int64_t j = 0; j < d.H; ++j) bs[d.GH() + j] = gru && bh ? bh[2 * d.H + j] : T(0);
  return bs;
}

// No inf or NaN among a[0:n] (16 lanes at a time where AVX-512 is).
template <class T> bool all_finite(const T* a, int64_t n) {
  int64_t i = 0;
  bool ok = true;
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    const __m512i ex = _mm512_set1_epi32(0x7f800000);  // exponent all ones: inf or NaN
    __mmask16 bad = 0;
    for (; i + 16 <= n; i += 16)
      bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512(a + i), ex), ex);
    ok = bad == 0;
  }
#endif
  for (; i < n; ++i) ok = ok && std::isfinite(a[i]);
  return ok;
}

// Shared frame of the forward kernels: xp = X @ W_ih^T (all steps), then per step
// tmp = h_prev @ W_hh^T and cell(t, n, tmp row n, false) for each batch row n.
// `fuse` (LSTM, RNN; not GRU, whose n gate keeps the two sides apart): where W_hh is packed
// (float32, AVX-512), W_ih is packed too and each step's product takes x_t W_ih^T along
// (tmp = x_t W_ih^T + h_prev W_hh^T, cell(..., true)), so xp is never written: the projection's
// own parallel region, its packing and xp's round trip through memory are saved.
// `zero_h0` (no initial state given): the first step's h_prev W_hh^T is skipped when W_hh is
// finite (0 * inf would be NaN, as torch computes it).
template <class T, class Cell>
void forward_frame(const Dims& d, const T* x, const T* w_ih, const T* w_hh, T* xp, const T* hs,
                   bool fuse, bool zero_h0, Cell cell) {
  const int64_t GH = d.GH();
  const StepGemm<T> mm(w_hh, GH, d.H, true);
  const bool skip0 = zero_h0 && mm.panels && all_finite(w_hh, GH * d.H);
  std::unique_ptr<StepGemm<T>> mi;
  if (fuse && mm.panels && d.I > 0) mi = std::make_unique<StepGemm<T>>(w_ih, GH, d.I, true);
  if (!mi || !mi->panels) {
    mi.reset();
    gemm_one<T>(x, w_ih, xp, d.L * d.N, GH, d.I, false, true, true);
  }
  T* tmp = scratch<T>(0, d.N * GH);
  over_rows(d.N, d.L * d.N * GH * (d.H + (mi ? d.I : 0)), [&](int64_t n0, int64_t n1, bool par) {
    for (int64_t s = 0; s < d.L; ++s) {
      const int64_t t = d.rev ? d.L - 1 - s : s;
      mm(hs + d.prev(t) * d.NH() + n0 * d.H, tmp + n0 * GH, n1 - n0, par, mi.get(),
         x + (t * d.N + n0) * d.I, s == 0 && skip0);
      step_rows(n0, n1, GH, par, [&](int64_t n) { cell(t, n, tmp + n * GH, bool(mi)); });
    }
  });
}

// The state gradient a backward kernel carries from step to step: the dh0 (or dc0) output, or
// when that is empty (not wanted) a scratch buffer, and the last step's product into it skipped.
template <class T> struct Carry {
  std::unique_ptr<Block<T>> own;
  T* p;
  bool out;  // p is the output
  Carry(const Buf& b, int64_t n)
      : own(b.numel() ? nullptr : std::make_unique<Block<T>>(n)),
        p(b.numel() ? b.ptr<T>() : own->p), out(b.numel() > 0) {
    std::fill(p, p + n, T(0));
  }
};

template <class T> void init_rows(const Buf& h0, T* dst, int64_t n) {
  if (h0.numel()) std::copy(h0.ptr<T>(), h0.ptr<T>() + n, dst);
  else std::fill(dst, dst + n, T(0));
}

// Thread j of nth inside over_rows' region (par), or 0 of 1 on the caller.
inline std::pair<int, int> team(bool par) {
#ifdef _OPENMP
  if (par) return {omp_get_thread_num(), omp_get_num_threads()};
#endif
  (void)par;
  return {0, 1};
}

// Checks shared by the backward kernels: state/gstate (rows x N x H), the weight grads, the
// optional dx, dh0 and bias grads. Returns the dims.
inline Dims check_backward(const char* op, int64_t G, int64_t state_rows, Ins in, const Buf& state,
                    const Buf& gstate, const Buf& dx, const Buf& dh0, const Buf& dw_ih,
                    const Buf& dw_hh, const Buf& db_ih, const Buf& db_hh, Attrs at) {
  Dims d = dims(op, G, in[0], in[1], in[2], at);
  const Buf& x = in[0];
  const int64_t R = state_rows * (d.L + 1);
  check(op, "state", state, x, {R, d.N, d.H});
  check(op, "gstate", gstate, x, {R, d.N, d.H});
  check(op, "dx", dx, x, {d.L, d.N, d.I}, true);
  check(op, "dh0", dh0, x, {d.N, d.H}, true);
  check(op, "dw_ih", dw_ih, x, {d.GH(), d.I});
  check(op, "dw_hh", dw_hh, x, {d.GH(), d.H});
  check(op, "db_ih", db_ih, x, {d.GH()}, true);
  check(op, "db_hh", db_hh, x, {d.GH()}, true);
  return d;
}

}  // namespace gc::rnn

#include "kernels/rnn_weights.h"
