// Recurrent layers: one kernel runs a whole sequence forward for one layer and direction, one
// runs it backward (Elman RNN tanh/relu, LSTM, GRU; torch's equations and gate order).
//
// Forward: Xp = X @ W_ih^T for all L steps is ONE gemm (L*N, I) x (I, G*H); then per step
// h_prev @ W_hh^T followed by one fused pass over the rows for the cell math. float32 on
// AVX-512 (LSTM, RNN) folds the projection into each step's product instead:
// x_t W_ih^T + h_prev W_hh^T in one register tile (rnn.h, forward_frame).
// Backward through time: per step one fused pass producing the gate gradients dG[t] and the
// product dh_prev = dG[t] @ W_hh. dW_ih = dG^T X, dW_hh = dG^T H_prev and the biases' gradients
// (column sums of dG): float32 on AVX-512 adds them group by group of steps inside the time
// loop (rnn_weights.h, StepWeights); elsewhere ONE gemm each over all L*N rows at the end, as
// is dx = dG @ W_ih.
// Batch rows never mix inside the recurrence, so each thread runs the whole time loop on its
// own block of rows: no barrier per step (a 2-core machine pays milliseconds for one when a
// thread is descheduled). The per-step product runs over W_hh's 32-column panels (StepGemm:
// packed once per call, or W_hh itself when its rows already have that layout).
//
// Layouts (time order, also for reverse = 1, which runs t = L-1 .. 0):
//   x (L, N, I); weights (G*H, I) and (G*H, H); biases (G*H,) or empty (no bias);
//   h0, c0 (N, H) or empty (zeros).
//   state (L+1, N, H) hidden states: forward row 0 = h0, row t+1 = h_t; reverse row L = h0,
//   row t = h_t. So the outputs are rows [1, L+1) (reverse [0, L)), h_n is row L (reverse 0) and
//   the states each step reads, H_prev, are the L rows starting at 0 (reverse 1): contiguous.
//   LSTM state (2(L+1), N, H): hidden rows as above, then the cell rows in the same layout.
//   gstate: the gradient of state (outputs, h_n and c_n summed by the engine).
// Optional outputs: dx may be empty (input needs no gradient), db_ih/db_hh empty (no bias),
// dh0 and dc0 empty (no initial state, or it needs no gradient: the last step's product into
// dh is skipped).
#include "kernels/rnn.h"

namespace gc {
namespace {

using namespace gc::rnn;

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
                     hs, true, in[1].numel() == 0, [&](int64_t t, int64_t n, T* P, bool fused) {
      T* h = hs + d.out(t) * d.NH() + n * H;
      if (fused) {  // P holds x_t W_ih^T too
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) P[j] += bs[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) P[j] += h[j] + bs[j];
      }
      if (relu) for (int64_t j = 0; j < H; ++j) h[j] = P[j] > T(0) || P[j] != P[j] ? P[j] : T(0);
      else vtanh(P, h, H);
    });
  });
}
GC_KERNEL("rnn_forward(T x, T h0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0, int relu=0) -> T state", rnn_forward);

void rnn_backward(Ins in, Outs out, Attrs at) {
  const char* op = "rnn_backward";
  Dims d = check_backward(op, 1, 1, in, in[3], in[4], out[0], out[1], out[2], out[3], out[4],
                          out[5], at);
  const bool relu = at.size() > 1 && at[1] != 0;
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const T *hs = in[3].ptr<T>(), *gs = in[4].ptr<T>(), *w_hh = in[2].ptr<T>();
    const int64_t H = d.H, NH = d.NH();
    Block<T> dA_(d.L * NH);
    T* dA = dA_.p;
    Carry<T> dh0(out[1], NH);
    T* carry = dh0.p;  // dh flowing into the step being processed; ends as dh0
    const StepGemm<T> mm(w_hh, H, H, false);
    StepWeights<T> sw(d, dA, dA, in[0].ptr<T>(), hs, out[2], out[3], out[4], out[5]);
    backward_frame<T>(d, d.L * NH * H, sw, dh0.out, [&](auto t, auto n0, auto n1, bool par) {
      const T *h = hs + d.out(t) * NH, *g = gs + d.out(t) * NH;
      T* da = dA + t * NH;
      step_rows(n0, n1, H, par, [&](int64_t n) {
        for (int64_t j = n * H; j < (n + 1) * H; ++j) {
          const T dh = carry[j] + g[j];
          da[j] = relu ? (h[j] <= T(0) ? T(0) : dh) : dh * (T(1) - h[j] * h[j]);
        }
      });
    }, [&](auto t, auto n0, auto n1, bool par) {
      mm(dA + t * NH + n0 * H, carry + n0 * H, n1 - n0, par);
    });
    const T* g0 = gs + d.h0_row() * NH;
    if (dh0.out) for (int64_t j = 0; j < NH; ++j) carry[j] += g0[j];
    backward_weights<T>(d, dA, dA, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[2], out[3],
                        out[4], out[5], sw.on);
  });
}
GC_KERNEL("rnn_backward(T x, T w_ih, T w_hh, T state, T gstate, *, int reverse=0, int relu=0) -> (T dx, T dh0, T dw_ih, T dw_hh, T db_ih, T db_hh)", rnn_backward);

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
    forward_frame<T>(d, in[0].ptr<T>(), in[3].ptr<T>(), in[4].ptr<T>(), gates, hs, true,
                     in[1].numel() == 0, [&](int64_t t, int64_t n, T* P, bool fused) {
      const int64_t row = t * d.N + n, r = n * H;
      T* g = gates + row * G4;  // holds x_t W_ih^T on entry (unless fused: P holds it)
      T* tc = tcb + row * H;
      const T* cp = cs + d.prev(t) * d.NH() + r;
      T *c = cs + d.out(t) * d.NH() + r, *h = hs + d.out(t) * d.NH() + r;
#ifdef __AVX512F__
      if constexpr (std::is_same_v<T, float>) {
        vmath::lstm_cell(P, fused ? nullptr : g, g, bs, cp, c, tc, h, H);
        return;
      }
#endif
      (void)fused;  // only the AVX-512 float32 path fuses
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
GC_KERNEL("lstm_forward(T x, T h0, T c0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0) -> (T state, T gates, T tanh_c)", lstm_forward);

void lstm_backward(Ins in, Outs out, Attrs at) {
  const char* op = "lstm_backward";
  Dims d = check_backward(op, 4, 2, in, in[3], in[6], out[0], out[1], out[3], out[4], out[5],
                          out[6], at);
  check(op, "gates", in[4], in[0], {d.L, d.N, d.GH()});
  check(op, "tanh_c", in[5], in[0], {d.L, d.N, d.H});
  check(op, "dc0", out[2], in[0], {d.N, d.H}, true);
  float_dispatch(in[0].dtype, op, [&]<class T>() {
    const int64_t H = d.H, NH = d.NH(), G4 = d.GH(), C0 = (d.L + 1) * NH;
    const T *hs = in[3].ptr<T>(), *cs = hs + C0, *gates = in[4].ptr<T>(), *tcb = in[5].ptr<T>();
    const T *gs = in[6].ptr<T>(), *gcs = gs + C0, *w_hh = in[2].ptr<T>();
    Block<T> dG_(d.L * d.N * G4);
    T* dG = dG_.p;
    Carry<T> dh0(out[1], NH), dc0(out[2], NH);
    T *dh = dh0.p, *dc = dc0.p;  // carried into each step; end as dh0, dc0
    const StepGemm<T> mm(w_hh, H, G4, false);
    StepWeights<T> sw(d, dG, dG, in[0].ptr<T>(), hs, out[3], out[4], out[5], out[6]);
    backward_frame<T>(d, d.L * d.N * G4 * H, sw, dh0.out, [&](auto t, auto n0, auto n1, bool par) {
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
    }, [&](auto t, auto n0, auto n1, bool par) {
      mm(dG + (t * d.N + n0) * G4, dh + n0 * H, n1 - n0, par);
    });
    if (dh0.out) for (int64_t j = 0; j < NH; ++j) dh[j] += gs[d.h0_row() * NH + j];
    if (dc0.out) for (int64_t j = 0; j < NH; ++j) dc[j] += gcs[d.h0_row() * NH + j];
    backward_weights<T>(d, dG, dG, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[3], out[4],
                        out[5], out[6], sw.on);
  });
}
GC_KERNEL("lstm_backward(T x, T w_ih, T w_hh, T state, T gates, T tanh_c, T gstate, *, int reverse=0) -> (T dx, T dh0, T dc0, T dw_ih, T dw_hh, T db_ih, T db_hh)", lstm_backward);

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
    forward_frame<T>(d, in[0].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(), gates, hs, false,
                     in[1].numel() == 0, [&](int64_t t, int64_t n, T* P, bool) {
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
GC_KERNEL("gru_forward(T x, T h0, T w_ih, T w_hh, T b_ih, T b_hh, *, int reverse=0) -> (T state, T gates, T hn)", gru_forward);

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
    Block<T> dGi_(d.L * d.N * G3), dGh_(d.L * d.N * G3), direct_(NH);
    T *dGi = dGi_.p, *dGh = dGh_.p;
    T* direct = direct_.p;  // dh' z: the part of dh that skips W_hh
    Carry<T> dh0(out[1], NH);
    T* dh = dh0.p;
    const StepGemm<T> mm(w_hh, H, G3, false);
    StepWeights<T> sw(d, dGi, dGh, in[0].ptr<T>(), hs, out[2], out[3], out[4], out[5]);
    backward_frame<T>(d, d.L * d.N * G3 * H, sw, dh0.out, [&](auto t, auto n0, auto n1, bool par) {
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
    }, [&](auto t, auto n0, auto n1, bool par) {
      mm(dGh + (t * d.N + n0) * G3, dh + n0 * H, n1 - n0, par);
      for (int64_t i = n0 * H; i < n1 * H; ++i) dh[i] += direct[i];
    });
    if (dh0.out) for (int64_t j = 0; j < NH; ++j) dh[j] += gs[d.h0_row() * NH + j];
    backward_weights<T>(d, dGi, dGh, in[0].ptr<T>(), in[1].ptr<T>(), hs, out[0], out[2], out[3],
                        out[4], out[5], sw.on);
  });
}
GC_KERNEL("gru_backward(T x, T w_ih, T w_hh, T state, T gates, T hn, T gstate, *, int reverse=0) -> (T dx, T dh0, T dw_ih, T dw_hh, T db_ih, T db_hh)", gru_backward);

}  // namespace
}  // namespace gc
