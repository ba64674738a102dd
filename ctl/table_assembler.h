// TableAssembler: whole tables from the parts that shard checkpoints hold.
//
// Each shard's checkpoint holds, for every table, the spec and the part
// [part_begin, part_end) the sharding rule gave it (p, m, v and the step
// count of each segment). Adding the checkpoints of every shard of one
// cluster puts the parts back together; the assembler checks that every
// shard holds the same tables with the same specs and that every element
// was covered exactly once.
//
// Example:
//   TableAssembler assembler(/*num_shards=*/2, /*with_moments=*/true);
//   RETURN_IF_ERROR(assembler.Add(shard0));
//   RETURN_IF_ERROR(assembler.Add(shard1));
//   ASSIGN_OR_RETURN(std::vector<AssembledTable> tables, std::move(assembler).Finish());
//
// Thread safety: none; one thread adds and finishes.
#ifndef ADAMASYNC_CTL_TABLE_ASSEMBLER_H_
#define ADAMASYNC_CTL_TABLE_ASSEMBLER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint_format.h"

namespace adamasync::ctl {

struct AssembledTable {
  TableSpec spec;
  std::vector<float> p;     // spec.num_elements values
  std::vector<float> m, v;  // as many, only when moments were asked for
  // Step counts (versions) over every segment of every part.
  uint64_t min_step = 0;
  uint64_t max_step = 0;
};

class TableAssembler {
 public:
  // REQUIRES: num_shards >= 1.
  TableAssembler(uint32_t num_shards, bool with_moments)
      : num_shards_(num_shards), with_moments_(with_moments), added_(num_shards, false) {}
  TableAssembler(const TableAssembler&) = delete;
  TableAssembler& operator=(const TableAssembler&) = delete;

  // Copies `shard`'s parts into the tables. FAILED_PRECONDITION when it was
  // written with another shard count, its shard was added already, or its
  // tables or their specs differ from those of the shards added before.
  absl::Status Add(const ShardCheckpoint& shard);

  // Every table, sorted by name. FAILED_PRECONDITION unless every shard was
  // added.
  absl::StatusOr<std::vector<AssembledTable>> Finish() &&;

 private:
  const uint32_t num_shards_;
  const bool with_moments_;
  std::vector<bool> added_;  // per shard
  bool first_ = true;
  std::map<std::string, AssembledTable> tables_;
  std::map<std::string, uint64_t> covered_;  // elements copied per table
};

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_TABLE_ASSEMBLER_H_
