// Published figures the end-to-end report prints next to its own, copied
// from REFERENCE.md section 4. They were NOT measured by this benchmark and
// are always labelled as published; nothing else in a report is hard-coded.
#ifndef ADAMASYNC_BENCH_PUBLISHED_REFERENCE_H_
#define ADAMASYNC_BENCH_PUBLISHED_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace adamasync {
namespace bench {

struct PublishedFigure {
  std::string what;   // system and configuration
  std::string value;  // as published, with its unit
};

// The source line every report cites.
inline constexpr char kPublishedSource[] =
    "REFERENCE.md section 4 (published figures, not measured in this run)";

// Every figure, for the report's reference block.
std::vector<PublishedFigure> PublishedFigures();

// The published ps-lite push/pull throughput (GB/s) for a configuration
// like (shards servers, workers client threads, floats per tensor), or ""
// when none was published for it: 1 server/1 worker and 2 servers/2 workers
// (aggregate) at 1e5..1e6 floats (taken to cover 64Ki..1Mi), and the drop
// to 0.26 GB/s at 1e7 floats (taken to cover >= 8Mi).
std::string PsLitePublishedGbps(int shards, int workers, uint64_t floats);

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_PUBLISHED_REFERENCE_H_
