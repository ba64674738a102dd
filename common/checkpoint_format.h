// The shard checkpoint: a plain data model of everything one shard must
// persist, and its versioned, checksummed, little-endian file encoding
// (specified byte by byte in docs/checkpoint.md).
//
// A file is a 16-byte preamble (magic "ADAMCKPT", format version) followed by
// sections, each framed as (type u32, length u64, payload, XXH64 u64 over
// type, length and payload). The HEADER section holds all scalar metadata;
// then every table has its PARAMS, EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ
// (amsgrad only) and SYNC_PENDING (only when contributions are pending)
// sections; an END section closes the file.
//
// Writing and reading stream: float arrays pass through a reused buffer of
// at most kCheckpointIoBufferBytes, so a part of many GB is never held twice.
// The reader trusts nothing: every length is checked against the bytes that
// are really left before anything is allocated, every field is validated
// (ValidateShardCheckpoint) and every checksum is verified, so a corrupt or
// crafted file gives an error, never a crash, a huge allocation or a
// checkpoint that differs from what was written.
//
// Example:
//   ShardCheckpoint ckpt = ...;  // filled from the shard's state
//   std::string bytes;
//   StringCheckpointSink sink(&bytes);
//   RETURN_IF_ERROR(WriteCheckpoint(ckpt, &sink));
//   ASSIGN_OR_RETURN(ShardCheckpoint back, ReadCheckpointBytes(bytes, "memory"));
//   RETURN_IF_ERROR(CheckCheckpointShard(back.header, my_index, my_count));
//
// This file makes no system calls: files are read and written through
// common/checkpoint_files.h. Thread safety: the functions keep no shared
// state; a sink or source is used by one thread at a time.
#ifndef ADAMASYNC_COMMON_CHECKPOINT_FORMAT_H_
#define ADAMASYNC_COMMON_CHECKPOINT_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adamasync/table_spec.h"

namespace adamasync {

// The encoding this build writes, and the only one it reads.
inline constexpr uint32_t kCheckpointFormatVersion = 1;
// The first 8 bytes of every checkpoint file.
inline constexpr std::string_view kCheckpointMagic = "ADAMCKPT";
// Float arrays are written and read in pieces of at most this many bytes.
inline constexpr uint64_t kCheckpointIoBufferBytes = uint64_t{4} << 20;
// Bounds on what a checkpoint may hold (the reader rejects more).
inline constexpr uint32_t kMaxCheckpointShards = 65536;
inline constexpr uint64_t kMaxStatusMessageBytes = uint64_t{64} << 10;
inline constexpr uint64_t kMaxStatusPayloads = 16;
inline constexpr uint64_t kMaxStatusPayloadTypeUrlBytes = 1024;
inline constexpr uint64_t kMaxStatusPayloadBytes = uint64_t{64} << 10;

// Section types (the u32 that opens each section; docs/checkpoint.md).
enum class CheckpointSection : uint32_t {
  kHeader = 1,
  kParams = 2,       // p
  kExpAvg = 3,       // m
  kExpAvgSq = 4,     // v
  kMaxExpAvgSq = 5,  // vmax (amsgrad tables only)
  kSyncPending = 6,  // gradients of open synchronous rounds
  kEnd = 7,
};
// "HEADER", "PARAMS", ... or "UNKNOWN(<n>)".
std::string CheckpointSectionName(uint32_t type);

struct CheckpointHeader {
  // Filled by the reader; WriteCheckpoint requires kCheckpointFormatVersion.
  uint32_t format_version = kCheckpointFormatVersion;
  uint32_t shard_index = 0;  // REQUIRES: < num_shards
  uint32_t num_shards = 1;   // REQUIRES: 1 .. kMaxCheckpointShards
  // 0: a periodic checkpoint of this shard alone; otherwise the id of the
  // consistent cut (across all shards) it belongs to.
  uint64_t checkpoint_id = 0;
  int64_t created_unix_ms = 0;  // wall-clock time of the snapshot

  bool operator==(const CheckpointHeader& o) const {
    return format_version == o.format_version && shard_index == o.shard_index &&
           num_shards == o.num_shards && checkpoint_id == o.checkpoint_id &&
           created_unix_ms == o.created_unix_ms;
  }
};

// A worker the shard's registry knows.
struct WorkerRecord {
  uint64_t worker_id = 0;  // REQUIRES: > 0, unique within a checkpoint
  uint64_t clock = 0;      // SSP clock
  uint64_t last_seq = 0;   // highest push seq applied on this shard
  uint64_t lease_ms = 0;   // lease length (a restored worker starts a fresh one)

  bool operator==(const WorkerRecord& o) const {
    return worker_id == o.worker_id && clock == o.clock && last_seq == o.last_seq &&
           lease_ms == o.lease_ms;
  }
};

// One absl::Status payload (e.g. the StaleGradient details of an ABORTED).
struct StatusPayload {
  std::string type_url;  // REQUIRES: <= kMaxStatusPayloadTypeUrlBytes
  std::string value;     // REQUIRES: <= kMaxStatusPayloadBytes

  bool operator==(const StatusPayload& o) const {
    return type_url == o.type_url && value == o.value;
  }
};

// The remembered answer of a push chunk, which its retries get again.
// Unique per (worker_id, offset) within a table.
struct DedupeRecord {
  uint64_t worker_id = 0;  // REQUIRES: > 0
  uint64_t offset = 0;     // global index of the chunk; REQUIRES: a segment start in the part
  uint64_t seq = 0;        // REQUIRES: > 0
  uint64_t version = 0;
  int32_t status_code = 0;     // an absl::StatusCode, REQUIRES: 0 .. 16
  std::string status_message;  // REQUIRES: <= kMaxStatusMessageBytes
  std::vector<StatusPayload>
      status_payloads;  // REQUIRES: <= kMaxStatusPayloads, sorted by type_url
  uint64_t staleness = 0;
  double lr_scale = 1.0;  // REQUIRES: finite and > 0

  bool operator==(const DedupeRecord& o) const {
    return worker_id == o.worker_id && offset == o.offset && seq == o.seq && version == o.version &&
           status_code == o.status_code && status_message == o.status_message &&
           status_payloads == o.status_payloads && staleness == o.staleness &&
           lr_scale == o.lr_scale;
  }
};

// The status a DedupeRecord stores, and back (code, message and payloads).
absl::Status DedupeRecordStatus(const DedupeRecord& record);
void SetDedupeRecordStatus(const absl::Status& status, DedupeRecord* record);

// One worker's gradient for the open synchronous round of one segment.
// Unique per (segment, worker_id) within a table.
struct SyncContribution {
  uint64_t worker_id = 0;       // REQUIRES: > 0
  uint64_t segment = 0;         // index of the segment within the part
  std::vector<float> gradient;  // REQUIRES: size == that segment's size

  bool operator==(const SyncContribution& o) const {
    return worker_id == o.worker_id && segment == o.segment && gradient == o.gradient;
  }
};

// One table's part on this shard.
struct TableRecord {
  TableSpec spec;  // REQUIRES: ValidateTableSpec(spec).ok(); names unique
  // REQUIRES: == ShardRange(spec.name, spec.num_elements, shard_index, num_shards).
  uint64_t part_begin = 0;
  uint64_t part_end = 0;
  // One step count per segment: ceil((part_end - part_begin) / kSegmentElements).
  std::vector<uint64_t> segment_steps;
  // REQUIRES: p, m, v hold part_end - part_begin floats; vmax as many when
  // spec.adam.amsgrad, else none.
  std::vector<float> p, m, v, vmax;
  std::vector<DedupeRecord> dedupe;
  // REQUIRES: empty unless spec.consistency.sync_workers > 0, and fewer than
  // sync_workers contributions per segment.
  std::vector<SyncContribution> sync_pending;
  uint64_t pushes = 0;  // counters, informational
  uint64_t pulls = 0;

  uint64_t part_size() const { return part_end - part_begin; }

  bool operator==(const TableRecord& o) const {
    return spec == o.spec && part_begin == o.part_begin && part_end == o.part_end &&
           segment_steps == o.segment_steps && p == o.p && m == o.m && v == o.v && vmax == o.vmax &&
           dedupe == o.dedupe && sync_pending == o.sync_pending && pushes == o.pushes &&
           pulls == o.pulls;
  }
};

struct ShardCheckpoint {
  CheckpointHeader header;
  std::vector<WorkerRecord> workers;
  std::vector<TableRecord> tables;

  bool operator==(const ShardCheckpoint& o) const {
    return header == o.header && workers == o.workers && tables == o.tables;
  }
};

// OK, or INVALID_ARGUMENT naming the table, record and rule broken: every
// REQUIRES above. WriteCheckpoint checks it before writing a byte, and
// ReadCheckpoint* apply the same rules to what they read.
absl::Status ValidateShardCheckpoint(const ShardCheckpoint& checkpoint);

// OK when `header` was written by shard `shard_index` of `num_shards`;
// FAILED_PRECONDITION otherwise, saying both (a checkpoint cannot be
// restored into a cluster of another shape: parts would not match).
absl::Status CheckCheckpointShard(const CheckpointHeader& header, uint32_t shard_index,
                                  uint32_t num_shards);

// Where WriteCheckpoint puts its bytes, in order.
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // Appends `bytes`. A non-OK status stops the write; WriteCheckpoint
  // returns it unchanged.
  virtual absl::Status Append(std::string_view bytes) = 0;
};

// Appends to a string (tests, small checkpoints).
class StringCheckpointSink final : public CheckpointSink {
 public:
  explicit StringCheckpointSink(std::string* out) : out_(out) {}
  absl::Status Append(std::string_view bytes) override {
    out_->append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }

 private:
  std::string* out_;  // not owned
};

// Encodes `checkpoint` into `sink`. INVALID_ARGUMENT (nothing written) when
// ValidateShardCheckpoint fails; otherwise the first error of the sink.
// Memory: the HEADER section's bytes plus one buffer of at most
// kCheckpointIoBufferBytes.
absl::Status WriteCheckpoint(const ShardCheckpoint& checkpoint, CheckpointSink* sink);

// Where the reader takes its bytes from, in order.
class CheckpointSource {
 public:
  virtual ~CheckpointSource() = default;
  // Total size in bytes; every length in the file is checked against what
  // is left of it before anything is allocated.
  virtual uint64_t size() const = 0;
  // Copies the next `n` bytes into `dst`. An error (DATA_LOSS when the
  // bytes are not there) stops the read; ReadCheckpoint returns it.
  virtual absl::Status Read(char* dst, size_t n) = 0;
};

// Decodes and validates a checkpoint. `name` (e.g. the file name) opens
// every error message, which also names the section and byte offset.
// DATA_LOSS: not a checkpoint, truncated, trailing bytes, checksum
// mismatch, or a field that breaks a rule of ValidateShardCheckpoint;
// FAILED_PRECONDITION: another format version; the source's own errors.
// Memory: what the checkpoint holds (bounded by the source's size) plus one
// buffer of at most kCheckpointIoBufferBytes.
absl::StatusOr<ShardCheckpoint> ReadCheckpoint(CheckpointSource* source, std::string_view name);
// ReadCheckpoint from memory. (ReadCheckpointFile, in checkpoint_files.h,
// streams from a file.)
absl::StatusOr<ShardCheckpoint> ReadCheckpointBytes(std::string_view bytes, std::string_view name);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_CHECKPOINT_FORMAT_H_
