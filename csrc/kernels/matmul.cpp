// GEMM through Eigen maps over row-major gradcore buffers.
// ---- gemm --------------------------------------------------------------------------------
// C[b] = op(A[b]) @ op(B[b]),  op(X) = X or X^T (attrs transA, transB): the transposes are read
// in place by Eigen's packing, so dW = dY^T X costs no transpose copy.
// A: (bA, M, K) or (bA, K, M) if transA; B: (bB, K, N) or (bB, N, K) if transB; C: (b, M, N),
// with bA, bB in {1, b} (a batch of 1 is shared). 2-D operands are a batch of 1.
// Backward of C = A @ B: dA = dC @ B^T (gemm transB), dB = A^T @ dC (gemm transA).
#include <Eigen/Core>
#include "core/registry.h"

namespace gc {
namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Unaligned: batch slices (i * M * N elements) and user numpy arrays need not be 16-byte aligned.
template <class T> using CMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned>;
template <class T> using MMap = Eigen::Map<RowMat<T>, Eigen::Unaligned>;

struct Mat { int64_t b, r, c; };
Mat as_batch(const Buf& x) {
  if (x.ndim == 2) return {1, x.shape[0], x.shape[1]};
  return {x.shape[0], x.shape[1], x.shape[2]};
}

template <class T, class MA, class MB>
void product(MMap<T>& C, const MA& A, const MB& B) {
  if (A.cols() == 0) { C.setZero(); return; }
  C.noalias() = A * B;
}

void gemm(Ins in, Outs out, Attrs at) {
  const Buf &A = in[0], &B = in[1], &C = out[0];
  bool ta = at.size() > 0 && at[0] != 0, tb = at.size() > 1 && at[1] != 0;
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
    auto one = [&](int64_t i) {
      CMap<T> Am(A.ptr<T>() + (a.b == 1 ? 0 : i * a.r * a.c), a.r, a.c);
      CMap<T> Bm(B.ptr<T>() + (b.b == 1 ? 0 : i * b.r * b.c), b.r, b.c);
      MMap<T> Cm(C.ptr<T>() + i * M * N, M, N);
      if (!ta && !tb) product<T>(Cm, Am, Bm);
      else if (ta && !tb) product<T>(Cm, Am.transpose(), Bm);
      else if (!ta && tb) product<T>(Cm, Am, Bm.transpose());
      else product<T>(Cm, Am.transpose(), Bm.transpose());
    };
    // Small matrices in a big batch: parallel over the batch; otherwise Eigen's own threads.
    if (c.b > 1 && M * N * K < 64 * 64 * 64) {
#pragma omp parallel for if (c.b * M * N * K > 1 << 18)
      for (int64_t i = 0; i < c.b; ++i) one(i);
    } else {
      for (int64_t i = 0; i < c.b; ++i) one(i);
    }
  });
}
GC_KERNEL("gemm", 2, 1, gemm);

}  // namespace
}  // namespace gc
