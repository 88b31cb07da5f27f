// What bind/graph.cpp (graph nodes for elementwise ops, the setup) and bind/backward.cpp (the
// backward walk) share: the Python objects and slot offsets graph_init handed over, and the
// helpers that read Tensor/Node slots and run a kernel into a new array.
#pragma once
#include <Python.h>
#include "bind/entry.h"

namespace gc {
namespace bind {
namespace graph {

// Everything graph_init hands over: the Python types and objects the fast paths must match.
struct State {
  PyTypeObject *tensor = nullptr, *node = nullptr;
  PyObject *engine = nullptr, *dispatch = nullptr;  // module dicts (read live)
  PyObject *c_run = nullptr, *grad_mode = nullptr, *clock = nullptr, *freed = nullptr;
  PyObject *check_saved = nullptr, *backward_name = nullptr, *unbroadcast = nullptr;
  PyObject* tensor_hooks = nullptr;
  PyObject *s_run = nullptr, *s_site_hook = nullptr, *s_enabled = nullptr, *s_vjp = nullptr;
  PyObject *s_name = nullptr, *s_table = nullptr, *s_shape = nullptr;
  // slot offsets of Tensor and Node (their __slots__ member descriptors)
  Py_ssize_t t_data = -1, t_grad, t_node, t_rg, n_prim, n_parents, n_needs, n_shapes, n_saved,
             n_g, n_pending, n_hooks, n_stamp;
  int add = -1, accumulate = -1;
};
extern State S;

// A slot of a __slots__ object by offset (NULL when never set).
inline PyObject*& slot(PyObject* o, Py_ssize_t off) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + off);
}
inline void put(PyObject* o, Py_ssize_t off, PyObject* v) {  // new reference stolen
  PyObject* old = slot(o, off);
  slot(o, off) = v;
  Py_XDECREF(old);
}


// The fast paths apply while no dispatcher hook and no node-site label is installed.
bool unhooked();
// A float32/float64, aligned, C-contiguous numpy array as a Buf (false: not the fast case).
bool plain_float(PyObject* o, Buf* b);
// A kernel `kid(ins..., out shape, *attrs) -> out` into a new array; nullptr with an exception.
PyObject* run_new(int kid, const Buf* ins, int nin, const Buf& shape_of, Attrs attrs = Attrs());

}  // namespace graph
}  // namespace bind
}  // namespace gc
