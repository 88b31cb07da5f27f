// gradcore's own thread count. Every parallel region is written
//   #pragma omp parallel ... num_threads(::gc::threads())
// so gradcore never reads or writes OpenMP's global setting (omp_set_num_threads would change
// torch's and every other OpenMP library's thread count in the host process). In a child
// forked after a parallel region, OpenMP's thread pool did not survive the fork: threads()
// returns 1 there (a pthread_atfork child handler), so the child runs every kernel on its own
// thread instead of waiting forever for the parent's pool (as PyTorch does).
#pragma once

namespace gc {
int threads();             // threads a parallel region may use now (1 in a forked child)
int configured_threads();  // the setting (set_threads, GRADCORE_NUM_THREADS or the core count)
void set_threads(int n);   // n >= 1; affects gradcore only
bool forked_child();       // this process is a fork of a process that ran gradcore kernels
}  // namespace gc
