// The one place that decides how many threads binscan uses, so the engine's threads and the
// scan pipeline's workers are sized together and two cores are not oversubscribed.
#pragma once

namespace binscan {

// Hardware threads available to this process (sched_getaffinity), at least 1.
int available_cores();

// `requested` when > 0, else available_cores().
int resolve_thread_count(int requested);

// How the scan pipeline splits a budget of `total` threads between the engine's forward passes
// and the decode + preprocess workers that run alongside them (see threads.cpp for why).
struct PipelineThreads {
  int engine = 1;
  int workers = 1;
  int worker_nice = 0;  // nice value of the workers relative to the engine's threads
  // A budget of one thread: the workers and the engine take turns (PipelineOptions::one_core),
  // so the process uses one core and N such processes scale on N cores.
  bool one_core = false;
  // Engine copies sharing the `engine` threads (LocalOptions::replicas), each running part of a
  // batch of `batch` photos.
  int replicas = 1;
};
PipelineThreads plan_pipeline_threads(int total, int batch = 8);

}  // namespace binscan
