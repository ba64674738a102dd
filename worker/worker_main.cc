// adamasync-worker: trains softmax regression on Fashion-MNIST against a
// cluster of AdamAsync shard servers.
//
// Each worker takes its round-robin shard of the training set (examples i
// with i % num_workers == worker_index), creates the model's tables (every
// worker asks for the same specs, so creation is idempotent), then loops:
// pull every table, compute the gradient of a minibatch, push it with the
// versions it was computed from; the servers apply Adam. Tables are pulled
// and pushed in parallel, one asynchronous call per table.
//
// Output (stdout): periodic progress lines, optional evaluation lines, and as
// the very last line
//   final test_accuracy=0.8342 test_loss=0.4790 steps=2814 examples=180000 seconds=12.3
// Errors go to stderr. Exit status: 0 on success, 1 when training failed
// (data missing, servers unreachable within --deadline_s, a rejected table
// spec, ...), 2 for bad flags.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
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
#include "adamasync/client.h"
#include "common/status_macros.h"
#include "worker/fashion_mnist.h"
#include "worker/softmax_model.h"

ABSL_FLAG(std::vector<std::string>, servers, {},
          "Comma-separated host:port of every shard server, in shard order. Required.");
ABSL_FLAG(int32_t, worker_index, 0, "This worker's index, in [0, num_workers).");
ABSL_FLAG(int32_t, num_workers, 1,
          "Number of workers; worker i trains on the training examples j with "
          "j % num_workers == i.");
ABSL_FLAG(std::string, data_dir, adamasync::training::kDefaultFashionMnistDir,
          "Directory holding the gzipped Fashion-MNIST IDX files (train-*-ubyte.gz, "
          "t10k-*-ubyte.gz).");
ABSL_FLAG(int32_t, epochs, 3, "Passes over this worker's shard of the training set.");
ABSL_FLAG(int32_t, batch_size, 64, "Examples per gradient (minibatch size).");
ABSL_FLAG(double, lr, 1e-3,
          "Adam learning rate of the tables. Part of the table spec: every worker of a run "
          "must pass the same value, or CreateTable fails with ALREADY_EXISTS. 1e-3 stays "
          "stable with a few stale workers; a single worker may use 2e-3.");
ABSL_FLAG(uint64_t, seed, 1,
          "Seed of the per-epoch shuffle (mixed with --worker_index so workers differ).");
ABSL_FLAG(std::string, table_prefix, "softmax",
          "Tables are named <prefix>/weight and <prefix>/bias.");
ABSL_FLAG(int64_t, eval_interval_steps, 0,
          "Evaluate on the test set every this many steps of this worker (0: only at the end).");
ABSL_FLAG(double, log_interval_s, 5, "Seconds between progress lines.");
ABSL_FLAG(int64_t, max_steps, 0, "Stop after this many steps (0: run all epochs).");
ABSL_FLAG(double, deadline_s, 30,
          "Seconds allowed for each server operation, retries of unreachable servers "
          "included; also how long the worker waits for the servers to come up.");

namespace adamasync {
namespace {

using training::BatchStats;
using Clock = std::chrono::steady_clock;

// Everything the worker needs, copied from the flags; see the flags above
// for the meaning and defaults of each field.
struct WorkerOptions {
  std::vector<std::string> servers;
  int worker_index = 0;
  int num_workers = 1;
  std::string data_dir = training::kDefaultFashionMnistDir;
  int epochs = 3;
  int batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 1;
  std::string table_prefix = "softmax";
  int64_t eval_interval_steps = 0;
  double log_interval_s = 5;
  int64_t max_steps = 0;
  double deadline_s = 30;
};

// INVALID_ARGUMENT naming the first flag out of range.
absl::Status ValidateOptions(const WorkerOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (o.servers.empty()) return bad("--servers is required (host:port,host:port,...)");
  if (o.num_workers < 1) return bad(absl::StrCat("--num_workers=", o.num_workers, " < 1"));
  if (o.worker_index < 0 || o.worker_index >= o.num_workers) {
    return bad(
        absl::StrCat("--worker_index=", o.worker_index, " is not in [0, ", o.num_workers, ")"));
  }
  if (o.epochs < 1) return bad(absl::StrCat("--epochs=", o.epochs, " < 1"));
  if (o.batch_size < 1) return bad(absl::StrCat("--batch_size=", o.batch_size, " < 1"));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) return bad(absl::StrCat("--lr=", o.lr));
  if (o.eval_interval_steps < 0) return bad("--eval_interval_steps must be >= 0");
  if (!(o.log_interval_s > 0)) return bad("--log_interval_s must be > 0");
  if (o.max_steps < 0) return bad("--max_steps must be >= 0");
  if (!(o.deadline_s > 0) || !std::isfinite(o.deadline_s)) return bad("--deadline_s must be > 0");
  return absl::OkStatus();
}

// One parameter tensor: its table, the values last pulled (with the versions
// they had) and the gradient to push.
struct ParamTable {
  std::string name;
  std::vector<float> values;
  std::vector<float> grad;
  Versions pulled;
};

// Pulls every table at once and waits for all of them (the buffers must
// outlive the calls even when one fails). The first error, naming its table.
absl::Status PullAll(Client& client, std::vector<ParamTable>& tables) {
  std::vector<std::future<absl::StatusOr<Versions>>> pending;
  for (ParamTable& t : tables)
    pending.push_back(client.PullAsync(t.name, absl::MakeSpan(t.values)));
  absl::Status status;
  for (size_t i = 0; i < tables.size(); ++i) {
    absl::StatusOr<Versions> result = pending[i].get();
    if (result.ok()) {
      tables[i].pulled = *std::move(result);
    } else if (status.ok()) {
      status = absl::Status(result.status().code(), absl::StrCat("pull of table ", tables[i].name,
                                                                 ": ", result.status().message()));
    }
  }
  return status;
}

// Pushes every table's gradient at once, with the versions it was pulled at.
// Returns the smallest shard version the first table reached.
absl::StatusOr<uint64_t> PushAll(Client& client, const std::vector<ParamTable>& tables) {
  std::vector<std::future<absl::StatusOr<Versions>>> pending;
  for (const ParamTable& t : tables) pending.push_back(client.PushAsync(t.name, t.grad, t.pulled));
  absl::Status status;
  uint64_t version = 0;
  for (size_t i = 0; i < tables.size(); ++i) {
    absl::StatusOr<Versions> result = pending[i].get();
    if (!result.ok()) {
      if (status.ok()) {
        status = absl::Status(
            result.status().code(),
            absl::StrCat("push to table ", tables[i].name, ": ", result.status().message()));
      }
    } else if (i == 0 && !result->per_shard.empty()) {
      version = *std::min_element(result->per_shard.begin(), result->per_shard.end());
    }
  }
  if (!status.ok()) return status;
  return version;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<BatchStats> EvaluateTables(const training::Model& model,
                                          const std::vector<ParamTable>& tables,
                                          const training::Dataset& test) {
  std::vector<absl::Span<const float>> params;
  for (const ParamTable& t : tables) params.push_back(t.values);
  return training::Evaluate(model, params, test);
}

absl::Status RunWorker(const WorkerOptions& options) {
  const Clock::time_point start = Clock::now();
  ASSIGN_OR_RETURN(training::Dataset full_train,
                   training::LoadFashionMnist(options.data_dir, training::Split::kTrain));
  ASSIGN_OR_RETURN(const training::Dataset test,
                   training::LoadFashionMnist(options.data_dir, training::Split::kTest));
  ASSIGN_OR_RETURN(const training::Dataset train,
                   training::ShardDataset(full_train, options.worker_index, options.num_workers));
  full_train = training::Dataset();  // only the shard is needed from here on
  spdlog::info("worker {}/{}: {} training examples in this shard, {} test examples",
               options.worker_index, options.num_workers, train.num_examples, test.num_examples);

  ClientOptions client_options;
  client_options.servers = options.servers;
  client_options.deadline = absl::Seconds(options.deadline_s);
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(client_options));

  const training::SoftmaxModel model;
  std::vector<ParamTable> tables;
  for (const training::ParamInfo& info : model.Params()) {
    TableSpec spec;
    spec.name = absl::StrCat(options.table_prefix, "/", info.name);
    spec.num_elements = info.num_elements;
    spec.adam.lr = options.lr;
    spec.init = info.init;
    if (absl::Status s = client->CreateTable(spec); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("cannot create table ", spec.name, " on ",
                                       absl::StrJoin(options.servers, ","), ": ", s.message()));
    }
    tables.push_back({spec.name, std::vector<float>(info.num_elements),
                      std::vector<float>(info.num_elements), Versions{}});
  }
  std::vector<absl::Span<const float>> params;
  std::vector<absl::Span<float>> grads;
  for (ParamTable& t : tables) {
    params.push_back(t.values);
    grads.push_back(absl::MakeSpan(t.grad));
  }
  spdlog::info("tables ready on {} shard(s); training {} epoch(s), batch {}, lr {}",
               options.servers.size(), options.epochs, options.batch_size, options.lr);

  const uint64_t shuffle_seed =
      options.seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(options.worker_index + 1);
  const Clock::time_point train_start = Clock::now();
  Clock::time_point last_log = train_start;
  int64_t step = 0, examples = 0, examples_at_last_log = 0;
  uint64_t table_version = 0;
  training::Batch batch;
  bool done = false;
  for (int epoch = 0; epoch < options.epochs && !done; ++epoch) {
    // Running means over this epoch so far.
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    const std::vector<int64_t> order =
        training::EpochOrder(train.num_examples, shuffle_seed, epoch);
    for (size_t begin = 0; begin < order.size() && !done; begin += options.batch_size) {
      const size_t size = std::min<size_t>(options.batch_size, order.size() - begin);
      training::GatherBatch(train, absl::MakeConstSpan(order).subspan(begin, size), &batch);
      RETURN_IF_ERROR(PullAll(*client, tables));
      ASSIGN_OR_RETURN(const BatchStats stats, model.LossAndGradient(params, batch.View(), grads));
      ASSIGN_OR_RETURN(table_version, PushAll(*client, tables));
      ++step;
      examples += stats.num_examples;
      loss_sum += stats.loss * stats.num_examples;
      correct += stats.num_correct;
      seen += stats.num_examples;
      done = options.max_steps > 0 && step >= options.max_steps;

      const bool last = done || begin + size >= order.size();
      if (last || SecondsSince(last_log) >= options.log_interval_s) {
        spdlog::info(
            "epoch={}/{} step={} loss={:.4f} train_accuracy={:.4f} examples_per_s={:.0f} "
            "table_version={}",
            epoch + 1, options.epochs, step, loss_sum / seen, static_cast<double>(correct) / seen,
            (examples - examples_at_last_log) / std::max(SecondsSince(last_log), 1e-9),
            table_version);
        last_log = Clock::now();
        examples_at_last_log = examples;
      }
      if (options.eval_interval_steps > 0 && step % options.eval_interval_steps == 0) {
        // The values pulled for this step: one push behind the servers.
        ASSIGN_OR_RETURN(const BatchStats eval, EvaluateTables(model, tables, test));
        spdlog::info("eval step={} test_accuracy={:.4f} test_loss={:.4f}", step, eval.accuracy(),
                     eval.loss);
      }
    }
  }

  const double train_seconds = SecondsSince(train_start);
  RETURN_IF_ERROR(PullAll(*client, tables));
  ASSIGN_OR_RETURN(const BatchStats final_eval, EvaluateTables(model, tables, test));
  spdlog::default_logger()->flush();
  fmt::print(
      "final test_accuracy={:.4f} test_loss={:.4f} steps={} examples={} seconds={:.1f} "
      "train_examples_per_s={:.0f}\n",
      final_eval.accuracy(), final_eval.loss, step, examples, SecondsSince(start),
      examples / std::max(train_seconds, 1e-9));
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace adamasync

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains softmax regression on Fashion-MNIST against AdamAsync shard servers.\n"
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
  adamasync::WorkerOptions options;
  options.servers = absl::GetFlag(FLAGS_servers);
  options.worker_index = absl::GetFlag(FLAGS_worker_index);
  options.num_workers = absl::GetFlag(FLAGS_num_workers);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.lr = absl::GetFlag(FLAGS_lr);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.table_prefix = absl::GetFlag(FLAGS_table_prefix);
  options.eval_interval_steps = absl::GetFlag(FLAGS_eval_interval_steps);
  options.log_interval_s = absl::GetFlag(FLAGS_log_interval_s);
  options.max_steps = absl::GetFlag(FLAGS_max_steps);
  options.deadline_s = absl::GetFlag(FLAGS_deadline_s);
  if (absl::Status s = adamasync::ValidateOptions(options); !s.ok()) {
    fmt::print(stderr, "adamasync-worker: {} (see --help)\n", std::string(s.message()));
    return 2;
  }
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  if (absl::Status s = adamasync::RunWorker(options); !s.ok()) {
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    fmt::print(stderr, "adamasync-worker: error: {}\n", s.ToString());
    return 1;
  }
  return 0;
}
