#include "ctl/table_assembler.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ctl/table_spec_text.h"

namespace adamasync::ctl {

absl::Status TableAssembler::Add(const ShardCheckpoint& shard) {
  const CheckpointHeader& h = shard.header;
  if (h.num_shards != num_shards_ || h.shard_index >= num_shards_) {
    return absl::FailedPreconditionError(absl::StrCat("a checkpoint of shard ", h.shard_index,
                                                      " of ", h.num_shards, " in a cluster of ",
                                                      num_shards_, " shards"));
  }
  if (added_[h.shard_index]) {
    return absl::FailedPreconditionError(
        absl::StrCat("shard ", h.shard_index, "'s checkpoint was given twice"));
  }
  std::set<std::string> names;
  for (const TableRecord& t : shard.tables) {
    names.insert(t.spec.name);
    auto it = tables_.find(t.spec.name);
    if (it == tables_.end()) {
      if (!first_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "table '", t.spec.name, "' is in shard ", h.shard_index,
            "'s checkpoint but not in the other shards' (files of different moments? export "
            "a consistent cut with --checkpoint_id)"));
      }
      AssembledTable table;
      table.spec = t.spec;
      table.p.resize(t.spec.num_elements);
      if (with_moments_) {
        table.m.resize(t.spec.num_elements);
        table.v.resize(t.spec.num_elements);
      }
      table.min_step = UINT64_MAX;
      it = tables_.emplace(t.spec.name, std::move(table)).first;
    } else if (it->second.spec != t.spec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table '", t.spec.name,
          "' has different specs in different shards' "
          "checkpoints: ",
          FormatTableSpec(it->second.spec, true), " vs ", FormatTableSpec(t.spec, true)));
    }
    AssembledTable& table = it->second;
    // The reader checked p, m and v against the part range; the range
    // against the sharding rule.
    std::copy(t.p.begin(), t.p.end(), table.p.begin() + static_cast<ptrdiff_t>(t.part_begin));
    if (with_moments_) {
      std::copy(t.m.begin(), t.m.end(), table.m.begin() + static_cast<ptrdiff_t>(t.part_begin));
      std::copy(t.v.begin(), t.v.end(), table.v.begin() + static_cast<ptrdiff_t>(t.part_begin));
    }
    for (uint64_t step : t.segment_steps) {
      table.min_step = std::min(table.min_step, step);
      table.max_step = std::max(table.max_step, step);
    }
    covered_[t.spec.name] += t.part_size();
  }
  if (!first_ && names.size() != tables_.size()) {
    for (const auto& [name, unused] : tables_) {
      if (names.count(name) == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("table '", name, "' is missing from shard ", h.shard_index,
                         "'s checkpoint (files of different moments? export a consistent cut with "
                         "--checkpoint_id)"));
      }
    }
  }
  first_ = false;
  added_[h.shard_index] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AssembledTable>> TableAssembler::Finish() && {
  for (uint32_t shard = 0; shard < num_shards_; ++shard) {
    if (!added_[shard]) {
      return absl::FailedPreconditionError(
          absl::StrCat("shard ", shard, "'s checkpoint is missing"));
    }
  }
  std::vector<AssembledTable> out;
  for (auto& [name, table] : tables_) {
    if (covered_[name] != table.spec.num_elements) {
      return absl::FailedPreconditionError(absl::StrCat("table '", name, "': the parts cover ",
                                                        covered_[name], " of ",
                                                        table.spec.num_elements, " elements"));
    }
    if (table.min_step == UINT64_MAX) table.min_step = 0;  // no segment anywhere
    out.push_back(std::move(table));
  }
  return out;
}

}  // namespace adamasync::ctl
