// The GetStats counters (adamasync/stats.h) as read-only Python classes.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "absl/strings/str_cat.h"
#include "adamasync/client.h"
#include "adamasync/stats.h"
#include "bind_types.h"

namespace nb = nanobind;

namespace adamasync::python {

void BindStats(nb::module_& m) {
  nb::class_<TableStats>(m, "TableStats", "One shard's counters for its part of one table.")
      .def_ro("name", &TableStats::name)
      .def_ro("num_elements", &TableStats::num_elements, "of the whole table")
      .def_ro("part_begin", &TableStats::part_begin, "this shard holds [part_begin, part_end)")
      .def_ro("part_end", &TableStats::part_end)
      .def_ro("version", &TableStats::version, "fewest updates applied to any segment")
      .def_ro("pushes", &TableStats::pushes, "accepted push chunks")
      .def_ro("pulls", &TableStats::pulls, "served pull chunks")
      .def_ro("rejected_pushes", &TableStats::rejected_pushes)
      .def_ro("bytes_pushed", &TableStats::bytes_pushed)
      .def_ro("bytes_pulled", &TableStats::bytes_pulled)
      .def_ro("state_bytes", &TableStats::state_bytes, "p, m, v (and vmax) of the part")
      .def_ro("staleness_sum", &TableStats::staleness_sum)
      .def_ro("staleness_max", &TableStats::staleness_max)
      .def_ro("staleness_histogram", &TableStats::staleness_histogram,
              "bucket 0: staleness 0; bucket i >= 1: [2^(i-1), 2^i); the last is open-ended")
      .def_ro("duplicate_pushes", &TableStats::duplicate_pushes)
      .def_ro("stale_rejected", &TableStats::stale_rejected)
      .def_ro("stale_scaled", &TableStats::stale_scaled)
      .def_ro("consistency", &TableStats::consistency)
      .def("__repr__", [](const TableStats& t) {
        return absl::StrCat("TableStats(name='", t.name, "', num_elements=", t.num_elements,
                            ", part=[", t.part_begin, ", ", t.part_end, "), version=", t.version,
                            ", pushes=", t.pushes, ", pulls=", t.pulls, ")");
      });

  nb::class_<WorkerStats>(m, "WorkerStats", "A worker as one shard sees it.")
      .def_ro("worker_id", &WorkerStats::worker_id)
      .def_ro("clock", &WorkerStats::clock)
      .def_ro("live", &WorkerStats::live)
      .def_ro("last_seq", &WorkerStats::last_seq)
      .def_ro("seconds_since_contact", &WorkerStats::seconds_since_contact)
      .def_ro("blocked_on", &WorkerStats::blocked_on, "what its waiting pull waits for, or ''")
      .def("__repr__", [](const WorkerStats& w) {
        return absl::StrCat("WorkerStats(worker_id=", w.worker_id, ", clock=", w.clock,
                            ", live=", w.live ? "True" : "False", ")");
      });

  nb::class_<ClientCounters>(m, "ClientCounters",
                             "What this client's RPCs met since it was created.")
      .def_ro("attempts", &ClientCounters::attempts, "chunk RPC attempts, retries included")
      .def_ro("retried_unavailable", &ClientCounters::retried_unavailable,
              "attempts answered UNAVAILABLE, then retried")
      .def_ro("retried_attempt_timeout", &ClientCounters::retried_attempt_timeout,
              "attempts past attempt_timeout, then retried")
      .def_ro("failed_calls", &ClientCounters::failed_calls,
              "chunk RPCs that ended in an error, retries spent")
      .def("__repr__", [](const ClientCounters& c) {
        return absl::StrCat("ClientCounters(attempts=", c.attempts,
                            ", retried_unavailable=", c.retried_unavailable,
                            ", retried_attempt_timeout=", c.retried_attempt_timeout,
                            ", failed_calls=", c.failed_calls, ")");
      });

  nb::class_<ShardStats>(m, "ShardStats", "The counters of one shard.")
      .def_ro("shard_index", &ShardStats::shard_index)
      .def_ro("num_shards", &ShardStats::num_shards)
      .def_ro("uptime_seconds", &ShardStats::uptime_seconds)
      .def_ro("server_version", &ShardStats::server_version)
      .def_ro("tables", &ShardStats::tables, "sorted by name")
      .def_ro("workers", &ShardStats::workers, "sorted by id")
      .def_ro("min_live_clock", &ShardStats::min_live_clock)
      .def_ro("expired_leases", &ShardStats::expired_leases)
      .def("__repr__", [](const ShardStats& s) {
        return absl::StrCat("ShardStats(shard_index=", s.shard_index, ", num_shards=", s.num_shards,
                            ", tables=", s.tables.size(), ", workers=", s.workers.size(), ")");
      });
}

}  // namespace adamasync::python
