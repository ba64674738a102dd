#include "bench/published_reference.h"

namespace adamasync {
namespace bench {

std::vector<PublishedFigure> PublishedFigures() {
  return {
      {"iperf3, one TCP stream on loopback, 2-vCPU VM", "about 1.85 GB/s"},
      {"ps-lite, 1 server / 1 worker, zero-copy dense push/pull, 1e5-1e6 floats", "1.1-1.6 GB/s"},
      {"ps-lite, 2 servers / 2 workers, aggregate, 1e5-1e6 floats", "2.3-2.8 GB/s"},
      {"ps-lite at 1e7 floats (fresh 40 MB allocations)", "0.26 GB/s"},
  };
}

std::string PsLitePublishedGbps(int shards, int workers, uint64_t floats) {
  const bool one_one = shards == 1 && workers == 1;
  const bool two_two = shards == 2 && workers == 2;
  if (!one_one && !two_two) return "";
  if (floats >= (uint64_t{1} << 16) && floats <= (uint64_t{1} << 20)) {
    return one_one ? "1.1-1.6" : "2.3-2.8";
  }
  if (floats >= (uint64_t{8} << 20)) return "0.26";
  return "";
}

}  // namespace bench
}  // namespace adamasync
