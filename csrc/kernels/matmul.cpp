// GEMM through Eigen maps over row-major gradcore buffers.
// ---- gemm --------------------------------------------------------------------------------
// C[b] = op(A[b]) @ op(B[b]),  op(X) = X or X^T (attrs transA, transB): the transposes are read
// in place by Eigen's packing, so dW = dY^T X costs no transpose copy.
// A: (bA, M, K) or (bA, K, M) if transA; B: (bB, K, N) or (bB, N, K) if transB; C: (b, M, N),
// with bA, bB in {1, b} (a batch of 1 is shared). 2-D operands are a batch of 1.
// Backward of C = A @ B: dA = dC @ B^T (gemm transB), dB = A^T @ dC (gemm transA).
#include <algorithm>
#include <type_traits>
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/matmul.h"
#include "kernels/sgemm_avx512.h"

namespace gc {
namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Unaligned, strided: batch slices and user arrays need not be aligned, and each thread's block
// is a window into the full matrices.
using Stride = Eigen::OuterStride<>;
template <class T> using CMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Stride>;
template <class T> using MMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Stride>;

struct Mat { int64_t b, r, c; };
Mat as_batch(const Buf& x) {
  if (x.ndim == 2) return {1, x.shape[0], x.shape[1]};
  return {x.shape[0], x.shape[1], x.shape[2]};
}

// Below this many multiply-adds a gemm runs on one thread (a parallel region costs more).
constexpr int64_t kGemmParallelMin = int64_t(1) << 21;

// float32 products at least this big run on the AVX-512 kernel of sgemm_avx512.h. Measured
// against Eigen at 2 threads: 1024^3 314 -> 367 GFLOP/s, 256x4096x4096 (A @ B^T) 297 -> 320;
// single-threaded it wins from 40x64x40 up. Thin N (< 64) stays on Eigen: packing A for one
// 32-column panel costs as much as the product (1024x32x1024: 0.86x Eigen).
template <class T>
bool use_sgemm(int64_t M, int64_t N, int64_t K) {
#ifdef __AVX512F__
  return std::is_same_v<T, float> && M >= 12 && N >= 64 && K >= 16 && M * N * K >= (int64_t(1) << 16);
#else
  (void)M; (void)N; (void)K;
  return false;
#endif
}

// C[r0:r1, c0:c1] (+)= op(A)[r0:r1, :] @ op(B)[:, c0:c1] on the calling thread. A is stored
// (M, K), or (K, M) when ta, with row stride lda; B (K, N), or (N, K) when tb, with ldb; C (M, N)
// with ldc.
template <class T>
void block(const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, bool tb, T* C, int64_t ldc,
           int64_t M, int64_t N, int64_t K, bool acc, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int64_t m = r1 - r0, n = c1 - c0;
  if (m <= 0 || n <= 0) return;
  MMap<T> Cm(C + r0 * ldc + c0, m, n, Stride(ldc));
  if (K == 0) { if (!acc) Cm.setZero(); return; }
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (use_sgemm<T>(M, N, K) &&
        sgemm::gemm(ta ? A + r0 : A + r0 * lda, lda, ta, tb ? B + c0 * ldb : B + c0, ldb, tb,
                    C + r0 * ldc + c0, ldc, m, n, K, acc))
      return;
  }
#endif
  CMap<T> An(A + r0 * lda, m, K, Stride(lda));        // rows of A
  CMap<T> At(A + r0, K, m, Stride(lda));              // columns of stored A: op(A) rows
  CMap<T> Bn(B + c0, K, n, Stride(ldb));              // columns of B
  CMap<T> Bt(B + c0 * ldb, n, K, Stride(ldb));        // rows of stored B: op(B) columns
  if (acc) {
    if (!ta && !tb) Cm.noalias() += An * Bn;
    else if (ta && !tb) Cm.noalias() += At.transpose() * Bn;
    else if (!ta && tb) Cm.noalias() += An * Bt.transpose();
    else Cm.noalias() += At.transpose() * Bt.transpose();
  } else {
    if (!ta && !tb) Cm.noalias() = An * Bn;
    else if (ta && !tb) Cm.noalias() = At.transpose() * Bn;
    else if (!ta && tb) Cm.noalias() = An * Bt.transpose();
    else Cm.noalias() = At.transpose() * Bt.transpose();
  }
}

}  // namespace

// One gemm, split across the OpenMP threads by row or column blocks:
// each thread runs Eigen's single-threaded kernel on its block. Measured faster than Eigen's
// own parallel gemm (which shares packing between threads) on the 2-core dev machines.
template <class T>
void gemm_ld(const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, bool tb, T* C,
             int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate, bool parallel) {
#ifdef _OPENMP
  const int nt = parallel && !omp_in_parallel() ? ::gc::threads() : 1;
#else
  const int nt = 1; (void)parallel;
#endif
  if (nt == 1 || M * N * K < kGemmParallelMin || (M < 16 * nt && N < 16 * nt)) {
    block(A, lda, ta, B, ldb, tb, C, ldc, M, N, K, accumulate, 0, M, 0, N);
    return;
  }
  // Split the larger of M and N: each thread then packs only its share of the bigger operand
  // (a row split of 256x4096 @ 4096x4096 made both threads pack all of B: 248 vs 300 GFLOP/s).
  const bool rows = M >= N ? M >= 16 * nt : N < 16 * nt;
  const int64_t D = rows ? M : N;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), nth = omp_get_num_threads();
    // Block edges on multiples of the micro-kernel's panel (Eigen 16, sgemm 32 columns) keep its
    // panels full; rounded to the nearest multiple (flooring to 48 split 256 rows 96/160). sgemm
    // rows split on multiples of 4, since it runs 4- and 8-row edge panels at full rate: 256 rows
    // go 128/128 (10 panels of 12 and one of 8 each), not 132/124 (a 6% longer first thread).
    const int64_t g = !use_sgemm<T>(M, N, K) ? 16 : rows ? 4 : 32;
    auto edge = [&](int64_t i) { return i == nth ? D : std::min(D, (D * i / nth + g / 2) / g * g); };
    const int64_t e0 = edge(t), e1 = edge(t + 1);
    if (rows) block(A, lda, ta, B, ldb, tb, C, ldc, M, N, K, accumulate, e0, e1, 0, N);
    else block(A, lda, ta, B, ldb, tb, C, ldc, M, N, K, accumulate, 0, M, e0, e1);
  }
}

template <class T>
void gemm_one(const T* A, const T* B, T* C, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
              bool parallel) {
  gemm_ld(A, ta ? M : K, ta, B, tb ? K : N, tb, C, N, M, N, K, false, parallel);
}

template void gemm_ld<float>(const float*, int64_t, bool, const float*, int64_t, bool, float*,
                             int64_t, int64_t, int64_t, int64_t, bool, bool);
template void gemm_ld<double>(const double*, int64_t, bool, const double*, int64_t, bool, double*,
                              int64_t, int64_t, int64_t, int64_t, bool, bool);
template void gemm_one<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool,
                              bool, bool);
template void gemm_one<double>(const double*, const double*, double*, int64_t, int64_t, int64_t,
                               bool, bool, bool);

namespace {

void gemm(Ins in, Outs out, Attrs at) {
  const Buf &A = in[0], &B = in[1], &C = out[0];
  const bool ta = at[0] != 0, tb = at[1] != 0;
  GC_CHECK((A.ndim == 2 || A.ndim == 3) && (B.ndim == 2 || B.ndim == 3) && (C.ndim == 2 || C.ndim == 3),
           "matmul: kernel takes 2-D or 3-D operands, got " << A.shape_str() << " @ " << B.shape_str());
  check_same_dtype("matmul", A, B);
  check_same_dtype("matmul", A, C);
  Mat a = as_batch(A), b = as_batch(B), c = as_batch(C);
  int64_t M = ta ? a.c : a.r, K = ta ? a.r : a.c, Kb = tb ? b.c : b.r, N = tb ? b.r : b.c;
  GC_CHECK(K == Kb, "matmul: " << A.shape_str() << (ta ? "^T" : "") << " @ " << B.shape_str()
                                << (tb ? "^T" : "") << ": inner dimensions " << K << " and " << Kb << " differ");
  GC_CHECK(c.r == M && c.c == N && (a.b == c.b || a.b == 1) && (b.b == c.b || b.b == 1),
           "matmul: output " << C.shape_str() << " does not fit " << A.shape_str() << " @ " << B.shape_str());
  float_dispatch(A.dtype, "matmul", [&]<class T>() {
    auto one = [&](int64_t i, bool parallel) {
      gemm_one<T>(A.ptr<T>() + (a.b == 1 ? 0 : i * a.r * a.c), B.ptr<T>() + (b.b == 1 ? 0 : i * b.r * b.c),
                  C.ptr<T>() + i * M * N, M, N, K, ta, tb, parallel);
    };
    // Small matrices in a big batch: parallel over the batch; otherwise within each gemm.
    if (c.b > 1 && M * N * K < 64 * kGemmParallelMin) {
      GC_PARALLEL_FOR(c.b * M * N * K >= kGemmParallelMin,
      for (int64_t i = 0; i < c.b; ++i) one(i, false););
    } else {
      for (int64_t i = 0; i < c.b; ++i) one(i, true);
    }
  });
}
// 2*M*N*K per product: M*N*K from C's elements and the reduced extent of A.
double gemm_flops(Ins in, Outs out, Attrs at) {
  const Buf& A = in[0];
  const int64_t K = at[0] != 0 ? A.shape[A.ndim - 2] : A.shape[A.ndim - 1];
  return 2.0 * double(out[0].numel()) * double(K);
}
GC_KERNEL("gemm(T a, T b, *, int trans_a=0, int trans_b=0) -> T c", gemm, gemm_flops);
GC_NOALIAS("gemm");

}  // namespace
}  // namespace gc
