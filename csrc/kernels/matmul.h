// The project's GEMM for other kernel families (rnn.cpp calls it inside its time loop).
#pragma once
#include <cstdint>

namespace gc {

// C (M, N), row-major, overwritten = op(A) @ op(B): A is stored (M, K), or (K, M) when ta;
// B is stored (K, N), or (N, K) when tb; all three are contiguous. With `parallel` the product
// is split across the OpenMP threads when it is big enough (2M multiply-adds); call it with
// parallel = false from inside a parallel region.
template <class T>
void gemm_one(const T* A, const T* B, T* C, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
              bool parallel);
extern template void gemm_one<float>(const float*, const float*, float*, int64_t, int64_t,
                                     int64_t, bool, bool, bool);
extern template void gemm_one<double>(const double*, const double*, double*, int64_t, int64_t,
                                      int64_t, bool, bool, bool);

}  // namespace gc
