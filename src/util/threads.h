// The one place that decides how many threads binscan uses, so the engine's threads and the
// scan pipeline's workers are sized together and two cores are not oversubscribed.
#pragma once

namespace binscan {

// Hardware threads available to this process (sched_getaffinity), at least 1.
int available_cores();

// `requested` when > 0, else available_cores().
int resolve_thread_count(int requested);

}  // namespace binscan
