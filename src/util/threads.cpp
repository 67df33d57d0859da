#include "util/threads.h"

#include <sched.h>

#include <thread>

namespace binscan {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int resolve_thread_count(int requested) { return requested > 0 ? requested : available_cores(); }

// The engine gets every thread of the budget: a forward pass is the larger share of the work and
// oneDNN scales across cores. The workers are as many again and overlap with it — decoding is
// mostly serial per photo, and the model thread waits between batches (collecting results,
// committing), time the workers fill. Workers block on the bounded queue when they are ahead, so
// they never pile up work; measured on 2 cores in bench/scan.
//
// A budget of one thread is kept to one core: with an overlapping worker a "1-thread" process
// used about 1.3 cores, so two of them on two cores ran barely faster than one (bench/workers).
PipelineThreads plan_pipeline_threads(int total) {
  const int n = total > 0 ? total : available_cores();
  return PipelineThreads{n, n, 0, n == 1};
}

}  // namespace binscan
