// The functions of the checkpoint data model (common/checkpoint_format.h)
// that neither encode nor decode: section names, the status a DedupeRecord
// stores, validation and the shard check. Encoding is in
// checkpoint_encoder.cc; decoding in checkpoint_decoder.cc and
// checkpoint_header_decoder.cc; the byte layout both share in
// checkpoint_format_internal.h.
#include "common/checkpoint_format.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_validation.h"

namespace adamasync {
namespace {

using checkpoint_internal::ArrayCheck;
using checkpoint_internal::ValidateCheckpoint;

}  // namespace

std::string CheckpointSectionName(uint32_t type) {
  switch (static_cast<CheckpointSection>(type)) {
    case CheckpointSection::kHeader:
      return "HEADER";
    case CheckpointSection::kParams:
      return "PARAMS";
    case CheckpointSection::kExpAvg:
      return "EXP_AVG";
    case CheckpointSection::kExpAvgSq:
      return "EXP_AVG_SQ";
    case CheckpointSection::kMaxExpAvgSq:
      return "MAX_EXP_AVG_SQ";
    case CheckpointSection::kSyncPending:
      return "SYNC_PENDING";
    case CheckpointSection::kEnd:
      return "END";
  }
  return absl::StrCat("UNKNOWN(", type, ")");
}

absl::Status DedupeRecordStatus(const DedupeRecord& record) {
  absl::Status status(static_cast<absl::StatusCode>(record.status_code), record.status_message);
  for (const StatusPayload& p : record.status_payloads) {
    status.SetPayload(p.type_url, absl::Cord(p.value));
  }
  return status;
}

void SetDedupeRecordStatus(const absl::Status& status, DedupeRecord* record) {
  record->status_code = static_cast<int32_t>(status.code());
  record->status_message = std::string(status.message().substr(0, kMaxStatusMessageBytes));
  record->status_payloads.clear();
  status.ForEachPayload([record](absl::string_view type_url, const absl::Cord& value) {
    record->status_payloads.push_back({std::string(type_url), std::string(value)});
  });
  std::sort(record->status_payloads.begin(), record->status_payloads.end(),
            [](const StatusPayload& a, const StatusPayload& b) { return a.type_url < b.type_url; });
}

absl::Status ValidateShardCheckpoint(const ShardCheckpoint& checkpoint) {
  return ValidateCheckpoint(checkpoint, ArrayCheck::kSizes);
}

absl::Status CheckCheckpointShard(const CheckpointHeader& header, uint32_t shard_index,
                                  uint32_t num_shards) {
  if (header.shard_index == shard_index && header.num_shards == num_shards) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the checkpoint was written by shard ", header.shard_index, " of ", header.num_shards,
      ", but this server is shard ", shard_index, " of ", num_shards,
      (header.num_shards != num_shards
           ? ": a checkpoint restores only into a cluster with the same shard count (parts "
             "would not match)"
           : ": each shard restores only its own checkpoint")));
}

}  // namespace adamasync
