// Buf: a type-erased, C-contiguous n-d buffer (pointer, dtype, shape) owned elsewhere.
// Kernels receive Bufs; they never allocate and never own memory.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include "core/check.h"

namespace gc {

enum class DType : int8_t { f32 = 0, f64 = 1, i64 = 2, b8 = 3 };
constexpr int kMaxDims = 8;

inline const char* dtype_name(DType d) {
  switch (d) { case DType::f32: return "float32"; case DType::f64: return "float64";
               case DType::i64: return "int64"; default: return "bool"; }
}
inline size_t dtype_size(DType d) { return d == DType::b8 ? 1 : d == DType::f32 ? 4 : 8; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<bool>() { return DType::b8; }

struct Buf {
  void* data = nullptr;
  DType dtype = DType::f32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};

  int64_t numel() const { int64_t n = 1; for (int i = 0; i < ndim; ++i) n *= shape[i]; return n; }
  int64_t dim(int i) const { return shape[i < 0 ? i + ndim : i]; }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
  std::string shape_str() const {
    std::string s = "(";
    for (int i = 0; i < ndim; ++i) s += std::to_string(shape[i]) + (ndim == 1 || i + 1 < ndim ? ", " : "");
    if (ndim == 1) s.resize(s.size() - 1);
    return s + ")";
  }
};

using Ins = std::span<const Buf>;
using Outs = std::span<const Buf>;

// Dispatch a templated functor on a float dtype: GC_FLOAT_DISPATCH(b.dtype, "op", [&]<class T>() {...})
template <class F> inline void float_dispatch(DType d, const char* op, F&& f) {
  if (d == DType::f32) f.template operator()<float>();
  else if (d == DType::f64) f.template operator()<double>();
  else throw type_error(std::string(op) + ": expected a float32 or float64 tensor, got " + dtype_name(d));
}
template <class F> inline void any_dispatch(DType d, F&& f) {
  switch (d) {
    case DType::f32: f.template operator()<float>(); break;
    case DType::f64: f.template operator()<double>(); break;
    case DType::i64: f.template operator()<int64_t>(); break;
    default: f.template operator()<bool>(); break;
  }
}

inline void check_same_dtype(const char* op, const Buf& a, const Buf& b) {
  GC_TYPE_CHECK(a.dtype == b.dtype, op << ": dtype mismatch " << dtype_name(a.dtype) << " vs "
                << dtype_name(b.dtype));
}
inline void check_same_shape(const char* op, const Buf& a, const Buf& b) {
  bool ok = a.ndim == b.ndim;
  for (int i = 0; ok && i < a.ndim; ++i) ok = a.shape[i] == b.shape[i];
  GC_CHECK(ok, op << ": shapes " << a.shape_str() << " and " << b.shape_str() << " differ");
}

}  // namespace gc
