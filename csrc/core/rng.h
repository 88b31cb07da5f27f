// Counter-based random numbers: element i of a draw is a pure function of (seed, offset + i),
// so results do not depend on the number of threads or the chunking. There is no global state
// in C++: every random kernel takes its generator's state as an in-place int64 input
// `gen = (seed, offset)` (the bits of two uint64) and advances the offset by the number of
// counters it used, so a recorded step replays with fresh draws and two gc.Generator objects
// in two threads never share anything.
#pragma once
#include <cstdint>
#include "core/view.h"

namespace gc {
// Reserve n counters of generator state `gen` (int64 (2,)): returns (seed, first counter).
struct Draw { uint64_t seed, base; };
Draw rng_reserve(const char* op, const Buf& gen, uint64_t n);

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline uint64_t rng_bits(uint64_t seed, uint64_t counter) {
  return splitmix64(splitmix64(seed) ^ (counter * 0xD1B54A32D192ED03ull));
}
// Uniform in [0, 1) with 53 random bits.
inline double rng_uniform(uint64_t seed, uint64_t counter) {
  return double(rng_bits(seed, counter) >> 11) * 0x1.0p-53;
}
}  // namespace gc
