// stats kernels: multi-tensor statistics for gradient monitoring (gc.diagnostics).
//
// grad_stats(out, tensors...; mode): ONE call over every gradient of a model. `out` is a float64
// (n, 5) tensor, one row per tensor tuple:
//   [sum g^2, max|g|, #non-finite g, sum (p - prev)^2, sum p^2]
// mode 0: tuples (g)           -> columns 0-2 (3-4 are NaN)
// mode 1: tuples (g, p, prev)  -> all columns, then prev = p (the snapshot the next call's
//                                 update norm |dp| is measured against)
// mode 2: tuples (p, prev)     -> columns 3-4 (0-2 are NaN), then prev = p
// max|g| is NaN when g holds a NaN, inf when it holds an inf (and no NaN). Sums are taken in
// double over fixed 16K-element chunks, summed in chunk order: the result does not depend on
// the thread count. Tensors may mix float32 and float64.
#include <cmath>
#include <limits>
#include <vector>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

constexpr int64_t kChunk = 16384;
// A memory-bound pass: a second thread gains little below a few million elements, and on a
// busy machine a parallel region can wait milliseconds for a descheduled thread (measured:
// 670K float32 gradients took 0.3 ms serial, up to 12 ms with 2 threads under load).
constexpr int64_t kStatsParallelMin = int64_t(1) << 22;
constexpr int kCols = 5;
struct Chunk { int64_t t, b, e; };
struct Part { double sq, mx, nf, dsq, psq; };

// `omp simd reduction` lets the compiler reassociate the sums (a strict serial FP sum does
// not vectorize without -ffast-math); the accumulators are double, so float32 sums of
// squares stay accurate to ~1e-15 relative.

// Statistics of g[b, e); a second, scalar pass counts non-finite values only when the first
// found some (the sum of squares is then non-finite).
template <class T> void g_part(const T* __restrict g, int64_t b, int64_t e, Part& r) {
  double sq = 0;
  T mx = 0;
#pragma omp simd reduction(+ : sq) reduction(max : mx)
  for (int64_t i = b; i < e; ++i) {
    const T x = g[i];
    sq += double(x) * double(x);
    mx = std::max(mx, std::abs(x));
  }
  double m = double(mx);
  double nf = 0;
  if (!std::isfinite(sq)) {
    bool nan = false;
    for (int64_t k = b; k < e; ++k) {
      const T x = g[k];
      if (!std::isfinite(x)) { nf += 1; nan |= std::isnan(x); }
    }
    if (nf) m = nan ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  }
  r.sq = sq; r.mx = m; r.nf = nf;
}

// |p - prev|^2 and |p|^2 over [b, e), then prev = p (one pass).
template <class T> void p_part(const T* __restrict p, T* __restrict prev, int64_t b, int64_t e, Part& r) {
  double dsq = 0, psq = 0;
#pragma omp simd reduction(+ : dsq, psq)
  for (int64_t i = b; i < e; ++i) {
    const double x = double(p[i]), d = x - double(prev[i]);
    dsq += d * d;
    psq += x * x;
    prev[i] = p[i];
  }
  r.dsq = dsq; r.psq = psq;
}

void grad_stats(Ins in, Outs, Attrs at) {
  const char* op = "grad_stats";
  const int mode = int(attr(at, 0, op));
  GC_CHECK(mode >= 0 && mode <= 2, op << ": mode must be 0, 1 or 2, got " << mode);
  const int k = mode == 0 ? 1 : mode == 1 ? 3 : 2;
  GC_CHECK(in.size() >= 1, op << ": needs the float64 (n, 5) output first");
  const Buf& out = in[0];
  Ins ts = in.subspan(1);
  GC_CHECK(ts.size() % k == 0, op << ": mode " << mode << " takes tuples of " << k
           << " tensors, got " << ts.size());
  const int64_t n = int64_t(ts.size()) / k;
  GC_TYPE_CHECK(out.dtype == DType::f64, op << ": out must be float64, got " << dtype_name(out.dtype));
  GC_CHECK(out.ndim == 2 && out.shape[0] == n && out.shape[1] == kCols,
           op << ": out must have shape (" << n << ", " << kCols << "), got " << out.shape_str());
  const int gi = mode == 2 ? -1 : 0, pi = mode == 0 ? -1 : mode == 1 ? 1 : 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int s = 0; s < k; ++s) {
      const Buf& b = ts[t * k + s];
      GC_TYPE_CHECK(b.dtype == DType::f32 || b.dtype == DType::f64, op << ": tensor #" << t
                    << " slot " << s << " must be float32 or float64, got " << dtype_name(b.dtype));
    }
    if (pi >= 0) {
      const Buf& p = ts[t * k + pi];
      const Buf& q = ts[t * k + pi + 1];
      check_same_dtype(op, p, q); check_same_shape(op, p, q);
      if (gi >= 0)
        GC_CHECK(ts[t * k].numel() == p.numel(), op << ": tensor #" << t << ": grad has shape "
                 << ts[t * k].shape_str() << " but the param has shape " << p.shape_str());
    }
  }
  // Chunk list over the tuples; one partial per chunk, combined in order below.
  // thread_local scratch bound to local references (a bare thread_local name inside the
  // parallel region would be each worker's own, empty, instance): no allocation per step.
  static thread_local std::vector<Chunk> tls_work;
  static thread_local std::vector<Part> tls_part;
  std::vector<Chunk>& work = tls_work;
  std::vector<Part>& part = tls_part;
  work.clear();
  int64_t total = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t m = ts[t * k].numel();
    total += m;
    if (m == 0) work.push_back({t, 0, 0});
    for (int64_t b = 0; b < m; b += kChunk) work.push_back({t, b, std::min(m, b + kChunk)});
  }
  part.resize(work.size());
  const int64_t nw = int64_t(work.size());
  GC_PARALLEL_FOR_DYNAMIC(total >= kStatsParallelMin && nw > 1,
  for (int64_t w = 0; w < nw; ++w) {
    const Chunk c = work[w];
    Part& r = part[w];
    r = {0, 0, 0, 0, 0};
    if (gi >= 0) {
      const Buf& g = ts[c.t * k];
      if (g.dtype == DType::f32) g_part(g.ptr<float>(), c.b, c.e, r);
      else g_part(g.ptr<double>(), c.b, c.e, r);
    }
    if (pi >= 0) {
      const Buf& p = ts[c.t * k + pi];
      const Buf& q = ts[c.t * k + pi + 1];
      if (p.dtype == DType::f32) p_part(p.ptr<float>(), q.ptr<float>(), c.b, c.e, r);
      else p_part(p.ptr<double>(), q.ptr<double>(), c.b, c.e, r);
    }
  });
  double* o = out.ptr<double>();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t t = 0; t < n; ++t)
    for (int j = 0; j < kCols; ++j) o[t * kCols + j] = (j < 3 ? gi >= 0 : pi >= 0) ? 0.0 : nan;
  for (int64_t w = 0; w < nw; ++w) {
    const Part& r = part[w];
    double* row = o + work[w].t * kCols;
    if (gi >= 0) {
      row[0] += r.sq;
      if (std::isnan(r.mx) || std::isnan(row[1])) row[1] = nan;
      else row[1] = std::max(row[1], r.mx);
      row[2] += r.nf;
    }
    if (pi >= 0) { row[3] += r.dsq; row[4] += r.psq; }
  }
}
GC_KERNEL("grad_stats(any... tensors, *, int mode) -> ()", grad_stats);

}  // namespace
}  // namespace gc
