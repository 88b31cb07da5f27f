// Convolution geometry shared by conv.cpp and its AVX-512 drivers (conv_avx512.h).
#pragma once
#include <vector>
#include <algorithm>
#include <cstdint>

namespace gc {
namespace conv {

inline constexpr int64_t kColBudget = int64_t(1) << 18;      // im2col tile: 1 MiB of float32
inline constexpr int64_t kConvParallelMin = int64_t(1) << 20; // multiply-adds below which one thread runs

struct Geo {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo;
  int64_t sh, sw, pt, pl, dh, dw, G;
  int64_t Cg, Og, K;  // per group: input channels, output channels, im2col rows Cg*kh*kw
  int64_t macs() const { return N * O * Ho * Wo * K; }
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && Ho == H && Wo == W;
  }
  int64_t tile_rows() const {
    return pointwise() ? std::max<int64_t>(Ho, 1)
                       : std::clamp<int64_t>(kColBudget / std::max<int64_t>(K * Wo, 1), 1, std::max<int64_t>(Ho, 1));
  }
};

// Valid output columns [lo, hi) for kernel column q: 0 <= j*sw - pl + q*dw < W.
struct Span { int64_t lo, hi, off; };
inline Span col_span(const Geo& g, int64_t q) {
  const int64_t off = q * g.dw - g.pl;
  int64_t lo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;
  int64_t hi = g.W - 1 - off >= 0 ? std::min(g.Wo, (g.W - 1 - off) / g.sw + 1) : 0;
  return {std::min(lo, hi), hi, off};
}

// col_span of every kernel column, computed once per call (its divisions cost more than the
// copy of a small image's row).
struct Spans {
  explicit Spans(const Geo& g) {
    if (g.kw > kLocal) heap.resize(size_t(g.kw));
    Span* s = g.kw > kLocal ? heap.data() : local;
    for (int64_t q = 0; q < g.kw; ++q) s[q] = col_span(g, q);
    p = s;
  }
  const Span& operator[](int64_t q) const { return p[q]; }
  static constexpr int64_t kLocal = 16;
  Span local[kLocal];
  std::vector<Span> heap;
  const Span* p;
};

}  // namespace conv
}  // namespace gc
