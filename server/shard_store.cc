#include "server/shard_store.h"

#include <algorithm>
#include <new>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"

namespace adamasync {
namespace {

// Bytes of state a part of `elements` elements needs.
uint64_t StateBytesFor(const TableSpec& spec, uint64_t elements) {
  return elements * sizeof(float) * (spec.adam.amsgrad ? 4 : 3);
}

}  // namespace

ShardStore::ShardStore(const ShardOptions& options) : options_(options), workers_(options.clock) {}

absl::StatusOr<PushResult> ShardStore::Push(absl::string_view table, const PushArgs& args) {
  ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part, Find(table));
  if (args.worker_id != 0) workers_.Touch(args.worker_id);
  absl::StatusOr<PushResult> result = part->Push(args);
  if (result.ok() && args.worker_id != 0 && args.seq != 0) {
    workers_.NoteSeq(args.worker_id, args.seq);
  }
  return result;
}

absl::StatusOr<std::shared_ptr<TablePart>> ShardStore::PrepareForPull(absl::string_view table,
                                                                      uint64_t worker_id,
                                                                      absl::Time deadline) {
  ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part, Find(table));
  if (worker_id == 0) return part;
  workers_.Touch(worker_id);
  const int64_t bound = part->spec().consistency.ssp_bound;
  if (bound >= 0) {
    RETURN_IF_ERROR(workers_.WaitForSsp(worker_id, table, static_cast<uint64_t>(bound), deadline));
  }
  return part;
}

absl::Status ShardStore::CheckView(uint32_t shard_index, uint32_t num_shards) const {
  if (shard_index == options_.shard_index && num_shards == options_.num_shards) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "request addressed to shard ", shard_index, " of ", num_shards, ", but this server is shard ",
      options_.shard_index, " of ", options_.num_shards, ": check the client's server list"));
}

absl::StatusOr<ShardStore::CreateResult> ShardStore::CreateTable(const TableSpec& spec) {
  RETURN_IF_ERROR(ValidateTableSpec(spec));
  const ElementRange range =
      ShardRange(spec.name, spec.num_elements, options_.shard_index, options_.num_shards);
  const uint64_t bytes = StateBytesFor(spec, range.size());
  // Allocation happens under the lock: table creation is rare, and this
  // keeps concurrent creators of the same table simple and exact.
  absl::MutexLock lock(&mu_);
  if (auto it = tables_.find(spec.name); it != tables_.end()) {
    if (it->second->spec() != spec) {
      return absl::AlreadyExistsError(absl::StrCat(
          "table '", spec.name, "' already exists with a different spec (",
          it->second->spec().num_elements, " elements); delete it or use another name"));
    }
    return CreateResult{false, range};
  }
  if (options_.max_state_bytes != 0 && bytes > options_.max_state_bytes - state_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "table '", spec.name, "' needs ", bytes, " bytes of state on this shard, but only ",
        options_.max_state_bytes - state_bytes_, " of the ", options_.max_state_bytes,
        "-byte quota are left"));
  }
  std::shared_ptr<TablePart> part;
  try {
    part = std::make_shared<TablePart>(spec, range);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("could not allocate ", bytes, " bytes for table '", spec.name, "'"));
  }
  state_bytes_ += bytes;
  tables_.emplace(spec.name, std::move(part));
  return CreateResult{true, range};
}

absl::StatusOr<std::shared_ptr<TablePart>> ShardStore::Find(absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = tables_.find(name);
  if (it == tables_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no table named '", name, "' on shard ", options_.shard_index));
  }
  return it->second;
}

std::vector<TableStats> ShardStore::Stats() const {
  std::vector<std::shared_ptr<TablePart>> parts;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, part] : tables_) parts.push_back(part);
  }
  std::vector<TableStats> stats;
  stats.reserve(parts.size());
  for (const auto& part : parts) stats.push_back(part->Stats());
  std::sort(stats.begin(), stats.end(),
            [](const TableStats& a, const TableStats& b) { return a.name < b.name; });
  return stats;
}

}  // namespace adamasync
