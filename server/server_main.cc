// adamasync-server: one shard of an AdamAsync cluster.
//
//   adamasync-server --listen=0.0.0.0:7000 --shard_index=0 --num_shards=2
//
// Serves until SIGINT or SIGTERM, then drains calls in flight (up to
// --shutdown_grace_s) and exits 0.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/shard_server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:7000", "HOST:PORT to serve on; port 0 picks a free port");
ABSL_FLAG(uint32_t, shard_index, 0, "This server's shard index, in [0, num_shards)");
ABSL_FLAG(uint32_t, num_shards, 1, "Number of shards in the cluster");
ABSL_FLAG(int64_t, max_state_mb, -1,
          "Most MiB of table state (parameters and Adam moments) this shard may hold; "
          "-1 = 80% of physical memory, 0 = no limit");
ABSL_FLAG(int32_t, max_message_mb, 64, "Largest gRPC message accepted or sent, in MiB");
ABSL_FLAG(int32_t, max_threads, 64, "Most threads serving requests at once");
ABSL_FLAG(std::string, port_file, "",
          "If set, write the bound port here (atomically) once serving; for launchers and tests");
ABSL_FLAG(double, shutdown_grace_s, 10, "Seconds to let calls in flight finish on SIGTERM");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(bool, log_json, false, "Log one JSON object per line (to stderr) instead of text");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT for the Prometheus endpoint (GET /metrics); empty: no endpoint");

namespace {

uint64_t DefaultStateQuota() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / 10 * 8;
}

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "One shard of an AdamAsync parameter server.\n"
      "  adamasync-server --listen=0.0.0.0:7000 --shard_index=0 --num_shards=2");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status logging = adamasync::ConfigureLogging(absl::GetFlag(FLAGS_log_level),
                                                         absl::GetFlag(FLAGS_log_json));
      !logging.ok()) {
    std::fprintf(stderr, "%s\n", logging.ToString().c_str());
    return 2;
  }

  // Chunk buffers are a few MiB: keep them in the heap and reuse them
  // instead of mapping (and page-faulting) fresh memory for every request.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  adamasync::ShardServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.shard.shard_index = absl::GetFlag(FLAGS_shard_index);
  options.shard.num_shards = absl::GetFlag(FLAGS_num_shards);
  const int64_t quota_mb = absl::GetFlag(FLAGS_max_state_mb);
  if (quota_mb < -1) {
    spdlog::error("--max_state_mb must be -1, 0 or positive, got {}", quota_mb);
    return 2;
  }
  options.shard.max_state_bytes =
      quota_mb == -1 ? DefaultStateQuota() : static_cast<uint64_t>(quota_mb) << 20;
  const int32_t message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (message_mb < 1 || message_mb > 1024) {
    spdlog::error("--max_message_mb must be in [1, 1024], got {}", message_mb);
    return 2;
  }
  options.max_message_bytes = message_mb << 20;
  options.max_threads = absl::GetFlag(FLAGS_max_threads);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (options.max_threads < 2) {
    spdlog::error("--max_threads must be at least 2, got {}", options.max_threads);
    return 2;
  }

  auto server = adamasync::ShardServer::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  spdlog::info("adamasync-server shard {}/{} serving on port {} (state quota {} MiB)",
               options.shard.shard_index, options.shard.num_shards, (*server)->port(),
               options.shard.max_state_bytes >> 20);
  if ((*server)->metrics_port() != 0) {
    spdlog::info("metrics on port {} (GET /metrics)", (*server)->metrics_port());
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) {
    spdlog::error("cannot write --port_file {}", port_file);
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("signal {}: draining calls in flight", signal_number);
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)));
  spdlog::info("stopped");
  return 0;
}
