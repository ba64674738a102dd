#include "bench/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace adamasync {
namespace bench {
namespace {

// execv's argument array; built before fork because the child of a
// multi-threaded process may only make async-signal-safe calls.
std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// In the child: dies with the parent, wires stdout/stderr, execs. Never
// returns.
[[noreturn]] void ExecChild(char* const* argv, int stdout_fd, int stderr_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127);  // the parent died before prctl
  if (stdout_fd >= 0) dup2(stdout_fd, STDOUT_FILENO);
  if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
  execv(argv[0], argv);
  _exit(127);
}

absl::Status CheckExecutable(const std::vector<std::string>& argv) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("not an executable: '", argv.empty() ? "" : argv[0], "'"));
  }
  return absl::OkStatus();
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  if (absl::Status s = CheckExecutable(argv); !s.ok()) return s;
  const int log_fd = open(log_path.empty() ? "/dev/null" : log_path.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", std::strerror(errno)));
  }
  std::vector<char*> args = ArgvPointers(argv);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ExecChild(args.data(), log_fd, log_fd, parent);
  close(log_fd);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Running() {
  if (exited_) return false;
  if (waitpid(pid_, &wait_status_, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

std::string ChildProcess::ExitDescription() const {
  return exited_ ? DescribeWaitStatus(wait_status_) : "running";
}

void ChildProcess::Terminate() {
  if (Running()) kill(pid_, SIGTERM);
}

void ChildProcess::Stop(absl::Duration grace) {
  if (!Running()) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (Running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  if (Running()) {
    kill(pid_, SIGKILL);
    if (waitpid(pid_, &wait_status_, 0) == pid_) exited_ = true;
  }
}

absl::StatusOr<std::string> RunAndCapture(const std::vector<std::string>& argv,
                                          absl::Duration timeout) {
  if (absl::Status s = CheckExecutable(argv); !s.ok()) return s;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  std::vector<char*> args = ArgvPointers(argv);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ExecChild(args.data(), pipe_fds[1], null_fd, parent);
  close(pipe_fds[1]);
  if (null_fd >= 0) close(null_fd);
  if (pid < 0) {
    close(pipe_fds[0]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }

  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  while (true) {
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<int64_t>(wait_ms, 1000))) <= 0) continue;
    char buf[4096];
    const ssize_t got = read(pipe_fds[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child closed stdout
    out.append(buf, static_cast<size_t>(got));
  }
  close(pipe_fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " ran past ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnknownError(
        absl::StrCat(argv[0], ": ", DescribeWaitStatus(status), ": ", out.substr(0, 400)));
  }
  return out;
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace bench
}  // namespace adamasync
