// Decoding the HEADER section's payload (DecodeHeaderPayload, declared in
// common/checkpoint_format_internal.h): a field reader whose first error
// sticks, the minimum encoded record sizes that bound every count before
// anything is allocated, and each table's metadata with its enum codes.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/casts.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_format.h"
#include "common/checkpoint_format_internal.h"
#include "common/checkpoint_validation.h"
#include "common/table_spec_validation.h"

namespace adamasync {
namespace checkpoint_internal {
namespace {

// Reads little-endian fields from the HEADER payload. The first error
// sticks: later reads return zeros, and Count() returns 0, so a parse loop
// always ends; the caller checks ok() after each record.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  void set_context(std::string context) { context_ = std::move(context); }

  void Fail(absl::string_view what) {
    if (ok())
      error_ = absl::StrCat(context_, context_.empty() ? "" : ": ", what, " (payload offset ", pos_,
                            ")");
  }

  uint8_t U8(const char* field) { return Need(1, field) ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  uint32_t U32(const char* field) {
    if (!Need(4, field)) return 0;
    pos_ += 4;
    return GetU32(data_.data() + pos_ - 4);
  }
  uint64_t U64(const char* field) {
    if (!Need(8, field)) return 0;
    pos_ += 8;
    return GetU64(data_.data() + pos_ - 8);
  }
  int32_t I32(const char* field) { return static_cast<int32_t>(U32(field)); }
  int64_t I64(const char* field) { return static_cast<int64_t>(U64(field)); }
  double F64(const char* field) { return absl::bit_cast<double>(U64(field)); }
  bool Bool(const char* field) {
    const uint8_t v = U8(field);
    if (v > 1) Fail(absl::StrCat(field, " must be 0 or 1, found ", v));
    return v == 1;
  }
  // A u32 length (at most `limit`), then that many bytes.
  std::string Str(const char* field, uint64_t limit) {
    const uint32_t n = U32(field);
    if (n > limit) {
      Fail(absl::StrCat(field, " claims ", n, " bytes, the limit is ", limit));
      return {};
    }
    if (!Need(n, field)) return {};
    pos_ += n;
    return std::string(data_.substr(pos_ - n, n));
  }
  // A u64 count of records of at least `min_bytes` each, checked against
  // the bytes left before the caller allocates anything for them.
  uint64_t Count(const char* field, uint64_t min_bytes) {
    const uint64_t n = U64(field);
    if (ok() && n > remaining() / min_bytes) {
      Fail(absl::StrCat(field, " is ", n, ", but ", remaining(),
                        " bytes cannot hold that many records of >= ", min_bytes, " bytes"));
    }
    return ok() ? n : 0;
  }

 private:
  bool Need(uint64_t n, const char* field) {
    if (!ok()) return false;
    if (n > remaining()) {
      Fail(absl::StrCat("truncated: ", field, " needs ", n, " bytes, ", remaining(), " left"));
      return false;
    }
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
  std::string context_;
  std::string error_;
};

// Minimum encoded sizes, to bound counts before allocating.
constexpr uint64_t kWorkerRecordBytes = uint64_t{4} * 8;
constexpr uint64_t kMinTableRecordBytes =
    uint64_t{4 + 1} + 8 + (4 + 5 * 8 + 2) + (4 + 2 * 8 + 8) + (4 + 3 * 8) + 2 * 8 + 2 * 8 + 3 * 8;
constexpr uint64_t kMinDedupeRecordBytes = uint64_t{6} * 8 + 4 + 4 + 4;
constexpr uint64_t kSyncRecordBytes = uint64_t{3} * 8;

void DecodeTable(Decoder& d, size_t index, TableRecord* t) {
  d.set_context(absl::StrCat("table #", index));
  TableSpec& s = t->spec;
  s.name = d.Str("name", kMaxTableNameLength);
  d.set_context(absl::StrCat("table #", index, " '", absl::CHexEscape(s.name), "'"));
  s.num_elements = d.U64("num_elements");
  const uint32_t algorithm = d.U32("algorithm");
  if (algorithm > 1) d.Fail(absl::StrCat("unknown algorithm code ", algorithm));
  s.adam.algorithm = algorithm == 1 ? Algorithm::kAdamW : Algorithm::kAdam;
  s.adam.lr = d.F64("lr");
  s.adam.beta1 = d.F64("beta1");
  s.adam.beta2 = d.F64("beta2");
  s.adam.eps = d.F64("eps");
  s.adam.weight_decay = d.F64("weight_decay");
  s.adam.amsgrad = d.Bool("amsgrad");
  s.adam.maximize = d.Bool("maximize");
  const uint32_t kind = d.U32("init kind");
  static constexpr Initializer::Kind kKinds[] = {
      Initializer::Kind::kZeros, Initializer::Kind::kConstant, Initializer::Kind::kUniform,
      Initializer::Kind::kNormal};
  if (kind > 3) d.Fail(absl::StrCat("unknown init kind code ", kind));
  s.init.kind = kKinds[kind > 3 ? 0 : kind];
  s.init.a = d.F64("init a");
  s.init.b = d.F64("init b");
  s.init.seed = d.U64("init seed");
  const uint32_t policy = d.U32("staleness_policy");
  static constexpr StalenessPolicy kPolicies[] = {StalenessPolicy::kApply, StalenessPolicy::kReject,
                                                  StalenessPolicy::kScale};
  if (policy > 2) d.Fail(absl::StrCat("unknown staleness_policy code ", policy));
  s.consistency.staleness_policy = kPolicies[policy > 2 ? 0 : policy];
  s.consistency.max_staleness = d.I64("max_staleness");
  s.consistency.ssp_bound = d.I64("ssp_bound");
  s.consistency.sync_workers = d.I64("sync_workers");
  t->part_begin = d.U64("part_begin");
  t->part_end = d.U64("part_end");
  t->pushes = d.U64("pushes");
  t->pulls = d.U64("pulls");
  const uint64_t segments = d.Count("segment count", 8);
  t->segment_steps.resize(segments);
  for (uint64_t& step : t->segment_steps) step = d.U64("segment step");
  const uint64_t dedupe = d.Count("dedupe count", kMinDedupeRecordBytes);
  for (uint64_t i = 0; i < dedupe && d.ok(); ++i) {
    DedupeRecord& r = t->dedupe.emplace_back();
    r.worker_id = d.U64("dedupe worker_id");
    r.offset = d.U64("dedupe offset");
    r.seq = d.U64("dedupe seq");
    r.version = d.U64("dedupe version");
    r.staleness = d.U64("dedupe staleness");
    r.lr_scale = d.F64("dedupe lr_scale");
    r.status_code = d.I32("dedupe status_code");
    r.status_message = d.Str("dedupe status_message", kMaxStatusMessageBytes);
    const uint32_t payloads = d.U32("dedupe payload count");
    if (payloads > kMaxStatusPayloads) {
      d.Fail(absl::StrCat("dedupe payload count is ", payloads, ", the limit is ",
                          kMaxStatusPayloads));
    }
    for (uint32_t k = 0; k < payloads && d.ok(); ++k) {
      StatusPayload& p = r.status_payloads.emplace_back();
      p.type_url = d.Str("payload type_url", kMaxStatusPayloadTypeUrlBytes);
      p.value = d.Str("payload value", kMaxStatusPayloadBytes);
    }
  }
  const uint64_t sync = d.Count("sync_pending count", kSyncRecordBytes);
  for (uint64_t i = 0; i < sync && d.ok(); ++i) {
    SyncContribution& c = t->sync_pending.emplace_back();
    c.worker_id = d.U64("sync worker_id");
    c.segment = d.U64("sync segment");
    const uint64_t elements = d.U64("sync elements");
    // The gradient is allocated when its section is read; here its length
    // only has to be the segment's, which bounds it by 64 Ki elements.
    if (d.ok() && (t->part_end < t->part_begin || c.segment >= SegmentCount(t->part_size()) ||
                   elements != SegmentSize(t->part_size(), c.segment))) {
      d.Fail(absl::StrCat("sync contribution #", i, " of ", elements,
                          " elements does not match a segment of the part"));
    }
  }
}

}  // namespace

absl::Status DecodeHeaderPayload(std::string_view payload, ShardCheckpoint* c) {
  Decoder d(payload);
  c->header.format_version = kCheckpointFormatVersion;
  c->header.shard_index = d.U32("shard_index");
  c->header.num_shards = d.U32("num_shards");
  c->header.checkpoint_id = d.U64("checkpoint_id");
  c->header.created_unix_ms = d.I64("created_unix_ms");
  const uint64_t workers = d.Count("worker count", kWorkerRecordBytes);
  c->workers.resize(workers);
  for (WorkerRecord& w : c->workers) {
    w.worker_id = d.U64("worker_id");
    w.clock = d.U64("clock");
    w.last_seq = d.U64("last_seq");
    w.lease_ms = d.U64("lease_ms");
  }
  const uint64_t tables = d.Count("table count", kMinTableRecordBytes);
  for (uint64_t i = 0; i < tables && d.ok(); ++i) DecodeTable(d, i, &c->tables.emplace_back());
  d.set_context("");
  if (d.ok() && d.remaining() != 0) {
    d.Fail(absl::StrCat(d.remaining(), " unexpected bytes after the last table"));
  }
  if (!d.ok()) return absl::DataLossError(d.error());
  return absl::OkStatus();
}

}  // namespace checkpoint_internal
}  // namespace adamasync
