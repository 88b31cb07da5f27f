// GEMM entry points for other kernel families (conv); defined in matmul.cpp for float and double.
// Row-major: A is stored (M, K), or (K, M) when ta, with row stride lda; B (K, N), or (N, K) when
// tb, with ldb; C (M, N) with ldc. float32 products big enough run on the AVX-512 sgemm.
#pragma once
#include <cstdint>

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

}  // namespace gc
