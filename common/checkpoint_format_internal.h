// The byte layout that the checkpoint encoder (checkpoint_encoder.cc) and
// decoder (checkpoint_decoder.cc, checkpoint_header_decoder.cc) share: the
// sizes of the preamble and of a section's frame, checksum and END payload,
// and little-endian field access. Internal to the checkpoint code, never
// exported: callers use common/checkpoint_format.h, whose overview (and
// docs/checkpoint.md) specifies the format.
#ifndef ADAMASYNC_COMMON_CHECKPOINT_FORMAT_INTERNAL_H_
#define ADAMASYNC_COMMON_CHECKPOINT_FORMAT_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "common/checkpoint_format.h"

namespace adamasync {
namespace checkpoint_internal {

inline constexpr size_t kPreambleBytes = 16;      // magic, version, reserved
inline constexpr size_t kSectionFrameBytes = 12;  // type, length
inline constexpr size_t kChecksumBytes = 8;
inline constexpr uint64_t kEndPayloadBytes = 16;  // sections before END, bytes before END

// Little-endian u32 and u64 fields. Inline: the encoder and decoder call
// them once per float of every state array.
inline void PutU32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline void PutU64(uint64_t v, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Decodes the payload of the HEADER section into `checkpoint`: the header,
// the workers and each table's metadata (spec, part, segment steps, dedupe
// records, sync contributions without their gradients); the state arrays
// come from their own sections. DATA_LOSS naming the table, the field and
// the payload offset of the first problem (truncation, an unknown enum
// code, a count the bytes left cannot hold, trailing bytes). The rules of
// ValidateCheckpoint are left to the caller.
absl::Status DecodeHeaderPayload(std::string_view payload, ShardCheckpoint* checkpoint);

}  // namespace checkpoint_internal
}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_CHECKPOINT_FORMAT_INTERNAL_H_
