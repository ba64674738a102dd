#include "bench/machine_info.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/json_writer.h"

namespace adamasync {
namespace bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value after "key<spaces>:" on the first line that starts with `key`.
std::string FieldOf(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, key)) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

// "32768K" or "2048 kB" -> bytes; 0 when unparsable.
uint64_t ParseKiloBytes(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(text[digits])) ++digits;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text.substr(0, digits), &value)) return 0;
  absl::string_view unit = absl::StripAsciiWhitespace(text.substr(digits));
  if (unit.empty()) return value;
  const char u = absl::ascii_toupper(unit.front());
  return u == 'K' ? value << 10 : u == 'M' ? value << 20 : value;
}

}  // namespace

MachineInfo ReadMachineInfo() {
  MachineInfo info;
  info.cpu_model = FieldOf(ReadFile("/proc/cpuinfo"), "model name");
  if (info.cpu_model.empty()) info.cpu_model = "unknown";
  info.online_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  for (int index = 0; index < 8; ++index) {
    const std::string size =
        ReadFile(absl::StrFormat("/sys/devices/system/cpu/cpu0/cache/index%d/size", index));
    if (size.empty()) break;
    info.llc_bytes = std::max(info.llc_bytes, ParseKiloBytes(size));
  }
  info.mem_total_bytes = ParseKiloBytes(FieldOf(ReadFile("/proc/meminfo"), "MemTotal"));
  std::vector<std::string> load =
      absl::StrSplit(ReadFile("/proc/loadavg"), ' ', absl::SkipWhitespace());
  if (load.size() >= 3) info.load_average = absl::StrFormat("%s %s %s", load[0], load[1], load[2]);
  info.date_utc = absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) info.hostname = host;
  return info;
}

std::string DescribeMachine(const MachineInfo& info) {
  return absl::StrFormat(
      "date:        %s\n"
      "host:        %s\n"
      "cpu:         %s, %d online CPUs, last-level cache %d MiB, memory %d GiB\n"
      "load avg:    %s (1/5/15 min, at start; other work on the machine skews results)\n",
      info.date_utc, info.hostname, info.cpu_model, info.online_cpus, info.llc_bytes >> 20,
      info.mem_total_bytes >> 30, info.load_average);
}

void WriteMachineJson(const MachineInfo& info, JsonWriter& w) {
  w.BeginObject();
  w.Field("date_utc", info.date_utc);
  w.Field("hostname", info.hostname);
  w.Field("cpu_model", info.cpu_model);
  w.Field("online_cpus", info.online_cpus);
  w.Field("llc_bytes", info.llc_bytes);
  w.Field("mem_total_bytes", info.mem_total_bytes);
  w.Field("load_average", info.load_average);
  w.EndObject();
}

}  // namespace bench
}  // namespace adamasync
