// Per-thread scratch buffers for kernels that need workspace (im2col columns, partial sums):
// grown on demand, 64-byte aligned, never shrunk, so a training loop allocates only on its first
// steps. Safe inside OpenMP regions: an allocation failure returns nullptr instead of throwing.
#pragma once
#include <cstddef>
#include <cstdlib>

namespace gc {

// Slot `slot` (0..3) of this thread's buffers for element type T, at least n elements.
template <class T>
T* thread_scratch(int slot, size_t n) {
  struct Slot {
    T* p = nullptr;
    size_t n = 0;
    ~Slot() { std::free(p); }
  };
  static thread_local Slot slots[4];
  Slot& s = slots[slot];
  if (s.n < n) {
    std::free(s.p);
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    s.p = static_cast<T*>(std::aligned_alloc(64, bytes));
    s.n = s.p ? n : 0;
  }
  return s.p;
}

}  // namespace gc
