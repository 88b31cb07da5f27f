// The shared part of the normalisation kernels (norm.cpp: batch_norm; norm_layer.cpp:
// layer_norm, group_norm): one-pass shifted sums, moments, argument checks, the (N, C, S)
// view of an input. The method is described at the top of norm.cpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <Eigen/Core>
#include "core/registry.h"
#include "kernels/broadcast.h"

namespace gc::norm {


template <class T> using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> using CMap = Eigen::Map<const Arr<T>>;
template <class T> using MMap = Eigen::Map<Arr<T>>;
constexpr int64_t kBlock = 2048;  // float sums over at most this many elements, then double
constexpr int64_t kShort = 256;   // batch_norm runs shorter than this are grouped per task
constexpr int64_t kTiny = 16;     // runs shorter than this skip Eigen (its setup would dominate)

struct Sums { double a = 0, b = 0; };

// s += (sum u, sum u^2), u = x - k, over a contiguous run
template <class T> inline void shifted_sums(const T* x, int64_t n, T k, Sums& s) {
  if (n < kTiny) {
    for (int64_t i = 0; i < n; ++i) { const double u = double(x[i] - k); s.a += u; s.b += u * u; }
    return;
  }
  for (int64_t i = 0; i < n; i += kBlock) {
    CMap<T> xv(x + i, std::min(kBlock, n - i));
    s.a += double((xv - k).sum());
    s.b += double((xv - k).square().sum());
  }
}
// s += (sum g, sum g (x - m)), over a contiguous run
template <class T> inline void grad_sums(const T* g, const T* x, int64_t n, T m, Sums& s) {
  if (n < kTiny) {
    for (int64_t i = 0; i < n; ++i) { s.a += double(g[i]); s.b += double(g[i]) * double(x[i] - m); }
    return;
  }
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t len = std::min(kBlock, n - i);
    CMap<T> gv(g + i, len), xv(x + i, len);
    s.a += double(gv.sum());
    s.b += double((gv * (xv - m)).sum());
  }
}
// mean and biased variance of M elements from their shifted sums
inline void moments(const Sums& s, double k, int64_t M, double& mean, double& var) {
  mean = k + s.a / double(M);
  var = std::max(0.0, (s.b - s.a * s.a / double(M)) / double(M));
}

inline void float_check(const char* op, const Buf& x) {
  GC_TYPE_CHECK(x.dtype == DType::f32 || x.dtype == DType::f64,
                op << ": input must be float32 or float64, got " << dtype_name(x.dtype));
}
// A vector argument of n elements and x's dtype; with `optional`, an empty (0,) buffer is absent.
inline bool vec_arg(const char* op, const char* name, const Buf& v, const Buf& x, int64_t n, bool optional) {
  if (optional && v.ndim == 1 && v.shape[0] == 0 && n != 0) return false;
  GC_TYPE_CHECK(v.dtype == x.dtype, op << ": " << name << " is " << dtype_name(v.dtype)
                << " but the input is " << dtype_name(x.dtype));
  GC_CHECK(v.numel() == n, op << ": " << name << " " << v.shape_str() << " must have " << n
           << " elements for input " << x.shape_str());
  return true;
}
// An output of x's shape (or, with `optional`, empty = not wanted).
inline bool like_arg(const char* op, const char* name, const Buf& o, const Buf& x, bool optional) {
  if (optional && o.ndim == 1 && o.shape[0] == 0 && x.numel() != 0) return false;
  check_same_dtype(op, x, o);
  GC_CHECK(o.numel() == x.numel(), op << ": " << name << " " << o.shape_str()
           << " must have the shape of input " << x.shape_str());
  return true;
}

// x (N, C, S...) viewed as N samples of C channels of S elements.
struct BnDims { int64_t N, C, S; };
inline BnDims bn_dims(const char* op, const Buf& x) {
  GC_CHECK(x.ndim >= 2, op << ": input must be (N, C, ...) with at least 2 dims, got " << x.shape_str());
  BnDims d{x.shape[0], x.shape[1], 1};
  for (int i = 2; i < x.ndim; ++i) d.S *= x.shape[i];
  return d;
}

}  // namespace gc::norm
