// One global counter-based generator: element i of a draw is a pure function of
// (seed, offset + i), so results do not depend on the number of threads or the chunking.
#pragma once
#include <cstdint>

namespace gc {
struct RngState { uint64_t seed; uint64_t offset; };
RngState& rng_state();
void manual_seed(uint64_t seed);
// Reserve n counters and return the first: the caller fills element i from counter base + i.
uint64_t rng_reserve(uint64_t n);

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
