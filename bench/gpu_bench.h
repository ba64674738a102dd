// `adamasync-bench gpu`: the CUDA Adam step's effective bandwidth next to
// the device's copy bandwidth, both measured in the same run on the same
// device (REFERENCE.md section 4: one fp32 step moves 28 B/param, AMSGrad
// 36 B/param; good streaming kernels reach 85-90% of a device-to-device
// copy), and optionally next to torch.optim.Adam(fused=True) on the same
// sizes (scripts/bench_torch_adam.py, run as a child process).
//
// For each size it times, with CUDA events on one stream:
//   - adam:    AdamCudaAsync on one tensor, 28 B/param counted,
//   - amsgrad: the same with vmax, 36 B/param (optional),
//   - multi:   AdamCudaMultiTensor over the same elements cut into
//              segments (the server's 64K-element segments by default),
//              28 B/param (optional; the per-launch descriptor upload and
//              host packing are inside the timing),
//   - copy:    cudaMemcpyAsync device to device on the same footprint as
//              Adam's p, g, m, v (16 B/param: 8 read + 8 written),
// and once a large device-to-device copy (the device's copy bandwidth).
// Every figure is the median of repetitions of back-to-back launches.
//
// Without a usable GPU (or without CUDA compiled in) the report says why
// and holds no figures; that is not an error.
//
// Example:
//   GpuBenchOptions options;
//   absl::StatusOr<GpuReport> report = RunGpuBench(options, std::cerr);
//   std::cout << RenderGpuReport(*report);
#ifndef ADAMASYNC_BENCH_GPU_BENCH_H_
#define ADAMASYNC_BENCH_GPU_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/kernel_bench.h"
#include "bench/machine_info.h"
#include "kernels/cuda_device.h"

namespace adamasync {
namespace bench {

struct GpuBenchOptions {
  // Parameters per case. Default 1M, 4M, 16M, 64M, 256M (binary M).
  std::vector<uint64_t> sizes = {1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20};
  // CUDA device number. Default 0.
  int device = 0;
  // Seconds spent timing each loop of each case, after warm-up. Default 0.5.
  double seconds_per_case = 0.5;
  // Bounds on timed repetitions per loop. Defaults 10 and 1000.
  int min_reps = 10;
  int max_reps = 1000;
  // Each repetition launches back to back until it lasts about this long,
  // so that launch gaps and event resolution do not dominate small sizes.
  // Default 2 ms.
  double min_seconds_per_rep = 2e-3;
  // Also time AMSGrad. Default true.
  bool amsgrad = true;
  // Also time the multi-tensor launch over segments of this many elements;
  // 0 skips it. Default 65536 (kSegmentElements, the server's segment).
  uint64_t multi_segment_elements = 65536;
  // Bytes of the large copy reference (source; as much again for the
  // destination). Default 1 GiB.
  uint64_t copy_reference_bytes = uint64_t{1} << 30;
  // scripts/bench_torch_adam.py to run for the PyTorch comparison, and the
  // python3 to run it with; either empty: not run. Defaults empty.
  std::string torch_script;
  std::string python;
  // Limit on the script's run. Default 900 s.
  double torch_timeout_seconds = 900;
};

// One size.
struct GpuCase {
  uint64_t params = 0;
  std::string skipped;  // why nothing was measured (e.g. out of memory); "" if measured
  BandwidthFigure adam;
  BandwidthFigure amsgrad;
  BandwidthFigure multi;
  uint64_t multi_tensors = 0;  // tensors in the multi-tensor launch
  BandwidthFigure copy;        // same footprint as Adam's p, g, m, v
  BandwidthFigure torch_adam;  // from the script; reps 0 when not run
  BandwidthFigure torch_amsgrad;
};

// What the PyTorch script reported.
struct TorchRun {
  bool ran = false;
  std::string not_run_reason;  // when !ran
  std::string torch_version;
  std::string device_name;
};

struct GpuReport {
  MachineInfo machine;
  bool gpu_available = false;
  std::string unavailable_reason;  // when !gpu_available: the CUDA status
  kernels::CudaDeviceProperties device;
  GpuBenchOptions options;
  BandwidthFigure copy_reference;  // the large copy, read + written bytes counted
  std::vector<GpuCase> cases;
  TorchRun torch;
};

// Runs every case; progress lines go to `progress`. A missing GPU gives a
// report with gpu_available false, not an error. INVALID_ARGUMENT for bad
// options; INTERNAL if Adam left a parameter non-finite or unchanged (a
// kernel bug: the inputs keep every value finite).
absl::StatusOr<GpuReport> RunGpuBench(const GpuBenchOptions& options, std::ostream& progress);

// Human-readable report (gpu_report.cc).
std::string RenderGpuReport(const GpuReport& report);

// The same as one JSON document (gpu_report.cc).
std::string GpuReportJson(const GpuReport& report);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_GPU_BENCH_H_
