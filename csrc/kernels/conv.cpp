// 2-D convolution (NCHW, stride, zero padding, dilation, groups) as im2col + GEMM.
//   x (N, C, H, W), w (O, C/G, kh, kw), b (O,), y (N, O, Ho, Wo),
//   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x[n, g*C/G + c, i*sh - pt + p*dh, j*sw - pl + q*dw]
//   (g = o's group; x is 0 outside [0, H) x [0, W)); Ho = (H + pt + pb - dh*(kh-1) - 1) / sh + 1.
// Per image n and group g, col[(c, p, q), (i, j)] = the x value above (im2col), so
//   forward       y[n, g]  = W_g (Og, K) @ col (K, Ho*Wo)               K = C/G * kh * kw
//   input grad    dcol     = W_g^T @ dy[n, g];  dx[n, g] = col2im(dcol)  (scatter-add)
//   weight grad   dW_g    += dy[n, g] @ col^T;  db[o] += sum over n, i, j of dy[n, o, i, j]
// ConvTranspose2d's forward is the input grad with its x as dy (conv2d_backward_input), its
// backward is conv2d forward (input) and the weight grad (weight), so it needs no kernel of its own.
// Work items are (image, group, tile of output rows): im2col of one tile is at most kColBudget
// elements in a per-thread scratch buffer reused across calls. With at least as many items as
// threads, threads take whole items (the weight grad sums per-thread partial dW at the end);
// otherwise items run in turn with the GEMM and im2col split across the threads.
// 1x1 stride-1 unpadded convolutions read x directly (no im2col). float32 on AVX-512 builds
// takes faster paths where they apply (conv_avx512.h): direct kernels for few input channels,
// implicit GEMM (no im2col written) for the forward and weight grad, and the stride-1 input grad
// as a direct convolution of dy; float64 (gradcheck) always runs the im2col path here.
#include <algorithm>
#include <atomic>
#include <new>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"
#include "kernels/conv.h"
#include "kernels/conv_avx512.h"
#include "kernels/conv_im2col.h"
#include "kernels/matmul.h"
#include "kernels/scratch.h"

namespace gc {
namespace {

using namespace conv;

int64_t iattr(Attrs at, size_t i, const char* op) { return int64_t(attr(at, i, op)); }

// Geometry from the input x, weight w and output y shapes and the attributes
// (stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dilation_h, dilation_w, groups).
// exact: y's spatial size must be the formula's; otherwise (gradients, transposed conv with
// output_padding) it may be smaller: the trailing outputs are absent.
Geo geometry(const char* op, const Buf& x, const Buf& w, const Buf& y, Attrs at, bool exact) {
  GC_CHECK(x.ndim == 4, op << ": input must be 4-D (N, C, H, W), got " << x.shape_str());
  GC_CHECK(w.ndim == 4, op << ": weight must be 4-D (out, in/groups, kh, kw), got " << w.shape_str());
  GC_CHECK(y.ndim == 4, op << ": output must be 4-D (N, out, Ho, Wo), got " << y.shape_str());
  Geo g{};
  g.N = x.shape[0]; g.C = x.shape[1]; g.H = x.shape[2]; g.W = x.shape[3];
  g.O = w.shape[0]; g.kh = w.shape[2]; g.kw = w.shape[3]; g.Ho = y.shape[2]; g.Wo = y.shape[3];
  g.sh = iattr(at, 0, op); g.sw = iattr(at, 1, op); g.pt = iattr(at, 2, op); g.pl = iattr(at, 3, op);
  const int64_t pb = iattr(at, 4, op), pr = iattr(at, 5, op);
  g.dh = iattr(at, 6, op); g.dw = iattr(at, 7, op); g.G = iattr(at, 8, op);
  GC_CHECK(g.sh >= 1 && g.sw >= 1, op << ": stride must be >= 1, got (" << g.sh << ", " << g.sw << ")");
  GC_CHECK(g.dh >= 1 && g.dw >= 1, op << ": dilation must be >= 1, got (" << g.dh << ", " << g.dw << ")");
  GC_CHECK(g.pt >= 0 && g.pl >= 0 && pb >= 0 && pr >= 0, op << ": padding must be >= 0, got (" << g.pt
           << ", " << g.pl << ", " << pb << ", " << pr << ")");
  GC_CHECK(g.G >= 1 && g.C % g.G == 0 && g.O % g.G == 0, op << ": groups=" << g.G << " must divide the "
           << g.C << " input channels of " << x.shape_str() << " and the " << g.O << " output channels of weight "
           << w.shape_str());
  GC_CHECK(w.shape[1] * g.G == g.C, op << ": weight " << w.shape_str() << " expects " << w.shape[1] * g.G
           << " input channels (in/groups=" << w.shape[1] << ", groups=" << g.G << "), input " << x.shape_str()
           << " has " << g.C);
  GC_CHECK(g.kh >= 1 && g.kw >= 1, op << ": empty kernel in weight " << w.shape_str());
  GC_CHECK(y.shape[0] == g.N && y.shape[1] == g.O, op << ": output " << y.shape_str() << " must be (N="
           << g.N << ", out=" << g.O << ", Ho, Wo) for input " << x.shape_str() << " and weight " << w.shape_str());
  const int64_t eh = g.H + g.pt + pb - g.dh * (g.kh - 1) - 1, ew = g.W + g.pl + pr - g.dw * (g.kw - 1) - 1;
  GC_CHECK(eh >= 0 && ew >= 0, op << ": input " << x.shape_str() << " padded by (" << g.pt << ", " << g.pl
           << ", " << pb << ", " << pr << ") is smaller than the dilated kernel (" << g.dh * (g.kh - 1) + 1
           << ", " << g.dw * (g.kw - 1) + 1 << ")");
  const int64_t Hf = eh / g.sh + 1, Wf = ew / g.sw + 1;
  GC_CHECK(exact ? g.Ho == Hf && g.Wo == Wf : g.Ho <= Hf && g.Wo <= Wf,
           op << ": output " << y.shape_str() << " does not fit input " << x.shape_str() << " and weight "
           << w.shape_str() << ": spatial size " << (exact ? "" : "at most ") << "(" << Hf << ", " << Wf
           << ") expected");
  g.Cg = g.C / g.G; g.Og = g.O / g.G; g.K = g.Cg * g.kh * g.kw;
  return g;
}

void check_dtypes(const char* op, std::initializer_list<const Buf*> bufs) {
  const Buf* first = *bufs.begin();
  for (const Buf* b : bufs) check_same_dtype(op, *first, *b);
}

void check_bias(const char* op, const Buf& b, int64_t O) {
  GC_CHECK(b.ndim == 1 && b.shape[0] == O, op << ": bias must have shape (" << O << ",), got " << b.shape_str());
}

int max_threads() {
#ifdef _OPENMP
  return ::gc::threads();
#else
  return 1;
#endif
}
int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Threads take whole items when there are enough of them and the work is big enough.
bool outer_parallel(int64_t items, int64_t macs) {
  const int nt = max_threads();
  return nt > 1 && items >= nt && macs >= kConvParallelMin;
}

// ---- forward -------------------------------------------------------------------------------
template <class T>
void conv_forward(const Geo& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  if (g.N == 0 || g.O == 0 || HoWo == 0) return;
  const bool pw = g.pointwise();
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (!pw && g.K > 0 && direct_forward_ok(g) && direct_forward(g, x, w, b, y)) return;
    if (!pw && g.K > 0 && implicit_forward_ok(g) && implicit_forward(g, x, w, b, y, true)) return;
  }
#endif
  const int64_t rows = g.tile_rows(), ntiles = (g.Ho + rows - 1) / rows, items = g.N * g.G * ntiles;
  const bool outer = outer_parallel(items, g.macs());
  std::atomic<bool> fail{false};
#pragma omp parallel if (outer) num_threads(::gc::threads())
  {
    T* col = pw ? nullptr : thread_scratch<T>(0, std::max<int64_t>(g.K * rows * g.Wo, 1));
    if (!pw && !col) fail = true;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      if (!pw && !col) continue;
      const int64_t n = it / (g.G * ntiles), gi = it / ntiles % g.G, tile = it % ntiles;
      const int64_t i0 = tile * rows, i1 = std::min(g.Ho, i0 + rows), cols = (i1 - i0) * g.Wo;
      const T* xg = x + (n * g.C + gi * g.Cg) * HW;
      T* yt = y + (n * g.O + gi * g.Og) * HoWo + i0 * g.Wo;
      const T* B = pw ? xg + i0 * g.Wo : col;
      if (!pw) im2col(g, xg, i0, i1, col, !outer);
      gemm_ld<T>(w + gi * g.Og * g.K, g.K, false, B, pw ? HW : cols, false, yt, HoWo, g.Og, cols,
                 g.K, false, !outer);
      if (b)
        for (int64_t o = 0; o < g.Og; ++o) {
          const T bo = b[gi * g.Og + o];
          T* r = yt + o * HoWo;
          for (int64_t j = 0; j < cols; ++j) r[j] += bo;
        }
    }
  }
  if (fail) throw std::bad_alloc();
}

void conv2d(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &w = in[1], &y = out[0];
  const Geo g = geometry("conv2d", x, w, y, at, true);
  check_dtypes("conv2d", {&x, &w, &y});
  if (in.size() == 3) { check_bias("conv2d", in[2], g.O); check_same_dtype("conv2d", x, in[2]); }
  float_dispatch(x.dtype, "conv2d", [&]<class T>() {
    conv_forward<T>(g, x.ptr<T>(), w.ptr<T>(), in.size() == 3 ? in[2].ptr<T>() : nullptr, y.ptr<T>());
  });
}
// Multiply-adds of every convolution kernel: one per (element of dy) x (weight row C/G*kh*kw);
// dy is y (forward), the first input (input grad, transposed conv, weight grad).
double conv_flops(const Buf& dy, const Buf& w) {
  return 2.0 * double(dy.numel()) * double(w.shape[1] * w.shape[2] * w.shape[3]);
}
double forward_flops(Ins in, Outs out, Attrs) { return conv_flops(out[0], in[1]); }
double input_grad_flops(Ins in, Outs, Attrs) { return conv_flops(in[0], in[1]); }
double weight_grad_flops(Ins in, Outs out, Attrs) { return conv_flops(in[0], out[0]); }

GC_KERNEL("conv2d(T x, T w, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> T y", conv2d, forward_flops);
GC_KERNEL("conv2d_bias(T x, T w, T b, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> T y", conv2d, forward_flops);

// ---- input gradient (= conv_transpose2d forward) -------------------------------------------
// Images with few pixels of dy: the per-image products below would have Ho*Wo columns (4 for a
// ConvTranspose2d of a 2x2 input: 3.8x torch's time), far too few for the GEMM. Instead, blocks
// of nb images: their dy planes packed side by side (Og, nb*Ho*Wo), ONE product per block and
// group, then col2im of each image's column range.
constexpr int64_t kSmallPlane = 64, kBlockCols = 256;

template <class T>
void input_grad_blocked(const Geo& g, const T* gy, const T* w, T* dx) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  const int64_t nb = std::clamp<int64_t>(kBlockCols / HoWo, 1, g.N);
  T* pack = thread_scratch<T>(0, size_t(g.Og * nb * HoWo));
  T* dcol = thread_scratch<T>(1, size_t(g.K * nb * HoWo));
  if (!pack || !dcol) throw std::bad_alloc();
  std::fill(dx, dx + g.N * g.C * HW, T(0));
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t m = std::min(nb, g.N - n0), cols = m * HoWo;
    for (int64_t gi = 0; gi < g.G; ++gi) {
      for (int64_t o = 0; o < g.Og; ++o)
        for (int64_t b = 0; b < m; ++b)
          std::copy_n(gy + ((n0 + b) * g.O + gi * g.Og + o) * HoWo, HoWo, pack + o * cols + b * HoWo);
      gemm_ld<T>(w + gi * g.Og * g.K, g.K, true, pack, cols, false, dcol, cols, g.K, cols, g.Og,
                 false, true);
      for (int64_t b = 0; b < m; ++b)
        col2im(g, dcol + b * HoWo, 0, g.Ho, dx + ((n0 + b) * g.C + gi * g.Cg) * HW, true, cols);
    }
  }
}

template <class T>
void conv_backward_input(const Geo& g, const T* gy, const T* w, T* dx) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  if (g.N == 0 || g.C == 0) return;
  if (g.O == 0 || HoWo == 0) { std::fill(dx, dx + g.N * g.C * HW, T(0)); return; }
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (!g.pointwise() && direct_input_ok(g) && direct_input_grad(g, gy, w, dx)) return;
  }
#endif
  const bool pw = g.pointwise(), outer = outer_parallel(g.N * g.G, g.macs());
  const int64_t rows = g.tile_rows(), ntiles = (g.Ho + rows - 1) / rows, items = g.N * g.G;
  if (!pw && ntiles == 1 && HoWo < kSmallPlane && g.N > 1) return input_grad_blocked(g, gy, w, dx);
  std::atomic<bool> fail{false};
#pragma omp parallel if (outer) num_threads(::gc::threads())
  {
    T* dcol = pw ? nullptr : thread_scratch<T>(1, std::max<int64_t>(g.K * rows * g.Wo, 1));
    if (!pw && !dcol) fail = true;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      if (!pw && !dcol) continue;
      const int64_t n = it / g.G, gi = it % g.G;
      T* dxg = dx + (n * g.C + gi * g.Cg) * HW;
      const T* gg = gy + (n * g.O + gi * g.Og) * HoWo;
      const T* wg = w + gi * g.Og * g.K;
      if (pw) {  // dx = W^T @ dy straight into the planes
        gemm_ld<T>(wg, g.K, true, gg, HoWo, false, dxg, HW, g.K, HoWo, g.Og, false, !outer);
        continue;
      }
      std::fill(dxg, dxg + g.Cg * HW, T(0));
      for (int64_t tile = 0; tile < ntiles; ++tile) {
        const int64_t i0 = tile * rows, i1 = std::min(g.Ho, i0 + rows), cols = (i1 - i0) * g.Wo;
        gemm_ld<T>(wg, g.K, true, gg + i0 * g.Wo, HoWo, false, dcol, cols, g.K, cols, g.Og, false, !outer);
        col2im(g, dcol, i0, i1, dxg, !outer);
      }
    }
  }
  if (fail) throw std::bad_alloc();
}

// in: dy (N, O, Ho, Wo), w; out: dx (N, C, H, W) whose shape the caller gives. Also the forward
// of conv_transpose2d (x as dy); its optional bias is added per output channel.
void conv2d_backward_input(Ins in, Outs out, Attrs at) {
  const char* op = in.size() == 3 ? "conv_transpose2d" : "conv2d_backward_input";
  const Buf &gy = in[0], &w = in[1], &dx = out[0];
  const Geo g = geometry(op, dx, w, gy, at, false);
  check_dtypes(op, {&gy, &w, &dx});
  if (in.size() == 3) { check_bias(op, in[2], g.C); check_same_dtype(op, gy, in[2]); }
  float_dispatch(gy.dtype, op, [&]<class T>() {
    T* d = dx.ptr<T>();
    conv_backward_input<T>(g, gy.ptr<T>(), w.ptr<T>(), d);
    if (in.size() == 3) {
      const T* b = in[2].ptr<T>();
      const int64_t HW = g.H * g.W;
      GC_PARALLEL_FOR(g.N * g.C * HW >= kParallelMin,
      for (int64_t nc = 0; nc < g.N * g.C; ++nc)
        for (int64_t j = 0; j < HW; ++j) d[nc * HW + j] += b[nc % g.C];);
    }
  });
}
GC_KERNEL("conv2d_backward_input(T g, T w, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> T dx", conv2d_backward_input, input_grad_flops);
GC_KERNEL("conv_transpose2d_bias(T x, T w, T b, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> T y", conv2d_backward_input, input_grad_flops);

// ---- weight (and bias) gradient ------------------------------------------------------------
// The implicit float32 weight grad runs per item on one thread: used when threads take whole
// items (or there is one thread), not when one item's GEMM is split across threads.
template <class T>
bool implicit_wgrad_for(const Geo& g, bool par) {
#ifdef __AVX512F__
  return std::is_same_v<T, float> && !g.pointwise() && implicit_wgrad_ok(g) && (!par || max_threads() == 1);
#else
  (void)g; (void)par;
  return false;
#endif
}

// dW_g += dy_tile (Og, cols) @ col^T (cols, K), summed over every image and tile; db[o] += row
// sums of dy. acc: (O, K) then (O,) for the bias.
template <class T>
void wgrad_item(const Geo& g, const T* gy, const T* x, int64_t it, int64_t rows, int64_t ntiles,
                T* col, T* acc, T* accb, bool par) {
  const int64_t HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  const int64_t n = it / (g.G * ntiles), gi = it / ntiles % g.G, tile = it % ntiles;
  const int64_t i0 = tile * rows, i1 = std::min(g.Ho, i0 + rows), cols = (i1 - i0) * g.Wo;
  const T* xg = x + (n * g.C + gi * g.Cg) * HW;
  const T* gt = gy + (n * g.O + gi * g.Og) * HoWo + i0 * g.Wo;
  const bool pw = g.pointwise();
  if (implicit_wgrad_for<T>(g, par)) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      const int64_t mrows = (g.Og + sgemm::kMr - 1) / sgemm::kMr * sgemm::kMr;
      if (direct_wgrad_ok(g)) direct_wgrad(g, gy, x, n, gi, i0, i1, acc);
      else
        for (int64_t r0 = i0 * g.Wo; r0 < i1 * g.Wo; r0 += sgemm::kKc) {
          const int64_t np = std::min(sgemm::kKc, i1 * g.Wo - r0);
          implicit_wgrad(g, gy, x, n, gi, r0, np, col, col + mrows * sgemm::kKc, acc);
        }
    }
#endif
  } else {
    if (!pw) im2col(g, xg, i0, i1, col, par);
    gemm_ld<T>(gt, HoWo, false, pw ? xg + i0 * g.Wo : col, pw ? HW : cols, true, acc + gi * g.Og * g.K,
               g.K, g.Og, g.K, cols, true, par);
  }
  if (accb)
    for (int64_t o = 0; o < g.Og; ++o) {
      const T* r = gt + o * HoWo;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < cols; ++j) s += r[j];
      accb[gi * g.Og + o] += T(s);
    }
}

template <class T>
void conv_backward_weight(const Geo& g, const T* gy, const T* x, T* dw, T* db) {
  const int64_t nw = g.O * g.K, nb = db ? g.O : 0;
  std::fill(dw, dw + nw, T(0));
  if (db) std::fill(db, db + nb, T(0));
  if (g.N == 0 || g.Ho * g.Wo == 0 || nw + nb == 0) return;
  const int64_t rows = g.tile_rows(), ntiles = (g.Ho + rows - 1) / rows, items = g.N * g.G * ntiles;
  const bool pw = g.pointwise(), outer = outer_parallel(items, g.macs());
  int64_t ncol = pw ? 1 : std::max<int64_t>(g.K * rows * g.Wo, 1);
#ifdef __AVX512F__
  if (implicit_wgrad_for<T>(g, !outer))  // packed dy panels + one packed tap panel
    ncol = ((g.Og + sgemm::kMr - 1) / sgemm::kMr * sgemm::kMr + 32) * sgemm::kKc;
#endif
  if (!outer) {  // items in turn, each GEMM across the threads
    T* col = thread_scratch<T>(0, ncol);
    if (!col) throw std::bad_alloc();
    for (int64_t it = 0; it < items; ++it) wgrad_item(g, gy, x, it, rows, ntiles, col, dw, db, true);
    return;
  }
  // Threads sum their items into private accumulators, then add those up.
  std::vector<T*> accs(max_threads(), nullptr);
  std::atomic<bool> fail{false};
#pragma omp parallel num_threads(::gc::threads())
  {
    const int t = thread_id(), nt = team_size();
    T* col = thread_scratch<T>(0, ncol);
    T* acc = thread_scratch<T>(2, nw + nb);
    if (!col || !acc) fail = true;
    else std::fill(acc, acc + nw + nb, T(0));
    accs[t] = acc;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it)
      if (col && acc) wgrad_item(g, gy, x, it, rows, ntiles, col, acc, db ? acc + nw : nullptr, false);
    // implicit barrier: every partial sum is complete
    if (!fail) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nw + nb; ++i) {
        T s = 0;
        for (int k = 0; k < nt; ++k) s += accs[k][i];
        (i < nw ? dw[i] : db[i - nw]) = s;
      }
    }
  }
  if (fail) throw std::bad_alloc();
}

// in: dy (N, O, Ho, Wo), x (N, C, H, W); out: dw (O, C/G, kh, kw)[, db (O,)].
void conv2d_backward_weight(Ins in, Outs out, Attrs at) {
  const char* op = "conv2d_backward_weight";
  const Buf &gy = in[0], &x = in[1], &dw = out[0];
  const Geo g = geometry(op, x, dw, gy, at, false);
  check_dtypes(op, {&gy, &x, &dw});
  if (out.size() == 2) { check_bias(op, out[1], g.O); check_same_dtype(op, gy, out[1]); }
  float_dispatch(gy.dtype, op, [&]<class T>() {
    conv_backward_weight<T>(g, gy.ptr<T>(), x.ptr<T>(), dw.ptr<T>(), out.size() == 2 ? out[1].ptr<T>() : nullptr);
  });
}
GC_KERNEL("conv2d_backward_weight(T g, T x, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> T dw", conv2d_backward_weight, weight_grad_flops);
GC_KERNEL("conv2d_backward_weight_bias(T g, T x, *, int stride_h, int stride_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int dilation_h, int dilation_w, int groups) -> (T dw, T db)", conv2d_backward_weight, weight_grad_flops);

}  // namespace
}  // namespace gc
