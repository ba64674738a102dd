// ParameterService: the gRPC face of a shard. Thin by design: it checks the
// caller's cluster view, converts the wire messages, calls the ShardStore and
// TablePart, and converts their absl::Status into the gRPC status.
#ifndef ADAMASYNC_SERVER_PARAMETER_SERVICE_H_
#define ADAMASYNC_SERVER_PARAMETER_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "server/call_guard.h"
#include "server/checkpoint_manager.h"
#include "server/server_metrics.h"
#include "server/shard_store.h"

namespace adamasync {

class ParameterService final : public v1::ParameterServer::Service {
 public:
  // `store` (and `metrics`, if not null) must outlive the service.
  ParameterService(ShardStore* store, ServerMetrics* metrics);

  // Fault injection for tests: runs after a push chunk was handled and
  // before it is answered; a non-OK status replaces the answer (e.g.
  // UNAVAILABLE: "the reply was lost"), and a slow hook delays it.
  using PushReplyHook = std::function<absl::Status(const v1::PushRequest&)>;
  // May be called while serving: calls already running the old hook finish
  // with it.
  void SetPushReplyHookForTesting(PushReplyHook hook) {
    auto shared = hook ? std::make_shared<const PushReplyHook>(std::move(hook)) : nullptr;
    absl::MutexLock lock(&hook_mu_);
    push_reply_hook_ = std::move(shared);
  }

  // Every handler first passes `guard` (authentication, role, per-client
  // cap; server/call_guard.h), unless it is null (the default: no checks).
  // REQUIRES: called before serving; `guard` outlives the service.
  void SetCallGuard(CallGuard* guard) { guard_ = guard; }

  grpc::Status CreateTable(grpc::ServerContext* context, const v1::CreateTableRequest* request,
                           v1::CreateTableResponse* response) override;
  grpc::Status Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                    v1::PullResponse* response) override;
  grpc::Status Push(grpc::ServerContext* context, const v1::PushRequest* request,
                    v1::PushResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;
  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status Clock(grpc::ServerContext* context, const v1::ClockRequest* request,
                     v1::ClockResponse* response) override;
  grpc::Status PrepareCheckpoint(grpc::ServerContext* context,
                                 const v1::CheckpointCutRequest* request,
                                 v1::PrepareCheckpointResponse* response) override;
  grpc::Status CommitCheckpoint(grpc::ServerContext* context,
                                const v1::CheckpointCutRequest* request,
                                v1::CommitCheckpointResponse* response) override;
  grpc::Status AbortCheckpoint(grpc::ServerContext* context,
                               const v1::CheckpointCutRequest* request,
                               v1::AbortCheckpointResponse* response) override;
  grpc::Status FinalizeCheckpoint(grpc::ServerContext* context,
                                  const v1::FinalizeCheckpointRequest* request,
                                  v1::FinalizeCheckpointResponse* response) override;
  grpc::Status WriteParameters(grpc::ServerContext* context,
                               const v1::WriteParametersRequest* request,
                               v1::WriteParametersResponse* response) override;

  // Checkpoint operations need a manager (a server with --checkpoint_dir);
  // without one they answer FAILED_PRECONDITION. REQUIRES: set before
  // serving; `manager` outlives the service.
  void SetCheckpointManager(CheckpointManager* manager) { checkpoints_ = manager; }
  // Until set, every call but health is answered UNAVAILABLE (the shard is
  // restoring its state). Start() sets it once the restore is done.
  void SetReady() { ready_.store(true, std::memory_order_release); }

  // Runs once, on the first call that finds the store's state backend
  // failed (ShardStore::Health); from then on every call is answered
  // UNAVAILABLE. REQUIRES: set before serving.
  using FailureHook = std::function<void(const absl::Status&)>;
  void SetFailureHook(FailureHook hook) { failure_hook_ = std::move(hook); }

 private:
  // Runs the failure hook once when the backend has failed; its status.
  absl::Status CheckHealth();
  // Records the call in the metrics and converts its status.
  grpc::Status Finish(const char* method, absl::Time start, const absl::Status& status);
  // FAILED_PRECONDITION without a checkpoint manager.
  absl::Status RequireCheckpoints() const;
  // The CallGuard's ticket for this call (an empty one without a guard).
  absl::StatusOr<CallGuard::Ticket> Admit(const grpc::ServerContext& context, const char* method);

  ShardStore* const store_;
  ServerMetrics* const metrics_;
  absl::Mutex hook_mu_;
  std::shared_ptr<const PushReplyHook> push_reply_hook_ ABSL_GUARDED_BY(hook_mu_);
  CallGuard* guard_ = nullptr;
  CheckpointManager* checkpoints_ = nullptr;
  std::atomic<bool> ready_{false};
  FailureHook failure_hook_;
  std::atomic<bool> failure_reported_{false};
  const absl::Time start_time_ = absl::Now();
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_PARAMETER_SERVICE_H_
