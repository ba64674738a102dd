// libFuzzer target: sequences of wire requests (fuzz_requests.h) fed to an
// in-process ParameterService over a ShardStore holding a few tables of
// every kind, plus token-table parsing and the authorization check.
//
// Must never crash, hang or leak, and a request the service refuses must
// leave the table it names bit-for-bit unchanged (parameters, moments,
// segment versions, pending synchronous gradients); a violation aborts.
//
// Bounded by design: the store has a 8 MiB state quota, 8 tables and 16
// workers, so no input can make it allocate much; pulls that could wait (SSP,
// synchronous rounds) are given a deadline of now.
#include <grpcpp/server_context.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "adamasync/v1/parameter_server.pb.h"
#include "common/clock.h"
#include "common/sharding.h"
#include "common/status_macros.h"
#include "fuzz/fuzz_requests.h"
#include "server/auth.h"
#include "server/call_guard.h"
#include "server/parameter_service.h"
#include "server/shard_store.h"
#include "spdlog/spdlog.h"

namespace adamasync {
namespace fuzz {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "request_fuzzer invariant broken: %s\n", what);
    std::abort();
  }
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// What a refused request must not change. (Push dedupe entries may: a
// refused numbered push remembers its answer for its retries.)
bool SameTableState(const TablePartSnapshot& a, const TablePartSnapshot& b) {
  if (!SameBits(a.p, b.p) || !SameBits(a.m, b.m) || !SameBits(a.v, b.v) ||
      !SameBits(a.vmax, b.vmax) || a.segment_steps != b.segment_steps ||
      a.sync_pending.size() != b.sync_pending.size()) {
    return false;
  }
  for (size_t i = 0; i < a.sync_pending.size(); ++i) {
    if (a.sync_pending[i].worker_id != b.sync_pending[i].worker_id ||
        !SameBits(a.sync_pending[i].gradient, b.sync_pending[i].gradient)) {
      return false;
    }
  }
  return true;
}

TableSpec Spec(const char* name, uint64_t n) {
  TableSpec spec;
  spec.name = name;
  spec.num_elements = n;
  spec.init = Initializer::Uniform(-1, 1, 3);
  return spec;
}

class Harness {
 public:
  Harness() {
    ShardOptions options;
    options.max_state_bytes = uint64_t{8} << 20;
    options.max_tables = 8;
    options.max_workers = 16;
    options.clock = &clock_;
    store_ = std::make_unique<ShardStore>(options);
    service_ = std::make_unique<ParameterService>(store_.get(), nullptr);
    service_->SetReady();
    TableSpec dense = Spec(kDenseTable, kDenseElements);
    dense.init = Initializer::Constant(0.5);  // cheap to fill: a fresh store per input
    dense.adam.amsgrad = true;
    dense.adam.weight_decay = 0.01;
    TableSpec stale = Spec(kStaleTable, kSmallElements);
    stale.consistency.staleness_policy = StalenessPolicy::kReject;
    stale.consistency.max_staleness = 1;
    TableSpec sync = Spec(kSyncTable, kSmallElements);
    sync.consistency.sync_workers = 2;
    TableSpec ssp = Spec(kSspTable, kSmallElements);
    ssp.consistency.ssp_bound = 1;
    for (const TableSpec& spec : {dense, stale, sync, ssp}) {
      Check(store_->CreateTable(spec).ok(), "the harness's tables are created");
    }
    CallGuardOptions guard;
    guard.max_requests_per_client = 2;
    guard.max_response_bytes = 1 << 20;
    guard_ = std::make_unique<CallGuard>(
        guard, std::make_unique<Authorizer>(
                   TokenTable::Parse("admin a 0123456789abcdef0123\nworker w abcdefabcdefabcdef\n")
                       .value()));
  }

  void Run(const uint8_t* data, size_t size) {
    size_t at = 0;
    while (at < size) {
      const uint8_t kind_byte = data[at++];
      size_t length = 0;
      if (at < size) length = data[at++];
      if (at < size) length |= static_cast<size_t>(data[at++]) << 8;
      length = std::min(length, size - at);
      const std::string bytes(reinterpret_cast<const char*>(data + at), length);
      at += length;
      One(static_cast<FuzzKind>((kind_byte & 0x1f) % kFuzzKinds), (kind_byte & kFixView) != 0,
          (kind_byte & kExpand) != 0, bytes);
    }
  }

 private:
  template <typename Request>
  bool Parse(const std::string& bytes, bool fix_view, Request* request) {
    if (!request->ParseFromString(bytes)) return false;
    if (fix_view) {
      request->mutable_view()->set_shard_index(0);
      request->mutable_view()->set_num_shards(1);
    }
    return true;
  }

  std::optional<TablePartSnapshot> SnapshotOf(const std::string& table) {
    absl::StatusOr<std::shared_ptr<TablePart>> part = store_->Find(table);
    if (!part.ok()) return std::nullopt;
    return (*part)->Snapshot().value();
  }

  // Runs a state-changing call; if refused, `table` must be unchanged.
  template <typename Call>
  void Mutating(const std::string& table, Call call) {
    std::optional<TablePartSnapshot> before = SnapshotOf(table);
    const grpc::Status status = call();
    if (status.ok() || !before) return;
    std::optional<TablePartSnapshot> after = SnapshotOf(table);
    Check(after.has_value() && SameTableState(*before, *after),
          "a refused request left its table unchanged");
  }

  // kExpand: `floats` tiled up to the part's end from `offset` (at most two
  // segments); unchanged when the table or offset is not in the part.
  void Expand(const std::string& table, uint64_t offset, std::string* floats) {
    absl::StatusOr<std::shared_ptr<TablePart>> part = store_->Find(table);
    if (!part.ok()) return;
    const ElementRange range = (*part)->range();
    if (offset < range.begin || offset >= range.end) return;
    const uint64_t n = std::min<uint64_t>(range.end - offset, 2 * kSegmentElements);
    std::string pattern =
        floats->size() >= sizeof(float) ? *floats : std::string("\0\0\x80\x3e", 4);
    pattern.resize(pattern.size() / sizeof(float) * sizeof(float));
    floats->clear();
    floats->reserve(n * sizeof(float));
    while (floats->size() < n * sizeof(float)) {
      floats->append(pattern, 0, std::min(pattern.size(), n * sizeof(float) - floats->size()));
    }
  }

  void One(FuzzKind kind, bool fix_view, bool expand, const std::string& bytes) {
    grpc::ServerContext context;
    switch (kind) {
      case kCreateTable: {
        v1::CreateTableRequest request;
        v1::CreateTableResponse response;
        if (Parse(bytes, fix_view, &request)) service_->CreateTable(&context, &request, &response);
        break;
      }
      case kPull: {
        v1::PullRequest request;
        v1::PullResponse response;
        if (!Parse(bytes, fix_view, &request)) break;
        // A pull that may wait (SSP, a synchronous round) gets a deadline of
        // now, through the store; the others go through the service.
        absl::StatusOr<std::shared_ptr<TablePart>> part = store_->Find(request.table());
        const bool may_wait = part.ok() && request.worker_id() != 0 &&
                              ((*part)->spec().consistency.ssp_bound >= 0 ||
                               (*part)->spec().consistency.sync_workers > 0);
        std::optional<TablePartSnapshot> before = SnapshotOf(request.table());
        if (!may_wait) {
          service_->Pull(&context, &request, &response);
        } else {
          PullWithoutWaiting(request);
        }
        if (before) {
          Check(SameTableState(*before, *SnapshotOf(request.table())), "a pull changes nothing");
        }
        break;
      }
      case kPush: {
        v1::PushRequest request;
        v1::PushResponse response;
        if (!Parse(bytes, fix_view, &request)) break;
        if (expand) Expand(request.table(), request.offset(), request.mutable_gradient());
        Mutating(request.table(), [&] { return service_->Push(&context, &request, &response); });
        break;
      }
      case kGetStats: {
        v1::GetStatsRequest request;
        v1::GetStatsResponse response;
        if (Parse(bytes, fix_view, &request)) service_->GetStats(&context, &request, &response);
        break;
      }
      case kRegisterWorker: {
        v1::RegisterWorkerRequest request;
        v1::RegisterWorkerResponse response;
        if (Parse(bytes, fix_view, &request)) {
          service_->RegisterWorker(&context, &request, &response);
        }
        break;
      }
      case kClock: {
        v1::ClockRequest request;
        v1::ClockResponse response;
        if (Parse(bytes, fix_view, &request)) service_->Clock(&context, &request, &response);
        break;
      }
      case kWriteParameters: {
        v1::WriteParametersRequest request;
        v1::WriteParametersResponse response;
        if (!Parse(bytes, fix_view, &request)) break;
        if (expand) Expand(request.table(), request.offset(), request.mutable_values());
        Mutating(request.table(),
                 [&] { return service_->WriteParameters(&context, &request, &response); });
        break;
      }
      case kPrepareCheckpoint:
      case kCommitCheckpoint:
      case kAbortCheckpoint: {
        v1::CheckpointCutRequest request;
        if (!Parse(bytes, fix_view, &request)) break;
        if (kind == kPrepareCheckpoint) {
          v1::PrepareCheckpointResponse response;
          service_->PrepareCheckpoint(&context, &request, &response);
        } else if (kind == kCommitCheckpoint) {
          v1::CommitCheckpointResponse response;
          service_->CommitCheckpoint(&context, &request, &response);
        } else {
          v1::AbortCheckpointResponse response;
          service_->AbortCheckpoint(&context, &request, &response);
        }
        break;
      }
      case kFinalizeCheckpoint: {
        v1::FinalizeCheckpointRequest request;
        v1::FinalizeCheckpointResponse response;
        if (Parse(bytes, fix_view, &request)) {
          service_->FinalizeCheckpoint(&context, &request, &response);
        }
        break;
      }
      case kTokenTable: {
        absl::StatusOr<TokenTable> table = TokenTable::Parse(bytes);
        if (table.ok()) Check(table->size() > 0, "a parsed token table is not empty");
        break;
      }
      case kAuthorization: {
        absl::StatusOr<CallGuard::Ticket> ticket =
            guard_->Admit("Push", bytes, "ipv4:127.0.0.1:" + std::to_string(bytes.size()));
        (void)ticket;
        break;
      }
      case kAdvanceClock: {
        uint64_t ms = 0;
        for (size_t i = 0; i < bytes.size() && i < 2; ++i)
          ms |= uint64_t{uint8_t(bytes[i])} << (8 * i);
        clock_.Advance(absl::Milliseconds(static_cast<int64_t>(ms)));
        break;
      }
      case kFuzzKinds:
        break;
    }
  }

  // The service's pull path with a deadline of now (ParameterService::Pull
  // would wait until the call's deadline, infinite without a real call).
  void PullWithoutWaiting(const v1::PullRequest& request) {
    const absl::Time now = absl::Now();
    absl::StatusOr<std::shared_ptr<TablePart>> part =
        store_->PrepareForPull(request.table(), request.worker_id(), now);
    if (!part.ok()) return;
    if (!ValidateChunk((*part)->range(), request.offset(), request.length()).ok()) return;
    std::string values(request.length() * sizeof(float), '\0');
    (*part)
        ->Pull(request.offset(), request.length(), values.data(), request.worker_id(), now)
        .IgnoreError();
  }

  FakeClock clock_;
  std::unique_ptr<ShardStore> store_;
  std::unique_ptr<ParameterService> service_;
  std::unique_ptr<CallGuard> guard_;
};

}  // namespace
}  // namespace fuzz
}  // namespace adamasync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The server's logs (worker registered, lease expired, refused call) are
  // noise here and slow every run.
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  adamasync::fuzz::Harness harness;
  harness.Run(data, size);
  return 0;
}
