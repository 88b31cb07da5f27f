// Random kernels: uniform, normal (Box-Muller, one sample per counter), bernoulli masks,
// integers; each reads and advances its generator state `gen` (core/rng.h).
#include "core/threads.h"
#include "core/rng.h"
#include <cmath>
#include "core/registry.h"

namespace gc {

Draw rng_reserve(const char* op, const Buf& gen, uint64_t n) {
  GC_TYPE_CHECK(gen.dtype == DType::i64, op << ": generator state must be int64, got " << dtype_name(gen.dtype));
  GC_CHECK(gen.numel() == 2, op << ": generator state must have 2 elements (seed, offset), got " << gen.shape_str());
  uint64_t* s = static_cast<uint64_t*>(gen.data);
  Draw d{s[0], s[1]};
  s[1] += n;
  return d;
}

namespace {

// out = lo + (hi - lo) * U[0, 1)           attrs: lo, hi
void uniform_fill(Ins in, Outs out, Attrs a) {
  const Buf& y = out[0];
  double lo = attr(a, 0, "uniform"), hi = attr(a, 1, "uniform");
  int64_t n = y.numel(); auto [seed, base] = rng_reserve("uniform", in[0], uint64_t(n));
  float_dispatch(y.dtype, "uniform", [&]<class T>() {
    T* p = y.ptr<T>();
    GC_PARALLEL_FOR(n > 65536,
    for (int64_t i = 0; i < n; ++i) p[i] = T(lo + (hi - lo) * rng_uniform(seed, base + i)););
  });
}

// out = mean + std * N(0, 1)               attrs: mean, std
void normal_fill(Ins in, Outs out, Attrs a) {
  const Buf& y = out[0];
  double mean = attr(a, 0, "normal"), sd = attr(a, 1, "normal");
  int64_t n = y.numel(); auto [seed, base] = rng_reserve("normal", in[0], uint64_t(n));
  float_dispatch(y.dtype, "normal", [&]<class T>() {
    T* p = y.ptr<T>();
    GC_PARALLEL_FOR(n > 65536,
    for (int64_t i = 0; i < n; ++i) {
      uint64_t h = rng_bits(seed, base + i);
      double u1 = (double((h >> 32)) + 1.0) * 0x1.0p-32;      // (0, 1]
      double u2 = double(h & 0xffffffffull) * 0x1.0p-32;       // [0, 1)
      p[i] = T(mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
    });
  });
}

// out = (U < keep) / keep   (an inverted-dropout mask; keep = 1 - p)    attrs: keep
void dropout_mask(Ins in, Outs out, Attrs a) {
  const Buf& y = out[0];
  double keep = attr(a, 0, "dropout_mask");
  GC_CHECK(keep >= 0 && keep <= 1, "dropout_mask: keep must be in [0, 1], got " << keep);
  int64_t n = y.numel(); auto [seed, base] = rng_reserve("dropout_mask", in[0], uint64_t(n));
  float_dispatch(y.dtype, "dropout_mask", [&]<class T>() {
    T* p = y.ptr<T>(); T scale = keep > 0 ? T(1.0 / keep) : T(0);
    GC_PARALLEL_FOR(n > 65536,
    for (int64_t i = 0; i < n; ++i) p[i] = rng_uniform(seed, base + i) < keep ? scale : T(0););
  });
}

// out[i] = floor(U * n) as int64, a uniform integer in [0, n)     attrs: n
void randint_fill(Ins in, Outs out, Attrs a) {
  const Buf& y = out[0];
  GC_TYPE_CHECK(y.dtype == DType::i64, "randint: output must be int64");
  double hi = attr(a, 0, "randint");
  GC_CHECK(hi >= 1 && hi <= 9007199254740992.0, "randint: high must be in [1, 2^53], got " << hi);
  int64_t n = y.numel(); auto [seed, base] = rng_reserve("randint", in[0], uint64_t(n));
  int64_t* p = y.ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = int64_t(rng_uniform(seed, base + i) * hi);
}

GC_KERNEL("uniform(i64! gen, *, float low, float high) -> float out", uniform_fill);
GC_KERNEL("normal(i64! gen, *, float mean, float std) -> float out", normal_fill);
GC_KERNEL("dropout_mask(i64! gen, *, float keep) -> float out", dropout_mask);
GC_KERNEL("randint(i64! gen, *, float high) -> i64 out", randint_fill);

}  // namespace
}  // namespace gc
