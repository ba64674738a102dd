#include "server/shard_store.h"

#include <algorithm>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"

namespace adamasync {
namespace {

// Bytes of state a part of `elements` elements needs: p, m, v (and vmax),
// and for a synchronous table up to one pending gradient per worker of a
// round (SyncRound keeps a buffer for each).
uint64_t StateBytesFor(const TableSpec& spec, uint64_t elements) {
  const uint64_t floats_per_element =
      (spec.adam.amsgrad ? 4 : 3) + static_cast<uint64_t>(spec.consistency.sync_workers);
  return elements * sizeof(float) * floats_per_element;
}

}  // namespace

ShardStore::ShardStore(const ShardOptions& options)
    : options_(options),
      backend_(options.backend != nullptr ? options.backend : HostStateBackend()),
      workers_(options.clock, options.max_workers) {}

absl::StatusOr<PushResult> ShardStore::Push(absl::string_view table, const PushArgs& args) {
  ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part, Find(table));
  if (args.worker_id != 0) RETURN_IF_ERROR(workers_.Touch(args.worker_id));
  {
    absl::MutexLock lock(&gate_mu_);
    gate_mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &held_));
    ++active_pushes_;
  }
  absl::StatusOr<PushResult> result = part->Push(args);
  {
    absl::MutexLock lock(&gate_mu_);
    --active_pushes_;
  }
  if (result.ok() && !result->duplicate) applied_pushes_.fetch_add(1, std::memory_order_relaxed);
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
  RETURN_IF_ERROR(workers_.Touch(worker_id));
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
  if (options_.max_tables != 0 && tables_.size() >= options_.max_tables) {
    return absl::ResourceExhaustedError(
        absl::StrCat("table '", spec.name, "' would be table ", tables_.size() + 1,
                     " on this shard; the limit is ", options_.max_tables, " (--max_tables)"));
  }
  if (options_.max_state_bytes != 0 && bytes > options_.max_state_bytes - state_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "table '", spec.name, "' needs ", bytes, " bytes of state on this shard, but only ",
        options_.max_state_bytes - state_bytes_, " of the ", options_.max_state_bytes,
        "-byte quota are left"));
  }
  absl::StatusOr<std::unique_ptr<PartState>> state = backend_->Allocate(spec, range);
  if (!state.ok()) {
    return absl::Status(
        state.status().code(),
        absl::StrCat("could not allocate ", bytes, " bytes for table '", spec.name, "' on ",
                     backend_->Describe(), ": ", state.status().message()));
  }
  std::shared_ptr<TablePart> part;
  try {
    part = std::make_shared<TablePart>(spec, range, *std::move(state));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("could not allocate the segments of table '", spec.name, "'"));
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

void ShardStore::HoldPushes() {
  absl::MutexLock lock(&gate_mu_);
  held_ = true;
  gate_mu_.Await(absl::Condition(
      +[](int* active) { return *active == 0; }, &active_pushes_));
}

void ShardStore::ReleasePushes() {
  absl::MutexLock lock(&gate_mu_);
  held_ = false;
}

absl::StatusOr<ShardCheckpoint> ShardStore::Snapshot(uint64_t checkpoint_id) {
  bool was_held;
  {
    absl::MutexLock lock(&gate_mu_);
    was_held = held_;
  }
  if (!was_held) HoldPushes();
  std::vector<std::shared_ptr<TablePart>> parts;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, part] : tables_) parts.push_back(part);
  }
  ShardCheckpoint checkpoint;
  checkpoint.header.shard_index = options_.shard_index;
  checkpoint.header.num_shards = options_.num_shards;
  checkpoint.header.checkpoint_id = checkpoint_id;
  checkpoint.header.created_unix_ms = absl::ToUnixMillis(absl::Now());
  for (const WorkerState& w : workers_.Export()) {
    checkpoint.workers.push_back({w.worker_id, w.clock, w.last_seq,
                                  static_cast<uint64_t>(absl::ToInt64Milliseconds(w.lease))});
  }
  for (const auto& part : parts) {
    absl::StatusOr<TablePartSnapshot> taken = part->Snapshot();
    if (!taken.ok()) {
      if (!was_held) ReleasePushes();
      return taken.status();
    }
    TablePartSnapshot& snap = *taken;
    TableRecord record;
    record.spec = part->spec();
    record.part_begin = part->range().begin;
    record.part_end = part->range().end;
    record.segment_steps = std::move(snap.segment_steps);
    record.p = std::move(snap.p);
    record.m = std::move(snap.m);
    record.v = std::move(snap.v);
    record.vmax = std::move(snap.vmax);
    for (const DedupeEntry& e : snap.dedupe) {
      DedupeRecord d;
      d.worker_id = e.worker_id;
      d.offset = e.offset;
      d.seq = e.seq;
      d.version = e.outcome.version;
      d.staleness = e.outcome.staleness;
      d.lr_scale = e.outcome.lr_scale;
      SetDedupeRecordStatus(e.outcome.status, &d);
      record.dedupe.push_back(std::move(d));
    }
    for (auto& pending : snap.sync_pending) {
      record.sync_pending.push_back(
          {pending.worker_id, pending.segment, std::move(pending.gradient)});
    }
    const TableStats stats = part->Stats();
    record.pushes = stats.pushes;
    record.pulls = stats.pulls;
    checkpoint.tables.push_back(std::move(record));
  }
  if (!was_held) ReleasePushes();
  std::sort(checkpoint.tables.begin(), checkpoint.tables.end(),
            [](const TableRecord& a, const TableRecord& b) { return a.spec.name < b.spec.name; });
  return checkpoint;
}

absl::Status ShardStore::Restore(const ShardCheckpoint& checkpoint) {
  RETURN_IF_ERROR(
      CheckCheckpointShard(checkpoint.header, options_.shard_index, options_.num_shards));
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!tables_.empty()) {
      return absl::FailedPreconditionError("a checkpoint can only be restored into an empty shard");
    }
  }
  for (const TableRecord& record : checkpoint.tables) {
    ASSIGN_OR_RETURN(CreateResult created, CreateTable(record.spec));
    if (!(created.range == ElementRange{record.part_begin, record.part_end})) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint part of table '", record.spec.name,
                                                     "' does not match the sharding rule"));
    }
    TablePartSnapshot snap;
    snap.p = record.p;
    snap.m = record.m;
    snap.v = record.v;
    snap.vmax = record.vmax;
    snap.segment_steps = record.segment_steps;
    for (const DedupeRecord& d : record.dedupe) {
      PushOutcome outcome;
      outcome.status = DedupeRecordStatus(d);
      outcome.version = d.version;
      outcome.staleness = d.staleness;
      outcome.lr_scale = d.lr_scale;
      snap.dedupe.push_back({d.worker_id, d.offset, d.seq, std::move(outcome)});
    }
    for (const SyncContribution& c : record.sync_pending) {
      snap.sync_pending.push_back({c.segment, c.worker_id, c.gradient});
    }
    ASSIGN_OR_RETURN(std::shared_ptr<TablePart> part, Find(record.spec.name));
    RETURN_IF_ERROR(part->Restore(snap));
  }
  std::vector<WorkerState> workers;
  for (const WorkerRecord& w : checkpoint.workers) {
    WorkerState state;
    state.worker_id = w.worker_id;
    state.clock = w.clock;
    state.last_seq = w.last_seq;
    state.lease = absl::Milliseconds(static_cast<int64_t>(w.lease_ms));
    workers.push_back(state);
  }
  workers_.Import(workers);
  return absl::OkStatus();
}

}  // namespace adamasync
