// The client SDK's implementation: ClientImpl turns each public call into a
// FanOut of chunk RPCs over one gRPC channel per shard.
#include "adamasync/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/proto_convert.h"
#include "common/sharding.h"
#include "common/staleness.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"
#include "common/tls_config.h"
#include "common/token_file.h"
#include "worker/fan_out.h"

namespace adamasync {
namespace {

using internal::FanOut;
using internal::FanOutConfig;
using Stub = v1::ParameterServer::Stub;

absl::Status ValidateOptions(const ClientOptions& options) {
  if (options.servers.empty()) return absl::InvalidArgumentError("options.servers is empty");
  for (const std::string& server : options.servers) {
    if (server.empty()) return absl::InvalidArgumentError("options.servers has an empty address");
  }
  if (options.chunk_elements == 0 || options.chunk_elements % kSegmentElements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.chunk_elements must be a positive multiple of ", kSegmentElements,
                     ", got ", options.chunk_elements));
  }
  if (options.chunk_elements * sizeof(float) + 4096 >
      static_cast<uint64_t>(options.max_message_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options.chunk_elements (", options.chunk_elements,
        " floats) does not fit in options.max_message_bytes (", options.max_message_bytes, ")"));
  }
  if (options.max_chunks_in_flight < 1) {
    return absl::InvalidArgumentError("options.max_chunks_in_flight must be >= 1");
  }
  if (options.attempt_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("options.attempt_timeout must be > 0");
  }
  if (options.worker_id != 0 &&
      (options.lease < absl::Milliseconds(100) || options.lease > absl::Hours(1))) {
    return absl::InvalidArgumentError(absl::StrCat("options.lease must be in [100ms, 1h], got ",
                                                   absl::FormatDuration(options.lease)));
  }
  if (options.deadline <= absl::ZeroDuration() || options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(
        "options need deadline > 0 and 0 < initial_backoff <= max_backoff");
  }
  return absl::OkStatus();
}

v1::ShardView View(size_t shard, size_t num_shards) {
  v1::ShardView view;
  view.set_shard_index(static_cast<uint32_t>(shard));
  view.set_num_shards(static_cast<uint32_t>(num_shards));
  return view;
}

TableStats FromProto(const v1::TableStats& p) {
  TableStats s;
  s.name = p.name();
  s.num_elements = p.num_elements();
  s.part_begin = p.part_begin();
  s.part_end = p.part_end();
  s.version = p.version();
  s.pushes = p.pushes();
  s.pulls = p.pulls();
  s.rejected_pushes = p.rejected_pushes();
  s.bytes_pushed = p.bytes_pushed();
  s.bytes_pulled = p.bytes_pulled();
  s.state_bytes = p.state_bytes();
  s.staleness_sum = p.staleness_sum();
  s.staleness_max = p.staleness_max();
  s.staleness_histogram.assign(p.staleness_histogram().begin(), p.staleness_histogram().end());
  s.duplicate_pushes = p.duplicate_pushes();
  s.stale_rejected = p.stale_rejected();
  s.stale_scaled = p.stale_scaled();
  if (auto consistency = adamasync::FromProto(p.consistency()); consistency.ok()) {
    s.consistency = *consistency;
  }
  return s;
}

// Versions collected from chunk answers: the fewest per shard.
class VersionCollector {
 public:
  explicit VersionCollector(size_t num_shards) : per_shard_(num_shards, UINT64_MAX) {}
  void Add(size_t shard, uint64_t version) {
    absl::MutexLock lock(&mu_);
    per_shard_[shard] = std::min(per_shard_[shard], version);
  }
  void MarkStaleDropped() {
    absl::MutexLock lock(&mu_);
    stale_dropped_ = true;
  }
  Versions Get() {
    absl::MutexLock lock(&mu_);
    Versions versions;
    versions.per_shard = per_shard_;
    versions.stale_dropped = stale_dropped_;
    // A shard that owns no element of the table reports version 0.
    for (uint64_t& v : versions.per_shard) {
      if (v == UINT64_MAX) v = 0;
    }
    return versions;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> per_shard_ ABSL_GUARDED_BY(mu_);
  bool stale_dropped_ ABSL_GUARDED_BY(mu_) = false;
};

class ClientImpl final : public Client {
 public:
  using Client::PullAsync;
  using Client::PushAsync;

  // `token` may be null (no bearer token).
  ClientImpl(const ClientOptions& options, std::unique_ptr<BearerTokenSource> token,
             const std::shared_ptr<grpc::ChannelCredentials>& credentials,
             const grpc::ChannelArguments& args)
      : options_(options), token_(std::move(token)) {
    for (const std::string& address : options.servers) {
      stubs_.push_back(
          v1::ParameterServer::NewStub(grpc::CreateCustomChannel(address, credentials, args)));
    }
  }

  ~ClientImpl() override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  }

  ClientCounters Counters() const override {
    ClientCounters out;
    out.attempts = counters_.attempts.load(std::memory_order_relaxed);
    out.retried_unavailable = counters_.retried_unavailable.load(std::memory_order_relaxed);
    out.retried_attempt_timeout = counters_.retried_attempt_timeout.load(std::memory_order_relaxed);
    out.failed_calls = counters_.failed_calls.load(std::memory_order_relaxed);
    return out;
  }

  absl::Status Register() override {
    if (options_.worker_id == 0) {
      return absl::FailedPreconditionError("this client has no worker_id (anonymous)");
    }
    absl::MutexLock register_lock(&register_mu_);
    std::vector<v1::RegisterWorkerResponse> answers(stubs_.size());
    RETURN_IF_ERROR((Broadcast<v1::RegisterWorkerRequest, v1::RegisterWorkerResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::RegisterWorkerRequest* req,
           v1::RegisterWorkerResponse* resp, std::function<void(grpc::Status)> cb) {
          stub->async()->RegisterWorker(ctx, req, resp, cb);
        },
        [this](size_t, v1::RegisterWorkerRequest* request) {
          request->set_worker_id(options_.worker_id);
          request->set_lease_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.lease)));
        },
        [&answers](size_t shard, const v1::RegisterWorkerResponse& resp) {
          answers[shard] = resp;
        })));
    uint64_t last_seq = 0, clock = 0;
    for (const auto& answer : answers) {
      last_seq = std::max(last_seq, answer.last_seq());
      clock = std::max(clock, answer.clock());
    }
    absl::MutexLock lock(&mu_);
    // Continue the numbering of an earlier incarnation of this worker.
    next_seq_ = std::max(next_seq_, last_seq + 1);
    clock_ = std::max(clock_, clock);
    registered_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Clock() override {
    if (options_.worker_id == 0) {
      return absl::FailedPreconditionError("this client has no worker_id (anonymous)");
    }
    RETURN_IF_ERROR(EnsureRegistered());
    uint64_t clock;
    {
      absl::MutexLock lock(&mu_);
      clock = ++clock_;
    }
    std::vector<uint64_t> min_clocks(stubs_.size(), 0);
    RETURN_IF_ERROR((Broadcast<v1::ClockRequest, v1::ClockResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::ClockRequest* req,
           v1::ClockResponse* resp,
           std::function<void(grpc::Status)> cb) { stub->async()->Clock(ctx, req, resp, cb); },
        [this, clock](size_t, v1::ClockRequest* request) {
          request->set_worker_id(options_.worker_id);
          request->set_clock(clock);
        },
        [&min_clocks](size_t shard, const v1::ClockResponse& resp) {
          min_clocks[shard] = resp.min_clock();
        })));
    return *std::min_element(min_clocks.begin(), min_clocks.end());
  }

  absl::Status CreateTable(const TableSpec& spec) override {
    RETURN_IF_ERROR(ValidateTableSpec(spec));
    const v1::TableSpec proto_spec = ToProto(spec);
    absl::Status status = Broadcast<v1::CreateTableRequest, v1::CreateTableResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::CreateTableRequest* req,
           v1::CreateTableResponse* resp, std::function<void(grpc::Status)> done) {
          stub->async()->CreateTable(ctx, req, resp, done);
        },
        [&proto_spec](size_t, v1::CreateTableRequest* request) {
          *request->mutable_spec() = proto_spec;
        },
        nullptr);
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      table_sizes_[spec.name] = spec.num_elements;
    }
    return status;
  }

  absl::StatusOr<Versions> Pull(absl::string_view table, absl::Span<float> out) override {
    return Client::PullAsync(table, out).get();
  }

  void PullAsync(absl::string_view table, absl::Span<float> out, VersionsCallback done) override {
    absl::StatusOr<std::vector<ElementRange>> parts = PartsFor(table, out.size(), "out");
    if (!parts.ok()) {
      done(parts.status());
      return;
    }
    if (absl::Status registered = EnsureRegistered(); !registered.ok()) {
      done(registered);
      return;
    }
    auto versions = std::make_shared<VersionCollector>(stubs_.size());
    auto fan_out = NewFanOut<v1::PullRequest, v1::PullResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::PullRequest* req, v1::PullResponse* resp,
           std::function<void(grpc::Status)> cb) { stub->async()->Pull(ctx, req, resp, cb); },
        [out, versions](size_t, const v1::PullRequest& req, const v1::PullResponse& resp) {
          if (resp.values().size() != req.length() * sizeof(float)) {
            return absl::InternalError(absl::StrCat("server returned ", resp.values().size(),
                                                    " bytes for ", req.length(), " elements"));
          }
          std::memcpy(out.data() + req.offset(), resp.values().data(), resp.values().size());
          versions->Add(req.view().shard_index(), resp.version());
          return absl::OkStatus();
        },
        [versions, done = std::move(done)](absl::Status status) {
          if (status.ok()) {
            done(versions->Get());
          } else {
            done(std::move(status));
          }
        });
    const std::string name(table);
    for (size_t shard = 0; shard < parts->size(); ++shard) {
      for (const ElementRange& chunk : ChunkRanges((*parts)[shard], options_.chunk_elements)) {
        v1::PullRequest request;
        *request.mutable_view() = View(shard, stubs_.size());
        request.set_table(name);
        request.set_offset(chunk.begin);
        request.set_length(chunk.size());
        request.set_worker_id(options_.worker_id);
        fan_out->Add(shard, std::move(request));
      }
    }
    fan_out->Start();
  }

  absl::StatusOr<Versions> Push(absl::string_view table, absl::Span<const float> gradient,
                                const Versions& pulled) override {
    return Client::PushAsync(table, gradient, pulled).get();
  }

  void PushAsync(absl::string_view table, absl::Span<const float> gradient, const Versions& pulled,
                 VersionsCallback done) override {
    absl::StatusOr<std::vector<ElementRange>> parts = PartsFor(table, gradient.size(), "gradient");
    if (!parts.ok()) {
      done(parts.status());
      return;
    }
    if (!pulled.per_shard.empty() && pulled.per_shard.size() != stubs_.size()) {
      done(absl::InvalidArgumentError(absl::StrCat("pulled versions name ", pulled.per_shard.size(),
                                                   " shards, the client has ", stubs_.size())));
      return;
    }
    // Checked here so that a bad gradient is never partly applied: the
    // servers check each chunk too, but chunks are applied independently.
    for (size_t i = 0; i < gradient.size(); ++i) {
      if (!std::isfinite(gradient[i])) {
        done(absl::InvalidArgumentError(absl::StrCat("gradient element ", i, " is ",
                                                     std::isnan(gradient[i]) ? "NaN" : "Inf",
                                                     "; nothing was sent")));
        return;
      }
    }
    std::string name(table);
    if (options_.worker_id == 0) {
      StartPush(name, std::move(*parts), gradient, pulled, /*seq=*/0, std::move(done));
      return;
    }
    if (absl::Status registered = EnsureRegistered(); !registered.ok()) {
      done(registered);
      return;
    }
    // One push per table in flight, in call order: sequence numbers reach
    // each chunk's server in increasing order, as exactly-once requires.
    std::function<void()> start;
    {
      absl::MutexLock lock(&mu_);
      const uint64_t seq = next_seq_++;
      start = [this, name, parts = std::move(*parts), gradient, pulled, seq,
               done = std::move(done)]() mutable {
        StartPush(name, std::move(parts), gradient, pulled, seq,
                  [this, name, done = std::move(done)](absl::StatusOr<Versions> result) {
                    done(std::move(result));
                    PushFinished(name);
                  });
      };
      PushQueue& queue = push_queues_[name];
      if (queue.busy) {
        queue.waiting.push_back(std::move(start));
        return;
      }
      queue.busy = true;
    }
    start();
  }

  absl::StatusOr<std::vector<ShardStats>> GetStats() override {
    std::vector<ShardStats> stats(stubs_.size());
    RETURN_IF_ERROR((Broadcast<v1::GetStatsRequest, v1::GetStatsResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::GetStatsRequest* req,
           v1::GetStatsResponse* resp,
           std::function<void(grpc::Status)> cb) { stub->async()->GetStats(ctx, req, resp, cb); },
        [](size_t, v1::GetStatsRequest*) {},
        [&stats](size_t shard, const v1::GetStatsResponse& resp) {
          ShardStats& s = stats[shard];
          s.shard_index = resp.shard_index();
          s.num_shards = resp.num_shards();
          s.uptime_seconds = resp.uptime_seconds();
          s.server_version = resp.server_version();
          for (const v1::TableStats& t : resp.tables()) s.tables.push_back(FromProto(t));
          for (const v1::WorkerStats& w : resp.workers()) {
            s.workers.push_back({w.worker_id(), w.clock(), w.live(), w.last_seq(),
                                 w.seconds_since_contact(), w.blocked_on()});
          }
          s.min_live_clock = resp.min_live_clock();
          s.expired_leases = resp.expired_leases();
        })));
    return stats;
  }

  absl::StatusOr<uint64_t> TableSize(absl::string_view table) override {
    {
      absl::MutexLock lock(&mu_);
      if (auto it = table_sizes_.find(table); it != table_sizes_.end()) return it->second;
    }
    ASSIGN_OR_RETURN(std::vector<ShardStats> stats, GetStats());
    for (const ShardStats& shard : stats) {
      for (const TableStats& t : shard.tables) {
        if (t.name == table) {
          absl::MutexLock lock(&mu_);
          table_sizes_[t.name] = t.num_elements;
          return t.num_elements;
        }
      }
    }
    return absl::NotFoundError(absl::StrCat("no table named '", table, "' on any shard"));
  }

 private:
  struct PushQueue {
    bool busy = false;
    std::deque<std::function<void()>> waiting;
  };

  absl::Status EnsureRegistered() {
    if (options_.worker_id == 0) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      if (registered_) return absl::OkStatus();
    }
    return Register();
  }

  // Starts the next queued push of `table`, if any.
  void PushFinished(const std::string& table) {
    std::function<void()> next;
    {
      absl::MutexLock lock(&mu_);
      PushQueue& queue = push_queues_[table];
      if (queue.waiting.empty()) {
        queue.busy = false;
        return;
      }
      next = std::move(queue.waiting.front());
      queue.waiting.pop_front();
    }
    next();
  }

  void StartPush(const std::string& name, std::vector<ElementRange> parts,
                 absl::Span<const float> gradient, const Versions& pulled, uint64_t seq,
                 VersionsCallback done) {
    auto versions = std::make_shared<VersionCollector>(stubs_.size());
    auto fan_out = NewFanOut<v1::PushRequest, v1::PushResponse>(
        [](Stub* stub, grpc::ClientContext* ctx, const v1::PushRequest* req, v1::PushResponse* resp,
           std::function<void(grpc::Status)> cb) { stub->async()->Push(ctx, req, resp, cb); },
        [versions](size_t, const v1::PushRequest& req, const v1::PushResponse& resp) {
          versions->Add(req.view().shard_index(), resp.version());
          return absl::OkStatus();
        },
        [versions, done = std::move(done)](absl::Status status) {
          if (status.ok()) {
            done(versions->Get());
          } else {
            done(std::move(status));
          }
        },
        // Only numbered pushes may be re-sent after an attempt timed out
        // or lost its connection: the server may have applied it.
        /*retry_ambiguous=*/seq != 0);
    if (options_.drop_stale_pushes) {
      fan_out->set_absorb_error(
          [versions](size_t, const v1::PushRequest& req, const absl::Status& status) {
            const std::optional<StaleGradientInfo> stale = GetStaleGradient(status);
            if (!stale) return false;
            versions->Add(req.view().shard_index(), stale->current_version);
            versions->MarkStaleDropped();
            return true;
          });
    }
    // Gradient bytes are copied into each request only when it is first sent.
    std::vector<ElementRange> chunks;
    for (size_t shard = 0; shard < parts.size(); ++shard) {
      for (const ElementRange& chunk : ChunkRanges(parts[shard], options_.chunk_elements)) {
        v1::PushRequest request;
        *request.mutable_view() = View(shard, stubs_.size());
        request.set_table(name);
        request.set_offset(chunk.begin);
        request.set_pulled_version(pulled.per_shard.empty() ? 0 : pulled.per_shard[shard]);
        request.set_worker_id(options_.worker_id);
        request.set_seq(seq);
        fan_out->Add(shard, std::move(request));
        chunks.push_back(chunk);
      }
    }
    fan_out->set_prepare(
        [gradient, chunks = std::move(chunks)](size_t call, v1::PushRequest* request) {
          const ElementRange& chunk = chunks[call];
          request->set_gradient(reinterpret_cast<const char*>(gradient.data() + chunk.begin),
                                chunk.size() * sizeof(float));
        });
    fan_out->Start();
  }

  // Each shard's part of `table`, after checking the caller's buffer size.
  absl::StatusOr<std::vector<ElementRange>> PartsFor(absl::string_view table, size_t size,
                                                     const char* what) {
    RETURN_IF_ERROR(ValidateTableName(std::string_view(table.data(), table.size())));
    ASSIGN_OR_RETURN(uint64_t num_elements, TableSize(table));
    if (size != num_elements) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has ", size, " elements, table '", table, "' has ", num_elements));
    }
    return ShardRanges(std::string_view(table.data(), table.size()), num_elements,
                       static_cast<uint32_t>(stubs_.size()));
  }

  // Sends one request to every shard in parallel (its view set, the rest
  // filled by `fill`) and waits; OK when every shard answered OK.
  // `on_response` (may be null) sees each shard's answer.
  template <typename Request, typename Response>
  absl::Status Broadcast(typename FanOut<Request, Response>::Issue issue,
                         const std::function<void(size_t shard, Request*)>& fill,
                         const std::function<void(size_t shard, const Response&)>& on_response) {
    std::promise<absl::Status> promise;
    auto fan_out = NewFanOut<Request, Response>(
        std::move(issue),
        [&on_response](size_t shard, const Request&, const Response& response) {
          if (on_response) on_response(shard, response);
          return absl::OkStatus();
        },
        [&promise](absl::Status status) { promise.set_value(std::move(status)); });
    for (size_t shard = 0; shard < stubs_.size(); ++shard) {
      Request request;
      *request.mutable_view() = View(shard, stubs_.size());
      fill(shard, &request);
      fan_out->Add(shard, std::move(request));
    }
    fan_out->Start();
    return promise.get_future().get();
  }

  // A FanOut whose completion is counted, so the destructor can wait for it.
  template <typename Request, typename Response>
  std::shared_ptr<FanOut<Request, Response>> NewFanOut(
      typename FanOut<Request, Response>::Issue issue,
      typename FanOut<Request, Response>::OnResponse on_response,
      typename FanOut<Request, Response>::OnDone on_done, bool retry_ambiguous = true) {
    FanOutConfig config;
    for (const auto& stub : stubs_) config.stubs.push_back(stub.get());
    config.addresses = options_.servers;
    config.timer = &timer_;
    config.deadline = absl::Now() + options_.deadline;
    config.initial_backoff = options_.initial_backoff;
    config.max_backoff = options_.max_backoff;
    config.max_in_flight = static_cast<size_t>(options_.max_chunks_in_flight);
    config.attempt_timeout = options_.attempt_timeout;
    config.retry_ambiguous = retry_ambiguous;
    config.counters = &counters_;
    if (token_ != nullptr) {
      config.prepare_context = [token = token_.get()](grpc::ClientContext* context) {
        context->AddMetadata("authorization", token->AuthorizationValue());
      };
    }
    config.released = [this] {
      absl::MutexLock lock(&mu_);
      --outstanding_;
    };
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    return std::make_shared<FanOut<Request, Response>>(std::move(config), std::move(issue),
                                                       std::move(on_response), std::move(on_done));
  }

  const ClientOptions options_;
  const std::unique_ptr<BearerTokenSource> token_;
  internal::CallCounters counters_;
  std::vector<std::unique_ptr<Stub>> stubs_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> table_sizes_ ABSL_GUARDED_BY(mu_);
  // FanOuts not yet destroyed; the destructor waits for 0.
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex register_mu_;  // one registration at a time
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, PushQueue> push_queues_ ABSL_GUARDED_BY(mu_);
  // Declared last: destroyed first, after the destructor waited for every
  // operation, so no retry can still be pending.
  RetryTimer timer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   MakeChannelCredentials(options.tls, &args));
  std::unique_ptr<BearerTokenSource> token;
  if (options.credentials.enabled()) {
    ASSIGN_OR_RETURN(token, BearerTokenSource::Create(options.credentials));
  }
  return std::unique_ptr<Client>(new ClientImpl(options, std::move(token), credentials, args));
}

std::future<absl::StatusOr<Versions>> Client::PullAsync(absl::string_view table,
                                                        absl::Span<float> out) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Versions>>>();
  auto future = promise->get_future();
  PullAsync(table, out,
            [promise](absl::StatusOr<Versions> result) { promise->set_value(std::move(result)); });
  return future;
}

std::future<absl::StatusOr<Versions>> Client::PushAsync(absl::string_view table,
                                                        absl::Span<const float> gradient,
                                                        const Versions& pulled) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Versions>>>();
  auto future = promise->get_future();
  PushAsync(table, gradient, pulled,
            [promise](absl::StatusOr<Versions> result) { promise->set_value(std::move(result)); });
  return future;
}

}  // namespace adamasync
