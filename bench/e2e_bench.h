// `adamasync-bench e2e`: push and pull throughput and latency through the
// client SDK against adamasync-server shards, next to a loopback TCP
// baseline (iperf3) measured in the same run.
//
// For each shard count (an external cluster, or a fleet of servers spawned
// on 127.0.0.1 per count), each tensor size and each client thread count:
//   - every client thread owns its own Client (its own gRPC channels, like a
//     separate worker process), and by default all threads use ONE shared
//     table per size (the asynchronous-SGD case: workers update one model);
//     with table_per_thread each thread has its own table;
//   - a pull phase: every thread Pulls the whole table back to back for
//     seconds_per_case; then a push phase: every thread Pushes a gradient
//     (each push is one real Adam step on the servers), carrying the
//     versions its previous call returned;
//   - throughput is the fp32 payload of all threads over the phase's wall
//     time; latency percentiles are over every call of every thread;
//   - the servers' version advance over the push phase (read with one Pull
//     per table before and after) is checked against the pushes sent.
//
// Example:
//   E2eBenchOptions options;
//   options.server_bin = DefaultServerBinary();
//   ASSIGN_OR_RETURN(E2eReport report, RunE2eBench(options, std::cerr));
//   std::cout << RenderE2eReport(report);
#ifndef ADAMASYNC_BENCH_E2E_BENCH_H_
#define ADAMASYNC_BENCH_E2E_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/loopback_tcp.h"
#include "bench/machine_info.h"

namespace adamasync {
namespace bench {

struct E2eBenchOptions {
  // "host:port" of running shards, in shard order. When non-empty they are
  // used as one cluster and spawn_shards is ignored. Default empty.
  std::vector<std::string> servers;
  // Shard counts to spawn a fresh local fleet for, one after the other.
  // Default 1, 2.
  std::vector<int> spawn_shards = {1, 2};
  // The adamasync-server binary to spawn. REQUIRES: set when spawning.
  std::string server_bin;
  // Extra arguments for every spawned server. Default none.
  std::vector<std::string> server_args;
  // Floats per tensor. Default 1K, 16K, 256K, 1M, 4M, 16M (binary K, M).
  std::vector<uint64_t> sizes = {1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
  // Client threads per case. Default 1, 2.
  std::vector<int> client_threads = {1, 2};
  // One table per thread instead of one shared table. Default false.
  bool table_per_thread = false;
  // Seconds each phase (pull, push) of each case runs. Default 1.
  double seconds_per_case = 1.0;
  // Fewest calls each thread makes per phase, whatever the time. Default 3.
  int min_ops = 3;
  // iperf3 binary for the loopback baseline; "" reports it as missing.
  std::string iperf3_path;
  // Length of the iperf3 run, seconds (rounded to whole seconds). Default 3.
  double iperf_seconds = 3;
  // ClientOptions::chunk_elements and max_chunks_in_flight; 0 keeps the
  // SDK defaults. Default 0.
  uint64_t chunk_elements = 0;
  int max_chunks_in_flight = 0;
  // For the report only: whether main() set mallopt thresholds in this
  // client process (libraries never touch process-wide settings). Default
  // false.
  bool client_malloc_tuned = false;
};

// One direction of one case.
struct PhaseResult {
  uint64_t ops = 0;    // calls, all threads
  double seconds = 0;  // wall time of the phase
  double gbps = 0;     // fp32 payload of all calls / seconds, 1e9 B/s
  double p50_ms = 0;   // per-call latency percentiles
  double p99_ms = 0;
};

struct E2eCase {
  int shards = 0;
  int threads = 0;
  uint64_t floats = 0;
  PhaseResult pull;
  PhaseResult push;
  // Adam steps the servers applied during the push phase (version advance,
  // summed over tables); equals push.ops when every push was applied.
  uint64_t server_steps = 0;
};

struct E2eReport {
  MachineInfo machine;
  E2eBenchOptions options;
  bool spawned = false;        // servers started by this run
  std::string server_bin;      // when spawned
  LoopbackTcpResult tcp;       // measured in this run (or why not)
  std::vector<E2eCase> cases;  // shard counts, then sizes, then threads
};

// Runs every case. Spawned servers are stopped before it returns, also on
// error. INVALID_ARGUMENT for bad options; otherwise the first error of a
// server start or of any call, with the case it happened in.
absl::StatusOr<E2eReport> RunE2eBench(const E2eBenchOptions& options, std::ostream& progress);

// The human-readable report, with the published reference figures clearly
// labelled as such (e2e_report.cc).
std::string RenderE2eReport(const E2eReport& report);

// The same report as one JSON document (e2e_report.cc).
std::string E2eReportJson(const E2eReport& report);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_E2E_BENCH_H_
