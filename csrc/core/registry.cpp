#include "core/registry.h"
#include <unordered_map>

namespace gc {

static std::vector<KernelDef>& table() { static std::vector<KernelDef> t; return t; }
static std::unordered_map<std::string, int>& index() { static std::unordered_map<std::string, int> m; return m; }

int register_kernel(const KernelDef& def) {
  if (index().count(def.name)) throw std::logic_error(std::string("kernel registered twice: ") + def.name);
  table().push_back(def);
  return index()[def.name] = int(table().size()) - 1;
}

const std::vector<KernelDef>& kernels() { return table(); }

int kernel_id(const std::string& name) {
  auto it = index().find(name);
  GC_CHECK(it != index().end(), "no kernel named '" << name << "'");
  return it->second;
}

void call(int id, Ins ins, Outs outs, Attrs attrs) {
  GC_CHECK(id >= 0 && id < int(table().size()), "kernel id " << id << " out of range");
  const KernelDef& k = table()[id];
  GC_CHECK((k.nin == kVariadic || int(ins.size()) == k.nin) && int(outs.size()) == k.nout,
           k.name << ": expects " << k.nin << " inputs and " << k.nout << " outputs, got "
                  << ins.size() << " and " << outs.size());
  k.fn(ins, outs, attrs);
}

}  // namespace gc
