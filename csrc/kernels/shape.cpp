// Data-movement kernels for shape ops. A strided view (offset, strides in elements) over a
// contiguous buffer describes permute/transpose, basic slicing and cat's destination slots.
// ---- strided_copy: out[i] = x[offset + sum_j i_j * strides_j]      attrs: offset, strides...
// ---- strided_put:  out[offset + sum_j i_j * strides_j] (+)= src[i]  attrs: add, offset, strides...
// ---- index_select0 / index_add0: gather rows x[idx] / scatter-add rows (duplicates add up).
#include <cstring>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

struct Strided { int64_t offset; int64_t st[kMaxDims]; };
Strided read_strided(const char* op, Attrs at, size_t first, const Buf& view, const Buf& base) {
  GC_CHECK(at.size() == first + 1 + size_t(view.ndim), op << ": expected offset and " << view.ndim << " strides");
  Strided s; s.offset = int64_t(at[first]);
  int64_t lo = s.offset, hi = s.offset, n = base.numel();
  for (int j = 0; j < view.ndim; ++j) {
    s.st[j] = int64_t(at[first + 1 + j]);
    if (view.shape[j] == 0) return s;  // empty view touches nothing
    int64_t span = s.st[j] * (view.shape[j] - 1);
    (span < 0 ? lo : hi) += span;
  }
  GC_CHECK(view.numel() == 0 || (lo >= 0 && hi < n), op << ": view " << view.shape_str()
           << " reaches outside its buffer of " << n << " elements");
  return s;
}

// Visit every index of `shape` in C order, calling f(linear_index, strided_offset).
template <class F> void for_strided(const Buf& view, const Strided& s, F f) {
  int64_t n = view.numel();
  if (n == 0) return;
  int nd = view.ndim;
  if (nd == 0) { f(0, s.offset); return; }
  int64_t inner = view.shape[nd - 1], ist = s.st[nd - 1], outer = n / inner;
  GC_PARALLEL_FOR(n >= kParallelMin,
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = s.offset, rem = r;
    for (int j = nd - 2; j >= 0; --j) { off += (rem % view.shape[j]) * s.st[j]; rem /= view.shape[j]; }
    for (int64_t i = 0; i < inner; ++i) f(r * inner + i, off + i * ist);
  });
}

// A copy that moves the source's unit-stride axis p away from the last axis (a transpose or
// permute) reads one element per cache line and, on a big matrix, one page per element: the
// plain walk took 69 ms for a 4096 x 4096 float32 transpose
// (torch 51 ms, numpy 131 ms; tiled 19 ms). Copy the (p, last) plane in square
// tiles instead, so each tile reads and writes a few lines of a few pages. Returns false (and
// copies nothing) for other layouts and small planes.
constexpr int64_t kTile = 32;
template <class T> bool tiled_copy(const T* x, T* y, const Buf& view, const Strided& s) {
  const int nd = view.ndim;
  // An empty view: read_strided stopped at its zero-size axis and left later strides unset.
  if (nd < 2 || view.numel() == 0 || s.st[nd - 1] == 1) return false;
  int p = -1;
  for (int j = nd - 2; j >= 0; --j)
    if (s.st[j] == 1 && view.shape[j] > 1) { p = j; break; }
  const int64_t J = view.shape[nd - 1];
  if (p < 0 || view.shape[p] < kTile || J < kTile) return false;
  const int64_t P = view.shape[p], jst = s.st[nd - 1], n = view.numel();
  int64_t cst[kMaxDims];  // the output's C-order strides
  cst[nd - 1] = 1;
  for (int j = nd - 2; j >= 0; --j) cst[j] = cst[j + 1] * view.shape[j + 1];
  const int64_t outer = n / (P * J), ptiles = (P + kTile - 1) / kTile;
  GC_PARALLEL_FOR(n >= kParallelMin,
  for (int64_t w = 0; w < outer * ptiles; ++w) {
    int64_t so = s.offset, yo = 0, rem = w / ptiles;
    for (int j = nd - 2; j >= 0; --j) {  // the multi-index of the axes other than p and last
      if (j == p) continue;
      const int64_t i = rem % view.shape[j];
      rem /= view.shape[j];
      so += i * s.st[j];
      yo += i * cst[j];
    }
    const int64_t p0 = w % ptiles * kTile, p1 = std::min(P, p0 + kTile);
    for (int64_t j0 = 0; j0 < J; j0 += kTile) {
      const int64_t j1 = std::min(J, j0 + kTile);
      // The next tile's source lines: each is a different row, which no hardware prefetcher
      // follows (4096^2 float32: 28 -> 19 ms).
      for (int64_t j = j1; j < std::min(J, j1 + kTile); ++j) __builtin_prefetch(x + so + p0 + j * jst);
      for (int64_t i = p0; i < p1; ++i)
        for (int64_t j = j0; j < j1; ++j) y[yo + i * cst[p] + j] = x[so + i + j * jst];
    }
  });
  return true;
}

void strided_copy(Ins in, Outs out, Attrs at) {
  check_same_dtype("strided_copy", in[0], out[0]);
  Strided s = read_strided("strided_copy", at, 0, out[0], in[0]);
  any_dispatch(in[0].dtype, [&]<class T>() {
    const T* x = in[0].ptr<T>(); T* y = out[0].ptr<T>();
    if (tiled_copy<T>(x, y, out[0], s)) return;
    for_strided(out[0], s, [&](int64_t i, int64_t o) { y[i] = x[o]; });
  });
}
GC_KERNEL("strided_copy(A x, *, int offset, int[] strides) -> A y", strided_copy);
GC_NOALIAS("strided_copy");

// out is read and written; with add=1 overlapping positions accumulate (serially).
void strided_put(Ins in, Outs out, Attrs at) {
  check_same_dtype("strided_put", in[0], out[0]);
  bool add = attr(at, 0, "strided_put") != 0;
  Strided s = read_strided("strided_put", at, 1, in[0], out[0]);
  any_dispatch(in[0].dtype, [&]<class T>() {
    const T* x = in[0].ptr<T>(); T* y = out[0].ptr<T>();
    if constexpr (std::is_same_v<T, bool>) { for_strided(in[0], s, [&](int64_t i, int64_t o) { y[o] = x[i]; }); }
    else if (add) {
      int64_t n = in[0].numel(); int nd = in[0].ndim; int64_t idx[kMaxDims] = {};
      for (int64_t i = 0; i < n; ++i) {  // serial: views may overlap
        int64_t o = s.offset;
        for (int j = 0; j < nd; ++j) o += idx[j] * s.st[j];
        y[o] += x[i];
        for (int j = nd - 1; j >= 0 && ++idx[j] == in[0].shape[j]; --j) idx[j] = 0;
      }
    } else {
      for_strided(in[0], s, [&](int64_t i, int64_t o) { y[o] = x[i]; });
    }
  });
}
GC_KERNEL("strided_put(A src, *, int add, int offset, int[] strides) -> A out", strided_put);
GC_NOALIAS("strided_put");

// out[r] = x[idx[r]] for rows along dim 0 (x: (N, ...), idx: int64 any shape, out: idx.shape + x.shape[1:])
void index_select0(Ins in, Outs out, Attrs) {
  const Buf &x = in[0], &idx = in[1];
  GC_TYPE_CHECK(idx.dtype == DType::i64, "index: indices must be int64, got " << dtype_name(idx.dtype));
  GC_CHECK(x.ndim >= 1, "index: cannot index a 0-d tensor");
  int64_t N = x.shape[0], row = 1, n = idx.numel();
  for (int d = 1; d < x.ndim; ++d) row *= x.shape[d];
  GC_CHECK(out[0].numel() == n * row, "index: output size mismatch");
  check_same_dtype("index", x, out[0]);
  const int64_t* ip = idx.ptr<int64_t>();
  for (int64_t r = 0; r < n; ++r)
    GC_CHECK(ip[r] >= -N && ip[r] < N, "index: index " << ip[r] << " is out of bounds for dim 0 with size " << N);
  size_t bytes = size_t(row) * dtype_size(x.dtype);
  const char* xp = static_cast<const char*>(x.data); char* yp = static_cast<char*>(out[0].data);
  GC_PARALLEL_FOR(n * row >= kParallelMin,
  for (int64_t r = 0; r < n; ++r) {
    int64_t k = ip[r] < 0 ? ip[r] + N : ip[r];
    std::memcpy(yp + r * bytes, xp + k * bytes, bytes);
  });
}
GC_KERNEL("index_select0(A x, i64 index) -> A y", index_select0);
GC_NOALIAS("index_select0");

// dx = zeros; dx[idx[r]] += g[r]                      ins: g, idx      out: dx (N, ...)
void index_add0(Ins in, Outs out, Attrs) {
  const Buf &g = in[0], &idx = in[1], &dx = out[0];
  GC_TYPE_CHECK(idx.dtype == DType::i64, "index_add: indices must be int64");
  check_same_dtype("index_add", g, dx);
  int64_t N = dx.shape[0], n = idx.numel(), row = 1;
  for (int d = 1; d < dx.ndim; ++d) row *= dx.shape[d];
  GC_CHECK(g.numel() == n * row, "index_add: gradient size mismatch");
  const int64_t* ip = idx.ptr<int64_t>();
  float_dispatch(g.dtype, "index_add", [&]<class T>() {
    const T* gp = g.ptr<T>(); T* d = dx.ptr<T>();
    std::fill(d, d + dx.numel(), T(0));
    for (int64_t r = 0; r < n; ++r) {
      int64_t k = ip[r] < 0 ? ip[r] + N : ip[r];
      GC_CHECK(k >= 0 && k < N, "index_add: index " << ip[r] << " out of bounds for size " << N);
      T* dr = d + k * row; const T* gr = gp + r * row;
      for (int64_t j = 0; j < row; ++j) dr[j] += gr[j];
    }
  });
}
GC_KERNEL("index_add0(T g, i64 index) -> T grad", index_add0);
GC_NOALIAS("index_add0");

}  // namespace
}  // namespace gc
