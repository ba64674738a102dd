#include "server/shard_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace adamasync {

absl::StatusOr<std::unique_ptr<ShardServer>> ShardServer::Start(const ShardServerOptions& options) {
  if (options.shard.num_shards == 0 || options.shard.shard_index >= options.shard.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("shard_index ", options.shard.shard_index,
                                                   " must be < num_shards ",
                                                   options.shard.num_shards, " (and >= 1 shard)"));
  }
  if (options.max_message_bytes < (1 << 20)) {
    return absl::InvalidArgumentError("max_message_bytes must be at least 1 MiB");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(options.tls));
  CallGuardOptions guard = options.guard;
  // A Pull's values plus the response's few framing bytes must fit a message.
  guard.max_response_bytes = static_cast<uint64_t>(options.max_message_bytes) - 4096;
  std::unique_ptr<ShardServer> server(new ShardServer());
  ASSIGN_OR_RETURN(server->guard_, CallGuard::Create(guard));
  server->store_ = std::make_unique<ShardStore>(options.shard);
  server->metrics_ = std::make_unique<ServerMetrics>();
  server->service_ =
      std::make_unique<ParameterService>(server->store_.get(), server->metrics_.get());
  server->service_->SetCallGuard(server->guard_.get());
  ShardServer* raw = server.get();
  server->service_->SetFailureHook(
      [raw, hook = options.on_state_failure](const absl::Status& failure) {
        spdlog::critical("state backend {} failed, NOT_SERVING from now on: {}",
                         raw->store_->backend().Describe(), failure.ToString());
        raw->server_->GetHealthCheckService()->SetServingStatus(false);
        if (hook) hook(failure);
      });
  if (!options.metrics_listen.empty()) {
    ShardStore* store = server->store_.get();
    ServerMetrics* metrics = server->metrics_.get();
    auto http = MetricsHttpServer::Start(options.metrics_listen, metrics->registry(),
                                         [store, metrics] { metrics->Refresh(*store); });
    if (!http.ok()) return http.status();
    server->metrics_http_ = std::move(*http);
  }
  if (options.checkpoint.has_value()) {
    ASSIGN_OR_RETURN(
        server->checkpoints_,
        CheckpointManager::Open(*options.checkpoint, server->store_.get(), server->metrics_.get()));
    server->service_->SetCheckpointManager(server->checkpoints_.get());
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  grpc::ResourceQuota quota("adamasync-server");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", options.listen));
  }
  // Listening, but NOT_SERVING (and every call UNAVAILABLE) until the state
  // is restored: probes and clients never see an empty shard by mistake.
  server->server_->GetHealthCheckService()->SetServingStatus(false);
  if (server->checkpoints_ != nullptr) {
    RETURN_IF_ERROR(server->checkpoints_->Restore(options.restore_checkpoint_id));
    server->checkpoints_->Start();
  }
  server->service_->SetReady();
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

void ShardServer::Shutdown(absl::Duration grace, bool final_checkpoint) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  if (checkpoints_ != nullptr) {
    checkpoints_->Stop();
    if (final_checkpoint) {
      // Every call has finished: this checkpoint holds every applied push.
      absl::StatusOr<WrittenCheckpoint> written = checkpoints_->WriteNow();
      if (!written.ok()) {
        spdlog::error("final checkpoint failed: {}", written.status().ToString());
      }
    }
  }
}

ShardServer::~ShardServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace adamasync
