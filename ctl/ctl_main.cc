// adamasync-ctl: the operator's tool for an AdamAsync cluster.
//
//   adamasync-ctl status     --servers=H:P,H:P [--json]
//   adamasync-ctl checkpoint --servers=H:P,H:P [--id=N] [--json]
//   adamasync-ctl inspect    FILE [--json] [--from_checkpoint_dir=DIR[,DIR...]]
//   adamasync-ctl export     --out=FILE.safetensors (--servers=... |
//                            --from_checkpoint_dir=DIR[,DIR...] [--checkpoint_id=N |
//                            --num_shards=S] [--with_moments])
//   adamasync-ctl warm-start --in=FILE.safetensors --servers=... [--tables=a,b]
//                            [--lr=... and the other spec flags]
//
// Commands that talk to servers need --plaintext or --tls_ca (as the
// worker). Output goes to stdout, errors to stderr. Exit status: 0 on
// success, 1 when the operation failed (a shard unreachable, a corrupt
// file, a refused warm start, ...), 2 for a bad command line.
#include <fmt/format.h>
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/checkpoint_files.h"
#include "common/status_macros.h"
#include "common/tls_config.h"
#include "ctl/admin_client.h"
#include "ctl/checkpoint_inspect.h"
#include "ctl/cluster_status.h"
#include "ctl/consistent_cut.h"
#include "ctl/model_export.h"
#include "ctl/table_spec_text.h"
#include "ctl/warm_start.h"
#include "nlohmann/json.hpp"

// Connection (status, checkpoint, export from servers, warm-start).
ABSL_FLAG(std::vector<std::string>, servers, {},
          "Comma-separated host:port of every shard server, in shard order");
ABSL_FLAG(double, deadline_s, 30,
          "Seconds allowed for each call to a shard, waiting for a starting shard included");
ABSL_FLAG(bool, plaintext, false, "Connect without TLS (loopback, tests)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle the servers' certificates must chain to (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for servers that require mTLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the servers' certificates must carry, when not the host in --servers");
ABSL_FLAG(std::string, token_file, "",
          "File holding an admin bearer token (checkpoint and warm-start RPCs need the admin "
          "role on servers with --token_file); empty: none");
// Output.
ABSL_FLAG(bool, json, false, "status, checkpoint, inspect: print one JSON object");
// checkpoint.
ABSL_FLAG(uint64_t, id, 0, "checkpoint: the cut's id (> 0); 0: the current unix time in ms");
// export.
ABSL_FLAG(std::string, format, "safetensors", "export: the file format (only safetensors)");
ABSL_FLAG(std::string, out, "", "export: the file to write (atomically)");
ABSL_FLAG(bool, with_moments, false,
          "export: also write Adam's m and v as <table>.exp_avg and <table>.exp_avg_sq "
          "(needs --from_checkpoint_dir)");
ABSL_FLAG(std::vector<std::string>, from_checkpoint_dir, {},
          "export: read checkpoint files instead of the servers: one directory for all shards "
          "or one per shard in shard order. inspect: where a manifest's files are (default: "
          "the manifest's directory)");
ABSL_FLAG(uint64_t, checkpoint_id, 0,
          "export --from_checkpoint_dir: the consistent cut to export (its manifest names the "
          "files); 0: each shard's newest valid file (needs --num_shards)");
ABSL_FLAG(uint32_t, num_shards, 0,
          "export --from_checkpoint_dir without --checkpoint_id: the cluster's shard count");
// warm-start.
ABSL_FLAG(std::string, in, "", "warm-start: the safetensors file to load");
ABSL_FLAG(std::vector<std::string>, tables, {},
          "warm-start: tensors to load, comma-separated; empty or 'all': every tensor but "
          "moments (<t>.exp_avg, <t>.exp_avg_sq)");
ABSL_FLAG(std::optional<std::string>, algorithm, std::nullopt,
          "warm-start: adam or adamw (default: the file's metadata, else adam)");
ABSL_FLAG(std::optional<double>, lr, std::nullopt,
          "warm-start: learning rate (default: the file's metadata, else 1e-3)");
ABSL_FLAG(std::optional<double>, beta1, std::nullopt, "warm-start: Adam beta1 (default 0.9)");
ABSL_FLAG(std::optional<double>, beta2, std::nullopt, "warm-start: Adam beta2 (default 0.999)");
ABSL_FLAG(std::optional<double>, eps, std::nullopt, "warm-start: Adam eps (default 1e-8)");
ABSL_FLAG(std::optional<double>, weight_decay, std::nullopt,
          "warm-start: weight decay (default 0)");
ABSL_FLAG(std::optional<bool>, amsgrad, std::nullopt, "warm-start: AMSGrad (default false)");
ABSL_FLAG(std::optional<bool>, maximize, std::nullopt, "warm-start: maximize (default false)");
ABSL_FLAG(std::optional<std::string>, init, std::nullopt,
          "warm-start: the tables' initializer as recorded in their spec (the values are "
          "overwritten; workers creating the same tables must ask for the same): zeros, "
          "constant:A, uniform:LOW:HIGH:SEED or normal:MEAN:STDDEV:SEED (default: the file's "
          "metadata, else zeros)");
ABSL_FLAG(std::optional<std::string>, staleness_policy, std::nullopt,
          "warm-start: apply, reject or scale (default apply)");
ABSL_FLAG(std::optional<int64_t>, max_staleness, std::nullopt,
          "warm-start: staleness bound of reject/scale (default 0)");
ABSL_FLAG(std::optional<int64_t>, ssp_bound, std::nullopt,
          "warm-start: SSP bound, -1 for none (default -1)");
ABSL_FLAG(std::optional<int64_t>, sync_workers, std::nullopt,
          "warm-start: synchronous rounds of this many workers, 0 for asynchronous (default 0)");

namespace adamasync::ctl {
namespace {

constexpr int kFailed = 1;
constexpr int kUsage = 2;

int Usage(const std::string& message) {
  fmt::print(stderr, "adamasync-ctl: {} (see --help)\n", message);
  return kUsage;
}

int Fail(const absl::Status& status) {
  std::fflush(stdout);
  fmt::print(stderr, "adamasync-ctl: error: {}\n", status.ToString());
  return kFailed;
}

// The connection flags, or INVALID_ARGUMENT naming the one that is wrong.
absl::StatusOr<AdminOptions> ConnectionFromFlags() {
  AdminOptions options;
  options.servers = absl::GetFlag(FLAGS_servers);
  if (options.servers.empty()) {
    return absl::InvalidArgumentError("--servers is required (host:port,host:port,...)");
  }
  const double deadline_s = absl::GetFlag(FLAGS_deadline_s);
  if (!(deadline_s > 0) || !std::isfinite(deadline_s)) {
    return absl::InvalidArgumentError("--deadline_s must be > 0");
  }
  options.deadline = absl::Seconds(deadline_s);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.credentials.token_file = absl::GetFlag(FLAGS_token_file);
  RETURN_IF_ERROR(CheckClientTransport(options.tls, absl::GetFlag(FLAGS_plaintext)));
  return options;
}

// The warm-start spec flags that were given, as table-spec text.
absl::StatusOr<std::string> SpecOverridesFromFlags() {
  std::vector<std::string> words;
  auto add_word = [&words](const std::string& key, const std::string& value) -> absl::Status {
    if (value.empty() || absl::StrContains(value, ' ') || absl::StrContains(value, '=')) {
      return absl::InvalidArgumentError(absl::StrCat("--", key, "='", value, "' is not a value"));
    }
    words.push_back(absl::StrCat(key, "=", value));
    return absl::OkStatus();
  };
  if (auto v = absl::GetFlag(FLAGS_algorithm)) RETURN_IF_ERROR(add_word("algorithm", *v));
  const std::pair<const char*, std::optional<double>> doubles[] = {
      {"lr", absl::GetFlag(FLAGS_lr)},
      {"beta1", absl::GetFlag(FLAGS_beta1)},
      {"beta2", absl::GetFlag(FLAGS_beta2)},
      {"eps", absl::GetFlag(FLAGS_eps)},
      {"weight_decay", absl::GetFlag(FLAGS_weight_decay)}};
  for (const auto& [key, value] : doubles) {
    if (value) RETURN_IF_ERROR(add_word(key, FormatDouble(*value)));
  }
  if (auto v = absl::GetFlag(FLAGS_amsgrad))
    RETURN_IF_ERROR(add_word("amsgrad", *v ? "true" : "false"));
  if (auto v = absl::GetFlag(FLAGS_maximize)) {
    RETURN_IF_ERROR(add_word("maximize", *v ? "true" : "false"));
  }
  if (auto v = absl::GetFlag(FLAGS_staleness_policy)) {
    RETURN_IF_ERROR(add_word("staleness_policy", *v));
  }
  const std::pair<const char*, std::optional<int64_t>> ints[] = {
      {"max_staleness", absl::GetFlag(FLAGS_max_staleness)},
      {"ssp_bound", absl::GetFlag(FLAGS_ssp_bound)},
      {"sync_workers", absl::GetFlag(FLAGS_sync_workers)}};
  for (const auto& [key, value] : ints) {
    if (value) RETURN_IF_ERROR(add_word(key, absl::StrCat(*value)));
  }
  if (auto v = absl::GetFlag(FLAGS_init)) {
    std::vector<std::string> parts = absl::StrSplit(*v, ':');
    const std::string& kind = parts[0];
    const size_t want = kind == "zeros" ? 1 : kind == "constant" ? 2 : 4;
    if (parts.size() != want) {
      return absl::InvalidArgumentError(
          absl::StrCat("--init=", *v,
                       ": expected zeros, constant:A, uniform:LOW:HIGH:SEED or "
                       "normal:MEAN:STDDEV:SEED"));
    }
    RETURN_IF_ERROR(add_word("init", kind));
    if (want >= 2) RETURN_IF_ERROR(add_word("init_a", parts[1]));
    if (want == 4) {
      RETURN_IF_ERROR(add_word("init_b", parts[2]));
      RETURN_IF_ERROR(add_word("init_seed", parts[3]));
    }
  }
  const std::string text = absl::StrJoin(words, " ");
  TableSpec probe;  // reject a bad value now, not after reading the file
  RETURN_IF_ERROR(ApplyTableSpecText(text, &probe));
  return text;
}

int RunStatus() {
  absl::StatusOr<AdminOptions> options = ConnectionFromFlags();
  if (!options.ok()) return Usage(std::string(options.status().message()));
  absl::StatusOr<std::unique_ptr<AdminClient>> admin = AdminClient::Create(*options);
  if (!admin.ok()) return Fail(admin.status());
  const auto answers = (*admin)->GetStatsAll();
  std::cout << (absl::GetFlag(FLAGS_json)
                    ? FormatStatusJson(options->servers, answers, absl::Now())
                    : FormatStatusText(options->servers, answers, absl::Now()));
  std::cout.flush();
  for (const auto& answer : answers) {
    if (!answer.ok()) return Fail(answer.status());
  }
  return 0;
}

int RunCheckpoint() {
  absl::StatusOr<AdminOptions> options = ConnectionFromFlags();
  if (!options.ok()) return Usage(std::string(options.status().message()));
  absl::StatusOr<std::unique_ptr<AdminClient>> admin = AdminClient::Create(*options);
  if (!admin.ok()) return Fail(admin.status());
  uint64_t id = absl::GetFlag(FLAGS_id);
  if (id == 0) id = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  absl::StatusOr<CutResult> cut = TakeConsistentCut(**admin, id);
  if (!cut.ok()) return Fail(cut.status());
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::ordered_json j;
    j["checkpoint_id"] = id;
    j["manifest_file"] = cut->manifest_file;
    j["shards"] = nlohmann::ordered_json::array();
    for (const ManifestEntry& e : cut->manifest.entries) {
      j["shards"].push_back({{"shard", e.shard_index},
                             {"file", e.file_name},
                             {"size_bytes", e.digest.size_bytes},
                             {"xxh64", fmt::format("{:016x}", e.digest.xxh64)}});
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "checkpoint " << id << ": consistent cut of " << cut->manifest.num_shards
              << " shard(s), recorded in " << cut->manifest_file
              << " in every shard's checkpoint directory\n"
              << EncodeManifest(cut->manifest);
  }
  return 0;
}

int RunInspect(const std::vector<char*>& args) {
  if (args.size() != 3) return Usage("inspect takes exactly one FILE");
  const InspectReport report = InspectFile(args[2], absl::GetFlag(FLAGS_from_checkpoint_dir),
                                           absl::GetFlag(FLAGS_json), absl::Now());
  std::cout << report.text;
  if (!report.status.ok()) return Fail(report.status);
  return 0;
}

int RunExport() {
  if (absl::GetFlag(FLAGS_format) != "safetensors") {
    return Usage(
        absl::StrCat("--format=", absl::GetFlag(FLAGS_format), ": only safetensors is supported"));
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Usage("export needs --out=FILE");
  const std::vector<std::string> dirs = absl::GetFlag(FLAGS_from_checkpoint_dir);
  absl::StatusOr<ExportSummary> summary;
  if (!dirs.empty()) {
    if (!absl::GetFlag(FLAGS_servers).empty()) {
      return Usage("give --servers or --from_checkpoint_dir, not both");
    }
    CheckpointSelection selection;
    selection.dirs = dirs;
    selection.num_shards = absl::GetFlag(FLAGS_num_shards);
    selection.checkpoint_id = absl::GetFlag(FLAGS_checkpoint_id);
    if (selection.checkpoint_id == 0 && selection.num_shards == 0) {
      return Usage("--from_checkpoint_dir needs --checkpoint_id=N or --num_shards=S");
    }
    summary = ExportFromCheckpoints(selection, absl::GetFlag(FLAGS_with_moments), out);
  } else {
    if (absl::GetFlag(FLAGS_with_moments)) {
      return Usage(
          "--with_moments needs --from_checkpoint_dir: servers do not serve m and v over RPC");
    }
    absl::StatusOr<AdminOptions> options = ConnectionFromFlags();
    if (!options.ok()) return Usage(std::string(options.status().message()));
    absl::StatusOr<std::unique_ptr<AdminClient>> admin = AdminClient::Create(*options);
    if (!admin.ok()) return Fail(admin.status());
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(ToClientOptions(*options));
    if (!client.ok()) return Fail(client.status());
    summary = ExportFromServers(**admin, **client, out);
  }
  if (!summary.ok()) return Fail(summary.status());
  for (const std::string& note : summary->notes) std::cout << "note: " << note << "\n";
  std::cout << "exported " << summary->tensors.size() << " tensor(s), " << summary->parameters
            << " parameters, to " << out << ": " << absl::StrJoin(summary->tensors, ", ") << "\n";
  return 0;
}

int RunWarmStart() {
  WarmStartOptions warm;
  warm.in = absl::GetFlag(FLAGS_in);
  if (warm.in.empty()) return Usage("warm-start needs --in=FILE.safetensors");
  warm.tables = absl::GetFlag(FLAGS_tables);
  if (warm.tables.size() == 1 && warm.tables[0] == "all") warm.tables.clear();
  absl::StatusOr<std::string> overrides = SpecOverridesFromFlags();
  if (!overrides.ok()) return Usage(std::string(overrides.status().message()));
  warm.spec_overrides = *overrides;
  absl::StatusOr<AdminOptions> options = ConnectionFromFlags();
  if (!options.ok()) return Usage(std::string(options.status().message()));
  absl::StatusOr<std::unique_ptr<AdminClient>> admin = AdminClient::Create(*options);
  if (!admin.ok()) return Fail(admin.status());
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(ToClientOptions(*options));
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<std::vector<WarmStartedTable>> done = WarmStart(warm, **admin, **client);
  if (!done.ok()) return Fail(done.status());
  for (const WarmStartedTable& t : *done) {
    std::cout << "table " << t.spec.name << ": " << t.spec.num_elements << " parameters written in "
              << t.chunks << " chunk(s); " << FormatTableSpec(t.spec, /*with_init=*/true) << "\n";
  }
  std::cout << "warm start done: " << done->size() << " table(s)\n";
  return 0;
}

}  // namespace
}  // namespace adamasync::ctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Operates an AdamAsync cluster.\n"
      "  adamasync-ctl status     --servers=H:P,H:P --plaintext [--json]\n"
      "  adamasync-ctl checkpoint --servers=H:P,H:P --plaintext [--id=N] [--json]\n"
      "  adamasync-ctl inspect    FILE [--json]   (a checkpoint file or manifest-<id>.txt)\n"
      "  adamasync-ctl export     --out=F.safetensors --servers=... --plaintext\n"
      "  adamasync-ctl export     --out=F.safetensors --from_checkpoint_dir=DIR "
      "(--checkpoint_id=N | --num_shards=S) [--with_moments]\n"
      "  adamasync-ctl warm-start --in=F.safetensors --servers=... --plaintext [--tables=a,b] "
      "[--lr=...]");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "ctl_main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    return adamasync::ctl::Usage(
        "expected a command: status, checkpoint, inspect, export or warm-start");
  }
  // Tables of many MiB are pulled and written: keep big buffers in the heap
  // (as the daemons do) instead of mapping fresh memory for each.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  const std::string command = args[1];
  if (command != "inspect" && args.size() > 2) {
    return adamasync::ctl::Usage(absl::StrCat("unexpected argument '", args[2], "'"));
  }
  if (command == "status") return adamasync::ctl::RunStatus();
  if (command == "checkpoint") return adamasync::ctl::RunCheckpoint();
  if (command == "inspect") return adamasync::ctl::RunInspect(args);
  if (command == "export") return adamasync::ctl::RunExport();
  if (command == "warm-start") return adamasync::ctl::RunWarmStart();
  return adamasync::ctl::Usage(absl::StrCat("unknown command '", command,
                                            "': expected status, checkpoint, inspect, export "
                                            "or warm-start"));
}
