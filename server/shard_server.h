// ShardServer: a running shard — the ShardStore, its gRPC service, the
// standard health service and server reflection — on one listening port.
// Used by the adamasync-server daemon and, in-process, by the tests.
//
// Example:
//   ShardServerOptions options;
//   options.listen = "127.0.0.1:0";  // any free port
//   auto server = ShardServer::Start(options).value();
//   ... server->port() ...
//   server->Shutdown(absl::Seconds(5));
#ifndef ADAMASYNC_SERVER_SHARD_SERVER_H_
#define ADAMASYNC_SERVER_SHARD_SERVER_H_

#include <grpcpp/server.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics_http.h"
#include "common/tls_config.h"
#include "server/call_guard.h"
#include "server/checkpoint_manager.h"
#include "server/parameter_service.h"
#include "server/server_metrics.h"
#include "server/shard_store.h"

namespace adamasync {

struct ShardServerOptions {
  // "HOST:PORT" to listen on; port 0 picks a free port (see port()).
  std::string listen = "0.0.0.0:7000";
  ShardOptions shard;
  // Largest request or response, in bytes. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // Most threads gRPC may use to serve requests concurrently. Default 64.
  int max_threads = 64;
  // "HOST:PORT" for the Prometheus /metrics endpoint; empty: none.
  std::string metrics_listen;
  // Checkpointing (docs/checkpoint.md); none by default. The state is
  // restored from the directory before the server reports SERVING.
  std::optional<CheckpointOptions> checkpoint;
  // Restore the file named by this consistent cut's manifest instead of
  // the newest checkpoint of the shard; 0: the newest.
  uint64_t restore_checkpoint_id = 0;
  // TLS of the listening port; default none (plaintext: the daemon refuses
  // that unless --plaintext is given). See docs/security.md.
  ServerTlsOptions tls;
  // Runs once when the state backend fails (a CUDA error; see
  // StateBackend::Health), after the server has marked itself NOT_SERVING;
  // every call is answered UNAVAILABLE from then on. The daemon exits so
  // that its supervisor restarts it from the last checkpoint. May be empty.
  std::function<void(const absl::Status&)> on_state_failure;
  // Tokens, roles, per-client in-flight cap. max_response_bytes is set from
  // max_message_bytes by Start. Default: no authentication, no cap.
  CallGuardOptions guard;
};

class ShardServer {
 public:
  // Binds, starts serving and marks the health service SERVING.
  // INVALID_ARGUMENT for bad options; UNAVAILABLE when the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<ShardServer>> Start(const ShardServerOptions& options);
  ~ShardServer();
  ShardServer(const ShardServer&) = delete;
  ShardServer& operator=(const ShardServer&) = delete;

  // The bound port, and the metrics port (0 without an endpoint).
  int port() const { return port_; }
  int metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }
  ServerMetrics* metrics() { return metrics_.get(); }
  ShardStore* store() { return store_.get(); }
  ParameterService* service() { return service_.get(); }
  // Re-reads the token file (SIGHUP); OK without one. On error the old
  // tokens stay in force.
  absl::Status ReloadTokens() { return guard_->ReloadTokens(); }

  // Marks NOT_SERVING, stops accepting calls and waits up to `grace` for
  // calls in flight to finish (then cancels them); then, with checkpoints
  // configured and `final_checkpoint`, writes a last checkpoint.
  // Idempotent.
  void Shutdown(absl::Duration grace, bool final_checkpoint = false);
  CheckpointManager* checkpoints() { return checkpoints_.get(); }

 private:
  ShardServer() = default;

  std::unique_ptr<ShardStore> store_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<CallGuard> guard_;
  std::unique_ptr<ParameterService> service_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<CheckpointManager> checkpoints_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_SHARD_SERVER_H_
