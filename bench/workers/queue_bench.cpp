// The work queue alone: N worker processes claim batches from a PostgreSQL survey and commit
// each batch (a photo, a path, one result per photo and the done marks) in one transaction, with
// a classifier that does no work. Prints photos claimed and committed per second.
//
//   queue_bench URI [PHOTOS=20000] [PROCESSES=16] [BATCH=16]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "store/postgres_store.h"
#include "util/error.h"

namespace {

std::string hex64(long i) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064lx", i);
  return buf;
}

// One worker: claim, "classify" (nothing), commit, until the queue is empty.
int work(const std::string& uri, int batch) {
  binscan::PostgresStore store(uri);
  for (;;) {
    const auto claimed = store.claim(batch, std::chrono::seconds(60));
    if (claimed.empty()) return 0;
    binscan::CommitBatch b;
    for (const auto& q : claimed) {
      const std::string sha = hex64(std::strtol(q.path.c_str() + 3, nullptr, 10));
      binscan::PhotoRecord p;
      p.sha256 = sha;
      p.path = q.path;
      p.size = q.size;
      p.lat = 52.37;
      p.lon = 4.89;
      b.photos.push_back(p);
      b.paths.push_back({q.path, sha, q.size, q.mtime_ns});
      binscan::ResultRecord r;
      r.sha256 = sha;
      r.model = {"noop", "r1"};
      r.top_json = "[]";
      r.bin_labels_json = "[]";
      b.results.push_back(r);
      b.finished_paths.push_back(q.path);
    }
    store.commit(b);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: queue_bench URI [PHOTOS] [PROCESSES] [BATCH]\n");
    return 2;
  }
  const std::string uri = argv[1];
  const long photos = argc > 2 ? std::atol(argv[2]) : 20000;
  const int processes = argc > 3 ? std::atoi(argv[3]) : 16;
  const int batch = argc > 4 ? std::atoi(argv[4]) : 16;
  try {
    binscan::PostgresStore store(uri);
    std::vector<binscan::QueueItem> items;
    for (long i = 0; i < photos; ++i) items.push_back({"/p/" + std::to_string(i) + ".jpg", 1, 1});
    store.enqueue(items);
  } catch (const binscan::Error& e) {
    std::fprintf(stderr, "queue_bench: %s\n", e.what());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  for (int i = 0; i < processes; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        ::_exit(work(uri, batch));
      } catch (const binscan::Error& e) {
        std::fprintf(stderr, "queue_bench: %s\n", e.what());
        ::_exit(1);
      }
    }
    pids.push_back(pid);
  }
  int failed = 0;
  for (const pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  binscan::PostgresStore check(uri);
  const auto st = check.queue_status();
  std::printf(
      "%ld photos, %d processes, batch %d: %.2f s, %.0f photos/s; done %lld, results %zu%s\n",
      photos, processes, batch, s, static_cast<double>(photos) / s, static_cast<long long>(st.done),
      check.results().size(), failed ? " (some workers failed)" : "");
  return failed ? 1 : 0;
}
