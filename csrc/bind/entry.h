// What module.cpp uses of entry.cpp: the `_C.run` method and the numpy <-> Buf conversions.
#pragma once
#include <Python.h>
#include "core/registry.h"

namespace gc {
namespace bind {
extern int g_typenum[4];  // numpy's type numbers of float32, float64, int64, bool (set at import)
extern PyMethodDef run_def;  // _C.run(kernel_id, *inputs, *outputs, *attrs, **named)
// bind/graph.cpp: the engine's graph building and backward walk for the common case
extern PyMethodDef graph_op_def, graph_backward_def, graph_init_def;

// A new C-contiguous array over 64-byte aligned core storage; nullptr with MemoryError/ValueError
// set (naming `op`) when it cannot be had.
PyObject* new_array(DType dt, int ndim, const int64_t* shape, const char* op);
// View numpy array `o` as a Buf; false with TypeError/ValueError set (naming kernel, role and
// position) when it is not an aligned, C-contiguous, native array of a supported dtype.
bool to_buf(PyObject* o, Buf* b, const char* kname, const char* role, int i, bool writable);
// Run kernel `id` through gc::call (the GIL released when `big` elements or more are touched);
// false with the matching Python exception set when the kernel throws.
bool call_kernel(int id, Ins ins, Outs outs, Attrs attrs, int64_t big);
}  // namespace bind
}  // namespace gc
