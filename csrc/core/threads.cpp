#include "core/threads.h"
#include <pthread.h>
#include <atomic>
#include <cstdlib>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/check.h"

namespace gc {
namespace {
std::atomic<int> g_threads{0};
std::atomic<bool> g_forked{false};

void on_fork_child() { g_forked.store(true); }

int initial_threads() {
  if (const char* e = std::getenv("GRADCORE_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(e, &end, 10);
    if (end != e && *end == '\0' && n >= 1 && n <= 4096) return int(n);
  }
#ifdef _OPENMP
  return omp_get_max_threads();  // read, never written: OMP_NUM_THREADS or the core count
#else
  return 1;
#endif
}

struct Init {
  Init() {
    g_threads.store(initial_threads());
    pthread_atfork(nullptr, nullptr, on_fork_child);
  }
} g_init;
}  // namespace

int threads() { return g_forked.load(std::memory_order_relaxed) ? 1 : g_threads.load(std::memory_order_relaxed); }
int configured_threads() { return g_threads.load(); }
void set_threads(int n) {
  GC_CHECK(n >= 1 && n <= 4096, "set_num_threads: n must be >= 1 (and at most 4096), got " << n);
  g_threads.store(n);
}
bool forked_child() { return g_forked.load(); }
}  // namespace gc
