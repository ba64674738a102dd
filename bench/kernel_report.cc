// Text and JSON forms of a KernelReport (declared in kernel_bench.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_units.h"
#include "bench/json_writer.h"
#include "bench/kernel_bench.h"
#include "bench/text_table.h"

namespace adamasync {
namespace bench {
namespace {

std::string Gbps(const BandwidthFigure& f) {
  return f.reps > 0 ? absl::StrFormat("%.2f", f.gbps) : "-";
}

std::string Ratio(double num, double den) {
  return num > 0 && den > 0 ? absl::StrFormat("%.2f", num / den) : "-";
}

std::string MiB(uint64_t bytes) { return absl::StrFormat("%d MiB", bytes >> 20); }

const DramReference* DramFor(const KernelReport& report, int threads) {
  for (const DramReference& d : report.dram) {
    if (d.threads == threads) return &d;
  }
  return nullptr;
}

}  // namespace

void WriteBandwidthFigure(absl::string_view key, const BandwidthFigure& f, JsonWriter& w) {
  if (f.reps == 0) return;
  w.Key(key);
  w.BeginObject();
  w.Field("gbps", f.gbps);
  w.Field("median_seconds", f.seconds);
  w.Field("reps", f.reps);
  w.EndObject();
}

std::string RenderKernelReport(const KernelReport& report) {
  std::string out =
      "AdamAsync kernel benchmark: CPU Adam step (AdamCpuParallel) vs memory bandwidth, "
      "all measured in this run\n";
  out += DescribeMachine(report.machine);
  absl::StrAppendFormat(&out, "SIMD target: %s (Highway dispatch of AdamCpu and the triad)\n",
                        report.simd_target);
  out +=
      "Bytes counted: Adam 28 B/param (reads p,g,m,v; writes p,m,v); AMSGrad 36 B/param (+vmax);\n"
      "  triad a[i]=b[i]+s*c[i] on doubles 24 B/elt; copy (memcpy) on doubles 16 B/elt.\n"
      "  STREAM counting: the triad's read-for-ownership of a[] (8 B/elt) is not counted;\n"
      "  Adam rewrites lines it has read and has none, so adam/triad can exceed 1.\n"
      "GB/s = 1e9 B/s of counted bytes / median repetition time; buffers 64-B aligned, faulted\n"
      "  in before timing and reused. Threads: AdamCpuParallel's split, same for triad/copy.\n";
  absl::StrAppendFormat(&out, "Timing: >= %.2f s and >= %d reps per loop after one warm-up.\n\n",
                        report.options.seconds_per_case, report.options.min_reps);

  if (!report.dram.empty()) {
    absl::StrAppendFormat(&out, "DRAM reference (footprint %s, last-level cache %s):\n",
                          MiB(report.dram.front().footprint_bytes), MiB(report.machine.llc_bytes));
    TextTable dram({"threads", "triad GB/s", "copy GB/s"});
    for (const DramReference& d : report.dram) {
      dram.AddRow({absl::StrCat(d.threads), Gbps(d.triad), Gbps(d.copy)});
    }
    out += dram.Render() + "\n";
  }

  out +=
      "Adam vs triad/copy on the same footprint (16 B/param: p,g,m,v); '*' = footprint fits "
      "in the last-level cache:\n";
  TextTable table({"params", "threads", "footprint", "adam ms", "adam GB/s", "amsgrad GB/s",
                   "triad GB/s", "copy GB/s", "adam/triad", "adam/DRAM triad", "reps"});
  for (const KernelCase& c : report.cases) {
    const DramReference* dram = DramFor(report, c.threads);
    const bool in_cache = c.footprint_bytes <= report.machine.llc_bytes;
    table.AddRow({FormatCount(c.params), absl::StrCat(c.threads),
                  MiB(c.footprint_bytes) + (in_cache ? "*" : " "),
                  absl::StrFormat("%.3f", c.adam.seconds * 1e3), Gbps(c.adam), Gbps(c.amsgrad),
                  Gbps(c.triad), Gbps(c.copy), Ratio(c.adam.gbps, c.triad.gbps),
                  Ratio(c.adam.gbps, dram ? dram->triad.gbps : 0), absl::StrCat(c.adam.reps)});
  }
  out += table.Render();
  return out;
}

std::string KernelReportJson(const KernelReport& report) {
  JsonWriter w;
  w.BeginObject();
  w.Field("benchmark", "kernel");
  w.Key("machine");
  WriteMachineJson(report.machine, w);
  w.Field("simd_target", report.simd_target);
  w.Key("counting");
  w.BeginObject();
  w.Field("adam_bytes_per_param", 28);
  w.Field("amsgrad_bytes_per_param", 36);
  w.Field("triad_bytes_per_element", 24);
  w.Field("copy_bytes_per_element", 16);
  w.Field("element_type_of_triad_and_copy", "double");
  w.Field("gbps_unit_bytes", 1e9);
  w.Field("statistic", "median repetition");
  w.EndObject();
  w.Field("seconds_per_case", report.options.seconds_per_case);
  w.Field("min_reps", report.options.min_reps);
  w.Key("dram_reference");
  w.BeginArray();
  for (const DramReference& d : report.dram) {
    w.BeginObject();
    w.Field("threads", d.threads);
    w.Field("footprint_bytes", d.footprint_bytes);
    WriteBandwidthFigure("triad", d.triad, w);
    WriteBandwidthFigure("copy", d.copy, w);
    w.EndObject();
  }
  w.EndArray();
  w.Key("cases");
  w.BeginArray();
  for (const KernelCase& c : report.cases) {
    const DramReference* dram = DramFor(report, c.threads);
    w.BeginObject();
    w.Field("params", c.params);
    w.Field("threads", c.threads);
    w.Field("footprint_bytes", c.footprint_bytes);
    w.Field("fits_llc", c.footprint_bytes <= report.machine.llc_bytes);
    WriteBandwidthFigure("adam", c.adam, w);
    WriteBandwidthFigure("amsgrad", c.amsgrad, w);
    WriteBandwidthFigure("triad", c.triad, w);
    WriteBandwidthFigure("copy", c.copy, w);
    w.Field("adam_over_triad", c.triad.gbps > 0 ? c.adam.gbps / c.triad.gbps : 0.0);
    w.Field("adam_over_dram_triad",
            dram && dram->triad.gbps > 0 ? c.adam.gbps / dram->triad.gbps : 0.0);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace bench
}  // namespace adamasync
