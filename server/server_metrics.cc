#include "server/server_metrics.h"

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "server/shard_store.h"

namespace adamasync {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return *buckets;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("adamasync_requests_total")
                    .Help("RPCs finished, by method and gRPC status code")
                    .Register(*registry_)),
      request_seconds_(BuildHistogram()
                           .Name("adamasync_request_duration_seconds")
                           .Help("RPC latency on the server, by method")
                           .Register(*registry_)),
      push_bytes_(BuildCounter()
                      .Name("adamasync_push_bytes_total")
                      .Help("Gradient bytes applied")
                      .Register(*registry_)
                      .Add({})),
      pull_bytes_(BuildCounter()
                      .Name("adamasync_pull_bytes_total")
                      .Help("Parameter bytes served")
                      .Register(*registry_)
                      .Add({})),
      apply_seconds_(BuildHistogram()
                         .Name("adamasync_push_apply_duration_seconds")
                         .Help("Time to validate and apply one push chunk")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets())),
      staleness_(BuildHistogram()
                     .Name("adamasync_push_staleness")
                     .Help("Staleness (version now - version pulled) of accepted push chunks")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0, 1, 2, 4, 8, 16, 32, 64,
                                                                      128, 256, 512, 1024})),
      table_elements_(BuildGauge()
                          .Name("adamasync_table_elements")
                          .Help("Elements of each table held by this shard")
                          .Register(*registry_)),
      table_state_bytes_(BuildGauge()
                             .Name("adamasync_table_state_bytes")
                             .Help("Bytes of parameters and Adam state per table on this shard")
                             .Register(*registry_)),
      table_version_(BuildGauge()
                         .Name("adamasync_table_version")
                         .Help("Adam updates applied to this shard's part of each table")
                         .Register(*registry_)),
      live_workers_(BuildGauge()
                        .Name("adamasync_live_workers")
                        .Help("Registered workers whose lease has not expired")
                        .Register(*registry_)
                        .Add({})),
      registered_workers_(BuildGauge()
                              .Name("adamasync_registered_workers")
                              .Help("Workers this shard knows, live or expired")
                              .Register(*registry_)
                              .Add({})),
      blocked_pulls_(BuildGauge()
                         .Name("adamasync_blocked_pulls")
                         .Help("Workers whose pull is waiting (SSP or a synchronous round)")
                         .Register(*registry_)
                         .Add({})),
      expired_leases_(BuildGauge()
                          .Name("adamasync_expired_leases")
                          .Help("Worker leases that ran out since the server started")
                          .Register(*registry_)
                          .Add({})),
      checkpoint_age_(BuildGauge()
                          .Name("adamasync_checkpoint_age_seconds")
                          .Help("Seconds since the last checkpoint was written (-1: none yet)")
                          .Register(*registry_)
                          .Add({})),
      checkpoint_duration_(BuildGauge()
                               .Name("adamasync_checkpoint_duration_seconds")
                               .Help("How long the last checkpoint took to write")
                               .Register(*registry_)
                               .Add({})),
      checkpoint_bytes_(BuildGauge()
                            .Name("adamasync_checkpoint_size_bytes")
                            .Help("Size of the last checkpoint file")
                            .Register(*registry_)
                            .Add({})),
      checkpoints_(BuildCounter()
                       .Name("adamasync_checkpoints_total")
                       .Help("Checkpoints written")
                       .Register(*registry_)
                       .Add({})),
      state_backend_(BuildGauge()
                         .Name("adamasync_state_backend_healthy")
                         .Help("Where the tables live (--device; label device) and whether it "
                               "works: 1, or 0 once it failed (the shard then stops serving)")
                         .Register(*registry_)),
      duplicate_pushes_(BuildCounter()
                            .Name("adamasync_duplicate_pushes_total")
                            .Help("Push chunks recognised as retries of applied ones and "
                                  "answered without applying them again")
                            .Register(*registry_)),
      stale_pushes_(BuildCounter()
                        .Name("adamasync_stale_pushes_total")
                        .Help("Push chunks past the table's max_staleness: rejected (REJECT "
                              "policy, ABORTED) or scaled (SCALE policy, smaller step)")
                        .Register(*registry_)) {}

void ServerMetrics::RecordRequest(const std::string& method, absl::StatusCode code,
                                  absl::Duration latency) {
  requests_.Add({{"method", method}, {"code", absl::StatusCodeToString(code)}}).Increment();
  request_seconds_.Add({{"method", method}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void ServerMetrics::RecordPush(uint64_t bytes, uint64_t staleness, absl::Duration apply_time) {
  push_bytes_.Increment(static_cast<double>(bytes));
  staleness_.Observe(static_cast<double>(staleness));
  apply_seconds_.Observe(absl::ToDoubleSeconds(apply_time));
}

void ServerMetrics::RecordPull(uint64_t bytes) {
  pull_bytes_.Increment(static_cast<double>(bytes));
}

void ServerMetrics::RecordCheckpoint(absl::Time finished, absl::Duration took, uint64_t bytes) {
  checkpoints_.Increment();
  checkpoint_duration_.Set(absl::ToDoubleSeconds(took));
  checkpoint_bytes_.Set(static_cast<double>(bytes));
  absl::MutexLock lock(&mu_);
  last_checkpoint_ = finished;
}

void ServerMetrics::RecordRestore(absl::Time created) {
  absl::MutexLock lock(&mu_);
  last_checkpoint_ = created;
}

namespace {

void AddDelta(prometheus::Counter& counter, uint64_t now, uint64_t* seen) {
  if (now > *seen) counter.Increment(static_cast<double>(now - *seen));
  *seen = now;
}

}  // namespace

void ServerMetrics::Refresh(const ShardStore& store) {
  const std::vector<TableStats> tables = store.Stats();
  for (const TableStats& t : tables) {
    const prometheus::Labels labels{{"table", t.name}};
    table_elements_.Add(labels).Set(static_cast<double>(t.part_end - t.part_begin));
    table_state_bytes_.Add(labels).Set(static_cast<double>(t.state_bytes));
    table_version_.Add(labels).Set(static_cast<double>(t.version));
  }
  state_backend_.Add({{"device", store.backend().Describe()}}).Set(store.Health().ok() ? 1.0 : 0.0);
  {
    absl::MutexLock lock(&mu_);  // concurrent scrapes add each difference once
    for (const TableStats& t : tables) {
      SeenTotals& seen = seen_[t.name];
      AddDelta(duplicate_pushes_.Add({{"table", t.name}}), t.duplicate_pushes, &seen.duplicates);
      AddDelta(stale_pushes_.Add({{"table", t.name}, {"action", "rejected"}}), t.stale_rejected,
               &seen.stale_rejected);
      AddDelta(stale_pushes_.Add({{"table", t.name}, {"action", "scaled"}}), t.stale_scaled,
               &seen.stale_scaled);
    }
  }
  int live = 0, blocked = 0;
  const auto workers = store.workers().Workers();
  for (const WorkerState& w : workers) {
    live += w.live ? 1 : 0;
    blocked += w.blocked_on.empty() ? 0 : 1;
  }
  live_workers_.Set(live);
  registered_workers_.Set(static_cast<double>(workers.size()));
  blocked_pulls_.Set(blocked);
  expired_leases_.Set(static_cast<double>(store.workers().expired_leases()));
  absl::MutexLock lock(&mu_);
  checkpoint_age_.Set(last_checkpoint_ == absl::InfinitePast()
                          ? -1.0
                          : absl::ToDoubleSeconds(absl::Now() - last_checkpoint_));
}

}  // namespace adamasync
