#include "ctl/admin_client.h"

#include <grpcpp/grpcpp.h>

#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/tls_config.h"

namespace adamasync::ctl {

ClientOptions ToClientOptions(const AdminOptions& options) {
  ClientOptions client;
  client.servers = options.servers;
  client.deadline = options.deadline;
  client.tls = options.tls;
  client.credentials = options.credentials;
  client.max_message_bytes = options.max_message_bytes;
  return client;
}

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Create(const AdminOptions& options) {
  if (options.servers.empty()) return absl::InvalidArgumentError("no servers given");
  for (const std::string& server : options.servers) {
    if (server.empty()) return absl::InvalidArgumentError("an empty server address");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the deadline must be > 0");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   MakeChannelCredentials(options.tls, &args));
  std::unique_ptr<BearerTokenSource> token;
  if (options.credentials.enabled()) {
    ASSIGN_OR_RETURN(token, BearerTokenSource::Create(options.credentials));
  }
  std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs;
  for (const std::string& address : options.servers) {
    stubs.push_back(
        v1::ParameterServer::NewStub(grpc::CreateCustomChannel(address, credentials, args)));
  }
  return std::unique_ptr<AdminClient>(new AdminClient(options, std::move(token), std::move(stubs)));
}

AdminClient::AdminClient(const AdminOptions& options, std::unique_ptr<BearerTokenSource> token,
                         std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs)
    : options_(options), token_(std::move(token)), stubs_(std::move(stubs)) {}

void AdminClient::Prepare(grpc::ClientContext* context, bool wait_for_ready) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  context->set_wait_for_ready(wait_for_ready);
  if (token_ != nullptr) context->AddMetadata("authorization", token_->AuthorizationValue());
}

v1::ShardView AdminClient::View(uint32_t shard) const {
  v1::ShardView view;
  view.set_shard_index(shard);
  view.set_num_shards(num_shards());
  return view;
}

absl::Status AdminClient::Result(uint32_t shard, const char* rpc,
                                 const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  const absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat("shard ", shard, " (", options_.servers[shard],
                                             "): ", rpc, ": ", s.message()));
}

void AdminClient::ForEachShard(const std::function<void(uint32_t shard)>& fn) const {
  std::vector<std::thread> threads;
  threads.reserve(stubs_.size());
  for (uint32_t shard = 0; shard < num_shards(); ++shard) threads.emplace_back(fn, shard);
  for (std::thread& t : threads) t.join();
}

template <typename Request, typename Response>
std::vector<absl::StatusOr<Response>> AdminClient::CallAll(
    const char* rpc,
    grpc::Status (v1::ParameterServer::Stub::*call)(grpc::ClientContext*, const Request&,
                                                    Response*),
    Request request, bool wait_for_ready) {
  std::vector<absl::StatusOr<Response>> out(num_shards());
  ForEachShard([&](uint32_t shard) {
    Request mine = request;
    *mine.mutable_view() = View(shard);
    Response response;
    grpc::ClientContext context;
    Prepare(&context, wait_for_ready);
    const absl::Status s =
        Result(shard, rpc, (stubs_[shard].get()->*call)(&context, mine, &response));
    out[shard] = s.ok() ? absl::StatusOr<Response>(std::move(response)) : s;
  });
  return out;
}

namespace {

template <typename Response>
std::vector<absl::Status> StatusesOf(const std::vector<absl::StatusOr<Response>>& answers) {
  std::vector<absl::Status> out;
  for (const auto& answer : answers) out.push_back(answer.status());
  return out;
}

v1::CheckpointCutRequest CutRequest(uint64_t checkpoint_id) {
  v1::CheckpointCutRequest request;
  request.set_checkpoint_id(checkpoint_id);
  return request;
}

}  // namespace

std::vector<absl::StatusOr<v1::GetStatsResponse>> AdminClient::GetStatsAll() {
  return CallAll("GetStats", &v1::ParameterServer::Stub::GetStats, v1::GetStatsRequest(),
                 /*wait_for_ready=*/false);
}

std::vector<absl::Status> AdminClient::PrepareCheckpointAll(uint64_t checkpoint_id) {
  return StatusesOf(CallAll("PrepareCheckpoint", &v1::ParameterServer::Stub::PrepareCheckpoint,
                            CutRequest(checkpoint_id)));
}

std::vector<absl::StatusOr<v1::CommitCheckpointResponse>> AdminClient::CommitCheckpointAll(
    uint64_t checkpoint_id) {
  return CallAll("CommitCheckpoint", &v1::ParameterServer::Stub::CommitCheckpoint,
                 CutRequest(checkpoint_id));
}

std::vector<absl::Status> AdminClient::AbortCheckpointAll(uint64_t checkpoint_id) {
  return StatusesOf(CallAll("AbortCheckpoint", &v1::ParameterServer::Stub::AbortCheckpoint,
                            CutRequest(checkpoint_id)));
}

std::vector<absl::StatusOr<std::string>> AdminClient::FinalizeCheckpointAll(
    uint64_t checkpoint_id, const std::vector<v1::ManifestEntry>& entries) {
  // One shard after the other: shards that share a checkpoint directory
  // write the same manifest through the same temp file name, so writes at
  // once would race (one shard's rename finds the other's temp file gone).
  // A manifest is a few hundred bytes; the sequence costs little.
  std::vector<absl::StatusOr<std::string>> out;
  for (uint32_t shard = 0; shard < num_shards(); ++shard) {
    v1::FinalizeCheckpointRequest request;
    *request.mutable_view() = View(shard);
    request.set_checkpoint_id(checkpoint_id);
    for (const v1::ManifestEntry& entry : entries) *request.add_entries() = entry;
    v1::FinalizeCheckpointResponse response;
    grpc::ClientContext context;
    Prepare(&context);
    const absl::Status s = Result(shard, "FinalizeCheckpoint",
                                  stubs_[shard]->FinalizeCheckpoint(&context, request, &response));
    out.push_back(s.ok() ? absl::StatusOr<std::string>(response.manifest_file()) : s);
  }
  return out;
}

absl::Status AdminClient::WriteParameters(uint32_t shard, const std::string& table, uint64_t offset,
                                          absl::Span<const float> values) {
  v1::WriteParametersRequest request;
  *request.mutable_view() = View(shard);
  request.set_table(table);
  request.set_offset(offset);
  // The wire carries little-endian fp32, this host's layout (x86-64, arm64).
  request.mutable_values()->assign(reinterpret_cast<const char*>(values.data()),
                                   values.size() * sizeof(float));
  v1::WriteParametersResponse response;
  grpc::ClientContext context;
  Prepare(&context);
  return Result(shard, "WriteParameters",
                stubs_[shard]->WriteParameters(&context, request, &response));
}

}  // namespace adamasync::ctl
