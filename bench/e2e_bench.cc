#include "bench/e2e_bench.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/types/span.h"
#include "adamasync/client.h"
#include "bench/bench_units.h"
#include "bench/sample_stats.h"
#include "bench/server_fleet.h"
#include "common/status_macros.h"

namespace adamasync {
namespace bench {
namespace {

// What one client thread reads and writes; allocated (and so faulted in)
// before any timed call.
struct ThreadState {
  Client* client = nullptr;
  std::string table;
  std::vector<float> params;
  std::vector<float> gradient;
  Versions versions;  // returned by this thread's last call
};

std::string TableName(uint64_t floats, int thread, bool per_thread) {
  const std::string base = absl::StrCat("bench/n", FormatCount(floats));
  return per_thread ? absl::StrCat(base, "/w", thread) : base;
}

TableSpec BenchTableSpec(const std::string& name, uint64_t floats) {
  TableSpec spec;
  spec.name = name;
  spec.num_elements = floats;
  spec.init = Initializer::Uniform(-0.1, 0.1, /*seed=*/1);
  return spec;  // default Adam hyper-parameters
}

absl::Status InCase(const absl::Status& status, int shards, int threads, uint64_t floats) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("e2e case shards=", shards, " threads=", threads,
                                   " floats=", FormatCount(floats), ": ", status.message()));
}

// Every thread calls Pull (or Push) back to back until the phase has lasted
// `seconds_per_case` and it has made `min_ops` calls.
absl::StatusOr<PhaseResult> RunPhase(bool push, std::vector<ThreadState>& states,
                                     const E2eBenchOptions& o) {
  const size_t num_threads = states.size();
  std::vector<std::vector<double>> latencies(num_threads);
  std::vector<double> finished(num_threads, 0);
  std::vector<absl::Status> errors(num_threads);
  absl::Notification go;
  double start = 0;  // written before go.Notify(), read after waiting on it
  std::vector<std::thread> threads;
  for (size_t k = 0; k < num_threads; ++k) {
    threads.emplace_back([&, k] {
      go.WaitForNotification();
      ThreadState& s = states[k];
      while (true) {
        const double t0 = MonotonicSeconds();
        absl::StatusOr<Versions> result =
            push ? s.client->Push(s.table, absl::MakeConstSpan(s.gradient), s.versions)
                 : s.client->Pull(s.table, absl::MakeSpan(s.params));
        const double t1 = MonotonicSeconds();
        if (!result.ok()) {
          errors[k] = result.status();
          break;
        }
        s.versions = *std::move(result);
        latencies[k].push_back(t1 - t0);
        if (static_cast<int>(latencies[k].size()) >= o.min_ops &&
            t1 - start >= o.seconds_per_case) {
          break;
        }
      }
      finished[k] = MonotonicSeconds();
    });
  }
  start = MonotonicSeconds();
  go.Notify();
  for (auto& t : threads) t.join();
  for (const absl::Status& e : errors) RETURN_IF_ERROR(e);

  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  PhaseResult r;
  r.ops = all.size();
  r.seconds = *std::max_element(finished.begin(), finished.end()) - start;
  const double bytes = static_cast<double>(r.ops) * states[0].params.size() * sizeof(float);
  r.gbps = GigabytesPerSecond(bytes, r.seconds);
  r.p50_ms = Percentile(all, 50) * 1e3;
  r.p99_ms = Percentile(all, 99) * 1e3;
  return r;
}

// The versions of each of `tables`, each read with one Pull into `scratch`.
absl::StatusOr<std::vector<Versions>> ReadVersions(Client& client,
                                                   const std::vector<std::string>& tables,
                                                   absl::Span<float> scratch) {
  std::vector<Versions> out;
  for (const std::string& table : tables) {
    ASSIGN_OR_RETURN(Versions v, client.Pull(table, scratch));
    out.push_back(std::move(v));
  }
  return out;
}

// Sum over tables of the largest per-shard version advance: every push
// steps every segment it touches once, so this is the pushes applied.
uint64_t StepsBetween(const std::vector<Versions>& before, const std::vector<Versions>& after) {
  uint64_t steps = 0;
  for (size_t t = 0; t < before.size(); ++t) {
    uint64_t most = 0;
    for (size_t s = 0; s < before[t].per_shard.size(); ++s) {
      most = std::max(most, after[t].per_shard[s] - before[t].per_shard[s]);
    }
    steps += most;
  }
  return steps;
}

absl::StatusOr<E2eCase> RunCase(const std::vector<std::unique_ptr<Client>>& clients, int shards,
                                int threads, uint64_t floats, const E2eBenchOptions& o) {
  std::vector<ThreadState> states(threads);
  std::vector<std::string> tables;  // distinct
  for (int k = 0; k < threads; ++k) {
    ThreadState& s = states[k];
    s.client = clients[k].get();
    s.table = TableName(floats, k, o.table_per_thread);
    if (tables.empty() || o.table_per_thread) tables.push_back(s.table);
    s.params.assign(floats, 0.0f);
    s.gradient.resize(floats);
    for (uint64_t i = 0; i < floats; ++i) s.gradient[i] = 1e-3f * static_cast<float>(1 + i % 7);
  }
  for (const std::string& table : tables) {
    RETURN_IF_ERROR(clients[0]->CreateTable(BenchTableSpec(table, floats)));
  }
  // Warm-up, untimed: connections, table-size lookups, server buffers.
  for (ThreadState& s : states) {
    ASSIGN_OR_RETURN(s.versions, s.client->Pull(s.table, absl::MakeSpan(s.params)));
    ASSIGN_OR_RETURN(s.versions,
                     s.client->Push(s.table, absl::MakeConstSpan(s.gradient), s.versions));
  }
  E2eCase c;
  c.shards = shards;
  c.threads = threads;
  c.floats = floats;
  ASSIGN_OR_RETURN(c.pull, RunPhase(/*push=*/false, states, o));
  const absl::Span<float> scratch = absl::MakeSpan(states[0].params);
  ASSIGN_OR_RETURN(std::vector<Versions> before, ReadVersions(*clients[0], tables, scratch));
  ASSIGN_OR_RETURN(c.push, RunPhase(/*push=*/true, states, o));
  ASSIGN_OR_RETURN(std::vector<Versions> after, ReadVersions(*clients[0], tables, scratch));
  c.server_steps = StepsBetween(before, after);
  return c;
}

// Every case against one cluster, one Client per client thread.
absl::Status RunCluster(const std::vector<std::string>& servers, const E2eBenchOptions& o,
                        std::ostream& progress, std::vector<E2eCase>& cases) {
  const int shards = static_cast<int>(servers.size());
  const int max_threads = *std::max_element(o.client_threads.begin(), o.client_threads.end());
  std::vector<std::unique_ptr<Client>> clients;
  for (int k = 0; k < max_threads; ++k) {
    ClientOptions options;
    options.servers = servers;
    if (o.chunk_elements > 0) options.chunk_elements = o.chunk_elements;
    if (o.max_chunks_in_flight > 0) options.max_chunks_in_flight = o.max_chunks_in_flight;
    ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(options));
    clients.push_back(std::move(client));
  }
  for (uint64_t floats : o.sizes) {
    for (int threads : o.client_threads) {
      progress << "[e2e] shards=" << shards << " threads=" << threads
               << " floats=" << FormatCount(floats) << std::endl;
      absl::StatusOr<E2eCase> c = RunCase(clients, shards, threads, floats, o);
      if (!c.ok()) return InCase(c.status(), shards, threads, floats);
      cases.push_back(*std::move(c));
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const E2eBenchOptions& o) {
  if (o.sizes.empty() || o.client_threads.empty()) {
    return absl::InvalidArgumentError("e2e: need at least one size and one client thread count");
  }
  if (o.servers.empty() && o.spawn_shards.empty()) {
    return absl::InvalidArgumentError("e2e: give --servers or --spawn_shards");
  }
  for (int t : o.client_threads) {
    if (t < 1) return absl::InvalidArgumentError("e2e: client thread counts must be >= 1");
  }
  for (int s : o.spawn_shards) {
    if (s < 1) return absl::InvalidArgumentError("e2e: shard counts must be >= 1");
  }
  if (o.servers.empty() && access(o.server_bin.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("server binary not found or not executable: '",
                                            o.server_bin, "' (see --server_bin)"));
  }
  if (!(o.seconds_per_case >= 0) || o.min_ops < 1) {
    return absl::InvalidArgumentError("e2e: need seconds_per_case >= 0 and min_ops >= 1");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<E2eReport> RunE2eBench(const E2eBenchOptions& options, std::ostream& progress) {
  RETURN_IF_ERROR(Validate(options));
  E2eReport report;
  report.machine = ReadMachineInfo();
  report.options = options;
  progress << "[e2e] loopback TCP baseline (iperf3)" << std::endl;
  report.tcp = MeasureLoopbackTcp(options.iperf3_path, options.iperf_seconds);

  if (!options.servers.empty()) {
    RETURN_IF_ERROR(RunCluster(options.servers, options, progress, report.cases));
    return report;
  }
  report.spawned = true;
  report.server_bin = options.server_bin;
  for (int shards : options.spawn_shards) {
    ServerFleetOptions fleet_options;
    fleet_options.server_bin = options.server_bin;
    fleet_options.num_shards = shards;
    fleet_options.extra_args = options.server_args;
    progress << "[e2e] starting " << shards << " shard server(s)" << std::endl;
    ASSIGN_OR_RETURN(std::unique_ptr<ServerFleet> fleet, ServerFleet::Start(fleet_options));
    absl::Status status = RunCluster(fleet->addresses(), options, progress, report.cases);
    // A crashed server explains a failed call better than the call does.
    if (absl::Status alive = fleet->CheckAlive(); !alive.ok()) {
      status = status.ok() ? alive
                           : absl::Status(status.code(),
                                          absl::StrCat(status.message(), "; ", alive.message()));
    }
    RETURN_IF_ERROR(status);
  }  // ~ServerFleet stops the shards, on every path
  return report;
}

}  // namespace bench
}  // namespace adamasync
