// `adamasync-bench kernel`: the CPU Adam step's effective memory bandwidth
// next to the machine's memory bandwidth, both measured in the same run with
// the same thread counts (REFERENCE.md section 4: the floor of one step is
// 28 B x params / memory bandwidth).
//
// For each (params, threads) case it times
//   - Adam:    AdamCpuParallel on p, g, m, v; 28 B/param counted
//              (reads p, g, m, v; writes p, m, v),
//   - AMSGrad: the same with vmax; 36 B/param counted (optional),
//   - triad and copy (stream_kernels.h) on arrays whose total footprint
//     equals Adam's p, g, m, v (16 B/param),
// and once per thread count a DRAM reference triad and copy on a footprint
// well past the last-level cache. Buffers are 64-byte aligned, faulted in
// before timing and reused by every repetition; each figure is the median
// repetition.
//
// Example:
//   KernelBenchOptions options;
//   KernelReport report = RunKernelBench(options, std::cerr);
//   std::cout << RenderKernelReport(report);
#ifndef ADAMASYNC_BENCH_KERNEL_BENCH_H_
#define ADAMASYNC_BENCH_KERNEL_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/machine_info.h"

namespace adamasync {
namespace bench {

struct KernelBenchOptions {
  // Parameters per case. Default 1M, 4M, 16M, 64M (binary M).
  std::vector<uint64_t> sizes = {1 << 20, 4 << 20, 16 << 20, 64 << 20};
  // Threads given to AdamCpuParallel and to the reference loops. Default 1, 2.
  std::vector<int> threads = {1, 2};
  // Seconds spent timing each loop of each case, after one warm-up
  // repetition. Default 1.
  double seconds_per_case = 1.0;
  // Bounds on timed repetitions per loop. Defaults 5 and 1000.
  int min_reps = 5;
  int max_reps = 1000;
  // Also time AMSGrad. Default true.
  bool amsgrad = true;
  // Footprint of the DRAM reference loops in bytes; 0 picks
  // max(4 x last-level cache, 256 MiB). Default 0.
  uint64_t dram_footprint_bytes = 0;
};

// One timed loop: the median repetition and the bandwidth it implies.
struct BandwidthFigure {
  double gbps = 0;     // counted bytes / median seconds, in 1e9 B/s
  double seconds = 0;  // median seconds per repetition
  int reps = 0;        // 0: not measured
};

class JsonWriter;
// Writes `key`: {gbps, median_seconds, reps} into the object being written;
// nothing for a figure that was not measured (reps == 0). The kernel and
// GPU reports use it alike.
void WriteBandwidthFigure(absl::string_view key, const BandwidthFigure& f, JsonWriter& w);

struct KernelCase {
  uint64_t params = 0;
  int threads = 0;
  uint64_t footprint_bytes = 0;  // Adam's p, g, m, v: 16 B/param
  BandwidthFigure adam;
  BandwidthFigure amsgrad;
  BandwidthFigure triad;  // same footprint as Adam's
  BandwidthFigure copy;   // same footprint as Adam's
};

struct DramReference {
  int threads = 0;
  uint64_t footprint_bytes = 0;
  BandwidthFigure triad;
  BandwidthFigure copy;
};

struct KernelReport {
  MachineInfo machine;
  std::string simd_target;  // AdamCpuTargetName()
  KernelBenchOptions options;
  std::vector<DramReference> dram;
  std::vector<KernelCase> cases;  // sizes outer, threads inner
};

// Runs every case; progress lines go to `progress`. INVALID_ARGUMENT for
// empty or non-positive options; INTERNAL if Adam produced a non-finite
// parameter (a kernel bug: the inputs keep every value finite).
absl::StatusOr<KernelReport> RunKernelBench(const KernelBenchOptions& options,
                                            std::ostream& progress);

// The human-readable report: machine, counting rules, DRAM reference and
// the table of cases (kernel_report.cc).
std::string RenderKernelReport(const KernelReport& report);

// The same report as one JSON document (kernel_report.cc).
std::string KernelReportJson(const KernelReport& report);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_KERNEL_BENCH_H_
