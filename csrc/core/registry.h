// The kernel registry: every kernel gradcore runs is registered here under a name, with its
// input/output counts and output dtypes. `call(id, ins, outs, attrs)` is the one uniform entry
// point, used by the Python binding (_C.run) today and by a C++ replay of a recorded step later.
#pragma once
#include <array>
#include <span>
#include <string>
#include <vector>
#include "core/view.h"

namespace gc {

using Attrs = std::span<const double>;  // numeric attributes; ints and tuples are flattened in
using KernelFn = void (*)(Ins, Outs, Attrs);

constexpr int8_t kSameAsInput0 = -1;
constexpr int8_t kSameAsInput1 = -2;  // e.g. where(cond, a, b): the values' dtype, not cond's
// nin == kVariadic: an in-place kernel over any number of tensors (fused optimizer steps);
// every tensor arrives in `ins` and is read and written, `outs` is empty.
constexpr int kVariadic = -1;
struct KernelDef {
  const char* name;
  int nin, nout;
  KernelFn fn;
  std::array<int8_t, 4> out_dtype{kSameAsInput0, kSameAsInput0, kSameAsInput0, kSameAsInput0};
};

int register_kernel(const KernelDef& def);
const std::vector<KernelDef>& kernels();
int kernel_id(const std::string& name);  // throws if unknown
void call(int id, Ins ins, Outs outs, Attrs attrs);

// Attribute access with a clear error when a kernel is given too few attributes.
inline double attr(Attrs a, size_t i, const char* op) {
  GC_CHECK(i < a.size(), op << ": missing attribute #" << i);
  return a[i];
}

#define GC_CONCAT_(a, b) a##b
#define GC_CONCAT(a, b) GC_CONCAT_(a, b)
// GC_KERNEL("relu_forward", 1, 1, relu_forward) registers at load time of the extension.
#define GC_KERNEL(name, nin, nout, fn, ...) \
  static const int GC_CONCAT(gc_kernel_reg_, __LINE__) = ::gc::register_kernel({name, nin, nout, fn, ##__VA_ARGS__})

}  // namespace gc
