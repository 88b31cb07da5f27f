// The kernel registry: every kernel gradcore runs is registered here with its schema, e.g.
//   GC_KERNEL("gemm(T a, T b, *, int trans_a=0, int trans_b=0) -> T c", gemm, gemm_flops);
// `call(id, ins, outs, attrs)` is the one uniform entry point: the Python binding, a replayed
// Program and any C++ caller go through it; it checks the call against the schema (counts,
// dtypes, attributes; errors name the kernel and the argument) and runs the hook slot.
//
// Schema grammar:  name(<tensor>, ..., *, <attr>, ...) -> <out> | (<out>, ...) | ()
//   tensor types:  T  float32/float64 type variable (every T of one call is one dtype)
//                  A  any-dtype variable            float  any float, not tied
//                  any  anything                    f32 f64 i64 bool  that dtype
//                  `<type>... name`: a variadic in-place list (ins only, last), read and written
//                  `<type>! name`: an input the kernel reads and writes in place (a generator
//                  state it advances); the caller must pass a writable array
//   attributes:    int name | float name | int[] name | float[] name, optional `=default`
//                  (a list attribute is variable-length and comes last; attrs are doubles)
//   outputs:       a T/A output gets that variable's dtype, a concrete type is allocated as
//                  such; `any`/`float` outputs must be passed in (no dtype rule).
#pragma once
#include <string>
#include <vector>
#include "core/view.h"

namespace gc {

using Attrs = std::span<const double>;
using KernelFn = void (*)(Ins, Outs, Attrs);
using FlopsFn = double (*)(Ins, Outs, Attrs);

enum class TType : int8_t { T, A, Float, Any, F32, F64, I64, Bool };
enum class AType : int8_t { Int, Float, IntList, FloatList };
struct TensorArg { std::string name; TType type; bool variadic = false; bool inplace = false; };
struct AttrArg { std::string name; AType type; bool has_default = false; double def = 0; };

struct KernelDef {
  std::string name, schema;
  KernelFn fn;
  FlopsFn flops = nullptr;  // floating-point operations of one call, when known (profiler)
  std::vector<TensorArg> ins, outs;
  std::vector<AttrArg> attrs;
  bool variadic = false;     // the last input is a variadic list
  // Derived at registration (the per-call checks read these, not the vectors above):
  int n_required = 0;        // attributes without a default that must be given
  bool list_tail = false;    // the last attribute is a list (variable count)
  bool int_attrs = false;    // some attribute must be an integer
  std::vector<int8_t> out_from;  // per output: >= 0 the input whose dtype it takes,
                                 // -1 - code a concrete DType, kNoRule none
  static constexpr int8_t kNoRule = -100;
  bool noalias = false;      // no output may share memory with an input (GC_NOALIAS)
  int nin() const { return int(ins.size()); }
  int nout() const { return int(outs.size()); }
};

int register_kernel(const char* schema, KernelFn fn, FlopsFn flops = nullptr);
// Declare that kernel `name` cannot run in place: gc::call then rejects an output that is the
// very buffer of an input. (Partial overlaps are rejected for every kernel, and outputs never
// overlap each other.)
int mark_noalias(const char* name);
const std::vector<KernelDef>& kernels();
std::string& registry_error();  // the first malformed schema, if any (raised at import)
int kernel_id(const std::string& name);  // throws if unknown

// Check `ins`/`outs`/`attrs` against kernel `id`'s schema (defaults filled in), run the
// hook slot, and run the kernel.
void call(int id, Ins ins, Outs outs, Attrs attrs);
// The schema checks of `call` alone; `call_checked_before` runs a call already checked once
// (a recorded Program): hook slot and kernel, nothing else.
void check_call(int id, Ins ins, Outs outs, Attrs attrs);
void call_checked_before(int id, Ins ins, Outs outs, Attrs attrs);
// The dtype an output gets when it is allocated by the caller from a shape; throws when the
// schema has no rule for it (an `any`/`float` output must be passed in).
inline DType out_dtype(const KernelDef& k, int i, Ins ins) {
  const int8_t src = k.out_from[i];
  if (src >= 0 && src < int(ins.size())) return ins[src].dtype;
  GC_TYPE_CHECK(src < 0 && src != KernelDef::kNoRule, k.name << ": output '" << k.outs[i].name
                << "' has no dtype rule: pass an array to write into, not a shape");
  return DType(-1 - src);
}

// The hook slot: when set, `hook(id, ins, outs, attrs, after)` runs before (after = false)
// and after (after = true) every kernel that `call` runs, on the calling thread.
using CallHook = void (*)(int id, Ins ins, Outs outs, Attrs attrs, bool after);
void set_call_hook(CallHook hook);
CallHook call_hook();

// Attribute access with a clear error when a kernel is given too few attributes.
inline double attr(Attrs a, size_t i, const char* op) {
  GC_CHECK(i < a.size(), op << ": missing attribute #" << i);
  return a[i];
}

#define GC_CONCAT_(a, b) a##b
#define GC_CONCAT(a, b) GC_CONCAT_(a, b)
// GC_KERNEL("relu(T x) -> T y", relu[, flops]) registers at load time of the extension.
#define GC_KERNEL(schema, ...) \
  static const int GC_CONCAT(gc_kernel_reg_, __LINE__) = ::gc::register_kernel(schema, __VA_ARGS__)
// GC_NOALIAS("log_softmax") after the kernel's GC_KERNEL in the same file.
#define GC_NOALIAS(name) \
  static const int GC_CONCAT(gc_noalias_, __LINE__) = ::gc::mark_noalias(name)

}  // namespace gc
