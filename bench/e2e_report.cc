// Text and JSON forms of an E2eReport (declared in e2e_bench.h). Published
// figures (published_reference.h) appear only in columns and blocks that
// say so.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/bench_units.h"
#include "bench/e2e_bench.h"
#include "bench/json_writer.h"
#include "bench/published_reference.h"
#include "bench/text_table.h"

namespace adamasync {
namespace bench {
namespace {

// Ratios to the loopback TCP stream are shown from this size up: below it a
// call is dominated by per-RPC latency, not bandwidth.
constexpr uint64_t kTcpRatioMinFloats = uint64_t{1} << 20;

std::string Fixed(double value, int digits) { return absl::StrFormat("%.*f", digits, value); }

std::string TcpRatio(const E2eReport& report, uint64_t floats, double gbps) {
  if (!report.tcp.measured || floats < kTcpRatioMinFloats || report.tcp.gbps <= 0) return "-";
  return Fixed(gbps / report.tcp.gbps, 2);
}

std::string StepsCheck(const E2eCase& c) {
  return c.server_steps == c.push.ops ? absl::StrCat(c.server_steps, " ok")
                                      : absl::StrCat(c.server_steps, "/", c.push.ops, " MISMATCH");
}

void WritePhase(absl::string_view key, const PhaseResult& p, JsonWriter& w) {
  w.Key(key);
  w.BeginObject();
  w.Field("ops", p.ops);
  w.Field("seconds", p.seconds);
  w.Field("gbps", p.gbps);
  w.Field("latency_p50_ms", p.p50_ms);
  w.Field("latency_p99_ms", p.p99_ms);
  w.EndObject();
}

}  // namespace

std::string RenderE2eReport(const E2eReport& report) {
  const E2eBenchOptions& o = report.options;
  std::string out =
      "AdamAsync end-to-end benchmark: Pull/Push through the client SDK to adamasync-server "
      "shards.\nEverything below is measured in this run, except the columns and block "
      "labelled PUBLISHED.\n";
  out += DescribeMachine(report.machine);
  if (report.spawned) {
    absl::StrAppendFormat(&out, "servers:     spawned on 127.0.0.1 per shard count (%s)\n",
                          report.server_bin);
  } else {
    absl::StrAppendFormat(&out, "servers:     external cluster %s\n",
                          absl::StrJoin(o.servers, ","));
  }
  absl::StrAppendFormat(
      &out,
      "clients:     one Client object per client thread, in this process; %s\n"
      "client heap: %s\n"
      "work:        every push is one real Adam step on the servers (default Adam, fp32);\n"
      "             'steps' = server version advance over the push phase vs pushes sent\n"
      "timing:      per case a pull phase then a push phase, >= %.2f s and >= %d calls per\n"
      "             thread each, after one untimed pull+push per thread\n"
      "units:       GB/s = 1e9 B/s of fp32 payload (4 B/float), all threads together;\n"
      "             latency per call in ms; sizes in floats (K = 1024, M = 1024^2)\n",
      o.table_per_thread ? "each thread has its own table" : "all threads share one table per size",
      o.client_malloc_tuned
          ? "glibc M_MMAP_THRESHOLD=64M, M_TRIM_THRESHOLD=256M (--tune_malloc, as the server)"
          : "glibc defaults (as adamasync-worker runs; --tune_malloc sets the server's mallopt)",
      o.seconds_per_case, o.min_ops);
  if (report.tcp.measured) {
    absl::StrAppendFormat(&out,
                          "loopback:    one TCP stream (iperf3, measured now): %.2f GB/s  [%s]\n",
                          report.tcp.gbps, report.tcp.note);
  } else {
    absl::StrAppendFormat(&out, "loopback:    %s\n", report.tcp.note);
  }
  out += "\n";

  TextTable table({"shards", "threads", "floats", "push GB/s", "push p50", "push p99", "pull GB/s",
                   "pull p50", "pull p99", "push/tcp", "pull/tcp", "ps-lite PUBLISHED GB/s",
                   "steps"});
  for (const E2eCase& c : report.cases) {
    const std::string pslite = PsLitePublishedGbps(c.shards, c.threads, c.floats);
    table.AddRow({absl::StrCat(c.shards), absl::StrCat(c.threads), FormatCount(c.floats),
                  Fixed(c.push.gbps, 3), Fixed(c.push.p50_ms, 2), Fixed(c.push.p99_ms, 2),
                  Fixed(c.pull.gbps, 3), Fixed(c.pull.p50_ms, 2), Fixed(c.pull.p99_ms, 2),
                  TcpRatio(report, c.floats, c.push.gbps), TcpRatio(report, c.floats, c.pull.gbps),
                  pslite.empty() ? "-" : pslite, StepsCheck(c)});
  }
  out += table.Render();
  out +=
      "\npush/tcp, pull/tcp: our GB/s over the iperf3 stream measured above (sizes >= 1M).\n"
      "ps-lite PUBLISHED: a figure from the literature for a like configuration (servers =\n"
      "shards, workers = threads), NOT measured here; ps-lite's server only sums, ours runs\n"
      "Adam. '-' where none was published.\n\n";
  absl::StrAppendFormat(&out, "PUBLISHED reference figures, %s:\n", kPublishedSource);
  for (const PublishedFigure& f : PublishedFigures()) {
    absl::StrAppendFormat(&out, "  - %s: %s\n", f.what, f.value);
  }
  return out;
}

std::string E2eReportJson(const E2eReport& report) {
  const E2eBenchOptions& o = report.options;
  JsonWriter w;
  w.BeginObject();
  w.Field("benchmark", "e2e");
  w.Key("machine");
  WriteMachineJson(report.machine, w);
  w.Field("servers_spawned", report.spawned);
  if (report.spawned) {
    w.Field("server_bin", report.server_bin);
  } else {
    w.Field("servers", absl::StrJoin(o.servers, ","));
  }
  w.Field("table_per_thread", o.table_per_thread);
  w.Field("client_per_thread", true);
  w.Field("client_malloc_tuned", o.client_malloc_tuned);
  w.Field("seconds_per_case", o.seconds_per_case);
  w.Field("min_ops", o.min_ops);
  w.Field("gbps_unit_bytes", 1e9);
  w.Key("loopback_tcp");
  w.BeginObject();
  w.Field("measured", report.tcp.measured);
  w.Field("gbps", report.tcp.gbps);
  w.Field("seconds", report.tcp.seconds);
  w.Field("note", report.tcp.note);
  w.EndObject();
  w.Key("cases");
  w.BeginArray();
  for (const E2eCase& c : report.cases) {
    w.BeginObject();
    w.Field("shards", c.shards);
    w.Field("client_threads", c.threads);
    w.Field("floats", c.floats);
    WritePhase("push", c.push, w);
    WritePhase("pull", c.pull, w);
    w.Field("server_steps", c.server_steps);
    if (report.tcp.measured && report.tcp.gbps > 0) {
      w.Field("push_over_tcp", c.push.gbps / report.tcp.gbps);
      w.Field("pull_over_tcp", c.pull.gbps / report.tcp.gbps);
    }
    const std::string pslite = PsLitePublishedGbps(c.shards, c.threads, c.floats);
    if (!pslite.empty()) w.Field("pslite_published_gbps_not_measured", pslite);
    w.EndObject();
  }
  w.EndArray();
  w.Key("published_reference_not_measured");
  w.BeginObject();
  w.Field("source", kPublishedSource);
  w.Key("figures");
  w.BeginArray();
  for (const PublishedFigure& f : PublishedFigures()) {
    w.BeginObject();
    w.Field("what", f.what);
    w.Field("value", f.value);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace bench
}  // namespace adamasync
