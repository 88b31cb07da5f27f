// `_C.run`, the one entry from Python into the kernel registry (METH_FASTCALL, no pybind11 on
// the per-call path), and the numpy <-> Buf conversions it and module.cpp use. Kept in one
// translation unit so the per-call helpers inline into `run`.
#include "bind/entry.h"
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>
#include "core/alloc.h"
#include "core/registry.h"

namespace py = pybind11;
using py::detail::npy_api;

namespace gc {
namespace bind {

int g_typenum[4];  // numpy's type numbers of the four dtypes (indexed by DType)

namespace {
constexpr int kMaxArgs = 16, kMaxAttrs = 64;
const char* kCapsuleName = "gradcore.storage";

int typenum_of(DType d) { return g_typenum[int(d)]; }
bool dtype_from_typenum(int t, DType* d) {
  for (int i = 0; i < 4; ++i) if (g_typenum[i] == t) { *d = DType(i); return true; }
  // int64 has two type numbers on LP64 platforms (long and long long)
  if (t == npy_api::NPY_LONGLONG_ || t == npy_api::NPY_LONG_) {
    if (py::dtype(t).itemsize() == 8) { *d = DType::i64; return true; }
  }
  return false;
}

void storage_capsule_free(PyObject* cap) {
  void* p = PyCapsule_GetPointer(cap, kCapsuleName);
  storage_free(p, reinterpret_cast<size_t>(PyCapsule_GetContext(cap)));
}

std::string shape_str(int ndim, const int64_t* shape) {
  std::string s = "(";
  for (int i = 0; i < ndim; ++i)
    s += std::to_string(shape[i]) + (i + 1 < ndim ? ", " : ndim == 1 ? "," : "");
  return s + ")";
}
}  // namespace

// A new C-contiguous numpy array over 64-byte aligned storage owned by the C++ core.
// `op` names the caller in the MemoryError raised when the storage cannot be had.
PyObject* new_array(DType dt, int ndim, const int64_t* shape, const char* op) {
  auto& api = npy_api::get();
  size_t bytes = dtype_size(dt);
  bool overflow = false, empty = false;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] < 0) { PyErr_Format(PyExc_ValueError, "%s: negative dimension %lld", op, (long long)shape[i]); return nullptr; }
    if (shape[i] == 0) empty = true;
    else if (bytes > SIZE_MAX / size_t(shape[i])) overflow = true;
    else bytes *= size_t(shape[i]);
  }
  if (empty) { overflow = false; bytes = 0; }
  if (overflow || bytes > size_t(PTRDIFF_MAX)) {
    PyErr_Format(PyExc_MemoryError, "%s: cannot allocate a %s tensor of shape %s: more than "
                 "2^63 bytes", op, dtype_name(dt), shape_str(ndim, shape).c_str());
    return nullptr;
  }
  void* p = nullptr;
  try { p = storage_alloc(bytes); }
  catch (const std::bad_alloc&) {
    PyErr_Format(PyExc_MemoryError, "%s: cannot allocate %zu bytes for a %s tensor of shape %s",
                 op, bytes, dtype_name(dt), shape_str(ndim, shape).c_str());
    return nullptr;
  }
  PyObject* cap = PyCapsule_New(p, kCapsuleName, storage_capsule_free);
  if (!cap) { storage_free(p, bytes); return nullptr; }
  PyCapsule_SetContext(cap, reinterpret_cast<void*>(bytes));
  Py_intptr_t dims[kMaxDims];
  for (int i = 0; i < ndim; ++i) dims[i] = shape[i];
  PyObject* arr = api.PyArray_NewFromDescr_(
      api.PyArray_Type_, api.PyArray_DescrFromType_(typenum_of(dt)), ndim, dims, nullptr, p,
      npy_api::NPY_ARRAY_C_CONTIGUOUS_ | npy_api::NPY_ARRAY_ALIGNED_ | npy_api::NPY_ARRAY_WRITEABLE_,
      nullptr);
  if (!arr) { Py_DECREF(cap); return nullptr; }
  if (api.PyArray_SetBaseObject_(arr, cap) < 0) { Py_DECREF(arr); return nullptr; }
  return arr;
}

bool to_buf(PyObject* o, Buf* b, const char* kname, const char* role, int i, bool writable) {
  auto& api = npy_api::get();
  if (!api.PyArray_Check_(o)) {
    PyErr_Format(PyExc_TypeError, "%s: %s #%d must be a numpy array, got %s", kname, role, i,
                 Py_TYPE(o)->tp_name);
    return false;
  }
  auto* a = py::detail::array_proxy(o);
  auto* d = py::detail::array_descriptor_proxy(a->descr);
  int need = npy_api::NPY_ARRAY_C_CONTIGUOUS_ | npy_api::NPY_ARRAY_ALIGNED_ |
             (writable ? npy_api::NPY_ARRAY_WRITEABLE_ : 0);
  if ((a->flags & need) != need || d->byteorder == '>') {
    PyErr_Format(PyExc_ValueError, "%s: %s #%d must be an aligned, C-contiguous%s native array",
                 kname, role, i, writable ? ", writable" : "");
    return false;
  }
  if (!dtype_from_typenum(d->type_num, &b->dtype)) {
    PyErr_Format(PyExc_TypeError, "%s: %s #%d has unsupported dtype (type number %d); gradcore "
                 "kernels take float32, float64, int64 and bool", kname, role, i, d->type_num);
    return false;
  }
  if (a->nd > kMaxDims) {
    PyErr_Format(PyExc_ValueError, "%s: %s #%d has %d dims, at most %d are supported", kname,
                 role, i, a->nd, kMaxDims);
    return false;
  }
  b->data = a->data; b->ndim = a->nd;
  for (int k = 0; k < a->nd; ++k) b->shape[k] = a->dimensions[k];
  return true;
}

namespace {
// Flatten numbers and (nested) tuples/lists of numbers into attrs.
bool push_attr(PyObject* o, double* attrs, int* n, const char* kname) {
  if (PyTuple_Check(o) || PyList_Check(o)) {
    Py_ssize_t len = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    for (Py_ssize_t j = 0; j < len; ++j) if (!push_attr(items[j], attrs, n, kname)) return false;
    return true;
  }
  if (*n >= kMaxAttrs) { PyErr_Format(PyExc_ValueError, "%s: too many attributes", kname); return false; }
  double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s: attribute must be a number, got %s", kname, Py_TYPE(o)->tp_name);
    return false;
  }
  attrs[(*n)++] = v;
  return true;
}

// A call's arguments sorted into the schema's slots: tensors (inputs then outputs; a variadic
// list takes every leading array) and attributes, from positional and keyword arguments.
struct Args {
  PyObject* tensors[2 * kMaxArgs];
  std::vector<PyObject*>* var = nullptr;   // variadic inputs
  double attrs[kMaxAttrs];
  int nattr = 0;
};

int find_name(const KernelDef& k, PyObject* name, bool* is_attr) {
  for (int i = 0; i < k.nin() + k.nout(); ++i) {
    const auto& a = i < k.nin() ? k.ins[i] : k.outs[i - k.nin()];
    if (PyUnicode_CompareWithASCIIString(name, a.name.c_str()) == 0) { *is_attr = false; return i; }
  }
  for (int i = 0; i < int(k.attrs.size()); ++i)
    if (PyUnicode_CompareWithASCIIString(name, k.attrs[i].name.c_str()) == 0) { *is_attr = true; return i; }
  return -1;
}

bool sort_args(const KernelDef& k, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
               Args* a) {
  const char* kn = k.name.c_str();
  const int nt = k.nin() + k.nout();
  if (nt > 2 * kMaxArgs) { PyErr_Format(PyExc_ValueError, "%s: too many tensors", kn); return false; }
  auto& api = npy_api::get();
  Py_ssize_t j = 0;
  if (k.variadic) {
    for (; j < nargs && j < k.nin() - 1; ++j) a->tensors[j] = args[j];
    for (; j < nargs && api.PyArray_Check_(args[j]); ++j) a->var->push_back(args[j]);
  } else {
    for (; j < nargs && j < nt; ++j) a->tensors[j] = args[j];
  }
  for (; j < nargs; ++j) if (!push_attr(args[j], a->attrs, &a->nattr, kn)) return false;
  const int npos = a->nattr;
  PyObject* kw_attr[kMaxAttrs] = {nullptr};
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nkw; ++i) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, i);
    bool is_attr = false;
    int s = find_name(k, name, &is_attr);
    if (s < 0 || (!is_attr && k.variadic && s == k.nin() - 1)) {
      PyErr_Format(PyExc_TypeError, "%s: unexpected keyword argument '%U' (schema: %s)", kn, name,
                   k.schema.c_str());
      return false;
    }
    PyObject*& slot = is_attr ? kw_attr[s] : a->tensors[s];
    if (slot || (is_attr && s < npos)) {
      PyErr_Format(PyExc_TypeError, "%s: argument '%U' given twice", kn, name);
      return false;
    }
    slot = args[nargs + i];
  }
  for (int s = 0; s < nt; ++s) {
    if (k.variadic && s == k.nin() - 1) continue;
    if (!a->tensors[s]) {
      const bool in = s < k.nin();
      PyErr_Format(PyExc_TypeError, "%s: missing %s '%s' (schema: %s)", kn, in ? "input" : "output",
                   (in ? k.ins[s] : k.outs[s - k.nin()]).name.c_str(), k.schema.c_str());
      return false;
    }
  }
  if (nkw == 0) return true;  // positional attributes: the kernel call checks their count
  for (int s = npos; s < int(k.attrs.size()); ++s) {
    const AttrArg& at = k.attrs[s];
    if (kw_attr[s]) {
      if (!push_attr(kw_attr[s], a->attrs, &a->nattr, kn)) return false;
    } else if (at.type == AType::IntList || at.type == AType::FloatList) {
      break;
    } else if (at.has_default) {
      a->attrs[a->nattr++] = at.def;
    } else {
      PyErr_Format(PyExc_TypeError, "%s: missing attribute '%s' (schema: %s)", kn, at.name.c_str(),
                   k.schema.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

// Run kernel k through gc::call with the GIL released for large tensors; a C++ exception
// becomes the matching Python exception.
bool call_kernel(int id, Ins ins, Outs outs, Attrs attrs, int64_t big) {
  PyObject* etype = nullptr; std::string msg;
  PyThreadState* ts = big >= 4096 ? PyEval_SaveThread() : nullptr;  // tiny ops keep the GIL
  try {
    call(id, ins, outs, attrs);
  } catch (const type_error& e) { etype = PyExc_TypeError; msg = e.what(); }
  catch (const std::invalid_argument& e) { etype = PyExc_ValueError; msg = e.what(); }
  catch (const std::out_of_range& e) { etype = PyExc_IndexError; msg = e.what(); }
  catch (const std::bad_alloc&) { etype = PyExc_MemoryError; msg = kernels()[id].name + ": out of memory (kernel scratch space)"; }
  catch (const std::exception& e) { etype = PyExc_RuntimeError; msg = e.what(); }
  if (ts) PyEval_RestoreThread(ts);
  if (etype) { PyErr_SetString(etype, msg.c_str()); return false; }
  return true;
}

namespace {

// Variadic in-place kernels (fused multi-tensor optimizer steps): the fixed leading inputs and
// then every array argument are read and written in place. Returns None.
PyObject* run_variadic(int id, const KernelDef& k, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  constexpr size_t kMaxVar = 4096;
  static thread_local std::vector<PyObject*> objs;
  static thread_local std::vector<Buf> bufs;
  static thread_local Args a;
  objs.clear(); bufs.clear();
  std::fill(a.tensors, a.tensors + 2 * kMaxArgs, nullptr);
  a.var = &objs; a.nattr = 0;
  if (!sort_args(k, args, nargs, kwnames, &a)) return nullptr;
  if (objs.size() > kMaxVar) { PyErr_Format(PyExc_ValueError, "%s: too many tensors", k.name.c_str()); return nullptr; }
  int64_t big = 0;
  for (int i = 0; i < k.nin() - 1; ++i) objs.insert(objs.begin() + i, a.tensors[i]);
  for (size_t i = 0; i < objs.size(); ++i) {
    bufs.emplace_back();
    if (!to_buf(objs[i], &bufs.back(), k.name.c_str(), "tensor", int(i), true)) return nullptr;
    big += bufs.back().numel();
  }
  if (!call_kernel(id, Ins(bufs.data(), bufs.size()), Outs(), Attrs(a.attrs, a.nattr), big)) return nullptr;
  Py_RETURN_NONE;
}

// _C.run(kernel_id, *inputs, *outputs, *attrs, **named): inputs are arrays; each output is an
// array to write into or a shape tuple to allocate; the remaining arguments are numeric
// attributes. Any schema argument may be passed by name. Returns the output array, a tuple of
// them, or None.
PyObject* run(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs < 1) { PyErr_SetString(PyExc_TypeError, "run(kernel_id, ...)"); return nullptr; }
  long id = PyLong_AsLong(args[0]);
  const auto& table = kernels();
  if (id < 0 || id >= long(table.size())) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "run: no kernel with id %ld", id);
    return nullptr;
  }
  const KernelDef& k = table[id];
  if (k.variadic) return run_variadic(int(id), k, args + 1, nargs - 1, kwnames);
  const int nin = k.nin(), nout = k.nout();
  const char* kn = k.name.c_str();
  // Only the Bufs a call uses are constructed (zeroing all 32 slots measured ~7% of a tiny op).
  alignas(Buf) unsigned char raw_in[kMaxArgs * sizeof(Buf)], raw_out[kMaxArgs * sizeof(Buf)];
  Buf* ins = reinterpret_cast<Buf*>(raw_in);
  Buf* outs = reinterpret_cast<Buf*>(raw_out);
  for (int i = 0; i < nin; ++i) new (ins + i) Buf;
  for (int i = 0; i < nout; ++i) new (outs + i) Buf;
  double attr_buf[kMaxAttrs];
  double* attrs = attr_buf;
  int nattr = 0;
  PyObject* const* targs;  // the tensor arguments in schema order
  if (!kwnames && nargs - 1 >= nin + nout && nin + nout <= 2 * kMaxArgs) {
    targs = args + 1;      // positional call: no sorting
    for (Py_ssize_t j = 1 + nin + nout; j < nargs; ++j)
      if (!push_attr(args[j], attrs, &nattr, kn)) return nullptr;
  } else {
    static thread_local Args a;  // the slow path: named arguments
    a.nattr = 0;
    std::fill(a.tensors, a.tensors + 2 * kMaxArgs, nullptr);
    if (!sort_args(k, args + 1, nargs - 1, kwnames, &a)) return nullptr;
    targs = a.tensors;
    attrs = a.attrs;
    nattr = a.nattr;
  }
  PyObject* out_objs[kMaxArgs];
  std::fill(out_objs, out_objs + nout, nullptr);
  int64_t big = 0;
  auto cleanup = [&]() { for (int i = 0; i < nout; ++i) Py_XDECREF(out_objs[i]); return nullptr; };
  for (int i = 0; i < nin; ++i) {
    if (!to_buf(targs[i], &ins[i], kn, "input", i, k.ins[i].inplace)) return nullptr;
    big = std::max(big, ins[i].numel());
  }
  for (int i = 0; i < nout; ++i) {
    PyObject* o = targs[nin + i];
    if (PyTuple_Check(o)) {
      int nd = int(PyTuple_GET_SIZE(o));
      if (nd > kMaxDims) { PyErr_Format(PyExc_ValueError, "%s: too many dims", kn); return cleanup(); }
      int64_t shape[kMaxDims];
      for (int j = 0; j < nd; ++j) {
        shape[j] = PyLong_AsLongLong(PyTuple_GET_ITEM(o, j));
        if (shape[j] < 0) {
          if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "%s: negative dimension", kn);
          return cleanup();
        }
      }
      DType dt;
      try { dt = out_dtype(k, i, Ins(ins, nin)); }
      catch (const std::exception& e) { PyErr_SetString(PyExc_TypeError, e.what()); return cleanup(); }
      out_objs[i] = new_array(dt, nd, shape, kn);
      if (!out_objs[i]) return cleanup();
    } else {
      Py_INCREF(o); out_objs[i] = o;
    }
    if (!to_buf(out_objs[i], &outs[i], kn, "output", i, true)) return cleanup();
    big = std::max(big, outs[i].numel());
  }
  if (!call_kernel(int(id), Ins(ins, nin), Outs(outs, nout), Attrs(attrs, nattr), big)) return cleanup();
  if (nout == 1) return out_objs[0];
  if (nout == 0) Py_RETURN_NONE;
  PyObject* t = PyTuple_New(nout);
  for (int i = 0; i < nout; ++i) PyTuple_SET_ITEM(t, i, out_objs[i]);
  return t;
}

}  // namespace

PyMethodDef run_def = {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(run)),
                       METH_FASTCALL | METH_KEYWORDS, "run(kernel_id, *inputs, *outputs, *attrs, **named)"};

}  // namespace bind
}  // namespace gc
