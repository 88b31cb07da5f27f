// Activation kernels: forward and backward adjacent, the derivative in the comment.
#include "kernels/elementwise.h"

namespace gc {
namespace {

// relu: y = max(x, 0)                          dx = g * [!(y <= 0)]   (0 at the kink; a NaN
//                                              passes g: torch's threshold_backward)
GC_UNARY(relu, x > T(0) ? x : (x != x ? x : T(0)));
GC_UNARY_BWD(relu_backward, s <= T(0) ? T(0) : g);
// leaky_relu: y = x > 0 ? x : p0*x             dx = g * (x > 0 ? 1 : p0)
GC_UNARY_P(leaky_relu, "float negative_slope", select(x > T(0), x, x * T(p0)));
GC_UNARY_BWD_P(leaky_relu_backward, "float negative_slope", select(s > T(0), g, g * T(p0)));
// sigmoid: y = 1 / (1 + e^-x)                  dx = g * y * (1 - y)
GC_UNARY_VEC(sigmoid, X.logistic());
GC_UNARY_BWD(sigmoid_backward, g * s * (T(1) - s));
// tanh: y = tanh(x)                            dx = g * (1 - y^2)
GC_UNARY_VEC(tanh, X.tanh());
GC_UNARY_BWD(tanh_backward, g * (T(1) - s * s));
// gelu (exact): y = x * Phi(x)                 dx = g * (Phi(x) + x * phi(x))
GC_UNARY(gelu, T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2))));
GC_UNARY_BWD(gelu_backward, g * (T(0.5) * (T(1) + std::erf(s * T(M_SQRT1_2))) +
                                 s * T(0.5 * M_2_SQRTPI * M_SQRT1_2) * std::exp(T(-0.5) * s * s)));
// gelu (tanh approximation): y = x/2 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
GC_UNARY(gelu_tanh, T(0.5) * x * (T(1) + std::tanh(T(M_2_SQRTPI * M_SQRT1_2) * (x + T(0.044715) * x * x * x))));
GC_UNARY_BWD(gelu_tanh_backward, [&] {
  T k = T(M_2_SQRTPI * M_SQRT1_2), u = k * (s + T(0.044715) * s * s * s), th = std::tanh(u);
  return g * (T(0.5) * (T(1) + th) + T(0.5) * s * (T(1) - th * th) * k * (T(1) + T(3 * 0.044715) * s * s));
}());
// softplus (p0 = beta, p1 = threshold): y = x if beta*x > threshold else log1p(e^(beta x))/beta
//                                       dx = g if beta*x > threshold else g * sigmoid(beta x)
GC_UNARY_P(softplus, "float beta, float threshold", x * T(p0) > T(p1) ? x : std::log1p(std::exp(x * T(p0))) / T(p0));
GC_UNARY_BWD_P(softplus_backward, "float beta, float threshold", s * T(p0) > T(p1) ? g : g / (T(1) + std::exp(-s * T(p0))));
// clamp (p0 = min, p1 = max; an absent bound is ±inf): y = min(max(x, min), max) (so with
// min > max every element is max, as torch); a NaN x or a NaN bound gives NaN (as torch)
//                                                       dx = g * [min <= x <= max] (0 for NaN)
GC_UNARY_P(clamp, "float min, float max", (x != x || p0 != p0 || p1 != p1) ? x + T(p0) + T(p1)
                            : (x > T(p1) || T(p0) > T(p1)) ? T(p1) : x < T(p0) ? T(p0) : x);
GC_UNARY_BWD_P(clamp_backward, "float min, float max", (s >= T(p0) && s <= T(p1)) ? g : T(0));

}  // namespace
}  // namespace gc
