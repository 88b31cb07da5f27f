// The engine's hot path in C, forward half: building a graph node for an elementwise op
// (`graph_op`), and `graph_init`, which hands over the Python objects both halves read. The
// backward walk is bind/backward.cpp. Both do exactly what python/gradcore/engine.py's `make`
// and `backward` do, for the common case only, and answer NotImplemented (before touching
// anything) when the case is not theirs: a dispatcher hook installed (profiler, recorder, NaN
// check), a node-site label (anomaly mode), mixed or integer dtypes, shapes that do not
// broadcast, gradients wanted as a return value or leaves with post-accumulate hooks. Python then
// runs the general code, so behaviour never depends on which path ran.
#include "bind/graph.h"
#include <structmember.h>
#include <pybind11/numpy.h>
#include <algorithm>
#include "core/registry.h"

namespace py = pybind11;
using py::detail::npy_api;

namespace gc {
namespace bind {
namespace graph {

State S;

bool unhooked() {
  return S.t_data >= 0 && PyDict_GetItem(S.dispatch, S.s_run) == S.c_run &&
         PyDict_GetItem(S.engine, S.s_site_hook) == Py_None;
}

bool plain_float(PyObject* o, Buf* b) {
  auto& api = npy_api::get();
  if (!o || !api.PyArray_Check_(o)) return false;
  auto* a = py::detail::array_proxy(o);
  auto* d = py::detail::array_descriptor_proxy(a->descr);
  const int need = npy_api::NPY_ARRAY_C_CONTIGUOUS_ | npy_api::NPY_ARRAY_ALIGNED_;
  if ((a->flags & need) != need || d->byteorder == '>' || a->nd > kMaxDims) return false;
  if (d->type_num == g_typenum[int(DType::f32)]) b->dtype = DType::f32;
  else if (d->type_num == g_typenum[int(DType::f64)]) b->dtype = DType::f64;
  else return false;
  b->data = a->data; b->ndim = a->nd;
  for (int k = 0; k < a->nd; ++k) b->shape[k] = a->dimensions[k];
  return true;
}

PyObject* run_new(int kid, const Buf* ins, int nin, const Buf& shape_of, Attrs attrs) {
  const KernelDef& k = kernels()[kid];
  PyObject* out = new_array(ins[0].dtype, shape_of.ndim, shape_of.shape.data(), k.name.c_str());
  if (!out) return nullptr;
  Buf ob;
  plain_float(out, &ob);
  if (!call_kernel(kid, Ins(ins, nin), Outs(&ob, 1), attrs, ob.numel())) { Py_DECREF(out); return nullptr; }
  return out;
}

}  // namespace graph

namespace {
using namespace graph;

bool offset(PyTypeObject* t, const char* name, Py_ssize_t* off) {
  PyObject* d = PyDict_GetItemString(t->tp_dict, name);
  if (!d || Py_TYPE(d) != &PyMemberDescr_Type) {
    PyErr_Format(PyExc_TypeError, "graph_init: %s.%s is not a slot", t->tp_name, name);
    return false;
  }
  *off = reinterpret_cast<PyMemberDescrObject*>(d)->d_member->offset;
  return true;
}

PyObject* shape_tuple(const Buf& b) {
  PyObject* t = PyTuple_New(b.ndim);
  if (!t) return nullptr;
  for (int i = 0; i < b.ndim; ++i) PyTuple_SET_ITEM(t, i, PyLong_FromLongLong(b.shape[i]));
  return t;
}

PyObject* new_tensor(PyObject* data) {  // steals data
  PyObject* t = S.tensor->tp_alloc(S.tensor, 0);
  if (!t) { Py_DECREF(data); return nullptr; }
  slot(t, S.t_data) = data;
  Py_INCREF(Py_None); slot(t, S.t_grad) = Py_None;
  Py_INCREF(Py_None); slot(t, S.t_node) = Py_None;
  Py_INCREF(Py_False); slot(t, S.t_rg) = Py_False;
  return t;
}

// _C.graph_op(prim, kernel_id, save, *tensors): `kernel(x..., shape) -> y` for one or two
// Tensors of one float dtype (broadcast), wrapped as engine.make would. Saved: save 0 the input
// arrays, 1 (y, ()), 2 (x, ()) (the activations' layout), 3 (y,), 4 (x,) (the math functions');
// 5 is `affine`: graph_op(prim, kid, 5, x, alpha, beta) with saved ((alpha, 0.0),).
// NotImplemented off the fast case.
PyObject* graph_op(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 4 || !unhooked()) Py_RETURN_NOTIMPLEMENTED;
  const long mode = PyLong_AsLong(args[2]);
  double ab[2];  // save 5, affine: (x, alpha, beta) -> alpha x + beta, saved ((alpha, 0.0),)
  if (mode == 5) {
    for (int i = 0; i < 2 && nargs == 6; ++i) {
      ab[i] = PyFloat_AsDouble(args[4 + i]);
      if (ab[i] == -1.0 && PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NOTIMPLEMENTED; }
    }
    if (nargs != 6) Py_RETURN_NOTIMPLEMENTED;
  }
  const int nin = mode == 5 ? 1 : int(nargs) - 3;
  if (nin < 1 || nin > 2) Py_RETURN_NOTIMPLEMENTED;
  Buf ins[2], out;
  for (int i = 0; i < nin; ++i) {  // (a slot never set, on a half-made subclass: not ours)
    PyObject* x = args[3 + i];
    if (!PyObject_TypeCheck(x, S.tensor) || !slot(x, S.t_node) || !slot(x, S.t_rg) ||
        !plain_float(slot(x, S.t_data), &ins[i]))
      Py_RETURN_NOTIMPLEMENTED;
  }
  out = ins[0];
  if (nin == 2) {  // numpy broadcasting; a mismatch is left to Python's error message
    if (ins[1].dtype != ins[0].dtype) Py_RETURN_NOTIMPLEMENTED;
    const Buf &a = ins[0], &b = ins[1];
    out.ndim = std::max(a.ndim, b.ndim);
    for (int i = 0; i < out.ndim; ++i) {
      const int ia = a.ndim - out.ndim + i, ib = b.ndim - out.ndim + i;
      const int64_t x = ia >= 0 ? a.shape[ia] : 1, y = ib >= 0 ? b.shape[ib] : 1;
      if (x != y && x != 1 && y != 1) Py_RETURN_NOTIMPLEMENTED;
      out.shape[i] = x == 1 ? y : x;
    }
  }
  long kid = PyLong_AsLong(args[1]);
  if (kid < 0 || kid >= long(kernels().size())) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "graph_op: no kernel with id %ld", kid);
    return nullptr;
  }
  bool rg[2] = {false, false}, any = false;
  PyObject* en = PyObject_GetAttr(S.grad_mode, S.s_enabled);
  if (!en) return nullptr;
  const int enabled = PyObject_IsTrue(en);
  Py_DECREF(en);
  if (enabled < 0) return nullptr;
  for (int i = 0; enabled && i < nin; ++i) {
    const int r = PyObject_IsTrue(slot(args[3 + i], S.t_rg));
    if (r < 0) return nullptr;
    rg[i] = r; any |= r;
  }
  PyObject* y = run_new(int(kid), ins, nin, out, Attrs(ab, mode == 5 ? 2 : 0));
  if (!y) return nullptr;
  PyObject* saved = nullptr;
  if (any && mode == 5) {
    PyObject* at = Py_BuildValue("(dd)", ab[0], 0.0);
    saved = at ? PyTuple_Pack(1, at) : nullptr;
    Py_XDECREF(at);
    if (!saved) { Py_DECREF(y); return nullptr; }
  } else if (any) {
    PyObject* one = mode == 1 || mode == 3 ? y : slot(args[3], S.t_data);
    if (mode == 1 || mode == 2) {
      PyObject* no_attrs = PyTuple_New(0);
      saved = no_attrs ? PyTuple_Pack(2, one, no_attrs) : nullptr;
      Py_XDECREF(no_attrs);
    } else if (mode == 3 || mode == 4) {
      saved = PyTuple_Pack(1, one);
    } else {
      saved = PyTuple_New(nin);
      for (int i = 0; saved && i < nin; ++i) {
        PyObject* d = slot(args[3 + i], S.t_data);
        Py_INCREF(d); PyTuple_SET_ITEM(saved, i, d);
      }
    }
    if (!saved) { Py_DECREF(y); return nullptr; }
  }
  PyObject* t = new_tensor(y);
  if (!t || !any) { Py_XDECREF(saved); return t; }
  PyObject* n = S.node->tp_alloc(S.node, 0);
  PyObject *parents = PyTuple_New(nin), *needs = PyTuple_New(nin), *shapes = PyTuple_New(nin);
  if (!n || !parents || !needs || !shapes) {
    Py_XDECREF(n); Py_XDECREF(parents); Py_XDECREF(needs); Py_XDECREF(shapes);
    Py_DECREF(saved); Py_DECREF(t); return nullptr;
  }
  for (int i = 0; i < nin; ++i) {
    PyObject* x = args[3 + i];
    PyObject* p = !rg[i] ? Py_None : slot(x, S.t_node) != Py_None ? slot(x, S.t_node) : x;
    Py_INCREF(p); PyTuple_SET_ITEM(parents, i, p);
    PyObject* nd = rg[i] ? Py_True : Py_False;
    Py_INCREF(nd); PyTuple_SET_ITEM(needs, i, nd);
    PyObject* sh = shape_tuple(ins[i]);
    if (!sh) { Py_DECREF(n); Py_DECREF(parents); Py_DECREF(needs); Py_DECREF(shapes); Py_DECREF(saved); Py_DECREF(t); return nullptr; }
    PyTuple_SET_ITEM(shapes, i, sh);
  }
  PyObject* stamp = PyList_GET_ITEM(S.clock, 0);
  Py_INCREF(stamp); slot(n, S.n_stamp) = stamp;
  Py_INCREF(args[0]); slot(n, S.n_prim) = args[0];
  slot(n, S.n_parents) = parents;
  slot(n, S.n_needs) = needs;
  slot(n, S.n_shapes) = shapes;
  slot(n, S.n_saved) = saved;
  Py_INCREF(Py_None); slot(n, S.n_pending) = Py_None;
  Py_INCREF(Py_None); slot(n, S.n_g) = Py_None;
  put(t, S.t_node, n);
  Py_INCREF(Py_True); put(t, S.t_rg, Py_True);
  return t;
}

// _C.graph_init(Tensor, Node, engine globals, dispatch globals, _C.run, grad_mode, clock, FREED,
//               check_saved, backward_name, unbroadcast, run_tensor_hooks, add id, accumulate id)
PyObject* graph_init(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 14 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyDict_Check(args[2]) ||
      !PyDict_Check(args[3]) || !PyList_Check(args[6])) {
    PyErr_SetString(PyExc_TypeError, "graph_init: unexpected arguments");
    return nullptr;
  }
  State s;
  s.tensor = reinterpret_cast<PyTypeObject*>(args[0]);
  s.node = reinterpret_cast<PyTypeObject*>(args[1]);
  s.engine = args[2]; s.dispatch = args[3]; s.c_run = args[4]; s.grad_mode = args[5];
  s.clock = args[6]; s.freed = args[7]; s.check_saved = args[8]; s.backward_name = args[9];
  s.unbroadcast = args[10]; s.tensor_hooks = args[11];
  s.add = int(PyLong_AsLong(args[12])); s.accumulate = int(PyLong_AsLong(args[13]));
  if (PyErr_Occurred()) return nullptr;
  if (!offset(s.tensor, "_data", &s.t_data) || !offset(s.tensor, "grad", &s.t_grad) ||
      !offset(s.tensor, "_node", &s.t_node) || !offset(s.tensor, "requires_grad", &s.t_rg) ||
      !offset(s.node, "prim", &s.n_prim) || !offset(s.node, "parents", &s.n_parents) ||
      !offset(s.node, "needs", &s.n_needs) || !offset(s.node, "shapes", &s.n_shapes) ||
      !offset(s.node, "saved", &s.n_saved) || !offset(s.node, "g", &s.n_g) ||
      !offset(s.node, "pending", &s.n_pending) || !offset(s.node, "hooks", &s.n_hooks) ||
      !offset(s.node, "stamp", &s.n_stamp))
    return nullptr;
  for (int i = 0; i < 12; ++i) Py_INCREF(args[i]);  // kept for the module's lifetime
  s.s_run = PyUnicode_InternFromString("run");
  s.s_site_hook = PyUnicode_InternFromString("site_hook");
  s.s_enabled = PyUnicode_InternFromString("enabled");
  s.s_vjp = PyUnicode_InternFromString("vjp");
  s.s_name = PyUnicode_InternFromString("name");
  s.s_table = PyUnicode_InternFromString("table");
  s.s_shape = PyUnicode_InternFromString("shape");
  S = s;
  Py_RETURN_NONE;
}

}  // namespace

PyMethodDef graph_op_def = {"graph_op", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(graph_op)),
                            METH_FASTCALL, "graph_op(prim, kernel_id, save, *tensors)"};
PyMethodDef graph_init_def = {"graph_init", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(graph_init)),
                              METH_FASTCALL, "graph_init(...)"};

}  // namespace bind
}  // namespace gc
