// Random kernels: uniform, normal (Box-Muller, one sample per counter), bernoulli masks.
#include "core/threads.h"
#include "core/rng.h"
#include <cmath>
#include "core/registry.h"

namespace gc {

RngState& rng_state() { static RngState s{67280421310721ull, 0}; return s; }
void manual_seed(uint64_t seed) { rng_state() = {seed, 0}; }
uint64_t rng_reserve(uint64_t n) { uint64_t b = rng_state().offset; rng_state().offset += n; return b; }

namespace {

// out = lo + (hi - lo) * U[0, 1)           attrs: lo, hi
void uniform_fill(Ins, Outs out, Attrs a) {
  const Buf& y = out[0];
  double lo = attr(a, 0, "uniform"), hi = attr(a, 1, "uniform");
  int64_t n = y.numel(); uint64_t seed = rng_state().seed, base = rng_reserve(n);
  float_dispatch(y.dtype, "uniform", [&]<class T>() {
    T* p = y.ptr<T>();
#pragma omp parallel for if (n > 65536) num_threads(::gc::threads())
    for (int64_t i = 0; i < n; ++i) p[i] = T(lo + (hi - lo) * rng_uniform(seed, base + i));
  });
}

// out = mean + std * N(0, 1)               attrs: mean, std
void normal_fill(Ins, Outs out, Attrs a) {
  const Buf& y = out[0];
  double mean = attr(a, 0, "normal"), sd = attr(a, 1, "normal");
  int64_t n = y.numel(); uint64_t seed = rng_state().seed, base = rng_reserve(n);
  float_dispatch(y.dtype, "normal", [&]<class T>() {
    T* p = y.ptr<T>();
#pragma omp parallel for if (n > 65536) num_threads(::gc::threads())
    for (int64_t i = 0; i < n; ++i) {
      uint64_t h = rng_bits(seed, base + i);
      double u1 = (double((h >> 32)) + 1.0) * 0x1.0p-32;      // (0, 1]
      double u2 = double(h & 0xffffffffull) * 0x1.0p-32;       // [0, 1)
      p[i] = T(mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    }
  });
}

// out = (U < keep) / keep   (an inverted-dropout mask; keep = 1 - p)    attrs: keep
void dropout_mask(Ins, Outs out, Attrs a) {
  const Buf& y = out[0];
  double keep = attr(a, 0, "dropout_mask");
  int64_t n = y.numel(); uint64_t seed = rng_state().seed, base = rng_reserve(n);
  float_dispatch(y.dtype, "dropout_mask", [&]<class T>() {
    T* p = y.ptr<T>(); T scale = keep > 0 ? T(1.0 / keep) : T(0);
#pragma omp parallel for if (n > 65536) num_threads(::gc::threads())
    for (int64_t i = 0; i < n; ++i) p[i] = rng_uniform(seed, base + i) < keep ? scale : T(0);
  });
}

// out[i] = floor(U * n) as int64, a uniform integer in [0, n)     attrs: n
void randint_fill(Ins, Outs out, Attrs a) {
  const Buf& y = out[0];
  GC_TYPE_CHECK(y.dtype == DType::i64, "randint: output must be int64");
  double hi = attr(a, 0, "randint");
  int64_t n = y.numel(); uint64_t seed = rng_state().seed, base = rng_reserve(n);
  int64_t* p = y.ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = int64_t(rng_uniform(seed, base + i) * hi);
}

GC_KERNEL("uniform(*, float low, float high) -> float out", uniform_fill);
GC_KERNEL("normal(*, float mean, float std) -> float out", normal_fill);
GC_KERNEL("dropout_mask(*, float keep) -> float out", dropout_mask);
GC_KERNEL("randint(*, float high) -> i64 out", randint_fill);

}  // namespace
}  // namespace gc
