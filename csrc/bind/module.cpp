// The Python binding is a table: one uniform entry point (`run`) into the kernel registry,
// plus storage, generator, thread and config accessors. No shape logic lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <vector>
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "core/alloc.h"
#include "core/registry.h"
#include "core/rng.h"

namespace py = pybind11;
using py::detail::npy_api;
using namespace gc;

namespace {

constexpr int kMaxArgs = 16, kMaxAttrs = 64;
const char* kCapsuleName = "gradcore.storage";

int typenum_of(DType d) {
  switch (d) { case DType::f32: return 11; case DType::f64: return 12;
               case DType::i64: return 7; default: return 0; }
}
bool dtype_from_typenum(int t, DType* d) {
  switch (t) {
    case 11: *d = DType::f32; return true;  case 12: *d = DType::f64; return true;
    case 7: case 9: *d = DType::i64; return true;  case 0: *d = DType::b8; return true;
    default: return false;
  }
}

void storage_capsule_free(PyObject* cap) {
  void* p = PyCapsule_GetPointer(cap, kCapsuleName);
  storage_free(p, reinterpret_cast<size_t>(PyCapsule_GetContext(cap)));
}

// A new C-contiguous numpy array over 64-byte aligned storage owned by the C++ core.
PyObject* new_array(DType dt, int ndim, const int64_t* shape) {
  auto& api = npy_api::get();
  size_t bytes = dtype_size(dt);
  for (int i = 0; i < ndim; ++i) bytes *= size_t(shape[i]);
  void* p = storage_alloc(bytes);
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

// Variadic in-place kernels (fused multi-tensor optimizer steps): every leading array argument
// is read and written in place; the remaining arguments are attributes. Returns None.
PyObject* run_variadic(const KernelDef& k, PyObject* const* args, Py_ssize_t nargs) {
  constexpr int kMaxVar = 4096;
  static thread_local std::vector<Buf> bufs;
  bufs.clear();
  Py_ssize_t j = 1;
  auto& api = npy_api::get();
  for (; j < nargs && api.PyArray_Check_(args[j]); ++j) {
    if (int(bufs.size()) >= kMaxVar) { PyErr_Format(PyExc_ValueError, "%s: too many tensors", k.name); return nullptr; }
    bufs.emplace_back();
    if (!to_buf(args[j], &bufs.back(), k.name, "tensor", int(j - 1), true)) return nullptr;
  }
  double attrs[kMaxAttrs]; int nattr = 0;
  for (; j < nargs; ++j) if (!push_attr(args[j], attrs, &nattr, k.name)) return nullptr;
  int64_t big = 0;
  for (auto& b : bufs) big += b.numel();
  PyObject* etype = nullptr; std::string msg;
  PyThreadState* ts = big >= 4096 ? PyEval_SaveThread() : nullptr;
  try { k.fn(Ins(bufs.data(), bufs.size()), Outs(), Attrs(attrs, nattr)); }
  catch (const type_error& e) { etype = PyExc_TypeError; msg = e.what(); }
  catch (const std::invalid_argument& e) { etype = PyExc_ValueError; msg = e.what(); }
  catch (const std::exception& e) { etype = PyExc_RuntimeError; msg = e.what(); }
  if (ts) PyEval_RestoreThread(ts);
  if (etype) { PyErr_SetString(etype, msg.c_str()); return nullptr; }
  Py_RETURN_NONE;
}

// _C.run(kernel_id, *inputs, *outputs, *attrs): inputs are arrays; each output is an array to
// write into or a shape tuple to allocate; the remaining arguments are numeric attributes.
// Returns the output array, or a tuple of them.
PyObject* run(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1) { PyErr_SetString(PyExc_TypeError, "run(kernel_id, ...)"); return nullptr; }
  long id = PyLong_AsLong(args[0]);
  const auto& table = kernels();
  if (id < 0 || id >= long(table.size())) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "run: no kernel with id %ld", id);
    return nullptr;
  }
  const KernelDef& k = table[id];
  if (k.nin == kVariadic) return run_variadic(k, args, nargs);
  if (nargs < 1 + k.nin + k.nout) {
    PyErr_Format(PyExc_TypeError, "%s: needs %d inputs and %d outputs", k.name, k.nin, k.nout);
    return nullptr;
  }
  Buf ins[kMaxArgs], outs[kMaxArgs];
  double attrs[kMaxAttrs]; int nattr = 0;
  PyObject* out_objs[kMaxArgs] = {nullptr};
  int64_t big = 0;
  auto cleanup = [&]() { for (int i = 0; i < k.nout; ++i) Py_XDECREF(out_objs[i]); return nullptr; };
  for (int i = 0; i < k.nin; ++i) {
    if (!to_buf(args[1 + i], &ins[i], k.name, "input", i, false)) return nullptr;
    big = std::max(big, ins[i].numel());
  }
  for (int i = 0; i < k.nout; ++i) {
    PyObject* o = args[1 + k.nin + i];
    if (PyTuple_Check(o)) {
      int nd = int(PyTuple_GET_SIZE(o));
      if (nd > kMaxDims) { PyErr_Format(PyExc_ValueError, "%s: too many dims", k.name); return cleanup(); }
      int64_t shape[kMaxDims];
      for (int j = 0; j < nd; ++j) {
        shape[j] = PyLong_AsLongLong(PyTuple_GET_ITEM(o, j));
        if (shape[j] < 0) {
          if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "%s: negative dimension", k.name);
          return cleanup();
        }
      }
      const int8_t code = k.out_dtype[std::min(i, 3)];
      DType dt = code >= 0 ? DType(code)
                 : code == kSameAsInput1 && k.nin > 1 ? ins[1].dtype
                 : k.nin > 0 ? ins[0].dtype : DType::f32;
      out_objs[i] = new_array(dt, nd, shape);
      if (!out_objs[i]) return cleanup();
    } else {
      Py_INCREF(o); out_objs[i] = o;
    }
    if (!to_buf(out_objs[i], &outs[i], k.name, "output", i, true)) return cleanup();
    big = std::max(big, outs[i].numel());
  }
  for (Py_ssize_t j = 1 + k.nin + k.nout; j < nargs; ++j)
    if (!push_attr(args[j], attrs, &nattr, k.name)) return cleanup();

  const char* err = nullptr; PyObject* etype = nullptr; std::string msg;
  PyThreadState* ts = big >= 4096 ? PyEval_SaveThread() : nullptr;  // tiny ops keep the GIL
  try {
    k.fn(Ins(ins, k.nin), Outs(outs, k.nout), Attrs(attrs, nattr));
  } catch (const type_error& e) { etype = PyExc_TypeError; msg = e.what(); }
  catch (const std::invalid_argument& e) { etype = PyExc_ValueError; msg = e.what(); }
  catch (const std::bad_alloc&) { etype = PyExc_MemoryError; msg = std::string(k.name) + ": out of memory"; }
  catch (const std::exception& e) { etype = PyExc_RuntimeError; msg = e.what(); }
  if (ts) PyEval_RestoreThread(ts);
  (void)err;
  if (etype) { PyErr_SetString(etype, msg.c_str()); return cleanup(); }
  if (k.nout == 1) return out_objs[0];
  PyObject* t = PyTuple_New(k.nout);
  for (int i = 0; i < k.nout; ++i) PyTuple_SET_ITEM(t, i, out_objs[i]);
  return t;
}

PyMethodDef run_def = {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(run)),
                       METH_FASTCALL, "run(kernel_id, *inputs, *outputs, *attrs)"};

py::object empty(const std::vector<int64_t>& shape, int dtype) {
  GC_CHECK(dtype >= 0 && dtype <= 3, "empty: bad dtype code " << dtype);
  GC_CHECK(shape.size() <= size_t(kMaxDims), "empty: at most " << kMaxDims << " dims");
  for (auto s : shape) GC_CHECK(s >= 0, "empty: negative dimension " << s);
  PyObject* a = new_array(DType(dtype), int(shape.size()), shape.data());
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(a);
}

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
void set_num_threads(int n) {
  GC_CHECK(n >= 1, "set_num_threads: n must be >= 1, got " << n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

py::dict config() {
  py::dict d;
  d["version"] = GC_VERSION;
  d["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
               "." + std::to_string(EIGEN_MINOR_VERSION);
#ifdef _OPENMP
  d["openmp"] = _OPENMP;
#else
  d["openmp"] = py::none();
#endif
  d["num_threads"] = num_threads();
  d["simd_option"] = GC_SIMD;
  std::string flags;
#ifdef __AVX512F__
  flags += "AVX512F ";
#endif
#ifdef __AVX2__
  flags += "AVX2 ";
#endif
#ifdef __FMA__
  flags += "FMA ";
#endif
#ifdef __AVX__
  flags += "AVX ";
#endif
#ifdef __SSE4_2__
  flags += "SSE4.2";
#endif
  d["simd"] = flags;
  d["eigen_simd"] = Eigen::SimdInstructionSetsInUse();
  d["compiler"] = __VERSION__;
  return d;
}

}  // namespace

// A build for a newer CPU than this one would die of SIGILL at the first kernel: refuse at import.
void check_cpu() {
  const char* missing = nullptr;
#if defined(__AVX512F__)
  if (!__builtin_cpu_supports("avx512f")) missing = "AVX-512";
#endif
#if defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2")) missing = "AVX2";
#endif
#if defined(__FMA__)
  if (!__builtin_cpu_supports("fma")) missing = "FMA";
#endif
  if (missing)
    throw std::runtime_error(std::string("gradcore was compiled for a CPU with ") + missing +
                             ", which this CPU lacks; reinstall with "
                             "`pip install . -Ccmake.define.GRADCORE_SIMD=portable`");
}

PYBIND11_MODULE(_C, m) {
  check_cpu();
  m.doc() = "gradcore's private C++ core. Use the gradcore package instead.";
  Eigen::setNbThreads(1);  // gemm splits work across OpenMP threads itself (kernels/matmul.cpp)
  py::register_exception_translator([](std::exception_ptr p) {
    try { if (p) std::rethrow_exception(p); }
    catch (const type_error& e) { PyErr_SetString(PyExc_TypeError, e.what()); }
  });
  m.add_object("run", py::reinterpret_steal<py::object>(PyCFunction_New(&run_def, nullptr)));
  m.def("kernel_names", []() { std::vector<std::string> v; for (auto& k : kernels()) v.push_back(k.name); return v; });
  m.def("kernel_arity", [](int id) { auto& k = kernels().at(id); return std::make_pair(k.nin, k.nout); });
  m.def("empty", &empty, py::arg("shape"), py::arg("dtype"));
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); });
  m.def("rng_get_state", []() { return std::make_pair(rng_state().seed, rng_state().offset); });
  m.def("rng_set_state", [](uint64_t s, uint64_t o) { rng_state() = {s, o}; });
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", &set_num_threads);
  m.def("storage_cached_bytes", &storage_cached_bytes);
  m.def("storage_empty_cache", &storage_empty_cache);
  m.def("config", &config);
}
