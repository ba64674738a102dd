// adamasync-worker: trains a model (softmax regression or a multi-layer
// perceptron) on Fashion-MNIST against a cluster of AdamAsync shard servers.
//
// Each worker takes its round-robin shard of the training set (examples i
// with i % num_workers == worker_index), creates the model's tables (every
// worker asks for the same specs, so creation is idempotent), then runs the
// training loop of training_loop.h: pull every table, compute the gradient
// of a minibatch, push it with the versions it was computed from; the
// servers apply Adam. The worker registers as worker_index + 1, so every
// push is applied exactly once however often it is retried.
//
// Output (stdout): a progress line every --log_interval_s, evaluation lines
// every --eval_interval_s, a progress bar when stdout is a terminal, and as
// the very last line
//   final test_accuracy=0.8842 test_loss=0.3290 steps=2814 examples=180000 seconds=12.3 ...
// Errors go to stderr. With --log_json every line on stdout is one JSON
// object instead, the final line and a training error included (its "msg"
// the same text); bad flags are still reported on stderr. Exit status: 0 on
// success, 1 when training failed (data missing, servers unreachable within
// --deadline_s, a rejected table spec, ...), 2 for bad flags.
//
// With --metrics_listen the worker serves Prometheus metrics (GET /metrics,
// worker_metrics.h) from start to exit, and --metrics_linger_s longer once
// training has ended so that a last scrape sees the final values.
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adamasync/client.h"
#include "common/logging.h"
#include "common/metrics_http.h"
#include "common/status_macros.h"
#include "common/tls_config.h"
#include "worker/fashion_mnist.h"
#include "worker/mlp_model.h"
#include "worker/progress.h"
#include "worker/softmax_model.h"
#include "worker/training_loop.h"
#include "worker/training_observer.h"
#include "worker/worker_metrics.h"

ABSL_FLAG(std::vector<std::string>, servers, {},
          "Comma-separated host:port of every shard server, in shard order. Required.");
ABSL_FLAG(int32_t, worker_index, 0,
          "This worker's index, in [0, num_workers). The worker registers with the servers "
          "as worker id worker_index + 1; two live workers must not share an index.");
ABSL_FLAG(int32_t, num_workers, 1,
          "Number of workers; worker i trains on the training examples j with "
          "j % num_workers == i.");
ABSL_FLAG(std::string, data_dir, adamasync::training::kDefaultFashionMnistDir,
          "Directory holding the gzipped Fashion-MNIST IDX files (train-*-ubyte.gz, "
          "t10k-*-ubyte.gz).");
ABSL_FLAG(std::string, model, "mlp",
          "softmax (softmax regression) or mlp (multi-layer perceptron, ReLU, see --hidden).");
ABSL_FLAG(std::vector<std::string>, hidden, std::vector<std::string>({"256", "128"}),
          "--model=mlp: comma-separated hidden layer sizes (784-256-128-10 by default). "
          "Part of the table specs.");
ABSL_FLAG(uint64_t, init_seed, 1,
          "--model=mlp: seed of the servers' initializer of layer 1's weight; each further "
          "tensor uses the next seed. Part of the table specs.");
ABSL_FLAG(int32_t, epochs, 3,
          "Passes over the training set: every worker runs epochs * steps-per-epoch steps, "
          "steps-per-epoch = ceil((60000 / num_workers) / batch_size).");
ABSL_FLAG(int32_t, batch_size, 64, "Examples per gradient (minibatch size).");
ABSL_FLAG(double, lr, 1e-3,
          "Adam learning rate of the tables. Part of the table spec: every worker of a run "
          "must pass the same value, or CreateTable fails with ALREADY_EXISTS.");
ABSL_FLAG(uint64_t, seed, 1,
          "Seed of the per-epoch shuffle (mixed with --worker_index so workers differ).");
ABSL_FLAG(std::string, table_prefix, "",
          "Tables are named <prefix>/layerK/weight|bias (mlp) or <prefix>/weight|bias "
          "(softmax). Empty: the --model name.");
ABSL_FLAG(std::string, staleness_policy, "apply",
          "What the servers do with a push more than --max_staleness updates stale: apply "
          "(no bound), reject (drop it; the worker pulls afresh) or scale (apply with the "
          "learning rate divided by the staleness). Part of the table specs.");
ABSL_FLAG(int64_t, max_staleness, 0,
          "Staleness bound of --staleness_policy=reject|scale. Part of the table specs.");
ABSL_FLAG(int64_t, ssp_bound, -1,
          "Stale synchronous parallel: a worker may run at most this many steps (clock "
          "ticks) ahead of the slowest live worker; -1: off. Part of the table specs.");
ABSL_FLAG(bool, sync, false,
          "Synchronous training: every step, the servers wait for one push from each of "
          "--num_workers workers and apply their mean gradient once. Part of the table specs; "
          "excludes --staleness_policy and --ssp_bound.");
ABSL_FLAG(bool, prefetch, true,
          "Overlap the pull of the next step with the push of this one (asynchronous tables "
          "without SSP; otherwise the pull waits for the push).");
ABSL_FLAG(double, log_interval_s, 5, "Seconds between progress lines.");
ABSL_FLAG(double, eval_interval_s, 0,
          "Seconds between evaluations on the test set (0: only the final one).");
ABSL_FLAG(std::string, metrics_csv, "",
          "Write the learning curve to this CSV file: time_s, epoch, step, examples, "
          "train_loss, train_acc, test_acc, test_loss, mean_staleness (one row per progress "
          "line and per evaluation).");
ABSL_FLAG(int64_t, max_steps, 0, "Stop after this many steps (0: run all epochs).");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT for the Prometheus endpoint (GET /metrics); port 0 picks a free port "
          "(logged). Empty: no endpoint.");
ABSL_FLAG(double, metrics_linger_s, 0,
          "With --metrics_listen: keep serving /metrics this many seconds after training "
          "ended (or failed) before exiting, so that a last scrape sees the final values.");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(bool, log_json, false,
          "Log one JSON object per line (to stdout) instead of text, the final line and "
          "errors included; no progress bar.");
ABSL_FLAG(double, deadline_s, 30,
          "Seconds allowed for each server operation, retries of unreachable servers "
          "included; also how long the worker waits for the servers to come up.");
// Security (docs/security.md): TLS is required unless --plaintext says otherwise.
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle the servers' certificates must chain to (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for servers that require mTLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the servers' certificates must carry, when not the host in --servers");
ABSL_FLAG(bool, plaintext, false,
          "Connect without TLS; without it the worker refuses to start unless --tls_ca is given");
ABSL_FLAG(std::string, token_file, "",
          "File holding this worker's bearer token (re-read when it changes); empty: none");

namespace adamasync {
namespace {

// Everything the worker needs, copied from the flags; see the flags above
// for the meaning and defaults of each field.
struct WorkerOptions {
  std::vector<std::string> servers;
  int worker_index = 0;
  int num_workers = 1;
  std::string data_dir = training::kDefaultFashionMnistDir;
  std::string model = "mlp";
  std::vector<int> hidden = {256, 128};
  uint64_t init_seed = 1;
  int epochs = 3;
  int batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 1;
  std::string table_prefix;
  ConsistencyConfig consistency;
  bool prefetch = true;
  double log_interval_s = 5;
  double eval_interval_s = 0;
  std::string metrics_csv;
  int64_t max_steps = 0;
  std::string metrics_listen;
  double metrics_linger_s = 0;
  bool log_json = false;
  double deadline_s = 30;
  ClientTlsOptions tls;
  bool plaintext = false;
  ClientCredentials credentials;
};

absl::StatusOr<StalenessPolicy> ParseStalenessPolicy(const std::string& name) {
  if (name == "apply") return StalenessPolicy::kApply;
  if (name == "reject") return StalenessPolicy::kReject;
  if (name == "scale") return StalenessPolicy::kScale;
  return absl::InvalidArgumentError(
      absl::StrCat("--staleness_policy=", name, ": expected apply, reject or scale"));
}

absl::StatusOr<std::vector<int>> ParseHidden(const std::vector<std::string>& sizes) {
  std::vector<int> hidden;
  for (const std::string& size : sizes) {
    int units = 0;
    if (!absl::SimpleAtoi(size, &units)) {
      return absl::InvalidArgumentError(absl::StrCat("--hidden: '", size, "' is not a number"));
    }
    hidden.push_back(units);
  }
  if (absl::Status s = training::ValidateHiddenSizes(hidden); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--hidden: ", s.message()));
  }
  return hidden;
}

// INVALID_ARGUMENT naming the first flag out of range.
absl::Status ValidateOptions(const WorkerOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (o.servers.empty()) return bad("--servers is required (host:port,host:port,...)");
  if (o.num_workers < 1) return bad(absl::StrCat("--num_workers=", o.num_workers, " < 1"));
  if (o.worker_index < 0 || o.worker_index >= o.num_workers) {
    return bad(
        absl::StrCat("--worker_index=", o.worker_index, " is not in [0, ", o.num_workers, ")"));
  }
  if (o.model != "softmax" && o.model != "mlp") {
    return bad(absl::StrCat("--model=", o.model, ": expected softmax or mlp"));
  }
  if (o.epochs < 1) return bad(absl::StrCat("--epochs=", o.epochs, " < 1"));
  if (o.batch_size < 1) return bad(absl::StrCat("--batch_size=", o.batch_size, " < 1"));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) return bad(absl::StrCat("--lr=", o.lr));
  if (o.consistency.max_staleness < 0) return bad("--max_staleness must be >= 0");
  if (o.consistency.ssp_bound < -1) return bad("--ssp_bound must be >= -1");
  if (o.consistency.sync_workers > 0 &&
      (o.consistency.staleness_policy != StalenessPolicy::kApply || o.consistency.ssp_bound >= 0)) {
    return bad("--sync excludes --staleness_policy=reject|scale and --ssp_bound");
  }
  if (!(o.log_interval_s > 0)) return bad("--log_interval_s must be > 0");
  if (!(o.eval_interval_s >= 0)) return bad("--eval_interval_s must be >= 0");
  if (o.max_steps < 0) return bad("--max_steps must be >= 0");
  if (!(o.metrics_linger_s >= 0) || !std::isfinite(o.metrics_linger_s)) {
    return bad("--metrics_linger_s must be >= 0");
  }
  if (!(o.deadline_s > 0) || !std::isfinite(o.deadline_s)) return bad("--deadline_s must be > 0");
  RETURN_IF_ERROR(CheckClientTransport(o.tls, o.plaintext));
  return absl::OkStatus();
}

std::unique_ptr<training::Model> MakeModel(const WorkerOptions& options) {
  if (options.model == "softmax") return std::make_unique<training::SoftmaxModel>();
  return std::make_unique<training::MlpModel>(options.hidden, options.init_seed);
}

// `observer` (may be null) is told what the training loop does.
absl::Status RunWorker(const WorkerOptions& options, training::TrainingObserver* observer) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(training::Dataset full_train,
                   training::LoadFashionMnist(options.data_dir, training::Split::kTrain));
  ASSIGN_OR_RETURN(const training::Dataset test,
                   training::LoadFashionMnist(options.data_dir, training::Split::kTest));
  ASSIGN_OR_RETURN(const training::Dataset train,
                   training::ShardDataset(full_train, options.worker_index, options.num_workers));
  const int64_t total_train_examples = full_train.num_examples;
  full_train = training::Dataset();  // only the shard is needed from here on
  spdlog::info("worker {}/{}: {} training examples in this shard, {} test examples",
               options.worker_index, options.num_workers, train.num_examples, test.num_examples);

  ClientOptions client_options;
  client_options.servers = options.servers;
  client_options.deadline = absl::Seconds(options.deadline_s);
  client_options.worker_id = static_cast<uint64_t>(options.worker_index) + 1;
  client_options.tls = options.tls;
  client_options.credentials = options.credentials;
  // A push the REJECT policy refuses is dropped; the next pull brings the
  // fresh parameters.
  client_options.drop_stale_pushes =
      options.consistency.staleness_policy == StalenessPolicy::kReject;
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(client_options));

  const std::unique_ptr<training::Model> model = MakeModel(options);
  const std::string prefix = options.table_prefix.empty() ? options.model : options.table_prefix;
  std::vector<training::ParamTable> tables;
  uint64_t num_parameters = 0;
  for (const training::ParamInfo& info : model->Params()) {
    TableSpec spec;
    spec.name = absl::StrCat(prefix, "/", info.name);
    spec.num_elements = info.num_elements;
    spec.adam.lr = options.lr;
    spec.init = info.init;
    spec.consistency = options.consistency;
    absl::Status s = client->CreateTable(spec);
    // A worker token may not create tables (docs/security.md): go on if an
    // admin already created this one.
    if (s.code() == absl::StatusCode::kPermissionDenied) {
      absl::StatusOr<uint64_t> size = client->TableSize(spec.name);
      if (size.ok() && *size == spec.num_elements) s = absl::OkStatus();
    }
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("cannot create table ", spec.name, " on ",
                                       absl::StrJoin(options.servers, ","), ": ", s.message()));
    }
    training::ParamTable table;
    table.name = spec.name;
    table.values.resize(info.num_elements);
    table.grad[0].resize(info.num_elements);
    table.grad[1].resize(info.num_elements);
    tables.push_back(std::move(table));
    num_parameters += info.num_elements;
  }
  const int64_t steps_per_epoch =
      training::StepsPerEpoch(total_train_examples, options.num_workers, options.batch_size);
  spdlog::info(
      "{} tables ({} parameters, model {}) ready on {} shard(s); {} epoch(s) of {} steps, "
      "batch {}, lr {}, {}",
      tables.size(), num_parameters, options.model, options.servers.size(), options.epochs,
      steps_per_epoch, options.batch_size, options.lr,
      options.consistency.sync_workers > 0 ? "synchronous" : "asynchronous");

  std::unique_ptr<training::MetricsCsv> csv;
  if (!options.metrics_csv.empty()) {
    ASSIGN_OR_RETURN(csv, training::MetricsCsv::Open(options.metrics_csv));
  }
  training::TrainingLoopOptions loop;
  loop.worker_index = options.worker_index;
  loop.num_workers = options.num_workers;
  loop.total_train_examples = total_train_examples;
  loop.epochs = options.epochs;
  loop.batch_size = options.batch_size;
  loop.seed = options.seed;
  loop.max_steps = options.max_steps;
  loop.prefetch = options.prefetch;
  loop.synchronous = options.consistency.sync_workers > 0;
  loop.ssp = options.consistency.ssp_bound >= 0;
  loop.log_interval_s = options.log_interval_s;
  loop.eval_interval_s = options.eval_interval_s;
  loop.observer = observer;
  training::TrainingResult result;
  {
    training::ProgressReporter reporter(
        /*progress_bar=*/!options.log_json && isatty(STDOUT_FILENO) == 1);
    ASSIGN_OR_RETURN(result, training::RunTrainingLoop(loop, *model, train, test, *client, tables,
                                                       reporter, csv.get()));
  }
  const std::string final_line = fmt::format(
      "final test_accuracy={:.4f} test_loss={:.4f} steps={} examples={} seconds={:.1f} "
      "train_examples_per_s={:.0f} mean_staleness={:.2f} stale_dropped={}",
      result.final_test.accuracy(), result.final_test.loss, result.steps, result.examples,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      result.examples / std::max(result.train_seconds, 1e-9), result.mean_staleness,
      result.stale_dropped);
  if (options.log_json) {
    spdlog::info("{}", final_line);
  } else {
    spdlog::default_logger()->flush();
    fmt::print("{}\n", final_line);
  }
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace adamasync

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a softmax regression or MLP on Fashion-MNIST against AdamAsync shard servers.\n"
      "Usage: adamasync-worker --servers=H:P[,H:P...] --worker_index=I --num_workers=W "
      "[flags]");
  // absl lists by default only flags defined in a file named after the
  // program; ours live in worker_main.cc.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "worker_main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    fmt::print(stderr, "adamasync-worker: unexpected argument '{}' (see --help)\n", positional[1]);
    return 2;
  }
  // Chunk buffers of a few MiB are allocated and freed every step; above
  // glibc's default (dynamic) mmap threshold each would be a fresh mmap,
  // page-faulted in and unmapped again (measured: pushes 3x slower).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  adamasync::WorkerOptions options;
  options.servers = absl::GetFlag(FLAGS_servers);
  options.worker_index = absl::GetFlag(FLAGS_worker_index);
  options.num_workers = absl::GetFlag(FLAGS_num_workers);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.model = absl::GetFlag(FLAGS_model);
  options.init_seed = absl::GetFlag(FLAGS_init_seed);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.lr = absl::GetFlag(FLAGS_lr);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.table_prefix = absl::GetFlag(FLAGS_table_prefix);
  options.consistency.max_staleness = absl::GetFlag(FLAGS_max_staleness);
  options.consistency.ssp_bound = absl::GetFlag(FLAGS_ssp_bound);
  options.consistency.sync_workers = absl::GetFlag(FLAGS_sync) ? options.num_workers : 0;
  options.prefetch = absl::GetFlag(FLAGS_prefetch);
  options.log_interval_s = absl::GetFlag(FLAGS_log_interval_s);
  options.eval_interval_s = absl::GetFlag(FLAGS_eval_interval_s);
  options.metrics_csv = absl::GetFlag(FLAGS_metrics_csv);
  options.max_steps = absl::GetFlag(FLAGS_max_steps);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.metrics_linger_s = absl::GetFlag(FLAGS_metrics_linger_s);
  options.log_json = absl::GetFlag(FLAGS_log_json);
  options.deadline_s = absl::GetFlag(FLAGS_deadline_s);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.plaintext = absl::GetFlag(FLAGS_plaintext);
  options.credentials.token_file = absl::GetFlag(FLAGS_token_file);
  absl::Status parsed = absl::OkStatus();
  if (absl::StatusOr<adamasync::StalenessPolicy> policy =
          adamasync::ParseStalenessPolicy(absl::GetFlag(FLAGS_staleness_policy));
      policy.ok()) {
    options.consistency.staleness_policy = *policy;
  } else {
    parsed = policy.status();
  }
  if (absl::StatusOr<std::vector<int>> hidden = adamasync::ParseHidden(absl::GetFlag(FLAGS_hidden));
      hidden.ok()) {
    options.hidden = *std::move(hidden);
  } else if (parsed.ok()) {
    parsed = hidden.status();
  }
  if (parsed.ok()) parsed = adamasync::ValidateOptions(options);
  if (parsed.ok()) {
    parsed = adamasync::ConfigureLogging(absl::GetFlag(FLAGS_log_level), options.log_json,
                                         adamasync::LogStream::kStdout);
  }
  if (!parsed.ok()) {
    fmt::print(stderr, "adamasync-worker: {} (see --help)\n", std::string(parsed.message()));
    return 2;
  }
  if (!options.log_json) spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");

  std::unique_ptr<adamasync::WorkerMetrics> metrics;
  std::unique_ptr<adamasync::MetricsHttpServer> metrics_http;
  if (!options.metrics_listen.empty()) {
    metrics = std::make_unique<adamasync::WorkerMetrics>(options.worker_index);
    absl::StatusOr<std::unique_ptr<adamasync::MetricsHttpServer>> http =
        adamasync::MetricsHttpServer::Start(options.metrics_listen, metrics->registry());
    if (!http.ok()) {
      fmt::print(stderr, "adamasync-worker: --metrics_listen: {}\n", http.status().ToString());
      return http.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    metrics_http = *std::move(http);
    spdlog::info("metrics on port {} (GET /metrics)", metrics_http->port());
  }

  const absl::Status status = adamasync::RunWorker(options, metrics.get());
  if (!status.ok()) {
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    if (options.log_json) {
      spdlog::error("{}", status.ToString());
      spdlog::default_logger()->flush();
    } else {
      fmt::print(stderr, "adamasync-worker: error: {}\n", status.ToString());
    }
  }
  // Nothing is printed while lingering: the final line (or the error) stays
  // the last one.
  if (metrics_http != nullptr && options.metrics_linger_s > 0) {
    absl::SleepFor(absl::Seconds(options.metrics_linger_s));
  }
  return status.ok() ? 0 : 1;
}
