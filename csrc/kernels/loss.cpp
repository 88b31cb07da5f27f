// loss kernels: see docs/ARCHITECTURE.md.
#include "core/registry.h"
