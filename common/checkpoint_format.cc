#include "common/checkpoint_format.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/base/casts.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/checkpoint_validation.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"

namespace adamasync {
namespace {

using checkpoint_internal::ArrayCheck;
using checkpoint_internal::SegmentCount;
using checkpoint_internal::SegmentSize;
using checkpoint_internal::ValidateCheckpoint;

constexpr size_t kPreambleBytes = 16;      // magic, version, reserved
constexpr size_t kSectionFrameBytes = 12;  // type, length
constexpr size_t kChecksumBytes = 8;
constexpr uint64_t kEndPayloadBytes = 16;  // sections before END, bytes before END

// Stable numbers of the enums in the file (independent of the C++ order).
uint32_t AlgorithmCode(Algorithm a) { return a == Algorithm::kAdamW ? 1 : 0; }
uint32_t InitCode(Initializer::Kind k) {
  switch (k) {
    case Initializer::Kind::kZeros:
      return 0;
    case Initializer::Kind::kConstant:
      return 1;
    case Initializer::Kind::kUniform:
      return 2;
    case Initializer::Kind::kNormal:
      return 3;
  }
  return 0;
}
uint32_t PolicyCode(StalenessPolicy p) {
  switch (p) {
    case StalenessPolicy::kApply:
      return 0;
    case StalenessPolicy::kReject:
      return 1;
    case StalenessPolicy::kScale:
      return 2;
  }
  return 0;
}

// ---------------------------------------------------------------- encoding

void PutU32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(uint64_t v, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

// Appends little-endian fields to a string (the HEADER section).
class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    char b[4];
    PutU32(v, b);
    out_->append(b, 4);
  }
  void U64(uint64_t v) {
    char b[8];
    PutU64(v, b);
    out_->append(b, 8);
  }
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void F64(double v) { U64(absl::bit_cast<uint64_t>(v)); }
  void Bool(bool v) { U8(v ? 1 : 0); }
  // u32 length, then the bytes.
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }

 private:
  std::string* out_;
};

std::string EncodeHeader(const ShardCheckpoint& c) {
  std::string out;
  Encoder e(&out);
  e.U32(c.header.shard_index);
  e.U32(c.header.num_shards);
  e.U64(c.header.checkpoint_id);
  e.I64(c.header.created_unix_ms);
  e.U64(c.workers.size());
  for (const WorkerRecord& w : c.workers) {
    e.U64(w.worker_id);
    e.U64(w.clock);
    e.U64(w.last_seq);
    e.U64(w.lease_ms);
  }
  e.U64(c.tables.size());
  for (const TableRecord& t : c.tables) {
    const TableSpec& s = t.spec;
    e.Str(s.name);
    e.U64(s.num_elements);
    e.U32(AlgorithmCode(s.adam.algorithm));
    e.F64(s.adam.lr);
    e.F64(s.adam.beta1);
    e.F64(s.adam.beta2);
    e.F64(s.adam.eps);
    e.F64(s.adam.weight_decay);
    e.Bool(s.adam.amsgrad);
    e.Bool(s.adam.maximize);
    e.U32(InitCode(s.init.kind));
    e.F64(s.init.a);
    e.F64(s.init.b);
    e.U64(s.init.seed);
    e.U32(PolicyCode(s.consistency.staleness_policy));
    e.I64(s.consistency.max_staleness);
    e.I64(s.consistency.ssp_bound);
    e.I64(s.consistency.sync_workers);
    e.U64(t.part_begin);
    e.U64(t.part_end);
    e.U64(t.pushes);
    e.U64(t.pulls);
    e.U64(t.segment_steps.size());
    for (uint64_t step : t.segment_steps) e.U64(step);
    e.U64(t.dedupe.size());
    for (const DedupeRecord& r : t.dedupe) {
      e.U64(r.worker_id);
      e.U64(r.offset);
      e.U64(r.seq);
      e.U64(r.version);
      e.U64(r.staleness);
      e.F64(r.lr_scale);
      e.I32(r.status_code);
      e.Str(r.status_message);
      e.U32(static_cast<uint32_t>(r.status_payloads.size()));
      for (const StatusPayload& p : r.status_payloads) {
        e.Str(p.type_url);
        e.Str(p.value);
      }
    }
    e.U64(t.sync_pending.size());
    for (const SyncContribution& sc : t.sync_pending) {
      e.U64(sc.worker_id);
      e.U64(sc.segment);
      e.U64(sc.gradient.size());
    }
  }
  return out;
}

// Frames sections and hands the bytes to the sink in pieces of about
// kCheckpointIoBufferBytes.
class SectionWriter {
 public:
  explicit SectionWriter(CheckpointSink* sink) : sink_(sink), state_(XXH64_createState()) {
    buffer_.reserve(kCheckpointIoBufferBytes);
  }
  ~SectionWriter() { XXH64_freeState(state_); }
  SectionWriter(const SectionWriter&) = delete;
  SectionWriter& operator=(const SectionWriter&) = delete;

  absl::Status Raw(std::string_view bytes) {
    buffer_.append(bytes.data(), bytes.size());
    return MaybeFlush();
  }

  absl::Status Bytes(CheckpointSection type, std::string_view payload) {
    Begin(type, payload.size());
    Hashed(payload.data(), payload.size());
    RETURN_IF_ERROR(MaybeFlush());
    return End();
  }

  // One section holding the concatenation of `arrays`, as little-endian fp32.
  absl::Status Floats(CheckpointSection type, absl::Span<const absl::Span<const float>> arrays) {
    uint64_t total = 0;
    for (absl::Span<const float> a : arrays) total += a.size();
    Begin(type, total * 4);
    for (absl::Span<const float> a : arrays) {
      size_t done = 0;
      while (done < a.size()) {
        if (buffer_.size() + 4 > kCheckpointIoBufferBytes) RETURN_IF_ERROR(Flush());
        const size_t n = std::min(a.size() - done, (kCheckpointIoBufferBytes - buffer_.size()) / 4);
        const size_t at = buffer_.size();
        buffer_.resize(at + n * 4);
        char* out = &buffer_[at];
        for (size_t i = 0; i < n; ++i) PutU32(absl::bit_cast<uint32_t>(a[done + i]), out + 4 * i);
        XXH64_update(state_, out, n * 4);
        done += n;
      }
    }
    return End();
  }

  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status status = sink_->Append(buffer_);
    written_ += buffer_.size();
    buffer_.clear();
    return status;
  }

  uint64_t position() const { return written_ + buffer_.size(); }
  uint64_t sections() const { return sections_; }

 private:
  void Begin(CheckpointSection type, uint64_t length) {
    XXH64_reset(state_, 0);
    char frame[kSectionFrameBytes];
    PutU32(static_cast<uint32_t>(type), frame);
    PutU64(length, frame + 4);
    Hashed(frame, sizeof(frame));
  }
  void Hashed(const char* data, size_t n) {
    XXH64_update(state_, data, n);
    buffer_.append(data, n);
  }
  absl::Status End() {
    char sum[kChecksumBytes];
    PutU64(XXH64_digest(state_), sum);
    buffer_.append(sum, sizeof(sum));
    ++sections_;
    return MaybeFlush();
  }
  absl::Status MaybeFlush() {
    return buffer_.size() >= kCheckpointIoBufferBytes ? Flush() : absl::OkStatus();
  }

  CheckpointSink* const sink_;
  XXH64_state_t* const state_;
  std::string buffer_;
  uint64_t written_ = 0;
  uint64_t sections_ = 0;
};

// ---------------------------------------------------------------- decoding

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

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

// Pulls bytes from a source, tracking the offset and the current section,
// and verifying each section's checksum.
class SectionReader {
 public:
  SectionReader(CheckpointSource* source, std::string_view name)
      : source_(source), name_(name), state_(XXH64_createState()) {}
  ~SectionReader() { XXH64_freeState(state_); }
  SectionReader(const SectionReader&) = delete;
  SectionReader& operator=(const SectionReader&) = delete;

  uint64_t offset() const { return offset_; }
  uint64_t remaining() const { return source_->size() - offset_; }
  uint64_t sections() const { return sections_; }

  // An error naming the file, and the section being read and its offset.
  absl::Status Error(absl::StatusCode code, absl::string_view what) const {
    return absl::Status(code, absl::StrCat("checkpoint '", name_, "': ", where_, what));
  }
  absl::Status Corrupt(absl::string_view what) const {
    return Error(absl::StatusCode::kDataLoss, what);
  }

  absl::Status Raw(char* dst, size_t n) {
    if (n > remaining()) {
      return Corrupt(absl::StrCat("truncated: needs ", n, " more bytes at offset ", offset_,
                                  ", the file has ", remaining()));
    }
    absl::Status status = source_->Read(dst, n);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("checkpoint '", name_, "': ", where_, "reading at offset ",
                                       offset_, ": ", status.message()));
    }
    offset_ += n;
    return absl::OkStatus();
  }

  // Reads a section's frame; returns its payload length, checked to fit in
  // what is left of the source (with the checksum).
  absl::StatusOr<uint64_t> Begin(CheckpointSection expected, absl::string_view owner) {
    where_ = absl::StrCat("section ", CheckpointSectionName(static_cast<uint32_t>(expected)), owner,
                          " at offset ", offset_, ": ");
    char frame[kSectionFrameBytes];
    RETURN_IF_ERROR(Raw(frame, sizeof(frame)));
    const uint32_t type = GetU32(frame);
    const uint64_t length = GetU64(frame + 4);
    if (type != static_cast<uint32_t>(expected)) {
      return Corrupt(
          absl::StrCat("found a section of type ", CheckpointSectionName(type), " instead"));
    }
    if (remaining() < kChecksumBytes || length > remaining() - kChecksumBytes) {
      return Corrupt(absl::StrCat("payload length ", length, " exceeds the ", remaining(),
                                  " bytes left in the file"));
    }
    XXH64_reset(state_, 0);
    XXH64_update(state_, frame, sizeof(frame));
    return length;
  }

  absl::Status Payload(char* dst, size_t n) {
    RETURN_IF_ERROR(Raw(dst, n));
    XXH64_update(state_, dst, n);
    return absl::OkStatus();
  }

  // Reads `out.size()` little-endian floats in pieces of at most
  // kCheckpointIoBufferBytes.
  absl::Status Floats(absl::Span<float> out) {
    size_t done = 0;
    while (done < out.size()) {
      const size_t n = std::min<size_t>(out.size() - done, kCheckpointIoBufferBytes / 4);
      if (buffer_.size() < n * 4) buffer_.resize(n * 4);
      RETURN_IF_ERROR(Payload(buffer_.data(), n * 4));
      for (size_t i = 0; i < n; ++i) {
        out[done + i] = absl::bit_cast<float>(GetU32(buffer_.data() + 4 * i));
      }
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status End() {
    char stored[kChecksumBytes];
    RETURN_IF_ERROR(Raw(stored, sizeof(stored)));
    const uint64_t expected = GetU64(stored);
    const uint64_t actual = XXH64_digest(state_);
    if (expected != actual) {
      return Corrupt(absl::StrCat("checksum mismatch: stored ",
                                  absl::Hex(expected, absl::kZeroPad16), ", computed ",
                                  absl::Hex(actual, absl::kZeroPad16)));
    }
    ++sections_;
    return absl::OkStatus();
  }

  void set_where(std::string where) { where_ = std::move(where); }

 private:
  CheckpointSource* const source_;
  const std::string name_;
  XXH64_state_t* const state_;
  std::string where_;
  std::vector<char> buffer_;
  uint64_t offset_ = 0;
  uint64_t sections_ = 0;
};

absl::Status ReadPreamble(SectionReader& r) {
  if (r.remaining() < kPreambleBytes) {
    return r.Corrupt(absl::StrCat("is ", r.remaining(), " bytes long, too short for a checkpoint"));
  }
  char pre[kPreambleBytes];
  RETURN_IF_ERROR(r.Raw(pre, sizeof(pre)));
  if (std::string_view(pre, 8) != kCheckpointMagic) {
    return r.Corrupt(absl::StrCat("not a checkpoint file: the first 8 bytes are \"",
                                  absl::CHexEscape(absl::string_view(pre, 8)), "\", not \"",
                                  absl::string_view(kCheckpointMagic.data(), 8), "\""));
  }
  const uint32_t version = GetU32(pre + 8);
  if (version != kCheckpointFormatVersion) {
    return r.Error(absl::StatusCode::kFailedPrecondition,
                   absl::StrCat("format version ", version,
                                " at offset 8; this build reads only "
                                "version ",
                                kCheckpointFormatVersion));
  }
  const uint32_t reserved = GetU32(pre + 12);
  if (reserved != 0) {
    return r.Corrupt(absl::StrCat("reserved field at offset 12 is ", reserved, ", must be 0"));
  }
  return absl::OkStatus();
}

absl::Status ReadHeader(SectionReader& r, ShardCheckpoint* c) {
  ASSIGN_OR_RETURN(const uint64_t length, r.Begin(CheckpointSection::kHeader, ""));
  // Bounded by the file's size (checked by Begin): metadata only.
  std::string payload(length, '\0');
  RETURN_IF_ERROR(r.Payload(payload.data(), payload.size()));
  RETURN_IF_ERROR(r.End());
  r.set_where("section HEADER at offset 16: ");

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
  if (!d.ok()) return r.Corrupt(d.error());
  if (absl::Status s = ValidateCheckpoint(*c, ArrayCheck::kSkip); !s.ok()) {
    return r.Corrupt(s.message());
  }
  return absl::OkStatus();
}

// One state array (p, m, v or vmax) of `table`.
absl::Status ReadArray(SectionReader& r, CheckpointSection type, const TableRecord& table,
                       size_t index, std::vector<float>* out) {
  const std::string owner = absl::StrCat(" of table #", index, " '", table.spec.name, "'");
  ASSIGN_OR_RETURN(const uint64_t length, r.Begin(type, owner));
  const uint64_t expected = table.part_size() * 4;
  if (length != expected) {
    return r.Corrupt(absl::StrCat("payload length ", length, ", the part's ", table.part_size(),
                                  " elements take ", expected));
  }
  out->resize(table.part_size());
  RETURN_IF_ERROR(r.Floats(absl::MakeSpan(*out)));
  return r.End();
}

absl::Status ReadSyncPending(SectionReader& r, TableRecord& table, size_t index) {
  const std::string owner = absl::StrCat(" of table #", index, " '", table.spec.name, "'");
  ASSIGN_OR_RETURN(const uint64_t length, r.Begin(CheckpointSection::kSyncPending, owner));
  uint64_t expected = 0;
  for (const SyncContribution& c : table.sync_pending) {
    expected += SegmentSize(table.part_size(), c.segment) * 4;
  }
  if (length != expected) {
    return r.Corrupt(absl::StrCat("payload length ", length, ", the ", table.sync_pending.size(),
                                  " contributions take ", expected));
  }
  for (SyncContribution& c : table.sync_pending) {
    c.gradient.resize(SegmentSize(table.part_size(), c.segment));
    RETURN_IF_ERROR(r.Floats(absl::MakeSpan(c.gradient)));
  }
  return r.End();
}

absl::Status ReadEnd(SectionReader& r) {
  const uint64_t sections = r.sections();
  const uint64_t position = r.offset();
  ASSIGN_OR_RETURN(const uint64_t length, r.Begin(CheckpointSection::kEnd, ""));
  if (length != kEndPayloadBytes) {
    return r.Corrupt(absl::StrCat("payload length ", length, ", must be ", kEndPayloadBytes));
  }
  char payload[kEndPayloadBytes];
  RETURN_IF_ERROR(r.Payload(payload, sizeof(payload)));
  RETURN_IF_ERROR(r.End());
  if (GetU64(payload) != sections || GetU64(payload + 8) != position) {
    return r.Corrupt(absl::StrCat("records ", GetU64(payload), " sections in ", GetU64(payload + 8),
                                  " bytes before it, the file has ", sections, " in ", position));
  }
  if (r.remaining() != 0) {
    return r.Corrupt(absl::StrCat(r.remaining(), " unexpected bytes after the END section"));
  }
  return absl::OkStatus();
}

class BytesSource final : public CheckpointSource {
 public:
  explicit BytesSource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  absl::Status Read(char* dst, size_t n) override {
    if (n > bytes_.size() - pos_) return absl::DataLossError("unexpected end of data");
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

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

absl::Status WriteCheckpoint(const ShardCheckpoint& c, CheckpointSink* sink) {
  if (absl::Status s = ValidateShardCheckpoint(c); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write checkpoint: ", s.message()));
  }
  SectionWriter w(sink);
  char pre[kPreambleBytes];
  std::memcpy(pre, kCheckpointMagic.data(), 8);
  PutU32(kCheckpointFormatVersion, pre + 8);
  PutU32(0, pre + 12);
  RETURN_IF_ERROR(w.Raw(std::string_view(pre, sizeof(pre))));
  RETURN_IF_ERROR(w.Bytes(CheckpointSection::kHeader, EncodeHeader(c)));
  for (const TableRecord& t : c.tables) {
    RETURN_IF_ERROR(w.Floats(CheckpointSection::kParams, {absl::MakeConstSpan(t.p)}));
    RETURN_IF_ERROR(w.Floats(CheckpointSection::kExpAvg, {absl::MakeConstSpan(t.m)}));
    RETURN_IF_ERROR(w.Floats(CheckpointSection::kExpAvgSq, {absl::MakeConstSpan(t.v)}));
    if (t.spec.adam.amsgrad) {
      RETURN_IF_ERROR(w.Floats(CheckpointSection::kMaxExpAvgSq, {absl::MakeConstSpan(t.vmax)}));
    }
    if (!t.sync_pending.empty()) {
      std::vector<absl::Span<const float>> gradients;
      gradients.reserve(t.sync_pending.size());
      for (const SyncContribution& sc : t.sync_pending) gradients.emplace_back(sc.gradient);
      RETURN_IF_ERROR(w.Floats(CheckpointSection::kSyncPending, gradients));
    }
  }
  char end[kEndPayloadBytes];
  PutU64(w.sections(), end);
  PutU64(w.position(), end + 8);
  RETURN_IF_ERROR(w.Bytes(CheckpointSection::kEnd, std::string_view(end, sizeof(end))));
  return w.Flush();
}

absl::StatusOr<ShardCheckpoint> ReadCheckpoint(CheckpointSource* source, std::string_view name) {
  SectionReader r(source, name);
  RETURN_IF_ERROR(ReadPreamble(r));
  ShardCheckpoint c;
  RETURN_IF_ERROR(ReadHeader(r, &c));
  for (size_t i = 0; i < c.tables.size(); ++i) {
    TableRecord& t = c.tables[i];
    RETURN_IF_ERROR(ReadArray(r, CheckpointSection::kParams, t, i, &t.p));
    RETURN_IF_ERROR(ReadArray(r, CheckpointSection::kExpAvg, t, i, &t.m));
    RETURN_IF_ERROR(ReadArray(r, CheckpointSection::kExpAvgSq, t, i, &t.v));
    if (t.spec.adam.amsgrad) {
      RETURN_IF_ERROR(ReadArray(r, CheckpointSection::kMaxExpAvgSq, t, i, &t.vmax));
    }
    if (!t.sync_pending.empty()) RETURN_IF_ERROR(ReadSyncPending(r, t, i));
  }
  RETURN_IF_ERROR(ReadEnd(r));
  // Everything was checked on the way; this re-check is cheap and keeps the
  // reader honest if a rule is added to the validator only.
  if (absl::Status s = ValidateShardCheckpoint(c); !s.ok()) return r.Corrupt(s.message());
  return c;
}

absl::StatusOr<ShardCheckpoint> ReadCheckpointBytes(std::string_view bytes, std::string_view name) {
  BytesSource source(bytes);
  return ReadCheckpoint(&source, name);
}

}  // namespace adamasync
