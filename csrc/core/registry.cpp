#include "core/registry.h"
#include "core/threads.h"
#include <atomic>
#include <cctype>
#include <cmath>
#include <unordered_map>

namespace gc {

static std::vector<KernelDef>& table() { static std::vector<KernelDef> t; return t; }
static std::unordered_map<std::string, int>& index() { static std::unordered_map<std::string, int> m; return m; }
static std::atomic<CallHook> g_hook{nullptr};

// ---- schema parsing (at load time; a malformed schema is a bug and fails the import) -------
namespace {

struct Parser {
  const std::string& s; size_t i = 0;
  [[noreturn]] void fail(const std::string& why) {
    throw std::logic_error("kernel schema '" + s + "': " + why + " at column " + std::to_string(i));
  }
  void ws() { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; }
  bool eat(const char* tok) {
    ws();
    size_t n = std::char_traits<char>::length(tok);
    if (s.compare(i, n, tok) != 0) return false;
    i += n;
    return true;
  }
  std::string word() {
    ws();
    size_t b = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    if (b == i) fail("expected a name");
    return s.substr(b, i - b);
  }
  double number() {
    ws();
    size_t used = 0;
    double v = 0;
    try { v = std::stod(s.substr(i), &used); } catch (...) { fail("expected a number"); }
    i += used;
    return v;
  }
};

TType tensor_type(Parser& p, const std::string& w) {
  static const std::unordered_map<std::string, TType> m = {
      {"T", TType::T}, {"A", TType::A}, {"float", TType::Float}, {"any", TType::Any},
      {"f32", TType::F32}, {"f64", TType::F64}, {"i64", TType::I64}, {"bool", TType::Bool}};
  auto it = m.find(w);
  if (it == m.end()) p.fail("unknown tensor type '" + w + "'");
  return it->second;
}

void parse_schema(KernelDef& k) {
  Parser p{k.schema};
  k.name = p.word();
  if (!p.eat("(")) p.fail("expected '('");
  bool in_attrs = false;
  if (!p.eat(")")) {
    do {
      if (p.eat("*")) { in_attrs = true; continue; }
      if (k.variadic && !in_attrs) p.fail("only attributes may follow a variadic list");
      std::string type = p.word();
      if (in_attrs) {
        AttrArg a;
        bool list = p.eat("[]");
        if (type == "int") a.type = list ? AType::IntList : AType::Int;
        else if (type == "float") a.type = list ? AType::FloatList : AType::Float;
        else p.fail("unknown attribute type '" + type + "'");
        if (!k.attrs.empty() && (k.attrs.back().type == AType::IntList || k.attrs.back().type == AType::FloatList))
          p.fail("a list attribute must come last");
        a.name = p.word();
        if (p.eat("=")) { a.has_default = true; a.def = p.number(); }
        else if (!k.attrs.empty() && k.attrs.back().has_default && !list) p.fail("a default must be followed by defaults");
        k.attrs.push_back(a);
      } else {
        TensorArg t{"", tensor_type(p, type)};
        t.inplace = p.eat("!");
        t.variadic = k.variadic = !t.inplace && p.eat("...");
        t.name = p.word();
        k.ins.push_back(t);
      }
    } while (p.eat(","));
    if (!p.eat(")")) p.fail("expected ')'");
  }
  if (!p.eat("->")) p.fail("expected '->'");
  bool paren = p.eat("(");
  if (!(paren && p.eat(")"))) {
    do {
      TensorArg t{"", tensor_type(p, p.word())};
      t.name = p.word();
      k.outs.push_back(t);
    } while (paren && p.eat(","));
    if (paren && !p.eat(")")) p.fail("expected ')'");
  }
  p.ws();
  if (p.i != k.schema.size()) p.fail("trailing text");
}

// Check one tensor against its declared type; T and A bind on first use (-1: unbound).
void check_tensor(const KernelDef& k, const TensorArg& a, const Buf& b, const char* role,
                  int& t_var, int& a_var) {
  const DType d = b.dtype;
  auto bad = [&](const std::string& want) {
    throw type_error(k.name + ": " + role + " '" + a.name + "' must be " + want + ", got " +
                     dtype_name(d) + " " + b.shape_str());
  };
  switch (a.type) {
    case TType::T:
      if (d != DType::f32 && d != DType::f64) bad("float32 or float64");
      if (t_var < 0) t_var = int(d);
      else if (t_var != int(d)) bad(std::string(dtype_name(DType(t_var))) + " like the other T arguments");
      break;
    case TType::A:
      if (a_var < 0) a_var = int(d);
      else if (a_var != int(d)) bad(std::string(dtype_name(DType(a_var))) + " like the other A arguments");
      break;
    case TType::Float: if (d != DType::f32 && d != DType::f64) bad("float32 or float64"); break;
    case TType::F32: if (d != DType::f32) bad("float32"); break;
    case TType::F64: if (d != DType::f64) bad("float64"); break;
    case TType::I64: if (d != DType::i64) bad("int64"); break;
    case TType::Bool: if (d != DType::b8) bad("bool"); break;
    case TType::Any: break;
  }
}

}  // namespace

// What the per-call checks need, computed once.
void derive(KernelDef& k) {
  for (auto& a : k.attrs) {
    const bool list = a.type == AType::IntList || a.type == AType::FloatList;
    if (!a.has_default && !list) ++k.n_required;
    if (a.type == AType::Int || a.type == AType::IntList) k.int_attrs = true;
  }
  k.list_tail = !k.attrs.empty() && (k.attrs.back().type == AType::IntList ||
                                     k.attrs.back().type == AType::FloatList);
  for (auto& o : k.outs) {
    int8_t src = KernelDef::kNoRule;
    switch (o.type) {
      case TType::F32: src = -1 - int8_t(DType::f32); break;
      case TType::F64: src = -1 - int8_t(DType::f64); break;
      case TType::I64: src = -1 - int8_t(DType::i64); break;
      case TType::Bool: src = -1 - int8_t(DType::b8); break;
      case TType::T: case TType::A:
        for (int j = 0; j < k.nin(); ++j)
          if (k.ins[j].type == o.type && !k.ins[j].variadic) { src = int8_t(j); break; }
        break;
      default: break;
    }
    k.out_from.push_back(src);
  }
}

std::string& registry_error() { static std::string e; return e; }

// Runs during static initialisation, where an exception would abort the process: a bad
// schema is kept as registry_error() and the extension's import raises it.
int register_kernel(const char* schema, KernelFn fn, FlopsFn flops) {
  KernelDef k;
  k.schema = schema; k.fn = fn; k.flops = flops;
  try {
    parse_schema(k);
    derive(k);
    if (index().count(k.name)) throw std::logic_error("kernel registered twice: " + k.name);
  } catch (const std::exception& e) {
    if (registry_error().empty()) registry_error() = e.what();
    return -1;
  }
  table().push_back(std::move(k));
  return index()[table().back().name] = int(table().size()) - 1;
}

int mark_noalias(const char* name) {
  auto it = index().find(name);
  if (it == index().end()) {
    if (registry_error().empty()) registry_error() = std::string("GC_NOALIAS: no kernel named ") + name;
    return -1;
  }
  table()[it->second].noalias = true;
  return it->second;
}

const std::vector<KernelDef>& kernels() { return table(); }

namespace {
// Byte ranges of two buffers: 0 disjoint, 1 the same buffer (pointer, dtype, shape), 2 a
// partial overlap. Empty buffers overlap nothing.
int overlap(const Buf& a, const Buf& b) {
  const size_t na = size_t(a.numel()) * dtype_size(a.dtype), nb = size_t(b.numel()) * dtype_size(b.dtype);
  if (na == 0 || nb == 0) return 0;
  const char *pa = static_cast<const char*>(a.data), *pb = static_cast<const char*>(b.data);
  if (pa + na <= pb || pb + nb <= pa) return 0;
  bool same = pa == pb && a.dtype == b.dtype && a.ndim == b.ndim;
  for (int i = 0; same && i < a.ndim; ++i) same = a.shape[i] == b.shape[i];
  return same ? 1 : 2;
}
}  // namespace

int kernel_id(const std::string& name) {
  auto it = index().find(name);
  GC_CHECK(it != index().end(), "no kernel named '" << name << "'");
  return it->second;
}

void set_call_hook(CallHook hook) { g_hook.store(hook); }
CallHook call_hook() { return g_hook.load(std::memory_order_relaxed); }

void call_checked_before(int id, Ins ins, Outs outs, Attrs attrs) {
  const KernelDef& k = table()[id];
  ThreadPin pin;  // one thread count for the whole call (core/threads.h)
  if (CallHook h = g_hook.load(std::memory_order_relaxed)) {
    h(id, ins, outs, attrs, false);
    k.fn(ins, outs, attrs);
    h(id, ins, outs, attrs, true);
    return;
  }
  k.fn(ins, outs, attrs);
}

void check_call(int id, Ins ins, Outs outs, Attrs attrs) {
  GC_CHECK(id >= 0 && id < int(table().size()), "kernel id " << id << " out of range");
  const KernelDef& k = table()[id];
  const int nfixed = k.nin() - (k.variadic ? 1 : 0);
  GC_CHECK((k.variadic ? int(ins.size()) >= nfixed : int(ins.size()) == k.nin()) &&
           int(outs.size()) == k.nout(),
           k.name << ": expects " << (k.variadic ? "at least " : "") << nfixed << " inputs and "
                  << k.nout() << " outputs, got " << ins.size() << " and " << outs.size()
                  << " (schema: " << k.schema << ")");
  int t_var = -1, a_var = -1;
  for (int j = 0; j < int(ins.size()); ++j)
    check_tensor(k, k.ins[std::min(j, k.nin() - 1)], ins[j], "input", t_var, a_var);
  for (int j = 0; j < k.nout(); ++j) check_tensor(k, k.outs[j], outs[j], "output", t_var, a_var);
  // Memory: an output may be an input's very buffer (in place) unless the kernel is noalias;
  // partial overlaps and outputs sharing memory would give wrong values.
  for (int j = 0; j < k.nout(); ++j) {
    for (int i = 0; i < int(ins.size()); ++i) {
      const int o = overlap(outs[j], ins[i]);
      GC_CHECK(o == 0 || (o == 1 && !k.noalias),
               k.name << ": output '" << k.outs[j].name << "' " << outs[j].shape_str()
                      << (o == 1 ? " is the buffer of" : " overlaps") << " input '"
                      << k.ins[std::min(i, k.nin() - 1)].name << "' " << ins[i].shape_str()
                      << (o == 1 ? "; this kernel cannot run in place" : ""));
    }
    for (int i = 0; i < j; ++i)
      GC_CHECK(overlap(outs[j], outs[i]) == 0, k.name << ": outputs '" << k.outs[i].name << "' and '"
               << k.outs[j].name << "' share memory");
  }
  // Attributes: at least the required ones; at most the declared ones unless a list ends them.
  const int na = int(k.attrs.size());
  GC_CHECK(int(attrs.size()) >= k.n_required, k.name << ": missing attribute '"
           << k.attrs[attrs.size()].name << "' (schema: " << k.schema << ")");
  GC_CHECK(k.list_tail || int(attrs.size()) <= na, k.name << ": got " << attrs.size()
           << " attributes, at most " << na << " expected (schema: " << k.schema << ")");
  for (int j = 0; k.int_attrs && j < int(attrs.size()); ++j) {
    const AType t = k.attrs[std::min(j, na - 1)].type;
    GC_TYPE_CHECK(!(t == AType::Int || t == AType::IntList) || attrs[j] == std::floor(attrs[j]),
                  k.name << ": attribute '" << k.attrs[std::min(j, na - 1)].name
                         << "' must be an integer, got " << attrs[j]);
  }
}

void call(int id, Ins ins, Outs outs, Attrs attrs) {
  check_call(id, ins, outs, attrs);
  const KernelDef& k = table()[id];
  const int na = int(k.attrs.size());
  double filled[64];
  if (int(attrs.size()) < na && !k.list_tail) {  // fill in the defaults
    for (int j = 0; j < na; ++j) filled[j] = j < int(attrs.size()) ? attrs[j] : k.attrs[j].def;
    attrs = Attrs(filled, na);
  }
  call_checked_before(id, ins, outs, attrs);
}

}  // namespace gc
