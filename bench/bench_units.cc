#include "bench/bench_units.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace adamasync {
namespace bench {

absl::StatusOr<uint64_t> ParseCount(absl::string_view text) {
  absl::string_view digits = absl::StripAsciiWhitespace(text);
  uint64_t multiplier = 1;
  if (!digits.empty()) {
    switch (absl::ascii_toupper(digits.back())) {
      case 'K':
        multiplier = uint64_t{1} << 10;
        break;
      case 'M':
        multiplier = uint64_t{1} << 20;
        break;
      case 'G':
        multiplier = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) digits.remove_suffix(1);
  }
  uint64_t value = 0;
  if (digits.empty() || !absl::ascii_isdigit(digits.front()) || !absl::SimpleAtoi(digits, &value) ||
      value == 0 || value > (uint64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad count '", text, "': want a positive number with optional K, M or G"));
  }
  return value * multiplier;
}

absl::StatusOr<std::vector<uint64_t>> ParseCountList(const std::vector<std::string>& items) {
  std::vector<uint64_t> out;
  for (const std::string& item : items) {
    absl::StatusOr<uint64_t> n = ParseCount(item);
    if (!n.ok()) return n.status();
    out.push_back(*n);
  }
  if (out.empty()) return absl::InvalidArgumentError("empty list of counts");
  return out;
}

absl::StatusOr<std::vector<int>> ParsePositiveIntList(const std::vector<std::string>& items) {
  std::vector<int> out;
  for (const std::string& item : items) {
    int value = 0;
    if (!absl::SimpleAtoi(item, &value) || value <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad positive integer '", item, "'"));
    }
    out.push_back(value);
  }
  if (out.empty()) return absl::InvalidArgumentError("empty list of integers");
  return out;
}

std::string FormatCount(uint64_t n) {
  static constexpr struct {
    int shift;
    char suffix;
  } kUnits[] = {{30, 'G'}, {20, 'M'}, {10, 'K'}};
  for (const auto& unit : kUnits) {
    const uint64_t size = uint64_t{1} << unit.shift;
    if (n >= size && n % size == 0) return absl::StrCat(n / size, std::string(1, unit.suffix));
  }
  return absl::StrCat(n);
}

}  // namespace bench
}  // namespace adamasync
