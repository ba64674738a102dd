#include "common/checkpoint_validation.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/sharding.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"

namespace adamasync {
namespace checkpoint_internal {
namespace {

// Largest absl::StatusCode (UNAUTHENTICATED).
constexpr int32_t kMaxStatusCode = 16;

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

absl::Status ValidateDedupe(const TableRecord& table, absl::string_view where) {
  std::vector<std::pair<uint64_t, uint64_t>> keys;
  keys.reserve(table.dedupe.size());
  for (size_t i = 0; i < table.dedupe.size(); ++i) {
    const DedupeRecord& r = table.dedupe[i];
    const std::string at = absl::StrCat(where, ", dedupe record #", i);
    if (r.worker_id == 0) return Invalid(at, "worker_id must be > 0");
    if (r.seq == 0) return Invalid(at, "seq must be > 0");
    if (r.offset < table.part_begin || r.offset >= table.part_end ||
        (r.offset - table.part_begin) % kSegmentElements != 0) {
      return Invalid(at, absl::StrCat("offset ", r.offset, " is not a segment start of the part [",
                                      table.part_begin, ", ", table.part_end, ")"));
    }
    if (r.status_code < 0 || r.status_code > kMaxStatusCode) {
      return Invalid(at, absl::StrCat("status_code must be in [0, ", kMaxStatusCode, "], got ",
                                      r.status_code));
    }
    if (r.status_code == 0 && (!r.status_message.empty() || !r.status_payloads.empty())) {
      return Invalid(at, "an OK status has no message and no payloads");
    }
    if (r.status_message.size() > kMaxStatusMessageBytes) {
      return Invalid(at, absl::StrCat("status_message is ", r.status_message.size(),
                                      " bytes, the limit is ", kMaxStatusMessageBytes));
    }
    if (r.status_payloads.size() > kMaxStatusPayloads) {
      return Invalid(at, absl::StrCat(r.status_payloads.size(), " status payloads, the limit is ",
                                      kMaxStatusPayloads));
    }
    for (size_t k = 0; k < r.status_payloads.size(); ++k) {
      const StatusPayload& payload = r.status_payloads[k];
      if (payload.type_url.empty() || payload.type_url.size() > kMaxStatusPayloadTypeUrlBytes ||
          payload.value.size() > kMaxStatusPayloadBytes) {
        return Invalid(at, absl::StrCat("status payload #", k, " must have a type_url of 1..",
                                        kMaxStatusPayloadTypeUrlBytes, " bytes and a value of <= ",
                                        kMaxStatusPayloadBytes, " bytes"));
      }
      if (k > 0 && !(r.status_payloads[k - 1].type_url < payload.type_url)) {
        return Invalid(at, "status payloads must be sorted by type_url, without repeats");
      }
    }
    if (!std::isfinite(r.lr_scale) || !(r.lr_scale > 0)) {
      return Invalid(at, absl::StrCat("lr_scale must be finite and > 0, got ", r.lr_scale));
    }
    keys.emplace_back(r.worker_id, r.offset);
  }
  std::sort(keys.begin(), keys.end());
  const auto repeat = std::adjacent_find(keys.begin(), keys.end());
  if (repeat != keys.end()) {
    return Invalid(where, absl::StrCat("two dedupe records for worker ", repeat->first,
                                       " at offset ", repeat->second));
  }
  return absl::OkStatus();
}

absl::Status ValidateSyncPending(const TableRecord& table, absl::string_view where,
                                 ArrayCheck arrays) {
  if (table.sync_pending.empty()) return absl::OkStatus();
  const int64_t sync_workers = table.spec.consistency.sync_workers;
  if (sync_workers <= 0) {
    return Invalid(where, "sync_pending contributions for a table that is not synchronous");
  }
  const uint64_t segments = SegmentCount(table.part_size());
  std::vector<std::pair<uint64_t, uint64_t>> keys;  // (segment, worker)
  keys.reserve(table.sync_pending.size());
  for (size_t i = 0; i < table.sync_pending.size(); ++i) {
    const SyncContribution& c = table.sync_pending[i];
    const std::string at = absl::StrCat(where, ", sync contribution #", i);
    if (c.worker_id == 0) return Invalid(at, "worker_id must be > 0");
    if (c.segment >= segments) {
      return Invalid(at, absl::StrCat("segment ", c.segment, " is not one of the part's ", segments,
                                      " segments"));
    }
    if (arrays == ArrayCheck::kSizes &&
        c.gradient.size() != SegmentSize(table.part_size(), c.segment)) {
      return Invalid(
          at, absl::StrCat("gradient has ", c.gradient.size(), " elements, segment ", c.segment,
                           " has ", SegmentSize(table.part_size(), c.segment)));
    }
    keys.emplace_back(c.segment, c.worker_id);
  }
  std::sort(keys.begin(), keys.end());
  const auto repeat = std::adjacent_find(keys.begin(), keys.end());
  if (repeat != keys.end()) {
    return Invalid(where, absl::StrCat("two sync contributions of worker ", repeat->second,
                                       " for segment ", repeat->first));
  }
  // A round with sync_workers contributions is complete and would have
  // been applied: an open round holds fewer.
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j < keys.size() && keys[j].first == keys[i].first) ++j;
    if (static_cast<int64_t>(j - i) >= sync_workers) {
      return Invalid(where, absl::StrCat(j - i, " sync contributions for segment ", keys[i].first,
                                         ", but a round of ", sync_workers, " workers closes at ",
                                         sync_workers));
    }
    i = j;
  }
  return absl::OkStatus();
}

absl::Status ValidateTable(const TableRecord& table, const CheckpointHeader& header,
                           absl::string_view where, ArrayCheck arrays) {
  if (absl::Status s = ValidateTableSpec(table.spec); !s.ok()) return Invalid(where, s.message());
  const ElementRange expected =
      ShardRange(table.spec.name, table.spec.num_elements, header.shard_index, header.num_shards);
  if (table.part_begin != expected.begin || table.part_end != expected.end) {
    return Invalid(
        where,
        absl::StrCat("part [", table.part_begin, ", ", table.part_end, ") is not shard ",
                     header.shard_index, " of ", header.num_shards, "'s part [", expected.begin,
                     ", ", expected.end, ") of a table of ", table.spec.num_elements, " elements"));
  }
  const uint64_t size = table.part_size();
  if (table.segment_steps.size() != SegmentCount(size)) {
    return Invalid(where, absl::StrCat(table.segment_steps.size(), " segment steps, a part of ",
                                       size, " elements has ", SegmentCount(size), " segments"));
  }
  if (arrays == ArrayCheck::kSizes) {
    const std::pair<const char*, const std::vector<float>*> state[] = {
        {"p", &table.p}, {"m", &table.m}, {"v", &table.v}};
    for (const auto& [name, values] : state) {
      if (values->size() != size) {
        return Invalid(
            where, absl::StrCat(name, " has ", values->size(), " elements, the part has ", size));
      }
    }
    const uint64_t vmax_size = table.spec.adam.amsgrad ? size : 0;
    if (table.vmax.size() != vmax_size) {
      return Invalid(where,
                     absl::StrCat("vmax has ", table.vmax.size(), " elements, expected ", vmax_size,
                                  table.spec.adam.amsgrad ? " (the part's size: amsgrad)"
                                                          : " (amsgrad is off)"));
    }
  }
  RETURN_IF_ERROR(ValidateDedupe(table, where));
  return ValidateSyncPending(table, where, arrays);
}

}  // namespace

uint64_t SegmentCount(uint64_t part_size) {
  return (part_size + kSegmentElements - 1) / kSegmentElements;
}

uint64_t SegmentSize(uint64_t part_size, uint64_t segment) {
  return std::min(kSegmentElements, part_size - segment * kSegmentElements);
}

absl::Status ValidateCheckpoint(const ShardCheckpoint& checkpoint, ArrayCheck arrays) {
  const CheckpointHeader& h = checkpoint.header;
  if (h.format_version != kCheckpointFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("format_version is ", h.format_version,
                                                   ", this build handles only ",
                                                   kCheckpointFormatVersion));
  }
  if (h.num_shards == 0 || h.num_shards > kMaxCheckpointShards || h.shard_index >= h.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard ", h.shard_index, " of ", h.num_shards,
        ": need 1 <= num_shards <= ", kMaxCheckpointShards, " and shard_index < num_shards"));
  }
  std::vector<uint64_t> worker_ids;
  worker_ids.reserve(checkpoint.workers.size());
  for (const WorkerRecord& w : checkpoint.workers) {
    if (w.worker_id == 0) return absl::InvalidArgumentError("a worker record has worker_id 0");
    worker_ids.push_back(w.worker_id);
  }
  std::sort(worker_ids.begin(), worker_ids.end());
  const auto repeat = std::adjacent_find(worker_ids.begin(), worker_ids.end());
  if (repeat != worker_ids.end()) {
    return absl::InvalidArgumentError(absl::StrCat("two worker records for worker ", *repeat));
  }
  std::set<std::string_view> names;
  for (size_t i = 0; i < checkpoint.tables.size(); ++i) {
    const TableRecord& table = checkpoint.tables[i];
    const std::string where =
        absl::StrCat("table #", i, " '", absl::CHexEscape(table.spec.name), "'");
    RETURN_IF_ERROR(ValidateTable(table, h, where, arrays));
    if (!names.insert(table.spec.name).second) return Invalid(where, "the name is used twice");
  }
  return absl::OkStatus();
}

}  // namespace checkpoint_internal
}  // namespace adamasync
