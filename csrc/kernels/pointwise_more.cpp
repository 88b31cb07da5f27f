// More pointwise kernels for PyTorch parity: floor division and remainder (Python's sign rules,
// integer and float), bitwise ops on int64/bool, rounding and special functions with their
// backward, NaN/Inf classification and nan_to_num. Broadcasting through bmap (broadcast.h).
// ---- floordiv(a, b) = floor(a / b);  remainder(a, b) = a - floordiv(a, b) * b (sign of b)
// ---- truncdiv(a, b) = trunc(a / b)
// ---- remainder_backward_b: db = -g * floor(a / b)
// ---- bitwise(a, b, op): 0 and, 1 or, 2 xor, 3 left shift, 4 right shift;  bitwise_not(x)
// ---- math_more(x, op): 0 floor, 1 ceil, 2 round (half to even), 3 trunc, 4 sign, 5 log1p,
//      6 expm1, 7 erf;  math_more_backward(g, x, y, op) (0 for the piecewise-constant ones)
// ---- classify(x, op) -> bool: 0 isnan, 1 isfinite, 2 isinf, 3 isposinf, 4 isneginf
// ---- nan_to_num(x, nan, posinf, neginf)
#include <cmath>
#include <cstdint>
#include <limits>
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc {
namespace {

int64_t ifloordiv(int64_t a, int64_t b) {
  if (b == -1) return int64_t(0ULL - uint64_t(a));  // INT64_MIN / -1 wraps, as torch
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t iremainder(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
template <class T> T fremainder(T a, T b) {
  T r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

void check_no_zero(const char* op, const Buf& b) {
  const int64_t* p = b.ptr<int64_t>();
  for (int64_t i = 0, n = b.numel(); i < n; ++i)
    GC_CHECK(p[i] != 0, op << ": integer division by zero (ZeroDivisionError)");
}

int64_t itruncdiv(int64_t a, int64_t b) { return b == -1 ? int64_t(0ULL - uint64_t(a)) : a / b; }

// Mode 0: floor division, 1: remainder (sign of b), 2: division rounded toward zero
template <int Mode> void divmod_kernel(Ins in, Outs out, Attrs) {
  const char* op = Mode == 1 ? "remainder" : Mode == 0 ? "floor_divide" : "trunc_divide";
  check_same_dtype(op, in[0], in[1]);
  check_same_dtype(op, in[0], out[0]);
  DType d = in[0].dtype;
  if (d == DType::i64) {
    check_no_zero(op, in[1]);
    bmap<int64_t, int64_t, int64_t>(op, out[0], [](int64_t a, int64_t b) {
      return Mode == 1 ? iremainder(a, b) : Mode == 0 ? ifloordiv(a, b) : itruncdiv(a, b); },
      in[0], in[1]);
    return;
  }
  float_dispatch(d, op, [&]<class T>() {
    bmap<T, T, T>(op, out[0], [](T a, T b) -> T {
      return Mode == 1 ? fremainder(a, b) : Mode == 0 ? std::floor(a / b) : std::trunc(a / b); },
      in[0], in[1]);
  });
}
GC_KERNEL("floordiv(A a, A b) -> A y", divmod_kernel<0>);
GC_KERNEL("remainder(A a, A b) -> A y", divmod_kernel<1>);
GC_KERNEL("truncdiv(A a, A b) -> A y", divmod_kernel<2>);

void remainder_backward_b(Ins in, Outs out, Attrs) {
  check_same_dtype("remainder", in[0], in[1]);
  check_same_dtype("remainder", in[0], in[2]);
  float_dispatch(in[0].dtype, "remainder", [&]<class T>() {
    bmap<T, T, T, T>("remainder_backward_b", out[0],
                     [](T g, T a, T b) -> T { return -g * std::floor(a / b); }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("remainder_backward_b(T g, T a, T b) -> T grad", remainder_backward_b);

void bitwise(Ins in, Outs out, Attrs at) {
  int op = int(at[0]);
  GC_CHECK(op >= 0 && op <= 4, "bitwise: op must be 0..4, got " << op);
  check_same_dtype("bitwise", in[0], in[1]);
  check_same_dtype("bitwise", in[0], out[0]);
  DType d = in[0].dtype;
  if (d == DType::b8) {
    GC_TYPE_CHECK(op <= 2, "bitwise shift: expected int64 tensors, got bool");
    bmap<bool, bool, bool>("bitwise", out[0], [op](bool a, bool b) -> bool {
      return op == 0 ? (a && b) : op == 1 ? (a || b) : (a != b); }, in[0], in[1]);
    return;
  }
  GC_TYPE_CHECK(d == DType::i64, "bitwise ops need int64 or bool tensors, got " << dtype_name(d)
                << " (torch raises too: use integer tensors)");
  bmap<int64_t, int64_t, int64_t>("bitwise", out[0], [op](int64_t a, int64_t b) -> int64_t {
    switch (op) {
      case 0: return a & b;
      case 1: return a | b;
      case 2: return a ^ b;
      case 3: return (b < 0 || b >= 64) ? 0 : int64_t(uint64_t(a) << b);
      default: return (b < 0 || b >= 64) ? (a < 0 ? -1 : 0) : (a >> b);
    }
  }, in[0], in[1]);
}
GC_KERNEL("bitwise(A a, A b, *, int op) -> A y", bitwise);

void bitwise_not(Ins in, Outs out, Attrs) {
  check_same_dtype("bitwise_not", in[0], out[0]);
  if (in[0].dtype == DType::b8) {
    bmap<bool, bool>("bitwise_not", out[0], [](bool a) -> bool { return !a; }, in[0]);
    return;
  }
  GC_TYPE_CHECK(in[0].dtype == DType::i64, "bitwise_not (~) needs an int64 or bool tensor, got "
                << dtype_name(in[0].dtype));
  bmap<int64_t, int64_t>("bitwise_not", out[0], [](int64_t a) -> int64_t { return ~a; }, in[0]);
}
GC_KERNEL("bitwise_not(A x) -> A y", bitwise_not);

template <class T> T math_op(int op, T x) {
  switch (op) {
    case 0: return std::floor(x);
    case 1: return std::ceil(x);
    case 2: return std::nearbyint(x);
    case 3: return std::trunc(x);
    case 4: return x > 0 ? T(1) : x < 0 ? T(-1) : x;  // sign(0) = 0, sign(nan) = nan
    case 5: return std::log1p(x);
    case 6: return std::expm1(x);
    default: return std::erf(x);
  }
}

void math_more(Ins in, Outs out, Attrs at) {
  int op = int(at[0]);
  GC_CHECK(op >= 0 && op <= 7, "math_more: op must be 0..7, got " << op);
  check_same_shape("math_more", in[0], out[0]);
  float_dispatch(in[0].dtype, "math_more", [&]<class T>() {
    bmap<T, T>("math_more", out[0], [op](T x) -> T { return math_op(op, x); }, in[0]);
  });
}
GC_KERNEL("math_more(T x, *, int op) -> T y", math_more);

void math_more_backward(Ins in, Outs out, Attrs at) {
  int op = int(at[0]);
  GC_CHECK(op >= 0 && op <= 7, "math_more_backward: op must be 0..7, got " << op);
  check_same_shape("math_more_backward", in[0], out[0]);
  float_dispatch(in[0].dtype, "math_more_backward", [&]<class T>() {
    bmap<T, T, T, T>("math_more_backward", out[0], [op](T g, T x, T y) -> T {
      if (op == 5) return g / (T(1) + x);
      if (op == 6) return g * (y + T(1));
      if (op == 7) return g * T(1.1283791670955126) * std::exp(-x * x);  // 2 / sqrt(pi)
      return T(0);
    }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("math_more_backward(T g, T x, T y, *, int op) -> T grad", math_more_backward);

void classify(Ins in, Outs out, Attrs at) {
  int op = int(at[0]);
  GC_CHECK(op >= 0 && op <= 4, "classify: op must be 0..4, got " << op);
  float_dispatch(in[0].dtype, "classify", [&]<class T>() {
    const T inf = std::numeric_limits<T>::infinity();
    bmap<bool, T>("classify", out[0], [op, inf](T x) -> bool {
      switch (op) {
        case 0: return x != x;
        case 1: return std::isfinite(x);
        case 2: return x == inf || x == -inf;
        case 3: return x == inf;
        default: return x == -inf;
      }
    }, in[0]);
  });
}
GC_KERNEL("classify(T x, *, int op) -> bool y", classify);

void nan_to_num(Ins in, Outs out, Attrs at) {
  check_same_shape("nan_to_num", in[0], out[0]);
  float_dispatch(in[0].dtype, "nan_to_num", [&]<class T>() {
    T nan = T(at[0]), pinf = T(at[1]), ninf = T(at[2]);
    const T inf = std::numeric_limits<T>::infinity();
    bmap<T, T>("nan_to_num", out[0], [=](T x) -> T {
      return x != x ? nan : x == inf ? pinf : x == -inf ? ninf : x; }, in[0]);
  });
}
GC_KERNEL("nan_to_num(T x, *, float nan, float posinf, float neginf) -> T y", nan_to_num);

}  // namespace
}  // namespace gc
