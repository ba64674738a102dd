// The loopback TCP baseline of the end-to-end benchmark: one TCP stream on
// 127.0.0.1 measured with iperf3 in the same run, the ceiling a single
// client-to-shard connection can reach on this machine (REFERENCE.md
// section 4 quotes about 1.85 GB/s on the project's 2-vCPU VMs).
//
// It runs `iperf3 -s -1 -p PORT` and `iperf3 -c 127.0.0.1 -p PORT -t SECONDS
// -J`, and reads end.sum_received.bits_per_second from the client's JSON.
#ifndef ADAMASYNC_BENCH_LOOPBACK_TCP_H_
#define ADAMASYNC_BENCH_LOOPBACK_TCP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adamasync {
namespace bench {

struct LoopbackTcpResult {
  bool measured = false;  // false: see `note`
  double gbps = 0;        // received payload, 1e9 B/s
  double seconds = 0;     // the -t given to the client
  std::string note;       // why it was not measured, or the iperf3 used
};

// Measures one stream for `seconds` with the iperf3 binary at `iperf3_path`.
// Never fails: a missing binary (empty path), seconds <= 0 (skipped) or a
// failed run is reported in `note` with measured = false.
LoopbackTcpResult MeasureLoopbackTcp(const std::string& iperf3_path, double seconds);

// end.sum_received.bits_per_second from iperf3's -J output. INVALID_ARGUMENT
// when it is absent; FAILED_PRECONDITION with iperf3's message when the
// document holds an "error".
absl::StatusOr<double> ParseIperfReceivedBitsPerSecond(absl::string_view json);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
// it back, close). UNAVAILABLE when no socket could be bound.
absl::StatusOr<int> PickFreeLoopbackPort();

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_LOOPBACK_TCP_H_
