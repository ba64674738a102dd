// AdminClient: the administrative RPCs of adamasync-ctl, sent to every
// shard of one cluster over raw gRPC stubs.
//
// The client SDK (adamasync/client.h) covers the data plane (CreateTable,
// Pull, Push) and deliberately hides protos; the admin tool also needs
// what the SDK does not expose: the full GetStats answer (checkpoint
// fields, Adam configs), the consistent-cut RPCs and WriteParameters. This
// class is the one place in ctl/ that speaks gRPC. Every call carries the
// shard view (index, count), the bearer token when one is configured and
// the deadline of AdminOptions. Calls that change state wait for a shard
// that is (re)starting (`wait_for_ready`), up to the deadline; GetStats
// does not, so `status` reports a shard that is down at once.
//
// Example:
//   AdminOptions options;
//   options.servers = {"10.0.0.1:7000", "10.0.0.2:7000"};
//   ASSIGN_OR_RETURN(std::unique_ptr<AdminClient> admin, AdminClient::Create(options));
//   std::vector<absl::StatusOr<v1::GetStatsResponse>> stats = admin->GetStatsAll();
//
// Thread safety: every method may be called from any thread at once.
#ifndef ADAMASYNC_CTL_ADMIN_CLIENT_H_
#define ADAMASYNC_CTL_ADMIN_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "adamasync/client.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "common/token_file.h"

namespace adamasync::ctl {

struct AdminOptions {
  // "host:port" of every shard, in shard order. REQUIRES: non-empty.
  std::vector<std::string> servers;
  // Time allowed for one RPC (one shard), waiting for a starting shard
  // included. Default 30 s. REQUIRES: > 0.
  absl::Duration deadline = absl::Seconds(30);
  // TLS and bearer token, as for the SDK (adamasync/security.h). Default:
  // plaintext, no token.
  ClientTlsOptions tls;
  ClientCredentials credentials;
  // Largest message sent or accepted. Default 64 MiB, as the servers.
  int max_message_bytes = 64 << 20;
};

// The same servers, deadline, TLS and token for the client SDK.
ClientOptions ToClientOptions(const AdminOptions& options);

class AdminClient {
 public:
  // INVALID_ARGUMENT for bad options; NOT_FOUND for unreadable TLS or token
  // files. Connects lazily.
  static absl::StatusOr<std::unique_ptr<AdminClient>> Create(const AdminOptions& options);
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  uint32_t num_shards() const { return static_cast<uint32_t>(stubs_.size()); }
  const std::string& address(uint32_t shard) const { return options_.servers[shard]; }

  // One call per shard, all shards at once; entry i is shard i's answer.
  // Errors are the server's status, prefixed with the shard and address.
  std::vector<absl::StatusOr<v1::GetStatsResponse>> GetStatsAll();
  std::vector<absl::Status> PrepareCheckpointAll(uint64_t checkpoint_id);
  std::vector<absl::StatusOr<v1::CommitCheckpointResponse>> CommitCheckpointAll(
      uint64_t checkpoint_id);
  std::vector<absl::Status> AbortCheckpointAll(uint64_t checkpoint_id);
  // Shard by shard rather than at once (shards may share a directory).
  std::vector<absl::StatusOr<std::string>> FinalizeCheckpointAll(
      uint64_t checkpoint_id, const std::vector<v1::ManifestEntry>& entries);

  // Writes `values` at global element `offset` of shard `shard`'s part of
  // `table` (a chunk: see common/sharding.h ValidateChunk). The server
  // answers FAILED_PRECONDITION when a touched segment was already trained.
  // REQUIRES: shard < num_shards().
  absl::Status WriteParameters(uint32_t shard, const std::string& table, uint64_t offset,
                               absl::Span<const float> values);

  // Runs fn(shard) for every shard on its own thread and waits for all.
  void ForEachShard(const std::function<void(uint32_t shard)>& fn) const;

 private:
  AdminClient(const AdminOptions& options, std::unique_ptr<BearerTokenSource> token,
              std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs);

  // A context with the deadline, wait_for_ready and the token.
  void Prepare(grpc::ClientContext* context, bool wait_for_ready = true) const;
  v1::ShardView View(uint32_t shard) const;
  // The status of a finished call, prefixed with "shard I (ADDRESS): RPC: ".
  absl::Status Result(uint32_t shard, const char* rpc, const grpc::Status& status) const;
  // Sends `request` (its view set for each shard) with `call` to every
  // shard at once: the *All methods above. Defined in admin_client.cc.
  template <typename Request, typename Response>
  std::vector<absl::StatusOr<Response>> CallAll(
      const char* rpc,
      grpc::Status (v1::ParameterServer::Stub::*call)(grpc::ClientContext*, const Request&,
                                                      Response*),
      Request request, bool wait_for_ready = true);

  const AdminOptions options_;
  const std::unique_ptr<BearerTokenSource> token_;  // null: no token
  const std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs_;
};

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_ADMIN_CLIENT_H_
