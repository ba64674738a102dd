#include "server/parameter_service.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/proto_convert.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire format is little-endian fp32, read in place");

template <typename Request>
absl::Status CheckRequestView(const ShardStore& store, const Request& request) {
  if (!request.has_view()) {
    return absl::InvalidArgumentError("request.view (shard_index, num_shards) is missing");
  }
  return store.CheckView(request.view().shard_index(), request.view().num_shards());
}

void ToProto(const TableStats& s, v1::TableStats* out) {
  out->set_name(s.name);
  out->set_num_elements(s.num_elements);
  out->set_part_begin(s.part_begin);
  out->set_part_end(s.part_end);
  out->set_version(s.version);
  out->set_pushes(s.pushes);
  out->set_pulls(s.pulls);
  out->set_rejected_pushes(s.rejected_pushes);
  out->set_bytes_pushed(s.bytes_pushed);
  out->set_bytes_pulled(s.bytes_pulled);
  out->set_state_bytes(s.state_bytes);
  out->set_staleness_sum(s.staleness_sum);
  out->set_staleness_max(s.staleness_max);
  for (uint64_t count : s.staleness_histogram) out->add_staleness_histogram(count);
  out->set_duplicate_pushes(s.duplicate_pushes);
  out->set_stale_rejected(s.stale_rejected);
  out->set_stale_scaled(s.stale_scaled);
  if (s.consistency.sync_workers > 0) out->set_sync_round(s.version);
  *out->mutable_consistency() = ToProto(s.consistency);
}

absl::Time DeadlineOf(const grpc::ServerContext& context) {
  return absl::FromChrono(context.deadline());
}

}  // namespace

ParameterService::ParameterService(ShardStore* store, ServerMetrics* metrics)
    : store_(store), metrics_(metrics) {}

absl::Status ParameterService::CheckHealth() {
  absl::Status health = store_->Health();
  if (!health.ok() && !failure_reported_.exchange(true) && failure_hook_) failure_hook_(health);
  return health;
}

grpc::Status ParameterService::Finish(const char* method, absl::Time start,
                                      const absl::Status& status) {
  // A call that failed because the device did is what first reports it.
  if (!status.ok()) CheckHealth().IgnoreError();
  if (metrics_ != nullptr) metrics_->RecordRequest(method, status.code(), absl::Now() - start);
  return ToGrpcStatus(status);
}

absl::StatusOr<CallGuard::Ticket> ParameterService::Admit(const grpc::ServerContext& context,
                                                          const char* method) {
  if (!ready_.load(std::memory_order_acquire)) {
    return NotAppliedUnavailable("this shard is still restoring its checkpoint; retry shortly");
  }
  if (absl::Status health = CheckHealth(); !health.ok()) {
    return NotAppliedUnavailable(health.message());
  }
  if (guard_ == nullptr) return CallGuard::Ticket();
  return guard_->Admit(context, method);
}

grpc::Status ParameterService::CreateTable(grpc::ServerContext* context,
                                           const v1::CreateTableRequest* request,
                                           v1::CreateTableResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("CreateTable", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "CreateTable"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    if (!request->has_spec()) return absl::InvalidArgumentError("spec is missing");
    ASSIGN_OR_RETURN(TableSpec spec, FromProto(request->spec()));
    ASSIGN_OR_RETURN(ShardStore::CreateResult result, store_->CreateTable(spec));
    response->set_created(result.created);
    response->set_part_begin(result.range.begin);
    response->set_part_end(result.range.end);
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                                    v1::PullResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("Pull", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "Pull"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    const absl::Time deadline = DeadlineOf(*context);
    ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part,
                     store_->PrepareForPull(request->table(), request->worker_id(), deadline));
    // ValidateChunk bounds length by the part's size before anything is
    // allocated, so a huge length cannot make the server allocate.
    RETURN_IF_ERROR(ValidateChunk(part->range(), request->offset(), request->length()));
    if (guard_ != nullptr) {
      RETURN_IF_ERROR(
          guard_->CheckResponseBytes(request->length() * sizeof(float),
                                     absl::StrCat("a pull of ", request->length(), " elements")));
    }
    std::string* values = response->mutable_values();
    values->resize(request->length() * sizeof(float));
    ASSIGN_OR_RETURN(uint64_t version, part->Pull(request->offset(), request->length(),
                                                  values->data(), request->worker_id(), deadline));
    response->set_version(version);
    if (metrics_ != nullptr) metrics_->RecordPull(values->size());
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::Push(grpc::ServerContext* context, const v1::PushRequest* request,
                                    v1::PushResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "Push"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    const std::string& bytes = request->gradient();
    if (bytes.size() % sizeof(float) != 0) {
      if (auto part = store_->Find(request->table()); part.ok()) (*part)->CountRejectedPush();
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient is ", bytes.size(), " bytes, not a whole number of 4-byte floats"));
    }
    const size_t n = bytes.size() / sizeof(float);
    // Protobuf's string buffer is malloc-aligned in practice; copy only if not.
    std::vector<float> aligned;
    const float* grad = reinterpret_cast<const float*>(bytes.data());
    if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) != 0) {
      aligned.resize(n);
      std::memcpy(aligned.data(), bytes.data(), bytes.size());
      grad = aligned.data();
    }
    PushArgs args;
    args.offset = request->offset();
    args.grad = absl::MakeConstSpan(grad, n);
    args.pulled_version = request->pulled_version();
    args.worker_id = request->worker_id();
    args.seq = request->seq();
    absl::StatusOr<PushResult> result = store_->Push(request->table(), args);
    std::shared_ptr<const PushReplyHook> hook;
    {
      absl::MutexLock lock(&hook_mu_);
      hook = push_reply_hook_;
    }
    if (hook != nullptr) RETURN_IF_ERROR((*hook)(*request));
    RETURN_IF_ERROR(result.status());
    response->set_version(result->version);
    response->set_duplicate(result->duplicate);
    response->set_staleness(result->staleness);
    response->set_lr_scale(result->lr_scale);
    if (metrics_ != nullptr && !result->duplicate) {
      metrics_->RecordPush(bytes.size(), result->staleness, absl::Now() - start);
    }
    return absl::OkStatus();
  }();
  return Finish("Push", start, status);
}

grpc::Status ParameterService::GetStats(grpc::ServerContext* context,
                                        const v1::GetStatsRequest* request,
                                        v1::GetStatsResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("GetStats", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "GetStats"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    response->set_shard_index(store_->options().shard_index);
    response->set_num_shards(store_->options().num_shards);
    response->set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - start_time_));
    response->set_server_version(ADAMASYNC_VERSION);
    for (const TableStats& stats : store_->Stats()) {
      v1::TableStats* out = response->add_tables();
      ToProto(stats, out);
      absl::StatusOr<std::shared_ptr<TablePart>> part = store_->Find(stats.name);
      if (part.ok()) {
        const v1::TableSpec spec = adamasync::ToProto((*part)->spec());
        *out->mutable_adam() = spec.adam();
        *out->mutable_init() = spec.init();
      }
    }
    for (const WorkerState& w : store_->workers().Workers()) {
      v1::WorkerStats* out = response->add_workers();
      out->set_worker_id(w.worker_id);
      out->set_clock(w.clock);
      out->set_live(w.live);
      out->set_last_seq(w.last_seq);
      out->set_seconds_since_contact(absl::ToDoubleSeconds(w.since_contact));
      out->set_blocked_on(w.blocked_on);
    }
    response->set_min_live_clock(store_->workers().MinLiveClock());
    response->set_expired_leases(store_->workers().expired_leases());
    if (checkpoints_ != nullptr) {
      const CheckpointInfo info = checkpoints_->info();
      response->set_last_checkpoint_file(info.file_name);
      if (info.written != absl::InfinitePast()) {
        response->set_last_checkpoint_unix_ms(absl::ToUnixMillis(info.written));
      }
      response->set_restored_from(info.restored_from);
    }
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::RegisterWorker(grpc::ServerContext* context,
                                              const v1::RegisterWorkerRequest* request,
                                              v1::RegisterWorkerResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("RegisterWorker", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "RegisterWorker"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    if (request->lease_ms() > uint64_t{1} << 40) {
      return absl::InvalidArgumentError("lease_ms is absurdly large");
    }
    ASSIGN_OR_RETURN(
        WorkerRegistry::Registration registration,
        store_->workers().Register(request->worker_id(),
                                   absl::Milliseconds(static_cast<int64_t>(request->lease_ms()))));
    response->set_last_seq(registration.last_seq);
    response->set_clock(registration.clock);
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::Clock(grpc::ServerContext* context, const v1::ClockRequest* request,
                                     v1::ClockResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("Clock", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "Clock"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    ASSIGN_OR_RETURN(WorkerRegistry::ClockTick tick,
                     store_->workers().AdvanceClock(request->worker_id(), request->clock()));
    response->set_clock(tick.clock);
    response->set_min_clock(tick.min_live_clock);
    return absl::OkStatus();
  }());
}

absl::Status ParameterService::RequireCheckpoints() const {
  if (checkpoints_ != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this server runs without --checkpoint_dir: it cannot write checkpoints");
}

grpc::Status ParameterService::PrepareCheckpoint(grpc::ServerContext* context,
                                                 const v1::CheckpointCutRequest* request,
                                                 v1::PrepareCheckpointResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("PrepareCheckpoint", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "PrepareCheckpoint"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    RETURN_IF_ERROR(RequireCheckpoints());
    RETURN_IF_ERROR(checkpoints_->Prepare(request->checkpoint_id()));
    response->set_hold_timeout_seconds(absl::ToDoubleSeconds(checkpoints_->cut_hold_timeout()));
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::CommitCheckpoint(grpc::ServerContext* context,
                                                const v1::CheckpointCutRequest* request,
                                                v1::CommitCheckpointResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("CommitCheckpoint", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "CommitCheckpoint"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    RETURN_IF_ERROR(RequireCheckpoints());
    ASSIGN_OR_RETURN(WrittenCheckpoint written, checkpoints_->Commit(request->checkpoint_id()));
    response->set_file_name(written.file_name);
    response->set_size_bytes(written.digest.size_bytes);
    response->set_xxh64(written.digest.xxh64);
    response->set_checkpoint_id(request->checkpoint_id());
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::AbortCheckpoint(grpc::ServerContext* context,
                                               const v1::CheckpointCutRequest* request,
                                               v1::AbortCheckpointResponse*) {
  const absl::Time start = absl::Now();
  return Finish("AbortCheckpoint", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "AbortCheckpoint"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    RETURN_IF_ERROR(RequireCheckpoints());
    return checkpoints_->Abort(request->checkpoint_id());
  }());
}

grpc::Status ParameterService::FinalizeCheckpoint(grpc::ServerContext* context,
                                                  const v1::FinalizeCheckpointRequest* request,
                                                  v1::FinalizeCheckpointResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("FinalizeCheckpoint", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "FinalizeCheckpoint"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    RETURN_IF_ERROR(RequireCheckpoints());
    CheckpointManifest manifest;
    manifest.checkpoint_id = request->checkpoint_id();
    manifest.num_shards = store_->options().num_shards;
    for (const v1::ManifestEntry& e : request->entries()) {
      ManifestEntry entry;
      entry.shard_index = e.shard_index();
      entry.file_name = e.file_name();
      entry.digest.size_bytes = e.size_bytes();
      entry.digest.xxh64 = e.xxh64();
      manifest.entries.push_back(std::move(entry));
    }
    // WriteManifest validates the manifest (ids, one entry per shard, names).
    ASSIGN_OR_RETURN(std::string file, checkpoints_->Finalize(manifest));
    response->set_manifest_file(file);
    return absl::OkStatus();
  }());
}

grpc::Status ParameterService::WriteParameters(grpc::ServerContext* context,
                                               const v1::WriteParametersRequest* request,
                                               v1::WriteParametersResponse*) {
  const absl::Time start = absl::Now();
  return Finish("WriteParameters", start, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(CallGuard::Ticket ticket, Admit(*context, "WriteParameters"));
    RETURN_IF_ERROR(CheckRequestView(*store_, *request));
    ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part, store_->Find(request->table()));
    const std::string& bytes = request->values();
    if (bytes.size() % sizeof(float) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("values are ", bytes.size(), " bytes, not a whole number of 4-byte floats"));
    }
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return part->WriteParameters(request->offset(), values);
  }());
}

}  // namespace adamasync
