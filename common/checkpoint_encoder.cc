// Encoding (WriteCheckpoint, declared in common/checkpoint_format.h): the
// stable codes of the enums, the HEADER section's payload, and the writer
// that frames and checksums sections and hands them to a CheckpointSink in
// pieces of about kCheckpointIoBufferBytes.
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/casts.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/checkpoint_format.h"
#include "common/checkpoint_format_internal.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

using checkpoint_internal::kChecksumBytes;
using checkpoint_internal::kEndPayloadBytes;
using checkpoint_internal::kPreambleBytes;
using checkpoint_internal::kSectionFrameBytes;
using checkpoint_internal::PutU32;
using checkpoint_internal::PutU64;

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

}  // namespace

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

}  // namespace adamasync
