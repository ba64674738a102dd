#include "bench/gpu_bench.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_units.h"
#include "bench/child_process.h"
#include "bench/sample_stats.h"
#include "common/status_macros.h"
#include "kernels/adam_cuda.h"
#include "kernels/adam_scalars.h"
#include "kernels/device_buffer.h"

namespace adamasync {
namespace bench {
namespace {

using kernels::CudaEvent;
using kernels::CudaStream;
using kernels::DeviceBuffer;

constexpr double kAdamBytesPerParam = 28;     // reads p, g, m, v; writes p, m, v
constexpr double kAmsgradBytesPerParam = 36;  // + reads and writes vmax
constexpr double kCopyBytesPerParam = 16;     // 8 B read + 8 B written: Adam's p, g, m, v footprint

// Float fills by byte (FillBytesAsync): finite, normal values that stay so
// under any number of steps.
constexpr uint8_t kParamByte = 0x3F;  // 0.747
constexpr uint8_t kGradByte = 0x3A;   // 7.1e-4

// Times `enqueue` (one call's work, enqueued on `stream`) with events:
// two warm-up calls, the second timed alone to size a batch of back-to-back
// calls lasting about min_seconds_per_rep; then batches until the budget.
// The figure is per call: median batch time / batch.
absl::StatusOr<BandwidthFigure> TimeOnStream(const std::function<absl::Status()>& enqueue,
                                             double bytes_per_call, const CudaStream& stream,
                                             const GpuBenchOptions& o) {
  ASSIGN_OR_RETURN(CudaEvent start, CudaEvent::Create(/*timing=*/true));
  ASSIGN_OR_RETURN(CudaEvent end, CudaEvent::Create(/*timing=*/true));
  RETURN_IF_ERROR(enqueue());  // first launch: module loading, allocations
  RETURN_IF_ERROR(start.Record(stream));
  RETURN_IF_ERROR(enqueue());
  RETURN_IF_ERROR(end.Record(stream));
  RETURN_IF_ERROR(end.Synchronize());
  ASSIGN_OR_RETURN(const double one, CudaEvent::ElapsedSeconds(start, end));
  const int batch = static_cast<int>(
      std::clamp(std::ceil(o.min_seconds_per_rep / std::max(one, 1e-7)), 1.0, 10000.0));
  std::vector<double> samples;
  const double wall_start = MonotonicSeconds();
  while (static_cast<int>(samples.size()) < o.max_reps) {
    RETURN_IF_ERROR(start.Record(stream));
    for (int i = 0; i < batch; ++i) RETURN_IF_ERROR(enqueue());
    RETURN_IF_ERROR(end.Record(stream));
    RETURN_IF_ERROR(end.Synchronize());
    ASSIGN_OR_RETURN(const double seconds, CudaEvent::ElapsedSeconds(start, end));
    samples.push_back(seconds / batch);
    if (static_cast<int>(samples.size()) >= o.min_reps &&
        MonotonicSeconds() - wall_start >= o.seconds_per_case) {
      break;
    }
  }
  const double median = Median(samples);
  return BandwidthFigure{GigabytesPerSecond(bytes_per_call, median), median,
                         static_cast<int>(samples.size())};
}

// n floats of device memory filled with `byte`.
absl::StatusOr<DeviceBuffer> Filled(uint64_t n, uint8_t byte, const CudaStream& stream) {
  ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(n * sizeof(float)));
  RETURN_IF_ERROR(kernels::FillBytesAsync(byte, buffer.bytes(), stream, buffer.data()));
  return buffer;
}

// The steps really ran: the first and last parameters moved and are finite.
absl::Status CheckParams(const DeviceBuffer& p, uint64_t n, const CudaStream& stream) {
  float ends[2];
  RETURN_IF_ERROR(kernels::CopyToHostAsync(p.floats(), sizeof(float), stream, &ends[0]));
  RETURN_IF_ERROR(kernels::CopyToHostAsync(p.floats() + (n - 1), sizeof(float), stream, &ends[1]));
  RETURN_IF_ERROR(stream.Synchronize());
  float initial;
  const uint8_t bytes[4] = {kParamByte, kParamByte, kParamByte, kParamByte};
  std::memcpy(&initial, bytes, sizeof(initial));
  for (float x : ends) {
    if (!std::isfinite(x) || x == initial) {
      return absl::InternalError(
          absl::StrCat("GPU Adam left a non-finite or unchanged parameter at n=", n));
    }
  }
  return absl::OkStatus();
}

// Adam, AMSGrad and the multi-tensor launch on n parameters.
absl::Status TimeAdam(uint64_t n, const GpuBenchOptions& o, const CudaStream& stream, GpuCase& c) {
  const bool amsgrad = o.amsgrad;
  ASSIGN_OR_RETURN(DeviceBuffer p, Filled(n, kParamByte, stream));
  ASSIGN_OR_RETURN(DeviceBuffer g, Filled(n, kGradByte, stream));
  ASSIGN_OR_RETURN(DeviceBuffer m, Filled(n, 0, stream));
  ASSIGN_OR_RETURN(DeviceBuffer v, Filled(n, 0, stream));
  ASSIGN_OR_RETURN(DeviceBuffer vmax, Filled(amsgrad ? n : 0, 0, stream));
  AdamConfig config;
  const kernels::AdamScalars adam = kernels::MakeAdamScalars(config, /*step=*/10);
  const kernels::AdamSpan span{p.floats(), m.floats(), v.floats(), vmax.floats()};
  ASSIGN_OR_RETURN(
      c.adam,
      TimeOnStream([&] { return kernels::AdamCudaAsync(adam, g.floats(), span, n, stream); },
                   kAdamBytesPerParam * static_cast<double>(n), stream, o));
  RETURN_IF_ERROR(CheckParams(p, n, stream));
  if (amsgrad) {
    config.amsgrad = true;
    const kernels::AdamScalars ams = kernels::MakeAdamScalars(config, /*step=*/10);
    ASSIGN_OR_RETURN(
        c.amsgrad,
        TimeOnStream([&] { return kernels::AdamCudaAsync(ams, g.floats(), span, n, stream); },
                     kAmsgradBytesPerParam * static_cast<double>(n), stream, o));
  }
  if (o.multi_segment_elements > 0) {
    ASSIGN_OR_RETURN(std::unique_ptr<kernels::AdamCudaMultiTensor> multi,
                     kernels::AdamCudaMultiTensor::Create({}));
    std::vector<kernels::AdamCudaTensor> segments;
    for (uint64_t begin = 0; begin < n; begin += o.multi_segment_elements) {
      const uint64_t size = std::min<uint64_t>(o.multi_segment_elements, n - begin);
      segments.push_back({adam,
                          g.floats() + begin,
                          {p.floats() + begin, m.floats() + begin, v.floats() + begin, nullptr},
                          size});
    }
    c.multi_tensors = segments.size();
    ASSIGN_OR_RETURN(c.multi, TimeOnStream([&] { return multi->ApplyAsync(segments, stream); },
                                           kAdamBytesPerParam * static_cast<double>(n), stream, o));
  }
  RETURN_IF_ERROR(CheckParams(p, n, stream));
  return stream.Synchronize();  // before the buffers go
}

// A device-to-device copy of `bytes` (as much read as written).
absl::StatusOr<BandwidthFigure> TimeCopy(uint64_t bytes, const GpuBenchOptions& o,
                                         const CudaStream& stream) {
  ASSIGN_OR_RETURN(DeviceBuffer src, Filled(bytes / sizeof(float), kParamByte, stream));
  ASSIGN_OR_RETURN(DeviceBuffer dst, Filled(bytes / sizeof(float), 0, stream));
  absl::StatusOr<BandwidthFigure> figure = TimeOnStream(
      [&] { return kernels::CopyOnDeviceAsync(src.data(), src.bytes(), stream, dst.data()); },
      2.0 * static_cast<double>(src.bytes()), stream, o);
  RETURN_IF_ERROR(stream.Synchronize());
  return figure;
}

// One size; out of device memory is a skipped case, not an error.
absl::Status RunCase(uint64_t n, const GpuBenchOptions& o, const CudaStream& stream, GpuCase& c) {
  c.params = n;
  absl::Status s = TimeAdam(n, o, stream, c);
  if (s.ok()) {
    absl::StatusOr<BandwidthFigure> copy =
        TimeCopy(static_cast<uint64_t>(kCopyBytesPerParam / 2) * n, o, stream);
    s = copy.status();
    if (copy.ok()) c.copy = *copy;
  }
  if (s.code() == absl::StatusCode::kResourceExhausted) {
    c.skipped = s.ToString();
    return absl::OkStatus();
  }
  return s;
}

// Runs the PyTorch script and copies its figures into `cases`.
TorchRun RunTorch(const GpuBenchOptions& o, std::vector<GpuCase>& cases, std::ostream& progress) {
  TorchRun run;
  if (o.torch_script.empty()) {
    run.not_run_reason =
        "no --torch_script given (scripts/bench_torch_adam.py times "
        "torch.optim.Adam(fused=True) on the same sizes)";
    return run;
  }
  if (o.python.empty()) {
    run.not_run_reason = "python3 not found in PATH";
    return run;
  }
  if (access(o.torch_script.c_str(), R_OK) != 0) {
    run.not_run_reason = absl::StrCat("cannot read ", o.torch_script);
    return run;
  }
  std::vector<std::string> sizes;
  for (const GpuCase& c : cases) {
    if (c.skipped.empty()) sizes.push_back(absl::StrCat(c.params));
  }
  std::vector<std::string> argv = {
      o.python,
      o.torch_script,
      absl::StrCat("--sizes=", absl::StrJoin(sizes, ",")),
      absl::StrCat("--device=", o.device),
      absl::StrFormat("--seconds=%g", o.seconds_per_case),
      absl::StrCat("--min_reps=", o.min_reps),
      absl::StrFormat("--min_seconds_per_rep=%g", o.min_seconds_per_rep)};
  if (o.amsgrad) argv.push_back("--amsgrad");
  progress << "[gpu] torch.optim.Adam(fused=True): " << absl::StrJoin(argv, " ") << "\n";
  absl::StatusOr<std::string> out = RunAndCapture(argv, absl::Seconds(o.torch_timeout_seconds));
  if (!out.ok()) {
    run.not_run_reason = absl::StrCat("the script failed: ", out.status().ToString());
    return run;
  }
  // Lines: "unavailable REASON", "torch_version V", "device NAME",
  // "result adam|amsgrad PARAMS MEDIAN_SECONDS REPS".
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (f.size() < 2) continue;
    if (f[0] == "unavailable") {
      run.not_run_reason = absl::StrCat("the script could not run: ", f[1]);
      return run;
    }
    if (f[0] == "torch_version") run.torch_version = std::string(f[1]);
    if (f[0] == "device") run.device_name = std::string(f[1]);
    if (f[0] != "result") continue;
    std::vector<absl::string_view> r = absl::StrSplit(f[1], ' ', absl::SkipEmpty());
    uint64_t params = 0;
    double seconds = 0;
    int reps = 0;
    if (r.size() != 4 || !absl::SimpleAtoi(r[1], &params) || !absl::SimpleAtod(r[2], &seconds) ||
        !absl::SimpleAtoi(r[3], &reps)) {
      continue;
    }
    for (GpuCase& c : cases) {
      if (c.params != params) continue;
      const bool ams = r[0] == "amsgrad";
      const double bytes = (ams ? kAmsgradBytesPerParam : kAdamBytesPerParam) * params;
      (ams ? c.torch_amsgrad : c.torch_adam) =
          BandwidthFigure{GigabytesPerSecond(bytes, seconds), seconds, reps};
    }
  }
  run.ran = true;
  return run;
}

absl::Status Validate(const GpuBenchOptions& o) {
  if (o.sizes.empty()) return absl::InvalidArgumentError("gpu: need at least one size");
  for (uint64_t n : o.sizes) {
    if (n < 16) return absl::InvalidArgumentError("gpu: sizes must be >= 16 parameters");
  }
  if (!(o.seconds_per_case >= 0) || o.min_reps < 1 || o.max_reps < o.min_reps ||
      !(o.min_seconds_per_rep >= 0) || o.device < 0 || o.copy_reference_bytes < 1024) {
    return absl::InvalidArgumentError(
        "gpu: bad seconds_per_case, min_reps, max_reps, min_seconds_per_rep, device or "
        "copy_reference_bytes");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GpuReport> RunGpuBench(const GpuBenchOptions& options, std::ostream& progress) {
  RETURN_IF_ERROR(Validate(options));
  GpuReport report;
  report.machine = ReadMachineInfo();
  report.options = options;
  const absl::StatusOr<int> count = kernels::CudaDeviceCount();
  if (!count.ok()) {
    report.unavailable_reason = count.status().ToString();
    report.torch.not_run_reason = "no usable GPU";
    return report;
  }
  if (options.device >= *count) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu: --device=", options.device, " but there are ", *count, " devices"));
  }
  report.gpu_available = true;
  RETURN_IF_ERROR(kernels::SetCudaDevice(options.device));
  ASSIGN_OR_RETURN(report.device, kernels::GetCudaDeviceProperties(options.device));
  ASSIGN_OR_RETURN(CudaStream stream, CudaStream::Create());

  progress << absl::StrFormat("[gpu] %s: copy reference, %d MiB\n", report.device.name,
                              options.copy_reference_bytes >> 20);
  ASSIGN_OR_RETURN(report.copy_reference, TimeCopy(options.copy_reference_bytes, options, stream));
  for (uint64_t n : options.sizes) {
    progress << absl::StrFormat("[gpu] %s params\n", FormatCount(n));
    GpuCase c;
    RETURN_IF_ERROR(RunCase(n, options, stream, c));
    report.cases.push_back(std::move(c));
  }
  report.torch = RunTorch(options, report.cases, progress);
  return report;
}

}  // namespace bench
}  // namespace adamasync
