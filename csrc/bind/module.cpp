// The Python binding is a table: the uniform entry point `run` (bind/entry.cpp) into the kernel
// registry, plus Programs, storage, generator, thread and config accessors. No shape logic.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <new>
#include <vector>
#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "bind/entry.h"
#include "core/alloc.h"
#include "core/program.h"
#include "core/registry.h"
#include "core/rng.h"
#include "core/threads.h"

namespace py = pybind11;
using namespace gc;
using namespace gc::bind;

namespace {

// A recorded Program plus the arrays it points into (kept alive as long as the Program).
struct PyProgram {
  Program prog;
  py::list keep;
};

std::vector<Buf> to_bufs(const py::sequence& arrays, const char* what) {
  std::vector<Buf> out;
  int i = 0;
  for (auto o : arrays) {
    Buf b;
    if (!to_buf(o.ptr(), &b, what, "input", i++, false)) throw py::error_already_set();
    out.push_back(b);
  }
  return out;
}

PyProgram make_program(const py::list& calls, const py::sequence& inputs) {
  PyProgram p;
  p.prog.inputs = to_bufs(inputs, "Program");
  for (auto o : inputs) p.keep.append(o);
  for (auto item : calls) {
    auto c = item.cast<py::tuple>();
    RecordedCall rc;
    rc.id = c[0].cast<int>();
    GC_CHECK(rc.id >= 0 && rc.id < int(kernels().size()), "Program: kernel id " << rc.id << " out of range");
    const char* kn = kernels()[rc.id].name.c_str();
    for (int side = 0; side < 2; ++side) {
      int i = 0;
      for (auto o : c[1 + side].cast<py::sequence>()) {
        Buf b;
        const bool w = side == 1 || (i < kernels()[rc.id].nin() && kernels()[rc.id].ins[i].inplace);
        if (!to_buf(o.ptr(), &b, kn, side ? "output" : "input", i++, w)) throw py::error_already_set();
        (side ? rc.outs : rc.ins).push_back(b);
        p.keep.append(o);
      }
    }
    for (auto v : c[3].cast<py::sequence>()) rc.attrs.push_back(v.cast<double>());
    p.prog.calls.push_back(std::move(rc));
  }
  p.prog.prepare();
  return p;
}

py::object empty(const std::vector<int64_t>& shape, int dtype) {
  GC_CHECK(dtype >= 0 && dtype <= 3, "empty: bad dtype code " << dtype);
  GC_CHECK(shape.size() <= size_t(kMaxDims), "empty: at most " << kMaxDims << " dims, got shape with " << shape.size());
  for (auto s : shape) GC_CHECK(s >= 0, "empty: negative dimension " << s);
  PyObject* a = new_array(DType(dtype), int(shape.size()), shape.data(), "empty");
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(a);
}

// gradcore's own thread count (core/threads.h): OpenMP's global setting is never touched.
int num_threads() { return configured_threads(); }
void set_num_threads(int n) { set_threads(n); }

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
  d["adaptive_threads"] = adaptive_threads();
  d["cores_shared"] = cores_shared();
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
#ifdef GC_SANITIZE
  d["sanitize"] = GC_SANITIZE;
#else
  d["sanitize"] = py::none();
#endif
  return d;
}

// The schemas as Python data: (name, schema, inputs, outputs, attrs, variadic, has_flops) with
// inputs/outputs as (name, type) and attrs as (name, type, default or None).
py::list kernel_schemas() {
  static const char* ttext[] = {"T", "A", "float", "any", "f32", "f64", "i64", "bool"};
  static const char* atext[] = {"int", "float", "int[]", "float[]"};
  py::list out;
  for (const auto& k : kernels()) {
    py::list ins, outs, attrs;
    for (auto& a : k.ins) ins.append(py::make_tuple(a.name, std::string(ttext[int(a.type)]) + (a.variadic ? "..." : a.inplace ? "!" : "")));
    for (auto& a : k.outs) outs.append(py::make_tuple(a.name, ttext[int(a.type)]));
    for (auto& a : k.attrs)
      attrs.append(py::make_tuple(a.name, atext[int(a.type)], a.has_default ? py::object(py::float_(a.def)) : py::none()));
    out.append(py::make_tuple(k.name, k.schema, ins, outs, attrs, k.variadic, k.flops != nullptr));
  }
  return out;
}

}  // namespace

// The x86-64 level this CPU runs (4: AVX-512, 3: AVX2+FMA, 2, 1), for gradcore/_C.py's choice
// of variant; the checks are compile-time literals, so this is a baseline-safe function.
int cpu_level() {
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12
  if (__builtin_cpu_supports("x86-64-v4")) return 4;
  if (__builtin_cpu_supports("x86-64-v3")) return 3;
  if (__builtin_cpu_supports("x86-64-v2")) return 2;
  return 1;
#elif defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 4;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 3;
  return 1;
#else
  return 0;
#endif
}

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
                             "`pip install . -Ccmake.define.GRADCORE_SIMD=dispatch`");
}

PYBIND11_MODULE(GC_MODULE, m) {
  check_cpu();
  if (!registry_error().empty()) throw std::logic_error(registry_error());
  m.doc() = "gradcore's private C++ core. Use the gradcore package instead.";
  g_typenum[int(DType::f32)] = py::dtype::of<float>().num();
  g_typenum[int(DType::f64)] = py::dtype::of<double>().num();
  g_typenum[int(DType::i64)] = py::dtype::of<int64_t>().num();
  g_typenum[int(DType::b8)] = py::dtype::of<bool>().num();
  Eigen::setNbThreads(1);  // gemm splits work across OpenMP threads itself (kernels/matmul.cpp)
  py::register_exception_translator([](std::exception_ptr p) {
    try { if (p) std::rethrow_exception(p); }
    catch (const type_error& e) { PyErr_SetString(PyExc_TypeError, e.what()); }
  });
  m.add_object("run", py::reinterpret_steal<py::object>(PyCFunction_New(&run_def, nullptr)));
  for (PyMethodDef* d : {&graph_op_def, &graph_backward_def, &graph_init_def})
    m.add_object(d->ml_name, py::reinterpret_steal<py::object>(PyCFunction_New(d, nullptr)));
  m.def("kernel_schemas", &kernel_schemas);
  m.def("kernel_flops", [](int id, const py::sequence& ins, const py::sequence& outs,
                           const std::vector<double>& attrs) {
    GC_CHECK(id >= 0 && id < int(kernels().size()), "kernel_flops: kernel id " << id << " out of range");
    const KernelDef& k = kernels()[id];
    if (!k.flops) return 0.0;
    std::vector<Buf> bi, bo;
    for (auto side : {0, 1}) {
      int i = 0;
      for (auto o : (side ? outs : ins)) {
        Buf b;
        if (!to_buf(o.ptr(), &b, k.name.c_str(), "tensor", i++, false)) throw py::error_already_set();
        (side ? bo : bi).push_back(b);
      }
    }
    return k.flops(Ins(bi), Outs(bo), Attrs(attrs));
  });
  py::class_<PyProgram>(m, "Program")
      .def(py::init(&make_program), py::arg("calls"), py::arg("inputs") = py::tuple())
      .def("__len__", [](const PyProgram& p) { return p.prog.calls.size(); })
      .def("run", [](PyProgram& p, const py::sequence& inputs) {
        std::vector<Buf> bufs = to_bufs(inputs, "Program.run");
        py::gil_scoped_release release;
        p.prog.run(bufs);
      }, py::arg("inputs") = py::tuple());
  m.def("trace_start", &trace_start);
  m.def("trace_stop", []() {
    py::list out;
    for (auto& e : trace_stop()) out.append(py::make_tuple(e.id, e.t0_ns, e.t1_ns, e.flops, e.tid));
    return out;
  });
  m.def("empty", &empty, py::arg("shape"), py::arg("dtype"));
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", &set_num_threads);
  m.def("set_adaptive_threads", &set_adaptive_threads);
  m.def("adaptive_threads", &adaptive_threads);
  m.def("cores_shared", &cores_shared);
  m.def("storage_cached_bytes", &storage_cached_bytes);
  m.def("storage_empty_cache", &storage_empty_cache);
  m.def("memory_stats", []() {
    StorageStats s = storage_stats();
    py::dict d;
    d["allocated_bytes"] = s.allocated; d["peak_allocated_bytes"] = s.peak;
    d["cached_bytes"] = s.cached; d["cache_limit_bytes"] = s.limit;
    d["num_allocs"] = s.n_alloc; d["num_cache_hits"] = s.n_cache_hits;
    return d;
  });
  m.def("set_cache_limit", [](size_t n) { storage_set_cache_limit(n); });
  m.def("reset_peak_memory_stats", &storage_reset_peak);
  m.def("config", &config);
  m.def("cpu_level", &cpu_level);
}
