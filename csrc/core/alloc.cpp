#include "core/alloc.h"
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace gc {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = 32 * 1024;   // smaller blocks: malloc's own bins are fine
constexpr size_t kMmapMin = 256 * 1024;   // mapped directly, so freeing returns the pages
// Blocks this big ask for transparent huge pages (where the kernel's THP mode is "madvise", as
// numpy does for its arrays): a walk across the rows of a big matrix (a transpose, a gemm's
// packing) otherwise misses the TLB on nearly every row.
constexpr size_t kHugeMin = 4 * 1024 * 1024;
std::mutex mu;                                     // guards free_blocks and cached
std::map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
size_t cached = 0;
// Counters are atomics so that small blocks (most calls of a small model) never take the lock.
std::atomic<size_t> allocated{0}, peak{0}, n_alloc{0}, n_hits{0};

// Small blocks (64-byte size classes up to kSmallMax) also keep a short free list per thread,
// outside the lock and the byte cache: an eager step on 8 x 8 tensors allocates and frees a few
// hundred of them, and glibc's aligned-allocation path (_int_memalign, free, consolidation) was
// 13% of the tiny chain's time. At most kSmallBytes per thread; GRADCORE_CACHE_LIMIT=0 turns
// it off with the rest of the cache; a thread's blocks go back to malloc when it exits.
constexpr size_t kSmallMax = 4096, kSmallBytes = 1 << 20;
// small_state: 0 not built yet, 1 alive, 2 destroyed at thread exit (a storage freed after that,
// by another thread-local's destructor, goes straight to free()).
thread_local int small_state = 0;
struct SmallCache {
  std::vector<void*> lists[kSmallMax / kAlign + 1];  // index: size / kAlign
  size_t bytes = 0;
  SmallCache() { small_state = 1; }
  void clear() {
    for (auto& v : lists) { for (void* p : v) std::free(p); v.clear(); }
    bytes = 0;
  }
  ~SmallCache() { clear(); small_state = 2; }
};
SmallCache* small() {
  if (small_state == 2) return nullptr;
  static thread_local SmallCache c;
  return &c;
}

void count_alloc(size_t n) {
  size_t now = allocated.fetch_add(n, std::memory_order_relaxed) + n;
  size_t p = peak.load(std::memory_order_relaxed);
  while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {}
}

size_t phys_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(1) << 40;
}
size_t default_limit() {
  if (const char* e = std::getenv("GRADCORE_CACHE_LIMIT")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(e, &end, 10);
    if (end != e) {
      if (*end == 'K' || *end == 'k') v <<= 10;
      else if (*end == 'M' || *end == 'm') v <<= 20;
      else if (*end == 'G' || *end == 'g') v <<= 30;
      return size_t(v);
    }
  }
  size_t p = phys_bytes() / 16, g = size_t(1) << 30;
  return p < g ? p : g;
}
size_t limit = default_limit();
#ifdef GC_SANITIZE
constexpr bool kSanitized = true;   // every free reaches ASan, which then catches use-after-free
#else
constexpr bool kSanitized = false;
#endif
std::atomic<bool> small_on{limit > 0 && !kSanitized};   // small blocks are cached (SmallCache)
const size_t max_bytes = phys_bytes();

size_t round_size(size_t bytes) {
  if (bytes < kCacheMin) return (bytes + kAlign - 1) / kAlign * kAlign;
  // Round large sizes to 1/8 of their power of two so near-equal sizes share blocks.
  size_t p = 1; while (p < bytes) p <<= 1;
  size_t q = p / 8; return (bytes + q - 1) / q * q;
}

void* sys_alloc(size_t n) {
  if (n >= kMmapMin) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    if (n >= kHugeMin) madvise(p, n, MADV_HUGEPAGE);  // advice only: a refusal is harmless
#endif
    return p;
  }
  return std::aligned_alloc(kAlign, n);
}
void sys_free(void* p, size_t n) {
  if (n >= kMmapMin) munmap(p, n);
  else std::free(p);
}
void shrink_to(size_t target) {  // mu held
  for (auto it = free_blocks.begin(); cached > target && it != free_blocks.end();) {
    auto& v = it->second;
    while (cached > target && !v.empty()) { sys_free(v.back(), it->first); v.pop_back(); cached -= it->first; }
    it = v.empty() ? free_blocks.erase(it) : std::next(it);
  }
}
}  // namespace

void* storage_alloc(size_t bytes) {
  if (bytes > max_bytes) throw std::bad_alloc();  // more than the machine has
  size_t n = round_size(bytes == 0 ? kAlign : bytes);
  n_alloc.fetch_add(1, std::memory_order_relaxed);
  SmallCache* c = n <= kSmallMax ? small() : nullptr;
  if (c) {
    auto& v = c->lists[n / kAlign];
    if (!v.empty()) {
      void* p = v.back();
      v.pop_back();
      c->bytes -= n;
      n_hits.fetch_add(1, std::memory_order_relaxed);
      count_alloc(n);
      return p;
    }
  }
  if (n >= kCacheMin) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = free_blocks.find(n);
    if (it != free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back(); it->second.pop_back(); cached -= n;
      n_hits.fetch_add(1, std::memory_order_relaxed);
      count_alloc(n);
      return p;
    }
  }
  void* p = sys_alloc(n);
  if (!p) {  // the cache may hold what the system lacks: give it back and retry once
    storage_empty_cache();
    p = sys_alloc(n);
    if (!p) throw std::bad_alloc();
  }
  count_alloc(n);
  return p;
}

void storage_free(void* p, size_t bytes) {
  if (!p) return;
  size_t n = round_size(bytes == 0 ? kAlign : bytes);
  allocated.fetch_sub(n, std::memory_order_relaxed);
  if (n <= kSmallMax && small_on.load(std::memory_order_relaxed)) {
    SmallCache* c = small();
    if (c && c->bytes + n <= kSmallBytes) { c->lists[n / kAlign].push_back(p); c->bytes += n; return; }
  }
  if (n >= kCacheMin) {
    std::lock_guard<std::mutex> lock(mu);
    if (cached + n <= limit) { free_blocks[n].push_back(p); cached += n; return; }
  }
  sys_free(p, n);
}

size_t storage_cached_bytes() { std::lock_guard<std::mutex> lock(mu); return cached; }

void storage_empty_cache() {
  {
    std::lock_guard<std::mutex> lock(mu);
    shrink_to(0);
    free_blocks.clear();
  }
  if (SmallCache* c = small()) c->clear();  // this thread's (another's go when it exits)
  malloc_trim(0);
}

StorageStats storage_stats() {
  std::lock_guard<std::mutex> lock(mu);
  return {allocated.load(), peak.load(), cached, limit, n_alloc.load(), n_hits.load()};
}
void storage_set_cache_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu);
  limit = bytes;
  shrink_to(limit);
  small_on.store(bytes > 0 && !kSanitized, std::memory_order_relaxed);
  if (SmallCache* c = small(); c && bytes == 0) c->clear();
}
void storage_reset_peak() { peak.store(allocated.load()); }

}  // namespace gc
