// adamasync-server: one shard of an AdamAsync cluster.
//
//   adamasync-server --listen=0.0.0.0:7000 --shard_index=0 --num_shards=2
//       --tls_cert=server.pem --tls_key=server.key [--token_file=tokens]
//
// Without TLS flags it refuses to start unless --plaintext is given
// (docs/security.md). SIGHUP reloads --token_file.
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
#include "common/tls_config.h"
#include "server/device_option.h"
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
// Checkpoints (docs/checkpoint.md).
ABSL_FLAG(std::string, checkpoint_dir, "",
          "Directory for this shard's checkpoints; the newest valid one is restored at start. "
          "Empty: no checkpoints (state is lost when the server stops)");
ABSL_FLAG(double, checkpoint_interval_s, 300, "Seconds between periodic checkpoints; 0: none");
ABSL_FLAG(uint64_t, checkpoint_every_updates, 0,
          "Also write a checkpoint after this many applied push chunks; 0: never");
ABSL_FLAG(int32_t, keep_checkpoints, 3, "Checkpoints of this shard kept on disk (>= 1)");
ABSL_FLAG(bool, checkpoint_on_shutdown, true,
          "Write a final checkpoint after draining on SIGTERM/SIGINT (with --checkpoint_dir)");
ABSL_FLAG(double, cut_hold_timeout_s, 30,
          "A prepared consistent cut releases held pushes after this many seconds without a "
          "commit or abort");
ABSL_FLAG(uint64_t, restore_checkpoint_id, 0,
          "Restore the file that consistent cut N's manifest names instead of the newest one");
ABSL_FLAG(std::string, device, "cpu",
          "Where tables live and Adam runs: cpu, cuda (device 0), cuda:N, or auto (CUDA device 0 "
          "when one works, else cpu; logged at start)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(bool, log_json, false, "Log one JSON object per line (to stderr) instead of text");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT for the Prometheus endpoint (GET /metrics); empty: no endpoint");
// Security (docs/security.md): TLS is required unless --plaintext says otherwise.
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of this server (enables TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require every client to present a certificate signed by it (mutual "
          "TLS)");
ABSL_FLAG(bool, plaintext, false,
          "Serve without TLS (only for loopback, tests, or a network that already encrypts); "
          "without it the server refuses to start unless --tls_cert/--tls_key are given");
ABSL_FLAG(std::string, token_file, "",
          "Token table ('ROLE NAME TOKEN' lines, ROLE worker or admin): every call must carry "
          "'authorization: Bearer <token>'. Empty: no authentication. Reloaded on SIGHUP");
ABSL_FLAG(double, token_reload_s, 30,
          "Seconds between checks of --token_file for changes (reloaded when changed); 0: only "
          "on SIGHUP");
ABSL_FLAG(int32_t, max_requests_per_client, 48,
          "Most calls one client connection may have in flight; more are "
          "RESOURCE_EXHAUSTED. 0: no limit");
ABSL_FLAG(uint64_t, max_tables, 4096, "Most tables this shard may hold; 0: no limit");
ABSL_FLAG(uint64_t, max_workers, 16384,
          "Most worker ids this shard tracks (leases, clocks, exactly-once state); 0: no limit");

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
      "  adamasync-server --listen=0.0.0.0:7000 --shard_index=0 --num_shards=2 "
      "--tls_cert=server.pem --tls_key=server.key  (or --plaintext)");
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
  sigaddset(&stop_signals, SIGHUP);   // reloads --token_file
  sigaddset(&stop_signals, SIGUSR1);  // sent by the server itself when its device fails
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
  if (!absl::GetFlag(FLAGS_checkpoint_dir).empty()) {
    adamasync::CheckpointOptions checkpoint;
    checkpoint.dir = absl::GetFlag(FLAGS_checkpoint_dir);
    const double interval_s = absl::GetFlag(FLAGS_checkpoint_interval_s);
    const double hold_s = absl::GetFlag(FLAGS_cut_hold_timeout_s);
    if (!(interval_s >= 0) || !(hold_s > 0) || absl::GetFlag(FLAGS_keep_checkpoints) < 1) {
      spdlog::error(
          "--checkpoint_interval_s must be >= 0, --cut_hold_timeout_s > 0 and "
          "--keep_checkpoints >= 1");
      return 2;
    }
    checkpoint.interval = absl::Seconds(interval_s);
    checkpoint.every_updates = absl::GetFlag(FLAGS_checkpoint_every_updates);
    checkpoint.keep_last = absl::GetFlag(FLAGS_keep_checkpoints);
    checkpoint.cut_hold_timeout = absl::Seconds(hold_s);
    options.checkpoint = checkpoint;
  } else if (absl::GetFlag(FLAGS_restore_checkpoint_id) != 0) {
    spdlog::error("--restore_checkpoint_id needs --checkpoint_dir");
    return 2;
  }
  options.restore_checkpoint_id = absl::GetFlag(FLAGS_restore_checkpoint_id);
  if (options.max_threads < 2) {
    spdlog::error("--max_threads must be at least 2, got {}", options.max_threads);
    return 2;
  }
  absl::StatusOr<adamasync::DeviceOption> device =
      adamasync::ParseDeviceOption(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    spdlog::error("{}", std::string(device.status().message()));
    return 2;
  }
  absl::StatusOr<adamasync::OpenedBackend> backend = adamasync::OpenStateBackend(*device);
  if (!backend.ok()) {
    spdlog::error("{}", std::string(backend.status().message()));
    return 1;
  }
  spdlog::info("{}", backend->log_line);
  options.shard.backend = backend->backend;
  // A failed device leaves state that cannot be trusted: stop (without a
  // final checkpoint) so that the supervisor restarts from the last one.
  options.on_state_failure = [](const absl::Status&) { kill(getpid(), SIGUSR1); };
  options.shard.max_tables = absl::GetFlag(FLAGS_max_tables);
  options.shard.max_workers = absl::GetFlag(FLAGS_max_workers);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.guard.token_file = absl::GetFlag(FLAGS_token_file);
  options.guard.max_requests_per_client = absl::GetFlag(FLAGS_max_requests_per_client);
  const double reload_s = absl::GetFlag(FLAGS_token_reload_s);
  if (!(reload_s >= 0) || options.guard.max_requests_per_client < 0) {
    spdlog::error("--token_reload_s and --max_requests_per_client must be >= 0");
    return 2;
  }
  options.guard.token_reload_interval = absl::Seconds(reload_s);
  if (absl::Status transport =
          adamasync::CheckServerTransport(options.tls, absl::GetFlag(FLAGS_plaintext));
      !transport.ok()) {
    spdlog::error("{}", std::string(transport.message()));
    return 2;
  }
  if (!options.tls.enabled()) {
    spdlog::warn(
        "--plaintext: serving WITHOUT TLS; anyone on the network can read and forge "
        "calls{}",
        options.guard.token_file.empty() ? "" : ", bearer tokens included");
  }
  if (options.guard.token_file.empty()) {
    spdlog::warn("no --token_file: every client may call every RPC (see docs/security.md)");
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
  while (sigwait(&stop_signals, &signal_number) == 0) {
    if (signal_number == SIGHUP) {
      absl::Status reloaded = (*server)->ReloadTokens();
      spdlog::info("SIGHUP: token file {}",
                   reloaded.ok() ? "reloaded" : "NOT reloaded (see above)");
    } else if (signal_number == SIGUSR1) {
      const absl::Status health = (*server)->store()->Health();
      if (health.ok()) continue;  // not ours
      spdlog::critical("exiting: {}", health.ToString());
      (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)),
                          /*final_checkpoint=*/false);
      return 3;
    } else {
      break;
    }
  }
  spdlog::info("signal {}: draining calls in flight", signal_number);
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s)),
                      absl::GetFlag(FLAGS_checkpoint_on_shutdown));
  spdlog::info("stopped");
  return 0;
}
