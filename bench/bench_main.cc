// adamasync-bench: the project's benchmarks (results go to docs/benchmarks.md).
//
//   adamasync-bench kernel [--json] [--min_elements=1M --max_elements=64M]
//                          [--threads=1,2] [--seconds_per_case=1]
//   adamasync-bench e2e [--json] [--servers=H:P,... | --spawn_shards=1,2]
//                       [--server_bin=PATH] [--sizes=1K,16K,256K,1M,4M,16M]
//                       [--client_threads=1,2]
//   adamasync-bench gpu [--json] [--gpu_sizes=1M,4M,16M,64M,256M] [--gpu_device=0]
//                       [--torch_script=scripts/bench_torch_adam.py]
//
// The readable report goes to stdout; with --json it goes to stderr and
// stdout carries exactly one JSON document. Progress lines go to stderr.
// Flags are parsed here only and copied into the benchmarks' options.
#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "bench/bench_units.h"
#include "bench/child_process.h"
#include "bench/e2e_bench.h"
#include "bench/gpu_bench.h"
#include "bench/kernel_bench.h"
#include "bench/server_fleet.h"

using StringList = std::vector<std::string>;

// Both subcommands.
ABSL_FLAG(bool, json, false, "Print one JSON document on stdout (the table goes to stderr)");
ABSL_FLAG(double, seconds_per_case, 1.0,
          "kernel: seconds timing each loop of each case; e2e: seconds of each phase");

// kernel
ABSL_FLAG(std::string, min_elements, "1M", "kernel: smallest parameter count (K/M/G = 2^10/20/30)");
ABSL_FLAG(std::string, max_elements, "64M", "kernel: largest parameter count; sizes step by 4x");
ABSL_FLAG(StringList, threads, StringList({"1", "2"}), "kernel: thread counts");
ABSL_FLAG(int32_t, min_reps, 5, "kernel: fewest timed repetitions per loop");
ABSL_FLAG(bool, amsgrad, true, "kernel: also time AMSGrad (36 B/param)");
ABSL_FLAG(std::string, dram_footprint, "0",
          "kernel: bytes of the DRAM reference loops (K/M/G); 0 = max(4 x LLC, 256M)");

// e2e
ABSL_FLAG(StringList, servers, StringList(), "e2e: running shards HOST:PORT, in shard order");
ABSL_FLAG(StringList, spawn_shards, StringList({"1", "2"}),
          "e2e: shard counts to spawn local servers for (ignored with --servers)");
ABSL_FLAG(std::string, server_bin, "",
          "e2e: adamasync-server to spawn; default <bench dir>/../server/adamasync-server");
ABSL_FLAG(std::string, server_args, "", "e2e: extra space-separated flags for spawned servers");
ABSL_FLAG(StringList, sizes, StringList({"1K", "16K", "256K", "1M", "4M", "16M"}),
          "e2e: tensor sizes in floats");
ABSL_FLAG(StringList, client_threads, StringList({"1", "2"}), "e2e: client thread counts");
ABSL_FLAG(bool, table_per_thread, false,
          "e2e: give each client thread its own table (default: one shared table per size)");
ABSL_FLAG(int32_t, min_ops, 3, "e2e: fewest calls per thread per phase");
ABSL_FLAG(double, iperf_seconds, 3, "e2e: length of the iperf3 loopback run; 0 skips it");
ABSL_FLAG(std::string, chunk_elements, "0", "e2e: ClientOptions::chunk_elements; 0 = SDK default");
ABSL_FLAG(bool, tune_malloc, false,
          "e2e: set glibc M_MMAP_THRESHOLD=64M and M_TRIM_THRESHOLD=256M in this (client) process, "
          "as adamasync-server does; default: glibc defaults, as adamasync-worker runs");
ABSL_FLAG(int32_t, max_chunks_in_flight, 0,
          "e2e: ClientOptions::max_chunks_in_flight; 0 = default");

// gpu (also uses --json, --seconds_per_case, --min_reps, --amsgrad)
ABSL_FLAG(StringList, gpu_sizes, StringList({"1M", "4M", "16M", "64M", "256M"}),
          "gpu: parameter counts (K/M/G = 2^10/20/30)");
ABSL_FLAG(int32_t, gpu_device, 0, "gpu: CUDA device number");
ABSL_FLAG(std::string, torch_script, "",
          "gpu: scripts/bench_torch_adam.py, to time torch.optim.Adam(fused=True) on the same "
          "sizes with python3 (needs PyTorch with CUDA); empty: not run");

namespace adamasync {
namespace bench {
namespace {

// Prints `text` and `json` where --json wants them; returns the exit code.
int Emit(const std::string& text, const std::string& json) {
  if (absl::GetFlag(FLAGS_json)) {
    std::cerr << text << std::flush;
    std::cout << json << std::flush;
  } else {
    std::cout << text << std::flush;
  }
  return 0;
}

int Fail(const absl::Status& status) {
  std::cerr << "adamasync-bench: " << status.ToString() << std::endl;
  return 1;
}

// The powers-of-4 ladder min, 4 min, ... up to max.
absl::StatusOr<std::vector<uint64_t>> SizeLadder(const std::string& min, const std::string& max) {
  absl::StatusOr<uint64_t> lo = ParseCount(min);
  if (!lo.ok()) return lo.status();
  absl::StatusOr<uint64_t> hi = ParseCount(max);
  if (!hi.ok()) return hi.status();
  if (*lo > *hi) return absl::InvalidArgumentError("--min_elements is above --max_elements");
  std::vector<uint64_t> sizes;
  for (uint64_t n = *lo; n <= *hi; n *= 4) sizes.push_back(n);
  return sizes;
}

int RunKernel() {
  KernelBenchOptions options;
  absl::StatusOr<std::vector<uint64_t>> sizes =
      SizeLadder(absl::GetFlag(FLAGS_min_elements), absl::GetFlag(FLAGS_max_elements));
  if (!sizes.ok()) return Fail(sizes.status());
  options.sizes = *sizes;
  absl::StatusOr<std::vector<int>> threads = ParsePositiveIntList(absl::GetFlag(FLAGS_threads));
  if (!threads.ok()) return Fail(threads.status());
  options.threads = *threads;
  options.seconds_per_case = absl::GetFlag(FLAGS_seconds_per_case);
  options.min_reps = absl::GetFlag(FLAGS_min_reps);
  options.amsgrad = absl::GetFlag(FLAGS_amsgrad);
  if (absl::GetFlag(FLAGS_dram_footprint) != "0") {
    absl::StatusOr<uint64_t> bytes = ParseCount(absl::GetFlag(FLAGS_dram_footprint));
    if (!bytes.ok()) return Fail(bytes.status());
    options.dram_footprint_bytes = *bytes;
  }
  absl::StatusOr<KernelReport> report = RunKernelBench(options, std::cerr);
  if (!report.ok()) return Fail(report.status());
  return Emit(RenderKernelReport(*report), KernelReportJson(*report));
}

int RunE2e() {
  E2eBenchOptions options;
  options.servers = absl::GetFlag(FLAGS_servers);
  if (options.servers.empty()) {
    absl::StatusOr<std::vector<int>> shards =
        ParsePositiveIntList(absl::GetFlag(FLAGS_spawn_shards));
    if (!shards.ok()) return Fail(shards.status());
    options.spawn_shards = *shards;
    options.server_bin = absl::GetFlag(FLAGS_server_bin);
    if (options.server_bin.empty()) options.server_bin = DefaultServerBinary();
    options.server_args = absl::StrSplit(absl::GetFlag(FLAGS_server_args), ' ', absl::SkipEmpty());
  }
  absl::StatusOr<std::vector<uint64_t>> sizes = ParseCountList(absl::GetFlag(FLAGS_sizes));
  if (!sizes.ok()) return Fail(sizes.status());
  options.sizes = *sizes;
  absl::StatusOr<std::vector<int>> threads =
      ParsePositiveIntList(absl::GetFlag(FLAGS_client_threads));
  if (!threads.ok()) return Fail(threads.status());
  options.client_threads = *threads;
  options.table_per_thread = absl::GetFlag(FLAGS_table_per_thread);
  options.seconds_per_case = absl::GetFlag(FLAGS_seconds_per_case);
  options.min_ops = absl::GetFlag(FLAGS_min_ops);
  options.iperf3_path = FindInPath("iperf3");
  options.iperf_seconds = absl::GetFlag(FLAGS_iperf_seconds);
  if (absl::GetFlag(FLAGS_chunk_elements) != "0") {
    absl::StatusOr<uint64_t> chunk = ParseCount(absl::GetFlag(FLAGS_chunk_elements));
    if (!chunk.ok()) return Fail(chunk.status());
    options.chunk_elements = *chunk;
  }
  options.max_chunks_in_flight = absl::GetFlag(FLAGS_max_chunks_in_flight);
  if (absl::GetFlag(FLAGS_tune_malloc)) {
    // The same settings as server/server_main.cc: multi-MiB message buffers
    // stay in the heap instead of being unmapped (or trimmed) and faulted in
    // again on every call.
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    options.client_malloc_tuned = true;
  }
  absl::StatusOr<E2eReport> report = RunE2eBench(options, std::cerr);
  if (!report.ok()) return Fail(report.status());
  return Emit(RenderE2eReport(*report), E2eReportJson(*report));
}

// Without a usable GPU this prints that nothing was measured and exits 0.
int RunGpu() {
  GpuBenchOptions options;
  absl::StatusOr<std::vector<uint64_t>> sizes = ParseCountList(absl::GetFlag(FLAGS_gpu_sizes));
  if (!sizes.ok()) return Fail(sizes.status());
  options.sizes = *sizes;
  options.device = absl::GetFlag(FLAGS_gpu_device);
  options.seconds_per_case = absl::GetFlag(FLAGS_seconds_per_case);
  options.min_reps = std::max(options.min_reps, static_cast<int>(absl::GetFlag(FLAGS_min_reps)));
  options.amsgrad = absl::GetFlag(FLAGS_amsgrad);
  options.torch_script = absl::GetFlag(FLAGS_torch_script);
  options.python = FindInPath("python3");
  absl::StatusOr<GpuReport> report = RunGpuBench(options, std::cerr);
  if (!report.ok()) return Fail(report.status());
  return Emit(RenderGpuReport(*report), GpuReportJson(*report));
}

}  // namespace
}  // namespace bench
}  // namespace adamasync

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "AdamAsync benchmarks.\n"
      "  adamasync-bench kernel [--json] [--min_elements=1M --max_elements=64M] "
      "[--threads=1,2]\n"
      "  adamasync-bench e2e [--json] [--servers=H:P,...|--spawn_shards=1,2] "
      "[--server_bin=PATH] [--sizes=1K,...,16M] [--client_threads=1,2]\n"
      "  adamasync-bench gpu [--json] [--gpu_sizes=1M,...,256M] [--gpu_device=0] "
      "[--torch_script=scripts/bench_torch_adam.py]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() == 2 ? args[1] : "";
  if (command == "kernel") return adamasync::bench::RunKernel();
  if (command == "e2e") return adamasync::bench::RunE2e();
  if (command == "gpu") return adamasync::bench::RunGpu();
  std::cerr << absl::ProgramUsageMessage() << "\nSee --help for the flags." << std::endl;
  return 2;
}
