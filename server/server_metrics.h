// ServerMetrics: the Prometheus metrics of one shard server (names follow
// the Prometheus conventions: adamasync_*_total, *_seconds, *_bytes).
//
// Request counters and latency histograms are updated by the service as
// calls finish; table and worker gauges are refreshed from the ShardStore
// just before each scrape (Refresh). See docs/operations.md for the list.
//
// Thread safety: all methods may be called concurrently.
#ifndef ADAMASYNC_SERVER_SERVER_METRICS_H_
#define ADAMASYNC_SERVER_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace adamasync {

class ShardStore;

class ServerMetrics {
 public:
  ServerMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // One finished RPC: counted by method and status code (the "reason" a
  // request was rejected), with its latency.
  void RecordRequest(const std::string& method, absl::StatusCode code, absl::Duration latency);
  void RecordPush(uint64_t bytes, uint64_t staleness, absl::Duration apply_time);
  void RecordPull(uint64_t bytes);
  // Checkpoint bookkeeping (set by the checkpoint code when it writes one).
  void RecordCheckpoint(absl::Time finished, absl::Duration took, uint64_t bytes);
  // A restart restored the state of a checkpoint written at `created`: the
  // checkpoint age counts from then, not from "never".
  void RecordRestore(absl::Time created);

  // Updates the gauges computed from the store. Call before a scrape.
  void Refresh(const ShardStore& store);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Counter& push_bytes_;
  prometheus::Counter& pull_bytes_;
  prometheus::Histogram& apply_seconds_;
  prometheus::Histogram& staleness_;
  prometheus::Family<prometheus::Gauge>& table_elements_;
  prometheus::Family<prometheus::Gauge>& table_state_bytes_;
  prometheus::Family<prometheus::Gauge>& table_version_;
  prometheus::Gauge& live_workers_;
  prometheus::Gauge& registered_workers_;
  prometheus::Gauge& blocked_pulls_;
  prometheus::Gauge& expired_leases_;
  prometheus::Gauge& checkpoint_age_;
  prometheus::Gauge& checkpoint_duration_;
  prometheus::Gauge& checkpoint_bytes_;
  prometheus::Counter& checkpoints_;
  prometheus::Family<prometheus::Gauge>& state_backend_;       // 1 healthy, 0 failed; by device
  prometheus::Family<prometheus::Counter>& duplicate_pushes_;  // by table
  prometheus::Family<prometheus::Counter>& stale_pushes_;      // by table, action

  absl::Mutex mu_;
  absl::Time last_checkpoint_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The per-table totals (TableStats) at the last Refresh, so the counters
  // above grow by the difference.
  struct SeenTotals {
    uint64_t duplicates = 0, stale_rejected = 0, stale_scaled = 0;
  };
  absl::flat_hash_map<std::string, SeenTotals> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_SERVER_METRICS_H_
