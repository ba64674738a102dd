#include "bench/loopback_tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/child_process.h"

namespace adamasync {
namespace bench {
namespace {

// The number after `"key":` at or after `from`; npos-safe.
absl::StatusOr<double> NumberAfterKey(absl::string_view json, size_t from, absl::string_view key) {
  const std::string quoted = absl::StrCat("\"", key, "\"");
  size_t at = json.find(quoted, from);
  if (at == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("no ", quoted, " in iperf3 output"));
  }
  at = json.find(':', at + quoted.size());
  if (at == absl::string_view::npos) return absl::InvalidArgumentError("truncated iperf3 output");
  const std::string rest(absl::StripLeadingAsciiWhitespace(json.substr(at + 1)).substr(0, 64));
  char* end = nullptr;
  const double value = std::strtod(rest.c_str(), &end);
  if (end == rest.c_str()) return absl::InvalidArgumentError("no number after " + quoted);
  return value;
}

}  // namespace

absl::StatusOr<double> ParseIperfReceivedBitsPerSecond(absl::string_view json) {
  // iperf3 -J reports failures as {"error": "..."} and still exits 1.
  const size_t error_at = json.find("\"error\"");
  if (error_at != absl::string_view::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("iperf3: ", json.substr(error_at, std::min<size_t>(200, json.size()))));
  }
  // "sum_received" appears once, inside "end"; "bits_per_second" is its
  // field (the stream-level entries come before it).
  const size_t sum_at = json.find("\"sum_received\"");
  if (sum_at == absl::string_view::npos) {
    return absl::InvalidArgumentError("no \"sum_received\" in iperf3 output");
  }
  return NumberAfterKey(json, sum_at, "bits_per_second");
}

absl::StatusOr<int> PickFreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return absl::UnavailableError("could not bind a loopback port");
  return static_cast<int>(ntohs(addr.sin_port));
}

LoopbackTcpResult MeasureLoopbackTcp(const std::string& iperf3_path, double seconds) {
  LoopbackTcpResult result;
  result.seconds = seconds;
  if (seconds <= 0) {
    result.note = "loopback TCP baseline skipped (iperf seconds = 0)";
    return result;
  }
  if (iperf3_path.empty()) {
    result.note =
        "iperf3 not found in PATH: loopback TCP baseline NOT measured "
        "(scripts/setup.sh installs it: apt-get install iperf3)";
    return result;
  }
  absl::StatusOr<int> port = PickFreeLoopbackPort();
  if (!port.ok()) {
    result.note = "iperf3 not run: " + port.status().ToString();
    return result;
  }
  const std::string port_text = absl::StrCat(*port);
  absl::StatusOr<std::unique_ptr<ChildProcess>> server =
      ChildProcess::Start({iperf3_path, "-s", "-1", "-p", port_text}, "");
  if (!server.ok()) {
    result.note = "iperf3 server did not start: " + server.status().ToString();
    return result;
  }
  const int whole_seconds = std::max(1, static_cast<int>(seconds + 0.5));
  const std::vector<std::string> client = {
      iperf3_path, "-c", "127.0.0.1", "-p", port_text, "-t", absl::StrCat(whole_seconds), "-J"};
  // The server needs a moment to listen; a refused connection is retried.
  absl::Status last = absl::UnknownError("not run");
  for (int attempt = 0; attempt < 20 && (*server)->Running(); ++attempt) {
    absl::StatusOr<std::string> json = RunAndCapture(client, absl::Seconds(whole_seconds + 15));
    // iperf3 exits 1 on errors but still prints its JSON; try to parse both.
    const std::string text = json.ok() ? *json : std::string(json.status().message());
    absl::StatusOr<double> bps = ParseIperfReceivedBitsPerSecond(text);
    if (json.ok() && bps.ok()) {
      result.measured = true;
      result.gbps = *bps / 8 / 1e9;
      result.seconds = whole_seconds;
      result.note = absl::StrFormat("%s, one stream, -t %d", iperf3_path, whole_seconds);
      return result;
    }
    last = json.ok() ? bps.status() : json.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  result.note = "iperf3 failed: " + last.ToString();
  return result;
}

}  // namespace bench
}  // namespace adamasync
