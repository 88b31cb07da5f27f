// Kernels along one dim: scans (cumsum, cumprod, logcumsumexp and their backward), running
// extremes with indices (cummax, cummin), gather / scatter / scatter_add, and sort.
// Each views its tensor as `outer` x `n` x `inner` lines along `dim` (element k of a line at
// base + k * inner).
// ---- scan:          y = running sum (op 0) / product (op 1) / logaddexp (op 2), reverse=1 from the end
// ---- scan_backward: dx for op 1 (zero-safe: prefix product x suffix recursion) and op 2
// ---- cum_extreme:   running max (op 0) / min (op 1) and the index it came from (ties: the later)
// ---- gather_dim:    y[i] = x[i with i_dim := index[i]]             (y has index's shape)
// ---- scatter_along:   out = base; out[i with i_dim := index[i]] (+)= src[i] for i over index's shape
// ---- sort_dim:      values and int64 indices of each line sorted (stable; NaN counts as largest)
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

struct Lines { int64_t outer = 1, n = 1, inner = 1; };

Lines lines(const char* op, const Buf& x, int dim) {
  GC_CHECK(dim >= 0 && dim < std::max(x.ndim, 1), op << ": dim " << dim
           << " is out of range for a tensor of shape " << x.shape_str());
  Lines l;
  if (x.ndim == 0) return l;
  for (int j = 0; j < dim; ++j) l.outer *= x.shape[j];
  l.n = x.shape[dim];
  for (int j = dim + 1; j < x.ndim; ++j) l.inner *= x.shape[j];
  return l;
}

// f(base, stride) once per line; lines in parallel above kParallelMin elements.
template <class F> void for_lines(const Lines& l, F f) {
  int64_t total = l.outer * l.inner;
  if (l.n == 0) return;
  GC_PARALLEL_FOR(total * l.n >= kParallelMin && total > 1,
  for (int64_t r = 0; r < total; ++r) f((r / l.inner) * l.n * l.inner + r % l.inner, l.inner););
}

template <class T> T logaddexp(T a, T b) {
  if (a != a || b != b) return std::numeric_limits<T>::quiet_NaN();
  if (a == -std::numeric_limits<T>::infinity()) return b;
  if (b == -std::numeric_limits<T>::infinity()) return a;
  if (a == b) return a + T(std::log(2.0));
  T m = std::max(a, b);
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

const char* scan_name(int op) { return op == 0 ? "cumsum" : op == 1 ? "cumprod" : "logcumsumexp"; }

void scan(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &y = out[0];
  int dim = int(at[0]), op = int(at[1]);
  bool rev = at[2] != 0;
  GC_CHECK(op >= 0 && op <= 2, "scan: op must be 0 (sum), 1 (prod) or 2 (logsumexp), got " << op);
  const char* name = scan_name(op);
  check_same_shape(name, x, y);
  Lines l = lines(name, x, dim);
  float_dispatch(x.dtype, name, [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    int64_t n = l.n;
    for_lines(l, [&](int64_t b, int64_t s) {
      const T* p = xp + b; T* q = yp + b;
      int64_t k0 = rev ? (n - 1) * s : 0, step = rev ? -s : s;
      if (op == 0) {
        double acc = 0;
        for (int64_t k = 0, o = k0; k < n; ++k, o += step) { acc += double(p[o]); q[o] = T(acc); }
      } else if (op == 1) {
        T acc = 1;
        for (int64_t k = 0, o = k0; k < n; ++k, o += step) { acc *= p[o]; q[o] = acc; }
      } else {
        T acc = -std::numeric_limits<T>::infinity();
        for (int64_t k = 0, o = k0; k < n; ++k, o += step) { acc = logaddexp(acc, p[o]); q[o] = acc; }
      }
    });
  });
}
GC_KERNEL("scan(T x, *, int dim, int op, int reverse=0) -> T y", scan);

// cumprod:      dx_i = P_{i-1} * S_i,  P prefix product before i, S_i = g_i + x_{i+1} S_{i+1}
// logcumsumexp: dx_i = exp(x_i - y_i) * A_i,  A_i = g_i + exp(y_i - y_{i+1}) A_{i+1}
// cumsum:       dx_i = sum_{j >= i} g_j
void scan_backward(Ins in, Outs out, Attrs at) {
  const Buf &g = in[0], &x = in[1], &y = in[2], &dx = out[0];
  int dim = int(at[0]), op = int(at[1]);
  GC_CHECK(op >= 0 && op <= 2, "scan_backward: op must be 0, 1 or 2, got " << op);
  const char* name = scan_name(op);
  check_same_shape(name, g, x);
  check_same_shape(name, g, y);
  check_same_shape(name, g, dx);
  Lines l = lines(name, x, dim);
  float_dispatch(g.dtype, name, [&]<class T>() {
    const T *gp = g.ptr<T>(), *xp = x.ptr<T>(), *yp = y.ptr<T>();
    T* dp = dx.ptr<T>();
    int64_t n = l.n;
    const T ninf = -std::numeric_limits<T>::infinity();
    for_lines(l, [&](int64_t b, int64_t s) {
      const T *gl = gp + b, *xl = xp + b, *yl = yp + b;
      T* d = dp + b;
      if (op == 0) {
        double acc = 0;
        for (int64_t k = n - 1; k >= 0; --k) { acc += double(gl[k * s]); d[k * s] = T(acc); }
      } else if (op == 1) {
        T acc = 0;
        for (int64_t k = n - 1; k >= 0; --k) {
          acc = gl[k * s] + (k + 1 < n ? xl[(k + 1) * s] * acc : T(0));
          d[k * s] = acc;
        }
        T pre = 1;
        for (int64_t k = 0; k < n; ++k) { d[k * s] *= pre; pre *= xl[k * s]; }
      } else {
        T acc = 0;
        for (int64_t k = n - 1; k >= 0; --k) {
          T f = 0;
          if (k + 1 < n) {
            T yi = yl[k * s], yn = yl[(k + 1) * s];
            f = yi == ninf ? T(yn == ninf ? 1 : 0) : std::exp(yi - yn);
          }
          acc = gl[k * s] + f * acc;
          T xi = xl[k * s];
          d[k * s] = xi == ninf ? T(0) : std::exp(xi - yl[k * s]) * acc;
        }
      }
    });
  });
}
GC_KERNEL("scan_backward(T g, T x, T y, *, int dim, int op) -> T dx", scan_backward);

void cum_extreme(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &v = out[0], &ix = out[1];
  int dim = int(at[0]), op = int(at[1]);
  GC_CHECK(op == 0 || op == 1, "cum_extreme: op must be 0 (max) or 1 (min), got " << op);
  const char* name = op == 0 ? "cummax" : "cummin";
  check_same_shape(name, x, v);
  check_same_shape(name, x, ix);
  GC_TYPE_CHECK(ix.dtype == DType::i64, name << ": indices must be int64");
  Lines l = lines(name, x, dim);
  any_dispatch(x.dtype, [&]<class T>() {
    const T* xp = x.ptr<T>(); T* vp = v.ptr<T>(); int64_t* ip = ix.ptr<int64_t>();
    int64_t n = l.n;
    for_lines(l, [&](int64_t b, int64_t s) {
      T best = xp[b]; int64_t bi = 0;
      for (int64_t k = 0; k < n; ++k) {
        T e = xp[b + k * s];
        bool nan_e = e != e, nan_b = best != best;
        if (nan_e || (!nan_b && (op == 0 ? e >= best : e <= best))) { best = e; bi = k; }
        vp[b + k * s] = best; ip[b + k * s] = bi;
      }
    });
  });
}
GC_KERNEL("cum_extreme(A x, *, int dim, int op) -> (A values, i64 indices)", cum_extreme);

// Index checks shared by gather and scatter: same ndim, index dims within the others' dims
// (except along dim for `base`), values in [0, base.shape[dim]).
void check_index(const char* op, const Buf& idx, const Buf& base, const Buf* src, int dim) {
  GC_TYPE_CHECK(idx.dtype == DType::i64, op << ": index must be int64, got " << dtype_name(idx.dtype));
  GC_CHECK(idx.ndim == base.ndim, op << ": index " << idx.shape_str() << " and input "
           << base.shape_str() << " must have the same number of dimensions");
  GC_CHECK(dim >= 0 && dim < std::max(base.ndim, 1), op << ": dim " << dim
           << " is out of range for a tensor of shape " << base.shape_str());
  for (int d = 0; d < idx.ndim; ++d) {
    GC_CHECK(d == dim || idx.shape[d] <= base.shape[d], op << ": index " << idx.shape_str()
             << " is larger than input " << base.shape_str() << " apart from dim " << dim);
    if (src) GC_CHECK(idx.shape[d] <= src->shape[d], op << ": index " << idx.shape_str()
                      << " is larger than src " << src->shape_str());
  }
  int64_t n = idx.numel(), N = base.ndim ? base.shape[dim] : 1;
  const int64_t* ip = idx.ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    GC_CHECK(ip[k] >= 0 && ip[k] < N, op << ": index " << ip[k]
             << " is out of bounds for dimension " << dim << " with size " << N);
}

void c_strides(const Buf& b, int64_t* st) {
  int64_t s = 1;
  for (int d = b.ndim - 1; d >= 0; --d) { st[d] = s; s *= b.shape[d]; }
}

void gather_dim(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &idx = in[1], &y = out[0];
  int dim = int(at[0]);
  check_index("gather", idx, x, nullptr, dim);
  check_same_dtype("gather", x, y);
  check_same_shape("gather", idx, y);
  int64_t xst[kMaxDims];
  c_strides(x, xst);
  int64_t n = idx.numel();
  if (n == 0) return;
  int nd = idx.ndim;
  int64_t inner = nd ? idx.shape[nd - 1] : 1, outer = n / inner;
  int64_t ist = (nd == 0 || nd - 1 == dim) ? 0 : xst[nd - 1], dst = nd ? xst[dim] : 0;
  const int64_t* ip = idx.ptr<int64_t>();
  any_dispatch(x.dtype, [&]<class T>() {
    const T* xp = x.ptr<T>(); T* yp = y.ptr<T>();
    GC_PARALLEL_FOR(n >= kParallelMin,
    for (int64_t r = 0; r < outer; ++r) {
      int64_t off = 0, rem = r;
      for (int j = nd - 2; j >= 0; --j) {
        int64_t c = rem % idx.shape[j]; rem /= idx.shape[j];
        if (j != dim) off += c * xst[j];
      }
      for (int64_t i = 0; i < inner; ++i) {
        int64_t k = r * inner + i;
        yp[k] = xp[off + i * ist + ip[k] * dst];
      }
    });
  });
}
GC_KERNEL("gather_dim(A x, i64 index, *, int dim) -> A y", gather_dim);

// Serial: indices may repeat (scatter keeps the last write, scatter_add sums).
void scatter_along(Ins in, Outs out, Attrs at) {
  const Buf &base = in[0], &src = in[1], &idx = in[2], &o = out[0];
  int dim = int(at[0]);
  bool add = at[1] != 0;
  const char* op = add ? "scatter_add" : "scatter";
  check_same_dtype(op, base, src);
  check_same_dtype(op, base, o);
  check_same_shape(op, base, o);
  GC_CHECK(src.ndim == base.ndim, op << ": src " << src.shape_str() << " and input "
           << base.shape_str() << " must have the same number of dimensions");
  check_index(op, idx, base, &src, dim);
  int64_t bst[kMaxDims], sst[kMaxDims];
  c_strides(base, bst);
  c_strides(src, sst);
  int nd = idx.ndim;
  int64_t n = idx.numel();
  const int64_t* ip = idx.ptr<int64_t>();
  any_dispatch(base.dtype, [&]<class T>() {
    const T* bp = base.ptr<T>(); const T* sp = src.ptr<T>(); T* op_ = o.ptr<T>();
    if (op_ != bp) std::copy(bp, bp + base.numel(), op_);
    int64_t c[kMaxDims] = {};
    for (int64_t k = 0; k < n; ++k) {
      int64_t bo = 0, so = 0;
      for (int j = 0; j < nd; ++j) {
        so += c[j] * sst[j];
        bo += (j == dim ? ip[k] : c[j]) * bst[j];
      }
      if constexpr (std::is_same_v<T, bool>) {
        op_[bo] = add ? (op_[bo] || sp[so]) : sp[so];
      } else {
        if (add) op_[bo] += sp[so]; else op_[bo] = sp[so];
      }
      for (int j = nd - 1; j >= 0 && ++c[j] == idx.shape[j]; --j) c[j] = 0;
    }
  });
}
GC_KERNEL("scatter_along(A base, A src, i64 index, *, int dim, int add) -> A out", scatter_along);

void sort_dim(Ins in, Outs out, Attrs at) {
  const Buf &x = in[0], &v = out[0], &ix = out[1];
  int dim = int(at[0]);
  bool desc = at[1] != 0;
  check_same_shape("sort", x, v);
  check_same_shape("sort", x, ix);
  check_same_dtype("sort", x, v);
  GC_TYPE_CHECK(ix.dtype == DType::i64, "sort: indices must be int64");
  Lines l = lines("sort", x, dim);
  int64_t total = l.outer * l.inner, n = l.n;
  if (n == 0) return;
  any_dispatch(x.dtype, [&]<class T>() {
    const T* xp = x.ptr<T>(); T* vp = v.ptr<T>(); int64_t* ip = ix.ptr<int64_t>();
#pragma omp parallel if (total * n >= kParallelMin && total > 1) num_threads(::gc::threads())
    {
      std::vector<int64_t> order(n);  // one scratch line per thread
#pragma omp for
      for (int64_t r = 0; r < total; ++r) {
        int64_t b = (r / l.inner) * n * l.inner + r % l.inner, s = l.inner;
        for (int64_t k = 0; k < n; ++k) order[k] = k;
        const T* p = xp + b;
        std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
          T a = p[i * s], c = p[j * s];
          bool na = a != a, nc = c != c;  // NaN is the largest value
          if (desc) return (na && !nc) || (!na && !nc && a > c);
          return (!na && nc) || (!na && !nc && a < c);
        });
        for (int64_t k = 0; k < n; ++k) { vp[b + k * s] = p[order[k] * s]; ip[b + k * s] = order[k]; }
      }
    }
  });
}
GC_KERNEL("sort_dim(A x, *, int dim, int descending=0) -> (A values, i64 indices)", sort_dim);

}  // namespace
}  // namespace gc
