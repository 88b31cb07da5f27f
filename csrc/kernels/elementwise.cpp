// Elementwise kernels with numpy broadcasting: arithmetic, comparisons, where, math
// functions, casts and fills. Backward kernels sit next to their forward and OVERWRITE their
// output; the engine sums gradients back to each input's shape and accumulates fan-out.
#include <cmath>
#include "core/threads.h"
#include "core/registry.h"
#include "kernels/elementwise.h"

namespace gc {
namespace {

// ---- arithmetic -------------------------------------------------------------------------
// add/sub: da = g, db = ±g         mul: da = g*b         div: da = g/b, db = -g*a/b^2
// add/sub/mul/maximum/minimum also take int64 (torch's integer arithmetic; wraps on overflow)
GC_BINARY_NUM(add, a + b, T(U(a) + U(b)));
GC_BINARY_NUM(sub, a - b, T(U(a) - U(b)));
GC_BINARY_NUM(mul, a * b, T(U(a) * U(b)));
GC_BINARY(div, a / b);
GC_TERNARY(div_backward_b, -g * a / (b * b));
// pow: da = g*b*a^(b-1); db = g*a^b*log(a), defined as 0 where a == 0 and b >= 0 (as torch)
GC_BINARY(pow, std::pow(a, b));
GC_TERNARY(pow_backward_a, b == T(0) ? T(0) : g * b * std::pow(a, b - T(1)));
GC_TERNARY(pow_backward_b, (a == T(0) && b >= T(0)) ? T(0) : g * std::pow(a, b) * std::log(a));
// maximum/minimum: the gradient goes to the larger (smaller) input, split evenly on ties.
GC_BINARY_NUM(maximum, (a != a || b != b) ? a + b : (a > b ? a : b), a > b ? a : b);
GC_BINARY_NUM(minimum, (a != a || b != b) ? a + b : (a < b ? a : b), a < b ? a : b);
GC_TERNARY(maximum_backward_a, a > b ? g : (a == b ? g / T(2) : T(0)));
GC_TERNARY(minimum_backward_a, a < b ? g : (a == b ? g / T(2) : T(0)));

// ---- comparisons (non-differentiable, bool out) ------------------------------------------
GC_COMPARE(lt, <);
GC_COMPARE(le, <=);
GC_COMPARE(gt, >);
GC_COMPARE(ge, >=);
GC_COMPARE(eq, ==);
GC_COMPARE(ne, !=);

// ---- where(cond, a, b) --------------------------------------------------------------------
// da = where(cond, g, 0), db = where(cond, 0, g): where_grad with attr side (1: a, 0: b)
void where_fwd(Ins in, Outs out, Attrs) {
  GC_TYPE_CHECK(in[0].dtype == DType::b8, "where: condition must be bool, got " << dtype_name(in[0].dtype));
  check_same_dtype("where", in[1], in[2]);
  check_same_dtype("where", in[1], out[0]);
  any_dispatch(in[1].dtype, [&]<class T>() {
    bmap<T, bool, T, T>("where", out[0], [](bool c, T a, T b) { return c ? a : b; }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("where(bool cond, A a, A b) -> A y", where_fwd);
void where_grad(Ins in, Outs out, Attrs at) {
  GC_TYPE_CHECK(in[0].dtype == DType::b8, "where_grad: condition must be bool");
  check_same_dtype("where_grad", in[1], out[0]);
  bool side = attr(at, 0, "where_grad") != 0;
  float_dispatch(in[1].dtype, "where_grad", [&]<class T>() {
    bmap<T, bool, T>("where_grad", out[0], [=](bool c, T g) { return c == side ? g : T(0); }, in[0], in[1]);
  });
}
GC_KERNEL("where_grad(bool cond, T g, *, int side) -> T grad", where_grad);

// ---- unary math with scalars ----------------------------------------------------------------
// affine: y = x*p0 + p1 (neg, scalar add/sub/mul/div)      dx = g*p0 (affine again)
GC_UNARY_P(affine, "float alpha, float beta", x * T(p0) + T(p1));
// rdiv: y = p0 / x                                            dx = -g*y/x
GC_UNARY_P(rdiv, "float c", T(p0) / x);
void rdiv_backward(Ins in, Outs out, Attrs) {  // ins: g, x, y
  float_dispatch(in[0].dtype, "rdiv_backward", [&]<class T>() {
    bmap<T, T, T, T>("rdiv_backward", out[0], [](T g, T x, T y) { return -g * y / x; }, in[0], in[1], in[2]);
  });
}
GC_KERNEL("rdiv_backward(T g, T x, T y) -> T grad", rdiv_backward);
// pow_scalar: y = x^p0                                        dx = g*p0*x^(p0-1), 0 when p0 == 0
GC_UNARY_P(pow_scalar, "float p", p0 == 2.0 ? x * x : std::pow(x, T(p0)));
GC_UNARY_BWD_P(pow_scalar_backward, "float p", p0 == 0.0 ? T(0) : p0 == 2.0 ? T(2) * g * s : g * T(p0) * std::pow(s, T(p0 - 1)));

// ---- math functions -----------------------------------------------------------------------
// exp: dx = g*y (mul)    log: dx = g/x (div)    sqrt: dx = g/(2y)    abs: dx = g*sign(x) (0 at 0)
GC_UNARY_VEC(exp, X.exp());
GC_UNARY_VEC(log, X.log());
GC_UNARY(sqrt, std::sqrt(x));
GC_UNARY_BWD(sqrt_backward, g / (T(2) * s));
GC_UNARY(abs, std::abs(x));
GC_UNARY_BWD(abs_backward, s > T(0) ? g : (s < T(0) ? -g : T(0)));  // sign(NaN) = 0, as torch's sgn
// sin: dx = g*cos(x)     cos: dx = -g*sin(x)
GC_UNARY_VEC(sin, X.sin());
GC_UNARY_BWD(sin_backward, g * std::cos(s));
GC_UNARY_VEC(cos, X.cos());
GC_UNARY_BWD(cos_backward, -g * std::sin(s));

// ---- data movement --------------------------------------------------------------------------
// expand: out = x broadcast to out's shape (any dtype); also a plain contiguous copy.
void expand(Ins in, Outs out, Attrs) {
  check_same_dtype("expand", in[0], out[0]);
  any_dispatch(in[0].dtype, [&]<class T>() { bmap<T, T>("expand", out[0], [](T x) { return x; }, in[0]); });
}
GC_KERNEL("expand(A x) -> A y", expand);
// cast: out = T_out(x), every dtype pair.
void cast(Ins in, Outs out, Attrs) {
  check_same_shape("cast", in[0], out[0]);
  any_dispatch(out[0].dtype, [&]<class TO>() {
    any_dispatch(in[0].dtype, [&]<class TI>() {
      bmap<TO, TI>("cast", out[0], [](TI x) { return static_cast<TO>(x); }, in[0]);
    });
  });
}
GC_KERNEL("cast(any x) -> any y", cast);
// fill: out = p0 (any dtype)
void fill(Ins, Outs out, Attrs at) {
  double v = attr(at, 0, "fill");
  any_dispatch(out[0].dtype, [&]<class T>() {
    T* p = out[0].ptr<T>(); int64_t n = out[0].numel(); T tv = static_cast<T>(v);
    GC_PARALLEL_FOR_SIMD(n >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) p[i] = tv;);
  });
}
GC_KERNEL("fill(*, float value) -> any out", fill);
// accumulate: out += x in place (gradient accumulation; out is read and written)
void accumulate(Ins in, Outs out, Attrs) {
  check_same_shape("accumulate", in[0], out[0]); check_same_dtype("accumulate", in[0], out[0]);
  float_dispatch(in[0].dtype, "accumulate", [&]<class T>() {
    const T* x = in[0].ptr<T>(); T* y = out[0].ptr<T>(); int64_t n = out[0].numel();
    GC_PARALLEL_FOR_SIMD(n >= kParallelMin,
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];);
  });
}
GC_KERNEL("accumulate(T x) -> T out", accumulate);

}  // namespace
}  // namespace gc
