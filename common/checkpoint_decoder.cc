// Decoding (ReadCheckpoint and ReadCheckpointBytes, declared in
// common/checkpoint_format.h): the preamble, the frame and checksum of each
// section, the state arrays streamed through one reused buffer, the END
// section, and errors that name the file, the section and the offset. The
// HEADER section's payload is decoded by checkpoint_header_decoder.cc.
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/casts.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/checkpoint_format.h"
#include "common/checkpoint_format_internal.h"
#include "common/checkpoint_validation.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

using checkpoint_internal::ArrayCheck;
using checkpoint_internal::DecodeHeaderPayload;
using checkpoint_internal::GetU32;
using checkpoint_internal::GetU64;
using checkpoint_internal::kChecksumBytes;
using checkpoint_internal::kEndPayloadBytes;
using checkpoint_internal::kPreambleBytes;
using checkpoint_internal::kSectionFrameBytes;
using checkpoint_internal::SegmentSize;
using checkpoint_internal::ValidateCheckpoint;

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

  if (absl::Status s = DecodeHeaderPayload(payload, c); !s.ok()) return r.Corrupt(s.message());
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
