// Text and JSON forms of a GpuReport (declared in gpu_bench.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_units.h"
#include "bench/gpu_bench.h"
#include "bench/json_writer.h"
#include "bench/text_table.h"

namespace adamasync {
namespace bench {
namespace {

// Targets (issue 6): Adam at >= 85% of the copy bandwidth from 64M
// parameters up, and at least as fast as PyTorch's fused Adam.
constexpr double kCopyTarget = 0.85;
constexpr uint64_t kCopyTargetFromParams = uint64_t{64} << 20;
constexpr double kTorchTarget = 1.0;

std::string Gbps(const BandwidthFigure& f) {
  return f.reps > 0 ? absl::StrFormat("%.0f", f.gbps) : "-";
}

std::string Ratio(const BandwidthFigure& num, const BandwidthFigure& den) {
  return num.reps > 0 && den.reps > 0 && den.gbps > 0 ? absl::StrFormat("%.2f", num.gbps / den.gbps)
                                                      : "-";
}

}  // namespace

std::string RenderGpuReport(const GpuReport& report) {
  std::string out =
      "AdamAsync GPU benchmark: CUDA Adam step vs device-to-device copy, measured in this run\n";
  out += DescribeMachine(report.machine);
  if (!report.gpu_available) {
    absl::StrAppend(&out, "No usable GPU: ", report.unavailable_reason,
                    "\nNothing was measured (every GPU figure: not yet measured).\n");
    return out;
  }
  const kernels::CudaDeviceProperties& d = report.device;
  absl::StrAppendFormat(&out,
                        "GPU %d: %s, compute %d.%d, %d SMs, %.1f GiB, L2 %d MiB, theoretical peak "
                        "%.0f GB/s; driver %d, runtime %d\n",
                        d.device, d.name, d.compute_major, d.compute_minor, d.multiprocessors,
                        d.global_memory_bytes / double(uint64_t{1} << 30), d.l2_cache_bytes >> 20,
                        d.peak_memory_gbps, d.driver_version, d.runtime_version);
  out +=
      "Bytes counted: Adam 28 B/param (reads p,g,m,v; writes p,m,v); AMSGrad 36 B/param (+vmax);\n"
      "  copy: cudaMemcpyAsync device to device, read + written bytes (16 B/param: the footprint\n"
      "  of Adam's p,g,m,v). multi: AdamCudaMultiTensor, one launch over segments (host packing\n"
      "  and descriptor upload included). GB/s = 1e9 B/s / median time per call; CUDA events on\n"
      "  one stream around back-to-back calls.\n";
  absl::StrAppendFormat(&out, "Copy reference (%d MiB copied): %s GB/s\n\n",
                        report.options.copy_reference_bytes >> 20, Gbps(report.copy_reference));
  TextTable table({"params", "adam ms", "adam GB/s", "amsgrad GB/s", "multi GB/s", "copy GB/s",
                   "adam/copy", "adam/copy ref", "torch GB/s", "adam/torch", "torch ams GB/s",
                   "ams/torch ams"});
  for (const GpuCase& c : report.cases) {
    if (!c.skipped.empty()) {
      table.AddRow({FormatCount(c.params), "skipped: " + c.skipped});
      continue;
    }
    table.AddRow({FormatCount(c.params), absl::StrFormat("%.3f", c.adam.seconds * 1e3),
                  Gbps(c.adam), Gbps(c.amsgrad), Gbps(c.multi), Gbps(c.copy), Ratio(c.adam, c.copy),
                  Ratio(c.adam, report.copy_reference), Gbps(c.torch_adam),
                  Ratio(c.adam, c.torch_adam), Gbps(c.torch_amsgrad),
                  Ratio(c.amsgrad, c.torch_amsgrad)});
  }
  out += table.Render();
  if (report.torch.ran) {
    absl::StrAppend(&out, "torch ", report.torch.torch_version, " on ", report.torch.device_name,
                    ": torch.optim.Adam(fused=True), one parameter tensor per size\n");
  } else {
    absl::StrAppend(&out, "torch fused Adam: not run (", report.torch.not_run_reason, ")\n");
  }
  out += absl::StrFormat("Targets: adam/copy >= %.2f from %s params; adam/torch >= %.1f\n",
                         kCopyTarget, FormatCount(kCopyTargetFromParams), kTorchTarget);
  for (const GpuCase& c : report.cases) {
    if (!c.skipped.empty() || c.params < kCopyTargetFromParams || c.copy.reps == 0) continue;
    const double r = c.adam.gbps / c.copy.gbps;
    absl::StrAppendFormat(&out, "  %s: adam/copy %.2f %s", FormatCount(c.params), r,
                          r >= kCopyTarget ? "met" : "NOT met");
    if (c.torch_adam.reps > 0) {
      const double t = c.adam.gbps / c.torch_adam.gbps;
      absl::StrAppendFormat(&out, "; adam/torch %.2f %s", t, t >= kTorchTarget ? "met" : "NOT met");
    }
    out += "\n";
  }
  return out;
}

std::string GpuReportJson(const GpuReport& report) {
  JsonWriter w;
  w.BeginObject();
  w.Field("benchmark", "gpu");
  w.Key("machine");
  WriteMachineJson(report.machine, w);
  w.Field("gpu_available", report.gpu_available);
  if (!report.gpu_available) {
    w.Field("unavailable_reason", report.unavailable_reason);
    w.Field("measured", false);
    w.EndObject();
    return w.str();
  }
  const kernels::CudaDeviceProperties& d = report.device;
  w.Key("device");
  w.BeginObject();
  w.Field("index", d.device);
  w.Field("name", d.name);
  w.Field("compute_capability", absl::StrCat(d.compute_major, ".", d.compute_minor));
  w.Field("multiprocessors", d.multiprocessors);
  w.Field("global_memory_bytes", d.global_memory_bytes);
  w.Field("l2_cache_bytes", d.l2_cache_bytes);
  w.Field("theoretical_peak_gbps", d.peak_memory_gbps);
  w.Field("driver_version", d.driver_version);
  w.Field("runtime_version", d.runtime_version);
  w.EndObject();
  w.Key("counting");
  w.BeginObject();
  w.Field("adam_bytes_per_param", 28);
  w.Field("amsgrad_bytes_per_param", 36);
  w.Field("copy_bytes_per_param", 16);
  w.Field("copy_counts", "read + written");
  w.Field("gbps_unit_bytes", 1e9);
  w.Field("statistic", "median per-call time over batches of back-to-back calls (CUDA events)");
  w.EndObject();
  w.Field("seconds_per_case", report.options.seconds_per_case);
  w.Field("multi_segment_elements", report.options.multi_segment_elements);
  w.Field("copy_reference_bytes", report.options.copy_reference_bytes);
  WriteBandwidthFigure("copy_reference", report.copy_reference, w);
  w.Key("cases");
  w.BeginArray();
  for (const GpuCase& c : report.cases) {
    w.BeginObject();
    w.Field("params", c.params);
    if (!c.skipped.empty()) {
      w.Field("skipped", c.skipped);
      w.EndObject();
      continue;
    }
    WriteBandwidthFigure("adam", c.adam, w);
    WriteBandwidthFigure("amsgrad", c.amsgrad, w);
    WriteBandwidthFigure("multi", c.multi, w);
    if (c.multi.reps > 0) w.Field("multi_tensors", c.multi_tensors);
    WriteBandwidthFigure("copy", c.copy, w);
    WriteBandwidthFigure("torch_adam", c.torch_adam, w);
    WriteBandwidthFigure("torch_amsgrad", c.torch_amsgrad, w);
    if (c.copy.reps > 0) w.Field("adam_over_copy", c.adam.gbps / c.copy.gbps);
    if (c.torch_adam.reps > 0) w.Field("adam_over_torch", c.adam.gbps / c.torch_adam.gbps);
    w.EndObject();
  }
  w.EndArray();
  w.Key("torch");
  w.BeginObject();
  w.Field("ran", report.torch.ran);
  if (report.torch.ran) {
    w.Field("torch_version", report.torch.torch_version);
    w.Field("device", report.torch.device_name);
  } else {
    w.Field("not_run_reason", report.torch.not_run_reason);
  }
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace bench
}  // namespace adamasync
