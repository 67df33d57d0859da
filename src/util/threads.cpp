#include "util/threads.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
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
//
// The engine's threads are split into copies of the engine, each on its own share of a batch,
// as many as divide the threads evenly with at least two photos each: on 2 cores two single-
// threaded copies. oneDNN's threads meet (spinning) after every primitive, and a thread
// descheduled for a decoder holds the others up; copies meet once per batch. Measured on 2 cores
// (bench/scan, idle, steady state): exact scans 7-11% faster, --fast-decode --precision int8
// 12-17% (which took it past twice the exact scan of one engine), and 1.6x in a run where a build
// shared the cores. Memory: the weights once per copy.
// BINSCAN_ENGINE_REPLICAS=K overrides the count (for measuring; clamped to 1..threads).
PipelineThreads plan_pipeline_threads(int total, int batch) {
  const int n = total > 0 ? total : available_cores();
  PipelineThreads t{n, n, 0, n == 1, 1};
  for (int k = std::max(1, batch / 2); k >= 1; --k) {
    if (k <= n && n % k == 0) {
      t.replicas = k;
      break;
    }
  }
  if (const char* r = std::getenv("BINSCAN_ENGINE_REPLICAS"))
    t.replicas = std::clamp(std::atoi(r), 1, n);
  return t;
}

}  // namespace binscan
