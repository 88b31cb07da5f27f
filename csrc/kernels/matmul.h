// GEMM entry points for other kernel families (conv); defined in matmul.cpp for float and double.
// Row-major: A is stored (M, K), or (K, M) when ta, with row stride lda; B (K, N), or (N, K) when
// tb, with ldb; C (M, N) with ldc. float32 products big enough run on the AVX-512 sgemm.
#pragma once
#include <cstdint>
#include <functional>

namespace gc {

// C = op(A) @ op(B), or C += op(A) @ op(B) when accumulate. With parallel (and outside an OpenMP
// region) a big product is split by row or column blocks across the threads.
template <class T>
void gemm_ld(const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, bool tb, T* C,
             int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate, bool parallel);

// Dense operands (lda, ldb, ldc = their row lengths), C overwritten.
template <class T>
void gemm_one(const T* A, const T* B, T* C, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
              bool parallel);

// C = op(A) @ B and C2 = op(A) @ B2 in one product over [B | B2] (B (K, N1), B2 (K, N2), both
// row-major and untransposed; C (M, N1), C2 (M, N2)), split by rows across the threads: A is
// packed once for both. Each thread then runs rows_done(r0, r1) on its rows (the recurrent
// layers sum their bias gradients there, over the columns of A it has just packed). Returns
// false, doing nothing, where that path does not apply (not float32 on AVX-512, N1 not a
// multiple of 32, N1 + N2 over one B block, a small product).
template <class T>
bool gemm_cat(const T* A, int64_t lda, bool ta, const T* B, int64_t ldb, int64_t N1, const T* B2,
              int64_t ldb2, int64_t N2, T* C, int64_t ldc, T* C2, int64_t ldc2, int64_t M, int64_t K,
              const std::function<void(int64_t, int64_t)>& rows_done = {});

}  // namespace gc
