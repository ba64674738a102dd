// ParameterService: the gRPC face of a shard. Thin by design: it checks the
// caller's cluster view, converts the wire messages, calls the ShardStore and
// TablePart, and converts their absl::Status into the gRPC status.
#ifndef ADAMASYNC_SERVER_PARAMETER_SERVICE_H_
#define ADAMASYNC_SERVER_PARAMETER_SERVICE_H_

#include <functional>

#include "absl/time/clock.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
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
  void SetPushReplyHookForTesting(PushReplyHook hook) { push_reply_hook_ = std::move(hook); }

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

 private:
  // Records the call in the metrics and converts its status.
  grpc::Status Finish(const char* method, absl::Time start, const absl::Status& status);

  ShardStore* const store_;
  ServerMetrics* const metrics_;
  PushReplyHook push_reply_hook_;
  const absl::Time start_time_ = absl::Now();
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_PARAMETER_SERVICE_H_
