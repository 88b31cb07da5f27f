// Recurrent layers: one kernel runs a whole sequence forward for one layer and direction, one
// runs it backward (Elman RNN tanh/relu, LSTM, GRU; torch's equations and gate order).
//
// Forward: Xp = X @ W_ih^T for all L steps is ONE gemm (L*N, I) x (I, G*H); then per step
// h_prev @ W_hh^T followed by one fused pass over the rows for the cell math.
// Backward through time: per step one fused pass producing the gate gradients dG[t] and the
// product dh_prev = dG[t] @ W_hh; at the end dW_ih = dG^T X, dW_hh = dG^T H_prev and
// dx = dG @ W_ih are ONE gemm each over all L*N rows, and the biases' gradients column sums.
// Batch rows never mix inside the recurrence, so each thread runs the whole time loop on its
// own block of rows: no barrier per step (a 2-core machine pays milliseconds for one when a
// thread is descheduled). The per-step product uses W_hh packed once per call (StepGemm).
//
// Layouts (time order, also for reverse = 1, which runs t = L-1 .. 0):
//   x (L, N, I); weights (G*H, I) and (G*H, H); biases (G*H,) or empty (no bias);
//   h0, c0 (N, H) or empty (zeros).
//   state (L+1, N, H) hidden states: forward row 0 = h0, row t+1 = h_t; reverse row L = h0,
//   row t = h_t. So the outputs are rows [1, L+1) (reverse [0, L)), h_n is row L (reverse 0) and
//   the states each step reads, H_prev, are the L rows starting at 0 (reverse 1): contiguous.
//   LSTM state (2(L+1), N, H): hidden rows as above, then the cell rows in the same layout.
//   gstate: the gradient of state (outputs, h_n and c_n summed by the engine).
// Optional outputs: dx may be empty (input needs no gradient), db_ih/db_hh empty (no bias).
#include <algorithm>
#include <cmath>
#include <vector>
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/registry.h"
#include "kernels/matmul.h"
#include "kernels/sgemm_avx512.h"

namespace gc {
namespace {

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
#pragma omp parallel for
  for (int64_t n = 0; n < N; ++n) f(n);
}

// Run f(n0, n1, par) over blocks of batch rows, one per thread (par = true), when the
// recurrence (L*N*GH*H multiply-adds) is big enough to pay for a parallel region; blocks are
// multiples of 8 rows (the step product's tile). Otherwise f(0, N, false) on the caller.
constexpr int64_t kRecurParallelMin = int64_t(1) << 20;
template <class F> void over_rows(int64_t N, int64_t work, F f) {
#ifdef _OPENMP
  const int64_t blocks = (N + 7) / 8;
  const int nt = int(std::min<int64_t>(omp_get_max_threads(), blocks));
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

// C (m x n) = A (m x k, row-major) @ op(B) for many A and one B (W_hh over a whole sequence).
// float32 on AVX-512: B is packed once into 32-column panels (sgemm::pack_b) and each product
// runs an 8 x 32 register tile reading A in place (no packing of the few rows of A): 8-row
// tiles waste less of a small batch than sgemm's 12 (32 rows: 32 vs 36). Otherwise gemm_one.
constexpr int64_t kStepParallelMin = int64_t(1) << 21;  // as gemm_one's threshold
template <class T> struct StepGemm {
  const T* B;
  int64_t n, k;
  bool tb;
  float* packed = nullptr;
  StepGemm(const T* B_, int64_t n_, int64_t k_, bool tb_) : B(B_), n(n_), k(k_), tb(tb_) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (k > 0 && n > 0) {
        static thread_local std::vector<float> buf;
        std::vector<float>& b = buf;
        const size_t need = size_t((n + 31) / 32 * 32 * k) + 16;
        if (b.size() < need) b.resize(need);
        packed = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(b.data()) + 63) & ~uintptr_t(63));
        sgemm::pack_b(B, tb ? k : n, tb, k, n, packed);
      }
    }
#endif
  }
  // `inner`: the caller is one of over_rows' threads, so the product stays on this thread;
  // otherwise a big product (a small batch with a big hidden size) splits its column panels.
  void operator()(const T* A, T* C, int64_t m, bool inner) const {
    const bool split = !inner && m * n * k >= kStepParallelMin;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (packed) { mul_packed(A, C, m, split); return; }
    }
#endif
    gemm_one<T>(A, B, C, m, n, k, false, tb, split);
  }
#ifdef __AVX512F__
  template <int MR>
  static void tile(int64_t k, const float* A, const float* b, float* C, int64_t ldc, int nr) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < k; ++kk, b += 32) {
      const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(A[i * k + kk]);
        c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
        c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
      }
    }
    const __mmask16 m0 = sgemm::mask_lo(nr), m1 = sgemm::mask_hi(nr);
    for (int i = 0; i < MR; ++i) {
      _mm512_mask_storeu_ps(C + i * ldc, m0, c0[i]);
      _mm512_mask_storeu_ps(C + i * ldc + 16, m1, c1[i]);
    }
  }
  void mul_packed(const float* A, float* C, int64_t m, bool split) const {
#pragma omp parallel for if (split)
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
      const float* b = packed + j0 * k;  // panel j0 / 32 of 32 * k floats
      const int nr = int(std::min<int64_t>(32, n - j0));
      int64_t i = 0;
      for (; i + 8 <= m; i += 8) tile<8>(k, A + i * k, b, C + i * n + j0, n, nr);
      const float* a = A + i * k;
      float* c = C + i * n + j0;
      switch (m - i) {
        case 7: tile<7>(k, a, b, c, n, nr); break;
        case 6: tile<6>(k, a, b, c, n, nr); break;
        case 5: tile<5>(k, a, b, c, n, nr); break;
        case 4: tile<4>(k, a, b, c, n, nr); break;
        case 3: tile<3>(k, a, b, c, n, nr); break;
        case 2: tile<2>(k, a, b, c, n, nr); break;
        case 1: tile<1>(k, a, b, c, n, nr); break;
        default: break;
      }
    }
  }
#endif
};

// Slots: 0 per-step rows, 1 gate grads, 2 bias sums, 3 GRU hidden-side gate grads, 4 sums,
// 5 and 6 the fused weight-gradient product.
template <class T> T* scratch(int slot, int64_t n) {
  static thread_local std::vector<T> buf[7];
  std::vector<T>& b = buf[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// y = f(a) through Eigen's vectorized functions, which clamp with min/max and so turn NaN into a
// number: NaN is restored, as torch propagates it. y must not alias a.
template <class T, class F> inline void act(const T* a, T* y, int64_t n, F f) {
  CArr<T> A(a, n);
  Arr<T> Y(y, n);
  f(A, Y);
  for (int64_t j = 0; j < n; ++j) y[j] = a[j] != a[j] ? a[j] : y[j];
}
template <class T> inline void vsigmoid(const T* a, T* y, int64_t n) {
  act(a, y, n, [](const auto& A, auto& Y) { Y = A.logistic(); });
}
template <class T> inline void vtanh(const T* a, T* y, int64_t n) {
  act(a, y, n, [](const auto& A, auto& Y) { Y = A.tanh(); });
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

Dims dims(const char* op, int64_t G, const Buf& x, const Buf& w_ih, const Buf& w_hh, Attrs at) {
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

bool same_shape(const Buf& b, std::initializer_list<int64_t> s) {
  if (b.ndim != int(s.size())) return false;
  int i = 0;
  for (int64_t v : s) if (b.shape[i++] != v) return false;
  return true;
}
std::string shape_str(std::initializer_list<int64_t> s) {
  std::string r = "(";
  for (int64_t v : s) r += std::to_string(v) + ", ";
  if (s.size() > 1) r.resize(r.size() - 2);
  return r + ")";
}
// `b` must have shape s; or, with optional, be empty (absent).
bool check(const char* op, const char* name, const Buf& b, const Buf& x,
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
  T* bs = scratch<T>(2, d.GH() + d.H);
  const T* bi = b_ih.numel() ? b_ih.ptr<T>() : nullptr;
  const T* bh = b_hh.numel() ? b_hh.ptr<T>() : nullptr;
  for (int64_t j = 0; j < d.GH(); ++j) {
    const bool hh = !(gru && j >= 2 * d.H);
    bs[j] = (bi ? bi[j] : T(0)) + (hh && bh ? bh[j] : T(0));
  }
  for (int64_t j = 0; j < d.H; ++j) bs[d.GH() + j] = gru && bh ? bh[2 * d.H + j] : T(0);
  return bs;
}

// Shared frame of the forward kernels: xp = X @ W_ih^T (all steps), then per step
// tmp = h_prev @ W_hh^T and cell(t, n, tmp row n) for each batch row n.
template <class T, class Cell>
void forward_frame(const Dims& d, const T* x, const T* w_ih, const T* w_hh, T* xp, const T* hs,
                   Cell cell) {
  gemm_one<T>(x, w_ih, xp, d.L * d.N, d.GH(), d.I, false, true, true);
  const StepGemm<T> mm(w_hh, d.GH(), d.H, true);
  T* tmp = scratch<T>(0, d.N * d.GH());
  const int64_t GH = d.GH();
  over_rows(d.N, d.L * d.N * GH * d.H, [&](int64_t n0, int64_t n1, bool par) {
    for (int64_t s = 0; s < d.L; ++s) {
      const int64_t t = d.rev ? d.L - 1 - s : s;
      mm(hs + d.prev(t) * d.NH() + n0 * d.H, tmp + n0 * GH, n1 - n0, par);
      step_rows(n0, n1, GH, par, [&](int64_t n) { cell(t, n, tmp + n * GH); });
    }
  });
}

template <class T> void init_rows(const Buf& h0, T* dst, int64_t n) {
  if (h0.numel()) std::copy(h0.ptr<T>(), h0.ptr<T>() + n, dst);
  else std::fill(dst, dst + n, T(0));
}

// Column sums of a (rows, cols) matrix, accumulated in double; written to each non-empty output.
template <class T> void colsum(const T* a, int64_t rows, int64_t cols, T* o1, T* o2) {
  if (!o1 && !o2) return;
  double* acc = scratch<double>(4, cols);
  std::fill(acc, acc + cols, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += double(a[r * cols + c]);
  for (T* o : {o1, o2})
    if (o) for (int64_t c = 0; c < cols; ++c) o[c] = T(acc[c]);
}

// Shared end of the backward kernels, from the gate gradients dGi (input side, (L, N, GH)) and
// dGh (hidden side; the same array except for GRU):
//   dx = dGi @ W_ih   dW_ih = dGi^T X   dW_hh = dGh^T H_prev   db_ih = sum dGi   db_hh = sum dGh
template <class T>
void backward_weights(const Dims& d, const T* dGi, const T* dGh, const T* x, const T* w_ih,
                      const T* hs, const Buf& dx, const Buf& dw_ih, const Buf& dw_hh,
                      const Buf& db_ih, const Buf& db_hh) {
  const int64_t R = d.L * d.N;
  const T* hp = hs + d.prev(0) * d.NH();
  if (dx.numel()) gemm_one<T>(dGi, w_ih, dx.ptr<T>(), R, d.I, d.GH(), false, false, true);
  if (dGi == dGh && d.I > 0) {
    // One product dG^T [X | H_prev] for both weights: dG^T is packed once instead of twice and
    // the thin X side (I columns) joins the wide kernel (LSTM 32/64/20/32: 502 -> 404 us).
    const int64_t W = d.I + d.H, GH = d.GH();
    T* xh = scratch<T>(5, R * W);
    T* dw = scratch<T>(6, GH * W);
    for (int64_t r = 0; r < R; ++r) {
      std::copy(x + r * d.I, x + (r + 1) * d.I, xh + r * W);
      std::copy(hp + r * d.H, hp + (r + 1) * d.H, xh + r * W + d.I);
    }
    gemm_one<T>(dGi, xh, dw, GH, W, R, true, false, true);
    for (int64_t j = 0; j < GH; ++j) {
      std::copy(dw + j * W, dw + j * W + d.I, dw_ih.ptr<T>() + j * d.I);
      std::copy(dw + j * W + d.I, dw + (j + 1) * W, dw_hh.ptr<T>() + j * d.H);
    }
  } else {
    gemm_one<T>(dGi, x, dw_ih.ptr<T>(), d.GH(), d.I, R, true, false, true);
    gemm_one<T>(dGh, hp, dw_hh.ptr<T>(), d.GH(), d.H, R, true, false, true);
  }
  T* bi = db_ih.numel() ? db_ih.ptr<T>() : nullptr;
  T* bh = db_hh.numel() ? db_hh.ptr<T>() : nullptr;
  if (dGi == dGh) {
    colsum<T>(dGi, R, d.GH(), bi, bh);
  } else {
    colsum<T>(dGi, R, d.GH(), bi, nullptr);
    colsum<T>(dGh, R, d.GH(), bh, nullptr);
  }
}

// Checks shared by the backward kernels: state/gstate (rows x N x H), the weight grads, the
// optional dx and bias grads. Returns the dims.
Dims check_backward(const char* op, int64_t G, int64_t state_rows, Ins in, const Buf& state,
                    const Buf& gstate, const Buf& dx, const Buf& dh0, const Buf& dw_ih,
                    const Buf& dw_hh, const Buf& db_ih, const Buf& db_hh, Attrs at) {
  Dims d = dims(op, G, in[0], in[1], in[2], at);
  const Buf& x = in[0];
  const int64_t R = state_rows * (d.L + 1);
  check(op, "state", state, x, {R, d.N, d.H});
  check(op, "gstate", gstate, x, {R, d.N, d.H});
  check(op, "dx", dx, x, {d.L, d.N, d.I}, true);
  check(op, "dh0", dh0, x, {d.N, d.H});
  check(op, "dw_ih", dw_ih, x, {d.GH(), d.I});
  check(op, "dw_hh", dw_hh, x, {d.GH(), d.H});
  check(op, "db_ih", db_ih, x, {d.GH()}, true);
  check(op, "db_hh", db_hh, x, {d.GH()}, true);
  return d;
}

// ---- rnn: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu ----------
//      da_t = (dy_t + dh_t) * act'(h_t) (tanh: 1 - h^2; relu: [h > 0])   dh_{t-1} = da_t W_hh
void rnn_forward(Ins in, Outs out, Attrs at) {
  const char* op = "rnn_forward";
  Dims d = dims(op, 1, in[0], in[2], in[3], at);
  const bool relu = at.size() > 1 && at[1] != 0;
  check(op, "h0", in[1], in[0], {d.N, d.H}, true);
  check(op, "b_ih", in[4], in[0], {d.GH()}, true);
  check(op, "b_hh", in[5], in[0], {d.GH()}, true);
  check(op, "state", out[0], in[0], {d.L + 1, d.N, d.H});
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    T* hs = out[0].ptr<T>();
    init_rows<T>(in[1], hs + d.h0_row() * d.NH(), d.NH());
    const T* bs = bias_sum<T>(d, in[4], in[5], false);
    const int64_t H = d.H;
    // xp goes straight into the output rows, which each step then overwrites in place.
    forward_frame<T>(d, in[0].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(), hs + d.out(0) * d.NH(),
                     hs, [&](int64_t t, int64_t n, T* P) {
      T* h = hs + d.out(t) * d.NH() + n * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) P[j] += h[j] + bs[j];
      if (relu) for (int64_t j = 0; j < H; ++j) h[j] = P[j] > T(0) || P[j] != P[j] ? P[j] : T(0);
      else vtanh(P, h, H);
    });
  });
}
// schema: rnn_forward(T x, T h0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0, int relu=0) -> T state
GC_KERNEL("rnn_forward", 6, 1, rnn_forward);

void rnn_backward(Ins in, Outs out, Attrs at) {
  const char* op = "rnn_backward";
  Dims d = check_backward(op, 1, 1, in, in[3], in[4], out[0], out[1], out[2], out[3], out[4],
                          out[5], at);
  const bool relu = at.size() > 1 && at[1] != 0;
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const T *hs = in[3].ptr<T>(), *gs = in[4].ptr<T>(), *w_hh = in[2].ptr<T>();
    const int64_t H = d.H, NH = d.NH();
    T* dA = scratch<T>(1, d.L * NH);
    T* carry = out[1].ptr<T>();  // dh flowing into the step being processed; ends as dh0
    std::fill(carry, carry + NH, T(0));
    const StepGemm<T> mm(w_hh, H, H, false);
    over_rows(d.N, d.L * NH * H, [&](int64_t n0, int64_t n1, bool par) {
      for (int64_t s = 0; s < d.L; ++s) {
        const int64_t t = d.rev ? s : d.L - 1 - s;
        const T *h = hs + d.out(t) * NH, *g = gs + d.out(t) * NH;
        T* da = dA + t * NH;
        step_rows(n0, n1, H, par, [&](int64_t n) {
          for (int64_t j = n * H; j < (n + 1) * H; ++j) {
            const T dh = carry[j] + g[j];
            da[j] = relu ? (h[j] <= T(0) ? T(0) : dh) : dh * (T(1) - h[j] * h[j]);
          }
        });
        mm(da + n0 * H, carry + n0 * H, n1 - n0, par);
      }
    });
    const T* g0 = gs + d.h0_row() * NH;
    for (int64_t j = 0; j < NH; ++j) carry[j] += g0[j];
    backward_weights<T>(d, dA, dA, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[2], out[3],
                        out[4], out[5]);
  });
}
// schema: rnn_backward(T x, T w_ih, T w_hh, T state, T gstate, *, int reverse=0, int relu=0) -> (T dx, T dh0, T dw_ih, T dw_hh, T db_ih, T db_hh)
GC_KERNEL("rnn_backward", 5, 6, rnn_backward);

// ---- lstm: [i f g o] = [s s tanh s](x W_ih^T + b_ih + h W_hh^T + b_hh), s = sigmoid --------
//      c' = f c + i g    h' = o tanh(c')
//      dc' = dc'_next + dh' o (1 - tanh^2 c')   do = dh' tanh c'   di = dc' g   df = dc' c
//      dg = dc' i   dc = dc' f; pre-activation grads: di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)
// gates (L, N, 4H): the activated i, f, g, o of each step; tanh_c (L, N, H): tanh(c') (saved for
// backward, which would otherwise spend a quarter of its cell math recomputing it).
void lstm_forward(Ins in, Outs out, Attrs at) {
  const char* op = "lstm_forward";
  Dims d = dims(op, 4, in[0], in[3], in[4], at);
  check(op, "h0", in[1], in[0], {d.N, d.H}, true);
  check(op, "c0", in[2], in[0], {d.N, d.H}, true);
  check(op, "b_ih", in[5], in[0], {d.GH()}, true);
  check(op, "b_hh", in[6], in[0], {d.GH()}, true);
  check(op, "state", out[0], in[0], {2 * (d.L + 1), d.N, d.H});
  check(op, "gates", out[1], in[0], {d.L, d.N, d.GH()});
  check(op, "tanh_c", out[2], in[0], {d.L, d.N, d.H});
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    T* hs = out[0].ptr<T>();
    T* cs = hs + (d.L + 1) * d.NH();
    T *gates = out[1].ptr<T>(), *tcb = out[2].ptr<T>();
    init_rows<T>(in[1], hs + d.h0_row() * d.NH(), d.NH());
    init_rows<T>(in[2], cs + d.h0_row() * d.NH(), d.NH());
    const T* bs = bias_sum<T>(d, in[5], in[6], false);
    const int64_t H = d.H, G4 = d.GH();
    forward_frame<T>(d, in[0].ptr<T>(), in[3].ptr<T>(), in[4].ptr<T>(), gates, hs,
                     [&](int64_t t, int64_t n, T* P) {
      const int64_t row = t * d.N + n, r = n * H;
      T* g = gates + row * G4;  // holds x_t W_ih^T on entry
      T* tc = tcb + row * H;
      const T* cp = cs + d.prev(t) * d.NH() + r;
      T *c = cs + d.out(t) * d.NH() + r, *h = hs + d.out(t) * d.NH() + r;
#pragma omp simd
      for (int64_t j = 0; j < G4; ++j) P[j] += g[j] + bs[j];
      vsigmoid(P, g, 2 * H);
      vtanh(P + 2 * H, g + 2 * H, H);
      vsigmoid(P + 3 * H, g + 3 * H, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) c[j] = g[H + j] * cp[j] + g[j] * g[2 * H + j];
      vtanh(c, tc, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) h[j] = g[3 * H + j] * tc[j];
    });
  });
}
// schema: lstm_forward(T x, T h0, T c0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0) -> (T state, T gates, T tanh_c)
GC_KERNEL("lstm_forward", 7, 3, lstm_forward);

void lstm_backward(Ins in, Outs out, Attrs at) {
  const char* op = "lstm_backward";
  Dims d = check_backward(op, 4, 2, in, in[3], in[6], out[0], out[1], out[3], out[4], out[5],
                          out[6], at);
  check(op, "gates", in[4], in[0], {d.L, d.N, d.GH()});
  check(op, "tanh_c", in[5], in[0], {d.L, d.N, d.H});
  check(op, "dc0", out[2], in[0], {d.N, d.H});
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const int64_t H = d.H, NH = d.NH(), G4 = d.GH(), C0 = (d.L + 1) * NH;
    const T *hs = in[3].ptr<T>(), *cs = hs + C0, *gates = in[4].ptr<T>(), *tcb = in[5].ptr<T>();
    const T *gs = in[6].ptr<T>(), *gcs = gs + C0, *w_hh = in[2].ptr<T>();
    T* dG = scratch<T>(1, d.L * d.N * G4);
    T *dh = out[1].ptr<T>(), *dc = out[2].ptr<T>();  // carried into each step; end as dh0, dc0
    std::fill(dh, dh + NH, T(0));
    std::fill(dc, dc + NH, T(0));
    const StepGemm<T> mm(w_hh, H, G4, false);
    over_rows(d.N, d.L * d.N * G4 * H, [&](int64_t n0, int64_t n1, bool par) {
      for (int64_t s = 0; s < d.L; ++s) {
        const int64_t t = d.rev ? s : d.L - 1 - s;
        step_rows(n0, n1, G4, par, [&](int64_t n) {
          const int64_t row = t * d.N + n, r = n * H;
          const T *g = gates + row * G4, *tc = tcb + row * H, *cp = cs + d.prev(t) * NH + r;
          const T *gh = gs + d.out(t) * NH + r, *gc = gcs + d.out(t) * NH + r;
          T *dhr = dh + r, *dcr = dc + r, *dg = dG + row * G4;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], th = tc[j];
            const T dhj = dhr[j] + gh[j];
            const T dcj = dcr[j] + gc[j] + dhj * o * (T(1) - th * th);
            dg[j] = dcj * gg * i * (T(1) - i);
            dg[H + j] = dcj * cp[j] * f * (T(1) - f);
            dg[2 * H + j] = dcj * i * (T(1) - gg * gg);
            dg[3 * H + j] = dhj * th * o * (T(1) - o);
            dcr[j] = dcj * f;
          }
        });
        mm(dG + (t * d.N + n0) * G4, dh + n0 * H, n1 - n0, par);
      }
    });
    for (int64_t j = 0; j < NH; ++j) {
      dh[j] += gs[d.h0_row() * NH + j];
      dc[j] += gcs[d.h0_row() * NH + j];
    }
    backward_weights<T>(d, dG, dG, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[3], out[4],
                        out[5], out[6]);
  });
}
// schema: lstm_backward(T x, T w_ih, T w_hh, T state, T gates, T tanh_c, T gstate, *, int reverse=0) -> (T dx, T dh0, T dc0, T dw_ih, T dw_hh, T db_ih, T db_hh)
GC_KERNEL("lstm_backward", 7, 7, lstm_backward);

// ---- gru: r = s(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise, hn = h W_hn^T + b_hn -------
//      n = tanh(x W_in^T + b_in + r * hn)    h' = (1 - z) n + z h
//      dn = dh' (1 - z)   dz = dh' (h - n)   dh = dh' z + dGh W_hh   dan = dn (1 - n^2)
//      input-side gate grads dGi = [dr r(1-r), dz z(1-z), dan] with dr = dan hn;
//      hidden-side dGh = [dr r(1-r), dz z(1-z), dan r]
// gates (L, N, 3H): activated r, z, n; hn (L, N, H): h W_hn^T + b_hn (saved for backward).
void gru_forward(Ins in, Outs out, Attrs at) {
  const char* op = "gru_forward";
  Dims d = dims(op, 3, in[0], in[2], in[3], at);
  check(op, "h0", in[1], in[0], {d.N, d.H}, true);
  check(op, "b_ih", in[4], in[0], {d.GH()}, true);
  check(op, "b_hh", in[5], in[0], {d.GH()}, true);
  check(op, "state", out[0], in[0], {d.L + 1, d.N, d.H});
  check(op, "gates", out[1], in[0], {d.L, d.N, d.GH()});
  check(op, "hn", out[2], in[0], {d.L, d.N, d.H});
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    T *hs = out[0].ptr<T>(), *gates = out[1].ptr<T>(), *hnb = out[2].ptr<T>();
    init_rows<T>(in[1], hs + d.h0_row() * d.NH(), d.NH());
    const T* bs = bias_sum<T>(d, in[4], in[5], true);
    const int64_t H = d.H, G3 = d.GH();
    const T* bhn = bs + G3;
    forward_frame<T>(d, in[0].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(), gates, hs,
                     [&](int64_t t, int64_t n, T* P) {
      const int64_t row = t * d.N + n, r = n * H;
      T *g = gates + row * G3, *hn = hnb + row * H;  // g holds x_t W_ih^T on entry
      const T* hp = hs + d.prev(t) * d.NH() + r;
      T* h = hs + d.out(t) * d.NH() + r;
#pragma omp simd
      for (int64_t j = 0; j < 2 * H; ++j) P[j] += g[j] + bs[j];
      vsigmoid(P, g, 2 * H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        hn[j] = P[2 * H + j] + bhn[j];
        P[j] = g[2 * H + j] + bs[2 * H + j] + g[j] * hn[j];
      }
      vtanh(P, g + 2 * H, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) h[j] = g[2 * H + j] + g[H + j] * (hp[j] - g[2 * H + j]);
    });
  });
}
// schema: gru_forward(T x, T h0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0) -> (T state, T gates, T hn)
GC_KERNEL("gru_forward", 6, 3, gru_forward);

void gru_backward(Ins in, Outs out, Attrs at) {
  const char* op = "gru_backward";
  Dims d = check_backward(op, 3, 1, in, in[3], in[6], out[0], out[1], out[2], out[3], out[4],
                          out[5], at);
  check(op, "gates", in[4], in[0], {d.L, d.N, d.GH()});
  check(op, "hn", in[5], in[0], {d.L, d.N, d.H});
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const int64_t H = d.H, NH = d.NH(), G3 = d.GH();
    const T *hs = in[3].ptr<T>(), *gates = in[4].ptr<T>(), *hnb = in[5].ptr<T>();
    const T *gs = in[6].ptr<T>(), *w_hh = in[2].ptr<T>();
    T* dGi = scratch<T>(1, d.L * d.N * G3);
    T* dGh = scratch<T>(3, d.L * d.N * G3);
    T* direct = scratch<T>(0, NH);  // dh' z: the part of dh that skips W_hh
    T* dh = out[1].ptr<T>();
    std::fill(dh, dh + NH, T(0));
    const StepGemm<T> mm(w_hh, H, G3, false);
    over_rows(d.N, d.L * d.N * G3 * H, [&](int64_t n0, int64_t n1, bool par) {
      for (int64_t s = 0; s < d.L; ++s) {
        const int64_t t = d.rev ? s : d.L - 1 - s;
        step_rows(n0, n1, G3, par, [&](int64_t n) {
          const int64_t row = t * d.N + n, r = n * H;
          const T *g = gates + row * G3, *hn = hnb + row * H, *hp = hs + d.prev(t) * NH + r;
          const T* gh = gs + d.out(t) * NH + r;
          T *gi = dGi + row * G3, *gw = dGh + row * G3, *dhr = dh + r, *dr = direct + r;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const T rr = g[j], z = g[H + j], nn = g[2 * H + j];
            const T dhj = dhr[j] + gh[j];
            const T dan = dhj * (T(1) - z) * (T(1) - nn * nn);
            const T dar = dan * hn[j] * rr * (T(1) - rr);
            const T daz = dhj * (hp[j] - nn) * z * (T(1) - z);
            gi[j] = gw[j] = dar;
            gi[H + j] = gw[H + j] = daz;
            gi[2 * H + j] = dan;
            gw[2 * H + j] = dan * rr;
            dr[j] = dhj * z;
          }
        });
        mm(dGh + (t * d.N + n0) * G3, dh + n0 * H, n1 - n0, par);
        for (int64_t j = n0 * H; j < n1 * H; ++j) dh[j] += direct[j];
      }
    });
    for (int64_t j = 0; j < NH; ++j) dh[j] += gs[d.h0_row() * NH + j];
    backward_weights<T>(d, dGi, dGh, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[2], out[3],
                        out[4], out[5]);
  });
}
// schema: gru_backward(T x, T w_ih, T w_hh, T state, T gates, T hn, T gstate, *, int reverse=0) -> (T dx, T dh0, T dw_ih, T dw_hh, T db_ih, T db_hh)
GC_KERNEL("gru_backward", 7, 6, gru_backward);

}  // namespace
}  // namespace gc
