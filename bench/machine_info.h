// What the benchmarks print about the machine they ran on, so that every
// report says where its figures come from: CPU model, core count, last-level
// cache size, load at the start, and the date.
#ifndef ADAMASYNC_BENCH_MACHINE_INFO_H_
#define ADAMASYNC_BENCH_MACHINE_INFO_H_

#include <cstdint>
#include <string>

namespace adamasync {
namespace bench {

class JsonWriter;

struct MachineInfo {
  std::string cpu_model;         // /proc/cpuinfo "model name"; "unknown" if absent
  int online_cpus = 0;           // sysconf(_SC_NPROCESSORS_ONLN)
  uint64_t llc_bytes = 0;        // largest cpu0 cache in sysfs; 0 if unknown
  uint64_t mem_total_bytes = 0;  // /proc/meminfo MemTotal; 0 if unknown
  std::string load_average;      // first three fields of /proc/loadavg
  std::string date_utc;          // RFC 3339, when ReadMachineInfo ran
  std::string hostname;
};

// Reads the fields above; missing sources leave their defaults.
MachineInfo ReadMachineInfo();

// A few lines for the head of a text report, each ending with '\n'.
std::string DescribeMachine(const MachineInfo& info);

// Writes `info` as a JSON object (the caller writes the key first).
void WriteMachineJson(const MachineInfo& info, JsonWriter& w);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_MACHINE_INFO_H_
