#include "bench/kernel_bench.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_units.h"
#include "bench/sample_stats.h"
#include "bench/stream_kernels.h"
#include "common/aligned_buffer.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"

namespace adamasync {
namespace bench {
namespace {

constexpr double kAdamBytesPerParam = 28;      // reads p, g, m, v; writes p, m, v
constexpr double kAmsgradBytesPerParam = 36;   // + reads and writes vmax
constexpr double kAdamFootprintPerParam = 16;  // p, g, m, v resident

BandwidthFigure Figure(const RepeatedTiming& t, double bytes) {
  return {GigabytesPerSecond(bytes, t.median_seconds), t.median_seconds, t.reps};
}

// Times one Adam variant on buffers it owns for the duration of the call
// (every thread count reuses them). Returns one figure per thread count.
absl::StatusOr<std::vector<BandwidthFigure>> TimeAdam(uint64_t n, bool amsgrad,
                                                      const KernelBenchOptions& o) {
  // Finite, normal values that stay so under any number of steps.
  AlignedFloats p(n, 0.5f), g(n, 1e-3f), m(n, 0.0f), v(n, 0.0f);
  std::optional<AlignedFloats> vmax;
  if (amsgrad) vmax.emplace(n, 0.0f);
  AdamConfig config;
  config.amsgrad = amsgrad;
  const kernels::AdamScalars scalars = kernels::MakeAdamScalars(config, /*step=*/10);
  const kernels::AdamSpan span{p.data(), m.data(), v.data(), vmax ? vmax->data() : nullptr};
  std::vector<BandwidthFigure> figures;
  for (int threads : o.threads) {
    const RepeatedTiming t =
        TimeRepeated([&] { kernels::AdamCpuParallel(scalars, g.data(), span, n, threads); },
                     o.seconds_per_case, o.min_reps, o.max_reps);
    figures.push_back(
        Figure(t, (amsgrad ? kAmsgradBytesPerParam : kAdamBytesPerParam) * static_cast<double>(n)));
  }
  // The steps really ran: every parameter moved and none went bad.
  if (!kernels::AllFinite(p.data(), n) || p.data()[0] == 0.5f || p.data()[n - 1] == 0.5f) {
    return absl::InternalError(
        absl::StrCat("Adam left a non-finite or unchanged parameter at n=", n));
  }
  return figures;
}

// Triad and copy on arrays with `footprint_bytes` in total, per thread count.
std::pair<std::vector<BandwidthFigure>, std::vector<BandwidthFigure>> TimeStream(
    uint64_t footprint_bytes, const KernelBenchOptions& o) {
  std::vector<BandwidthFigure> triad, copy;
  {
    const size_t n = footprint_bytes / (3 * sizeof(double));
    AlignedDoubles a(n, 0.0), b(n, 1.0), c(n, 2.0);
    for (int threads : o.threads) {
      const RepeatedTiming t =
          TimeRepeated([&] { TriadParallel(a.data(), b.data(), c.data(), 3.0, n, threads); },
                       o.seconds_per_case, o.min_reps, o.max_reps);
      triad.push_back(Figure(t, kTriadBytesPerElement * static_cast<double>(n)));
    }
  }
  {
    const size_t n = footprint_bytes / (2 * sizeof(double));
    AlignedDoubles dst(n, 0.0), src(n, 1.0);
    for (int threads : o.threads) {
      const RepeatedTiming t =
          TimeRepeated([&] { CopyParallel(dst.data(), src.data(), n, threads); },
                       o.seconds_per_case, o.min_reps, o.max_reps);
      copy.push_back(Figure(t, kCopyBytesPerElement * static_cast<double>(n)));
    }
  }
  return {std::move(triad), std::move(copy)};
}

absl::Status Validate(const KernelBenchOptions& o) {
  if (o.sizes.empty() || o.threads.empty()) {
    return absl::InvalidArgumentError("kernel: need at least one size and one thread count");
  }
  for (uint64_t n : o.sizes) {
    if (n < 16) return absl::InvalidArgumentError("kernel: sizes must be >= 16 parameters");
  }
  for (int t : o.threads) {
    if (t <= 0) return absl::InvalidArgumentError("kernel: thread counts must be positive");
  }
  if (!(o.seconds_per_case >= 0) || o.min_reps < 1 || o.max_reps < o.min_reps) {
    return absl::InvalidArgumentError("kernel: bad seconds_per_case, min_reps or max_reps");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KernelReport> RunKernelBench(const KernelBenchOptions& options,
                                            std::ostream& progress) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  KernelReport report;
  report.machine = ReadMachineInfo();
  report.simd_target = kernels::AdamCpuTargetName();
  report.options = options;

  uint64_t dram_bytes = options.dram_footprint_bytes;
  if (dram_bytes == 0) dram_bytes = std::max<uint64_t>(4 * report.machine.llc_bytes, 256 << 20);
  progress << absl::StrFormat("[kernel] DRAM reference, footprint %d MiB\n", dram_bytes >> 20);
  auto [dram_triad, dram_copy] = TimeStream(dram_bytes, options);
  for (size_t k = 0; k < options.threads.size(); ++k) {
    report.dram.push_back({options.threads[k], dram_bytes, dram_triad[k], dram_copy[k]});
  }

  for (uint64_t n : options.sizes) {
    progress << absl::StrFormat("[kernel] %s params\n", FormatCount(n));
    absl::StatusOr<std::vector<BandwidthFigure>> adam = TimeAdam(n, /*amsgrad=*/false, options);
    if (!adam.ok()) return adam.status();
    std::vector<BandwidthFigure> amsgrad(options.threads.size());
    if (options.amsgrad) {
      absl::StatusOr<std::vector<BandwidthFigure>> timed = TimeAdam(n, /*amsgrad=*/true, options);
      if (!timed.ok()) return timed.status();
      amsgrad = *std::move(timed);
    }
    const uint64_t footprint = static_cast<uint64_t>(kAdamFootprintPerParam) * n;
    auto [triad, copy] = TimeStream(footprint, options);
    for (size_t k = 0; k < options.threads.size(); ++k) {
      report.cases.push_back(
          {n, options.threads[k], footprint, (*adam)[k], amsgrad[k], triad[k], copy[k]});
    }
  }
  return report;
}

}  // namespace bench
}  // namespace adamasync
