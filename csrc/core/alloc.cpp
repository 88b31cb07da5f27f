#include "core/alloc.h"
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace gc {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = 32 * 1024;          // smaller blocks: malloc's own bins are fine
constexpr size_t kCacheMax = size_t(2) << 30;    // never hold more than 2 GiB of free blocks
std::mutex mu;
std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
size_t cached = 0;

size_t round_size(size_t bytes) {
  if (bytes < kCacheMin) return (bytes + kAlign - 1) / kAlign * kAlign;
  // Round large sizes to 1/8 of their power of two so near-equal sizes share blocks.
  size_t p = 1; while (p < bytes) p <<= 1;
  size_t q = p / 8; return (bytes + q - 1) / q * q;
}
}  // namespace

void* storage_alloc(size_t bytes) {
  size_t n = round_size(bytes == 0 ? kAlign : bytes);
  if (n >= kCacheMin) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = free_blocks.find(n);
    if (it != free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back(); it->second.pop_back(); cached -= n; return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, n);
  if (!p) throw std::bad_alloc();
  return p;
}

void storage_free(void* p, size_t bytes) {
  if (!p) return;
  size_t n = round_size(bytes == 0 ? kAlign : bytes);
  if (n >= kCacheMin) {
    std::lock_guard<std::mutex> lock(mu);
    if (cached + n <= kCacheMax) { free_blocks[n].push_back(p); cached += n; return; }
  }
  std::free(p);
}

size_t storage_cached_bytes() { std::lock_guard<std::mutex> lock(mu); return cached; }

void storage_empty_cache() {
  std::lock_guard<std::mutex> lock(mu);
  for (auto& [n, v] : free_blocks) for (void* p : v) std::free(p);
  free_blocks.clear(); cached = 0;
}

}  // namespace gc
