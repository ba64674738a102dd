// libFuzzer target: ReadCheckpointBytes (common/checkpoint_format.h) on
// arbitrary bytes.
//
// The first byte chooses a mode: odd = first recompute every section's
// XXH64 checksum, so the fuzzer reaches the field decoding and validation
// behind the checksums; even = the bytes as they are. Must never crash,
// hang, or allocate more than the input justifies; whatever parses must
// write back and re-read to the same bytes.
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/checkpoint_format.h"

namespace {

uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian host, like the format
}

// Walks the section frames after the 16-byte preamble and overwrites each
// section's checksum with the right one; stops at the first frame that does
// not fit.
void FixChecksums(std::string& bytes) {
  constexpr size_t kPreamble = 16, kFrame = 12, kSum = 8;
  size_t at = kPreamble;
  while (at + kFrame + kSum <= bytes.size()) {
    const uint64_t length = GetU64(bytes.data() + at + 4);
    if (length > bytes.size() - at - kFrame - kSum) return;
    const uint64_t sum = XXH64(bytes.data() + at, kFrame + length, 0);
    std::memcpy(bytes.data() + at + kFrame + length, &sum, kSum);
    at += kFrame + length + kSum;
  }
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "checkpoint_fuzzer invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) FixChecksums(bytes);
  absl::StatusOr<adamasync::ShardCheckpoint> checkpoint =
      adamasync::ReadCheckpointBytes(bytes, "fuzz");
  if (!checkpoint.ok()) return 0;
  // What was read is valid: it writes, and reads back to the same bytes.
  std::string written;
  adamasync::StringCheckpointSink sink(&written);
  Check(adamasync::WriteCheckpoint(*checkpoint, &sink).ok(), "a checkpoint that reads writes");
  absl::StatusOr<adamasync::ShardCheckpoint> again =
      adamasync::ReadCheckpointBytes(written, "fuzz-again");
  Check(again.ok(), "a written checkpoint reads");
  std::string rewritten;
  adamasync::StringCheckpointSink sink2(&rewritten);
  Check(adamasync::WriteCheckpoint(*again, &sink2).ok() && rewritten == written,
        "read and write are inverse");
  return 0;
}
