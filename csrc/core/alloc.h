// 64-byte aligned storage with a bounded cache of large blocks: a training step asks for the
// same buffer sizes every iteration, and glibc would mmap/munmap (and page-fault) them each time.
// Blocks of kMmapMin bytes and more are mapped directly (munmap gives them back to the OS at
// once); the cache holds at most cache_limit() bytes of free blocks (default: 1 GiB or 1/16 of
// physical memory, whichever is smaller; GRADCORE_CACHE_LIMIT overrides, 0 disables caching).
#pragma once
#include <cstddef>
#include <cstdint>

namespace gc {
// Never returns null: throws std::bad_alloc when the system refuses or `bytes` exceeds the
// machine's physical memory (the callers turn it into MemoryError naming the op and the size).
void* storage_alloc(size_t bytes);
void storage_free(void* p, size_t bytes);   // bytes must be what was asked for
size_t storage_cached_bytes();
void storage_empty_cache();                 // free every cached block (and trim malloc's heap)
struct StorageStats {
  size_t allocated, peak, cached, limit, n_alloc, n_cache_hits;
};
StorageStats storage_stats();
void storage_set_cache_limit(size_t bytes);  // shrinks the cache at once if it holds more
void storage_reset_peak();
}  // namespace gc
