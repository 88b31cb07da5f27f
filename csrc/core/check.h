// Error macros. GC_CHECK always runs and throws std::invalid_argument (-> Python ValueError);
// GC_TYPE_CHECK throws a TypeError; GC_ASSERT guards internal invariants in debug builds only.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>

namespace gc {

struct type_error : std::runtime_error { using std::runtime_error::runtime_error; };

#define GC_CHECK(cond, msg)                                          \
  do { if (!(cond)) { std::ostringstream gc_os_; gc_os_ << msg;      \
       throw std::invalid_argument(gc_os_.str()); } } while (0)
#define GC_TYPE_CHECK(cond, msg)                                     \
  do { if (!(cond)) { std::ostringstream gc_os_; gc_os_ << msg;      \
       throw ::gc::type_error(gc_os_.str()); } } while (0)
#ifdef NDEBUG
#define GC_ASSERT(cond) ((void)0)
#else
#define GC_ASSERT(cond) do { if (!(cond)) throw std::logic_error("gradcore internal: " #cond); } while (0)
#endif

}  // namespace gc
