// Macros that define and register elementwise kernels as one table row each (used by
// elementwise.cpp, activation.cpp and loss.cpp), schema included. The _P variants take the
// attribute declarations ("float alpha, float beta"); p0, p1 are the first two attributes.
#pragma once
#include <cmath>
#include "core/threads.h"
#include "core/registry.h"
#include <Eigen/Core>
#include "kernels/broadcast.h"

namespace gc {
// select(c, a, b) = c ? a : b with both arguments evaluated: GCC will not vectorize a `?:` whose
// untaken side holds a floating-point operation that could trap (-ftrapping-math), e.g.
// `x > 0 ? x : x * slope` ran 10x slower than relu. Use it when a branch does arithmetic.
template <class T> inline T select(bool c, T a, T b) { return c ? a : b; }

// Binary float op: out = EXPR(a, b), a and b broadcast to out.
#define GC_BINARY(NAME, ...)                                                              \
  void NAME(Ins in, Outs out, Attrs) {                                                     \
    check_same_dtype(#NAME, in[0], in[1]); check_same_dtype(#NAME, in[0], out[0]);         \
    float_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                    \
      bmap<T, T, T>(#NAME, out[0], [](T a, T b) -> T { return __VA_ARGS__; }, in[0], in[1]); });  \
  }                                                                                        \
  GC_KERNEL(#NAME "(T a, T b) -> T y", NAME)
// Binary op on float32, float64 and int64 (bool is cast to int64 by the caller): out =
// FEXPR(a, b) for floats, IEXPR(a, b) for int64 (written to wrap on overflow, never UB).
template <class F> inline void num_dispatch(DType d, const char* op, F&& f) {
  if (d == DType::f32) f.template operator()<float>();
  else if (d == DType::f64) f.template operator()<double>();
  else if (d == DType::i64) f.template operator()<int64_t>();
  else throw type_error(std::string(op) + ": expected a float32, float64 or int64 tensor, got " + dtype_name(d));
}
#define GC_BINARY_NUM(NAME, FEXPR, IEXPR)                                                  \
  void NAME(Ins in, Outs out, Attrs) {                                                     \
    check_same_dtype(#NAME, in[0], in[1]); check_same_dtype(#NAME, in[0], out[0]);         \
    num_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                      \
      if constexpr (std::is_same_v<T, int64_t>) {                                          \
        bmap<T, T, T>(#NAME, out[0], [](T a, T b) -> T {                                   \
          using U = uint64_t; (void)sizeof(U); return IEXPR; }, in[0], in[1]);             \
      } else {                                                                             \
        bmap<T, T, T>(#NAME, out[0], [](T a, T b) -> T { return FEXPR; }, in[0], in[1]);   \
      } });                                                                                \
  }                                                                                        \
  GC_KERNEL(#NAME "(A a, A b) -> A y", NAME)
// Ternary float op: out = EXPR(g, a, b) (backward rules of binary ops).
#define GC_TERNARY(NAME, ...)                                                             \
  void NAME(Ins in, Outs out, Attrs) {                                                     \
    check_same_dtype(#NAME, in[0], in[1]); check_same_dtype(#NAME, in[0], in[2]);          \
    float_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                    \
      bmap<T, T, T, T>(#NAME, out[0], [](T g, T a, T b) -> T { return __VA_ARGS__; },             \
                       in[0], in[1], in[2]); });                                           \
  }                                                                                        \
  GC_KERNEL(#NAME "(T g, T a, T b) -> T grad", NAME)
// Comparison on any dtype: bool out.
#define GC_COMPARE(NAME, OP)                                                               \
  void NAME(Ins in, Outs out, Attrs) {                                                     \
    check_same_dtype(#NAME, in[0], in[1]);                                                 \
    any_dispatch(in[0].dtype, [&]<class T>() {                                             \
      bmap<bool, T, T>(#NAME, out[0], [](T a, T b) -> bool { return a OP b; }, in[0], in[1]); }); \
  }                                                                                        \
  GC_KERNEL(#NAME "(A a, A b) -> bool y", NAME)
// Unary float op: out = EXPR(x); GC_UNARY_P declares attributes p0, p1.
#define GC_UNARY_IMPL(NAME, SCHEMA, ...)                                                  \
  void NAME(Ins in, Outs out, Attrs at) {                                                  \
    check_same_shape(#NAME, in[0], out[0]);                                                \
    double p0 = at.size() > 0 ? at[0] : 0, p1 = at.size() > 1 ? at[1] : 0; (void)p0; (void)p1; \
    float_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                    \
      bmap<T, T>(#NAME, out[0], [=](T x) -> T { return __VA_ARGS__; }, in[0]); });                \
  }                                                                                        \
  GC_KERNEL(SCHEMA, NAME)
#define GC_UNARY(NAME, ...) GC_UNARY_IMPL(NAME, #NAME "(T x) -> T y", __VA_ARGS__)
#define GC_UNARY_P(NAME, ATTRS, ...) GC_UNARY_IMPL(NAME, #NAME "(T x, *, " ATTRS ") -> T y", __VA_ARGS__)
// Unary transcendental through Eigen's vectorized array functions: out = EXPR over the array X.
// Eigen clamps inputs with min/max, which turns NaN into a number: NaN inputs are restored.
#define GC_UNARY_VEC(NAME, EXPR)                                                           \
  void NAME(Ins in, Outs out, Attrs) {                                                     \
    check_same_shape(#NAME, in[0], out[0]); check_same_dtype(#NAME, in[0], out[0]);        \
    float_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                    \
      unary_vec<T>(in[0].ptr<T>(), out[0].ptr<T>(), in[0].numel(),                         \
                   [](const auto& X, auto& Y) { Y = EXPR; });                               \
    });                                                                                    \
  }                                                                                        \
  GC_KERNEL(#NAME "(T x) -> T y", NAME)

// Transcendentals cost ~10x an add: two threads pay off from a few thousand elements.
constexpr int64_t kParallelMinHeavy = 4096;

template <class T, class F> void unary_vec(const T* x, T* y, int64_t n, F f) {
  auto span = [&](int64_t lo, int64_t hi) {
    constexpr int64_t B = 512;
    T tmp[B];  // out may alias x (in place): compute a block, then write it with the NaN fix
    for (int64_t b = lo; b < hi; b += B) {
      const int64_t m = std::min(B, hi - b);
      Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> X(x + b, m);
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> Y(tmp, m);
      f(X, Y);
      for (int64_t i = 0; i < m; ++i) y[b + i] = x[b + i] != x[b + i] ? x[b + i] : tmp[i];
    }
  };
  if (n < kParallelMinHeavy) { span(0, n); return; }
#pragma omp parallel num_threads(::gc::threads())
  {
    auto [lo, hi] = thread_range(n);
    span(lo, hi);
  }
}

// Unary backward with one saved tensor s (x or y): out = EXPR(g, s); _P declares attributes.
#define GC_UNARY_BWD_IMPL(NAME, SCHEMA, ...)                                              \
  void NAME(Ins in, Outs out, Attrs at) {                                                  \
    check_same_shape(#NAME, in[0], in[1]);                                                 \
    double p0 = at.size() > 0 ? at[0] : 0, p1 = at.size() > 1 ? at[1] : 0; (void)p0; (void)p1; \
    float_dispatch(in[0].dtype, #NAME, [&]<class T>() {                                    \
      bmap<T, T, T>(#NAME, out[0], [=](T g, T s) -> T { return __VA_ARGS__; }, in[0], in[1]); });   \
  }                                                                                        \
  GC_KERNEL(SCHEMA, NAME)
#define GC_UNARY_BWD(NAME, ...) GC_UNARY_BWD_IMPL(NAME, #NAME "(T g, T saved) -> T grad", __VA_ARGS__)
#define GC_UNARY_BWD_P(NAME, ATTRS, ...) \
  GC_UNARY_BWD_IMPL(NAME, #NAME "(T g, T saved, *, " ATTRS ") -> T grad", __VA_ARGS__)

}  // namespace gc
