#include "core/threads.h"
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/check.h"

namespace gc {
thread_local int t_pinned = 0;

namespace {
std::atomic<int> g_threads{0};
std::atomic<bool> g_forked{false};
std::atomic<bool> g_adaptive{true};

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
    if (const char* e = std::getenv("GRADCORE_ADAPTIVE_THREADS")) g_adaptive.store(e[0] != '0');
    pthread_atfork(nullptr, nullptr, on_fork_child);
  }
} g_init;

// ---- the shared-cores check (see threads.h) ----------------------------------------------
constexpr int64_t kWindowMs = 100, kMinHoldMs = 200, kMaxHoldMs = 5000;
// Involuntary switches per second and thread: 2 threads on 2 quiet cores ~17, beside one busy
// process ~100 (~35 with one thread).
constexpr double kSwitchesPerSec = 50;
// A window is judged only after the first second of kernel calls (a fresh process was preempted
// 10-20 times while importing, which read as "shared" and halved a 2-thread sgemm for its first
// 0.2-0.8 s), when kernels ran through it (checked again within kStaleMs), and on at least
// kMinSwitches switches.
constexpr int64_t kStaleMs = 3 * kWindowMs, kWarmupMs = 1000;
constexpr long kMinSwitches = 8;
// Two windows in a row must be over the rate: on quiet cores about 1 window in 80 is (a lone
// burst), beside a busy process every one is.
constexpr int kStrikes = 2;

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
long involuntary_switches() {
  rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_nivcsw : 0;
}

struct Monitor {
  std::mutex mu;
  std::atomic<bool> shared{false};
  std::atomic<int64_t> next_ms{0};  // when to look again
  int64_t window_start = 0, hold = kMinHoldMs;
  long switches = 0;
  int strikes = 0;       // consecutive windows over the rate
  int64_t first_ms = 0;  // the first check (warm-up: import and set-up are not judged)
  bool probing = false;  // the window running now is parallel again after a hold
} g_mon;

bool check_shared(int n) {
  Monitor& m = g_mon;
  const int64_t now = now_ms();
  if (now < m.next_ms.load(std::memory_order_relaxed)) return m.shared.load(std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(m.mu, std::try_to_lock);
  if (!lock.owns_lock() || now < m.next_ms.load()) return m.shared.load();
  const long sw = involuntary_switches();
  if (m.first_ms == 0) m.first_ms = now;
  if (m.shared.load()) {  // a hold ended: run parallel for one window and measure
    m.shared.store(false);
    m.probing = true;
  } else if (m.window_start > 0 && now > m.window_start && now - m.window_start <= kStaleMs &&
             now - m.first_ms >= kWarmupMs) {
    // (a window left open while no kernel ran, e.g. across an import, says nothing: restart it)
    const long count = sw - m.switches;
    const double rate = double(count) * 1000.0 / double(now - m.window_start) / n;
    const bool bad = count >= kMinSwitches && rate > kSwitchesPerSec;
    m.strikes = bad ? m.strikes + 1 : 0;
    if (m.strikes >= kStrikes) {
      m.strikes = 0;
      m.hold = m.probing ? std::min(2 * m.hold, kMaxHoldMs) : kMinHoldMs;
      m.shared.store(true);
      m.next_ms.store(now + m.hold);
      m.window_start = 0;
      m.probing = false;
      return true;
    }
    if (bad) {  // one bad window: look once more before deciding (probing stays as it is)
      m.window_start = now;
      m.switches = sw;
      m.next_ms.store(now + kWindowMs);
      return false;
    }
    if (m.probing) m.hold = kMinHoldMs;
    m.probing = false;
  }
  m.window_start = now;
  m.switches = sw;
  m.next_ms.store(now + kWindowMs);
  return false;
}

int current() {
  if (g_forked.load(std::memory_order_relaxed)) return 1;
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n == 1 || !g_adaptive.load(std::memory_order_relaxed)) return n;
  return check_shared(n) ? std::max(1, n / 2) : n;  // shared: half the threads (2 -> 1)
}
}  // namespace

int threads() {
  if (t_pinned > 0) return t_pinned;
  const int n = current();
  if (t_pinned < 0) t_pinned = n;  // the first question of this kernel call fixes the answer
  return n;
}
int configured_threads() { return g_threads.load(); }
void set_threads(int n) {
  GC_CHECK(n >= 1 && n <= 4096, "set_num_threads: n must be >= 1 (and at most 4096), got " << n);
  g_threads.store(n);
}
bool forked_child() { return g_forked.load(); }
bool cores_shared() { return g_mon.shared.load(); }
void set_adaptive_threads(bool on) {
  g_adaptive.store(on);
  if (!on) g_mon.shared.store(false);
}
bool adaptive_threads() { return g_adaptive.load(); }

}  // namespace gc
