// Child processes for the end-to-end benchmark: shard servers and iperf3.
//
// A ChildProcess is started with fork/exec and asks the kernel to send it
// SIGTERM if the benchmark dies (PR_SET_PDEATHSIG), so no server outlives a
// crashed or interrupted run; the destructor stops it (SIGTERM, then SIGKILL
// after a grace period) and reaps it.
//
// Thread safety: a ChildProcess is used by one thread at a time. Start it
// from a thread that lives as long as the child should (the main thread):
// the death signal fires when the starting thread exits.
#ifndef ADAMASYNC_BENCH_CHILD_PROCESS_H_
#define ADAMASYNC_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace adamasync {
namespace bench {

class ChildProcess {
 public:
  // Runs argv[0] (a path; no PATH search) with argv[1..]. stdout and stderr
  // go to `log_path` (truncated), or to /dev/null when it is empty.
  // NOT_FOUND when argv[0] is not an executable file; INTERNAL when fork
  // fails. REQUIRES: !argv.empty().
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& log_path);

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // Stop()

  pid_t pid() const { return pid_; }

  // True until the child has exited (reaps it once it has).
  bool Running();

  // How it ended, e.g. "exit 1" or "signal 9"; "running" before that.
  std::string ExitDescription() const;

  // Sends SIGTERM and returns at once (Stop then waits). No-op once exited.
  void Terminate();

  // SIGTERM, wait up to `grace`, then SIGKILL; reaps the child. No-op once
  // it has exited.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  bool exited_ = false;
  int wait_status_ = 0;
};

// Runs argv to completion and returns its stdout (stderr goes to
// /dev/null). NOT_FOUND when argv[0] is not executable; DEADLINE_EXCEEDED
// (after killing it) when it runs past `timeout`; UNKNOWN with the exit
// status and the start of stdout when it exits non-zero.
absl::StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv,
                                          absl::Duration timeout);

// The first executable `name` in $PATH, or "" when there is none.
std::string FindInPath(const std::string& name);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_CHILD_PROCESS_H_
