// The engine's hot path in C, backward half: `graph_backward` walks the graph as
// python/gradcore/engine.py's `backward` does (same discovery order, consumer counts, in-place
// checks, tensor hooks, `_unbroadcast` and summation order, so gradients are bit-identical),
// running rules written as kernel tables (registry.defvjp_table) without Python and calling
// the others. Setup and the forward half: bind/graph.cpp.
#include <pybind11/numpy.h>
#include <unordered_map>
#include <vector>
#include "bind/graph.h"
#include "core/registry.h"

namespace py = pybind11;
using py::detail::npy_api;

namespace gc {
namespace bind {
namespace {
using namespace graph;

struct Entry { PyObject* node; int pending; PyObject* g; };  // g: owned reference or null
struct Leaf { PyObject* t; PyObject* g; bool owned; };       // both owned

// `_C.run(kernel, a, b, a.shape)` or `_C.run(accumulate, g, into)`, as engine.py's calls.
PyObject* call_run(int kid, PyObject* a, PyObject* b, bool with_shape) {
  PyObject* id = PyLong_FromLong(kid);
  PyObject* shape = with_shape ? PyObject_GetAttr(a, S.s_shape) : nullptr;
  PyObject* res = nullptr;
  if (id && (shape || !with_shape)) {
    PyObject* args[4] = {id, a, b, shape};
    res = PyObject_Vectorcall(S.c_run, args, with_shape ? 4 : 3, nullptr);
  }
  Py_XDECREF(id); Py_XDECREF(shape);
  return res;
}

// A Primitive's rule table (registry.defvjp_table) run on plain float arrays: a new tuple of
// input gradients; nullptr without an exception when the arrays are not the plain case (the
// caller then runs the Python rule, which computes the same through the dispatcher).
PyObject* table_grads(PyObject* table, PyObject* g, PyObject* needs, PyObject* saved) {
  if (!PyTuple_Check(table) || PyTuple_GET_SIZE(table) != 2) return nullptr;
  PyObject *entries = PyTuple_GET_ITEM(table, 0), *ai = PyTuple_GET_ITEM(table, 1);
  PyObject* at = nullptr;  // the saved tuple of attributes
  if (ai != Py_None) {
    const Py_ssize_t k = PyLong_AsSsize_t(ai);
    if (k < 0 || k >= PyTuple_GET_SIZE(saved)) { PyErr_Clear(); return nullptr; }
    at = PyTuple_GET_ITEM(saved, k);
    if (!PyTuple_Check(at) || PyTuple_GET_SIZE(at) > 8) return nullptr;
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(at); ++j)
      if (!PyFloat_CheckExact(PyTuple_GET_ITEM(at, j))) return nullptr;
  }
  Buf ins[4];
  if (!plain_float(g, &ins[0])) return nullptr;
  const Py_ssize_t n = PyTuple_GET_SIZE(entries);
  if (!PyTuple_Check(needs) || PyTuple_GET_SIZE(needs) != n) return nullptr;
  PyObject* out = PyTuple_New(n);
  if (!out) return nullptr;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject *e = PyTuple_GET_ITEM(entries, i), *r = Py_None;
    if (e != Py_None && PyObject_IsTrue(PyTuple_GET_ITEM(needs, i)) == 1) {
      if (e == Py_True) r = g;
      else {  // (kernel, ints i, floats c): kernel(g, saved[i], ..., g.shape, c, ..., *attrs)
        const long kid = PyLong_AsLong(PyTuple_GET_ITEM(e, 0));
        const Py_ssize_t ne = PyTuple_GET_SIZE(e);
        double attrs[16];
        int nin = 1, na = 0;
        bool plain = ne >= 1 && ne <= 9;
        for (Py_ssize_t k = 1; plain && k < ne; ++k) {
          PyObject* item = PyTuple_GET_ITEM(e, k);
          if (PyFloat_CheckExact(item)) { attrs[na++] = PyFloat_AS_DOUBLE(item); continue; }
          const Py_ssize_t si = PyLong_AsSsize_t(item);
          plain = nin < 4 && si >= 0 && si < PyTuple_GET_SIZE(saved) &&
                  plain_float(PyTuple_GET_ITEM(saved, si), &ins[nin]) && ins[nin].dtype == ins[0].dtype;
          ++nin;
        }
        for (Py_ssize_t j = 0; plain && at && j < PyTuple_GET_SIZE(at); ++j)
          attrs[na++] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(at, j));
        if (!plain) { PyErr_Clear(); Py_DECREF(out); return nullptr; }
        r = run_new(int(kid), ins, nin, ins[0], Attrs(attrs, na));
        if (!r) {  // let the Python rule raise it, with the dispatcher's message
          PyErr_Clear(); Py_DECREF(out); return nullptr;
        }
        PyTuple_SET_ITEM(out, i, r);
        continue;
      }
    }
    Py_INCREF(r);
    PyTuple_SET_ITEM(out, i, r);
  }
  return out;
}

// a + b (engine._add) and into += g (the accumulate kernel) on plain float arrays directly,
// through `_C.run` otherwise (its checks and messages).
PyObject* add_arrays(PyObject* a, PyObject* b) {
  Buf ins[2];
  if (plain_float(a, &ins[0]) && plain_float(b, &ins[1]) && ins[0].dtype == ins[1].dtype)
    return run_new(S.add, ins, 2, ins[0]);
  return call_run(S.add, a, b, true);
}

bool accumulate(PyObject* g, PyObject* into) {
  Buf in, out;
  if (plain_float(g, &in) && plain_float(into, &out) && in.dtype == out.dtype &&
      (py::detail::array_proxy(into)->flags & npy_api::NPY_ARRAY_WRITEABLE_))
    return call_kernel(S.accumulate, Ins(&in, 1), Outs(&out, 1), Attrs(), out.numel());
  PyObject* r = call_run(S.accumulate, g, into, false);
  Py_XDECREF(r);
  return r != nullptr;
}

class Walk {
 public:
  std::vector<Entry> nodes;  // every node reachable from the roots, in discovery order
  std::unordered_map<PyObject*, size_t> index;
  std::vector<Leaf> leaves;
  std::unordered_map<PyObject*, size_t> leaf_index;
  ~Walk() {
    for (auto& e : nodes) { Py_XDECREF(e.g); Py_DECREF(e.node); }
    for (auto& l : leaves) { Py_DECREF(l.t); Py_XDECREF(l.g); }
  }
  void discover(PyObject* n) {
    Py_INCREF(n);
    index.emplace(n, nodes.size());
    nodes.push_back({n, 0, nullptr});
  }
  bool run(bool retain);
  bool route(Entry& e, PyObject* in_grads, std::vector<size_t>* ready);
};

// Phase 2 of engine.backward: rules in reverse topological order.
bool Walk::run(bool retain) {
  std::vector<size_t> ready;
  for (size_t i = 0; i < nodes.size(); ++i) if (nodes[i].pending == 0) ready.push_back(i);
  while (!ready.empty()) {
    const size_t i = ready.back();
    ready.pop_back();
    PyObject* n = nodes[i].node;
    PyObject* g = nodes[i].g;  // owned from here on
    nodes[i].g = nullptr;
    PyObject* saved = slot(n, S.n_saved);
    if (saved == S.freed) {
      Py_XDECREF(g);
      PyObject* msg = PyDict_GetItemString(S.engine, "_FREED_MSG");
      PyErr_SetObject(PyExc_RuntimeError, msg);
      return false;
    }
    Py_INCREF(saved);
    PyObject* in_grads = nullptr;
    if (g) {
      PyObject* stamp = slot(n, S.n_stamp);
      PyObject* now = PyList_GET_ITEM(S.clock, 0);
      if (stamp != now && PyObject_RichCompareBool(stamp, now, Py_NE)) {  // in-place ops since
        PyObject* r = PyObject_CallFunctionObjArgs(S.check_saved, n, S.backward_name, nullptr);
        if (!r) { Py_DECREF(g); Py_DECREF(saved); return false; }
        Py_DECREF(r);
      }
      PyObject* hooks = slot(n, S.n_hooks);
      if (hooks && hooks != Py_None && PyObject_IsTrue(hooks)) {
        PyObject* g2 = PyObject_CallFunctionObjArgs(S.tensor_hooks, hooks, g, nullptr);
        Py_DECREF(g);
        if (!g2) { Py_DECREF(saved); return false; }
        g = g2;
      }
    }
    if (!retain) { Py_INCREF(S.freed); put(n, S.n_saved, S.freed); }
    PyObject* prim = slot(n, S.n_prim);
    if (g) {
      PyObject* table = PyObject_GetAttr(prim, S.s_table);
      if (!table) { Py_DECREF(g); Py_DECREF(saved); return false; }
      if (table != Py_None) in_grads = table_grads(table, g, slot(n, S.n_needs), saved);
      Py_DECREF(table);
    }
    if (g && !in_grads) {
      PyObject* rule = PyObject_GetAttr(prim, S.s_vjp);
      if (rule == Py_None) {
        PyObject* name = PyObject_GetAttr(prim, S.s_name);
        PyErr_Format(PyExc_RuntimeError, "no backward rule for '%S'", name);
        Py_XDECREF(name);
      }
      if (!rule || rule == Py_None) { Py_XDECREF(rule); Py_DECREF(g); Py_DECREF(saved); return false; }
      const Py_ssize_t ns = PyTuple_GET_SIZE(saved);
      std::vector<PyObject*> argv(2 + ns);
      argv[0] = g; argv[1] = slot(n, S.n_needs);
      for (Py_ssize_t k = 0; k < ns; ++k) argv[2 + k] = PyTuple_GET_ITEM(saved, k);
      in_grads = PyObject_Vectorcall(rule, argv.data(), argv.size(), nullptr);
      Py_DECREF(rule);
      if (!in_grads) { Py_DECREF(g); Py_DECREF(saved); return false; }
    }
    Py_XDECREF(g);
    Py_DECREF(saved);
    const bool ok = route(nodes[i], in_grads, &ready);
    Py_XDECREF(in_grads);
    if (!ok) return false;
  }
  return true;
}

// Send one node's input gradients (None for all when it got no gradient) to its parents:
// summed back to the input shapes, added into parent nodes, collected for leaves.
bool Walk::route(Entry& e, PyObject* in_grads, std::vector<size_t>* ready) {
  PyObject* parents = slot(e.node, S.n_parents);
  PyObject* shapes = slot(e.node, S.n_shapes);
  const Py_ssize_t np = PyTuple_GET_SIZE(parents);
  PyObject* seq = nullptr;
  if (in_grads) {
    seq = PySequence_Fast(in_grads, "a backward rule must return a sequence of gradients");
    if (!seq) return false;
    if (PySequence_Fast_GET_SIZE(seq) != np) {
      PyObject* name = PyObject_GetAttr(slot(e.node, S.n_prim), S.s_name);
      PyErr_Format(PyExc_RuntimeError, "backward rule of '%S' returned %zd gradients for %zd inputs",
                   name, PySequence_Fast_GET_SIZE(seq), np);
      Py_XDECREF(name); Py_DECREF(seq);
      return false;
    }
  }
  bool ok = true;
  for (Py_ssize_t i = 0; ok && i < np; ++i) {
    PyObject* p = PyTuple_GET_ITEM(parents, i);
    if (p == Py_None) continue;
    PyObject* gi = seq ? PySequence_Fast_GET_ITEM(seq, i) : Py_None;
    if (gi == Py_None) gi = nullptr;
    if (gi) {
      Py_INCREF(gi);
      PyObject* shape = PyTuple_GET_ITEM(shapes, i);
      PyObject* gs = PyObject_GetAttr(gi, S.s_shape);
      const int differ = gs ? PyObject_RichCompareBool(gs, shape, Py_NE) : -1;
      Py_XDECREF(gs);
      if (differ == 1) {  // engine._unbroadcast sums a broadcast gradient back
        PyObject* name = PyObject_GetAttr(slot(e.node, S.n_prim), S.s_name);
        PyObject* r = name ? PyObject_CallFunctionObjArgs(S.unbroadcast, gi, shape, name, nullptr) : nullptr;
        Py_XDECREF(name);
        Py_DECREF(gi);
        gi = r;
      }
      if (differ < 0 || !gi) { Py_XDECREF(gi); ok = false; break; }
    }
    if (Py_TYPE(p) == S.node) {
      Entry& pe = nodes[index.at(p)];
      if (gi) {
        if (!pe.g) { pe.g = gi; gi = nullptr; }
        else {
          PyObject* sum = add_arrays(pe.g, gi);
          if (!sum) ok = false;
          else { Py_DECREF(pe.g); pe.g = sum; }
        }
      }
      if (--pe.pending == 0) ready->push_back(&pe - nodes.data());
    } else if (gi) {
      auto it = leaf_index.find(p);
      if (it == leaf_index.end()) {
        Py_INCREF(p);
        leaf_index.emplace(p, leaves.size());
        leaves.push_back({p, gi, false});
        gi = nullptr;
      } else {
        Leaf& l = leaves[it->second];
        if (l.owned) ok = accumulate(gi, l.g);
        else if (PyObject* r = add_arrays(l.g, gi)) { Py_DECREF(l.g); l.g = r; l.owned = true; }
        else ok = false;
      }
    }
    Py_XDECREF(gi);
  }
  Py_XDECREF(seq);
  return ok;
}

// _C.graph_backward(roots, seeds, retain_graph) -> [(leaf, grad), ...] in first-contribution
// order, for engine.backward to deliver; NotImplemented (nothing touched) when a root is a leaf
// or its graph was freed.
PyObject* graph_backward(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !unhooked())
    Py_RETURN_NOTIMPLEMENTED;
  PyObject *roots = args[0], *seeds = args[1];
  const Py_ssize_t nr = PyList_GET_SIZE(roots);
  if (PyList_GET_SIZE(seeds) != nr) Py_RETURN_NOTIMPLEMENTED;
  for (Py_ssize_t i = 0; i < nr; ++i) {
    PyObject* r = PyList_GET_ITEM(roots, i);
    if (!PyObject_TypeCheck(r, S.tensor)) Py_RETURN_NOTIMPLEMENTED;
    PyObject* n = slot(r, S.t_node);
    if (!n || Py_TYPE(n) != S.node || slot(n, S.n_saved) == S.freed) Py_RETURN_NOTIMPLEMENTED;
  }
  const int retain = PyObject_IsTrue(args[2]);
  if (retain < 0) return nullptr;
  Walk w;
  // 1. every node reachable from the roots, with its consumer count (engine.backward's order)
  std::vector<PyObject*> stack;
  for (Py_ssize_t i = 0; i < nr; ++i) {
    PyObject* n = slot(PyList_GET_ITEM(roots, i), S.t_node);
    if (!w.index.count(n)) { w.discover(n); stack.push_back(n); }
  }
  while (!stack.empty()) {
    PyObject* parents = slot(stack.back(), S.n_parents);
    stack.pop_back();
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(parents); ++j) {
      PyObject* p = PyTuple_GET_ITEM(parents, j);
      if (Py_TYPE(p) != S.node) continue;
      auto it = w.index.find(p);
      if (it == w.index.end()) { w.discover(p); w.nodes.back().pending = 1; stack.push_back(p); }
      else ++w.nodes[it->second].pending;
    }
  }
  for (Py_ssize_t i = 0; i < nr; ++i) {
    Entry& e = w.nodes[w.index.at(slot(PyList_GET_ITEM(roots, i), S.t_node))];
    PyObject* s = PyList_GET_ITEM(seeds, i);
    if (!e.g) { Py_INCREF(s); e.g = s; }
    else {
      PyObject* sum = add_arrays(e.g, s);
      if (!sum) return nullptr;
      Py_DECREF(e.g); e.g = sum;
    }
  }
  // 2. the rules
  if (!w.run(retain)) return nullptr;
  PyObject* out = PyList_New(Py_ssize_t(w.leaves.size()));
  if (!out) return nullptr;
  for (size_t i = 0; i < w.leaves.size(); ++i) {
    PyObject* pair = PyTuple_Pack(2, w.leaves[i].t, w.leaves[i].g);
    if (!pair) { Py_DECREF(out); return nullptr; }
    PyList_SET_ITEM(out, Py_ssize_t(i), pair);
  }
  return out;
}

}  // namespace

PyMethodDef graph_backward_def = {"graph_backward", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(graph_backward)),
                                  METH_FASTCALL, "graph_backward(roots, seeds, retain_graph)"};

}  // namespace bind
}  // namespace gc
