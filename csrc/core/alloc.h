// 64-byte aligned storage with a bounded cache of large blocks: a training step asks for the
// same buffer sizes every iteration, and glibc would mmap/munmap (and page-fault) them each time.
#pragma once
#include <cstddef>

namespace gc {
void* storage_alloc(size_t bytes);          // never returns null (throws std::bad_alloc)
void storage_free(void* p, size_t bytes);   // bytes must be what was asked for
size_t storage_cached_bytes();
void storage_empty_cache();
}  // namespace gc
