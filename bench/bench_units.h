// Element counts and throughput units as the benchmarks read and print them.
//
// Counts use binary suffixes, as tensor sizes usually do: "1K" = 1024,
// "4M" = 4 * 1024^2, "1G" = 1024^3; a bare number is taken as is.
// Throughput is in decimal GB/s (1e9 bytes per second), the unit iperf3 and
// the published ps-lite figures use.
#ifndef ADAMASYNC_BENCH_BENCH_UNITS_H_
#define ADAMASYNC_BENCH_BENCH_UNITS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adamasync {
namespace bench {

// "16K" -> 16384. INVALID_ARGUMENT for anything else than digits followed by
// an optional K, M or G (either case), or for zero.
absl::StatusOr<uint64_t> ParseCount(absl::string_view text);

// ParseCount of every item, in order. INVALID_ARGUMENT when empty.
absl::StatusOr<std::vector<uint64_t>> ParseCountList(const std::vector<std::string>& items);

// Positive integers, in order ("1", "2"). INVALID_ARGUMENT when empty.
absl::StatusOr<std::vector<int>> ParsePositiveIntList(const std::vector<std::string>& items);

// The shortest exact suffix form: 1048576 -> "1M", 3000 -> "3000".
std::string FormatCount(uint64_t n);

// bytes / seconds in units of 1e9 bytes per second.
inline double GigabytesPerSecond(double bytes, double seconds) {
  return seconds > 0 ? bytes / seconds / 1e9 : 0.0;
}

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_BENCH_UNITS_H_
