// The input format of request_fuzzer, shared with the seed generator.
//
// An input is a sequence of records:
//   kind (u8) | length (u16, little-endian) | `length` bytes
// The low 5 bits of `kind` pick what the bytes are (FuzzKind, modulo
// kFuzzKinds); bit 7 asks the harness to overwrite the request's view with
// this shard's (0 of 1), so the fuzzer reaches past the view check easily;
// bit 6 (Push, WriteParameters) asks it to tile the request's float bytes
// (or 0.25f when none) up to the end of the table's part from the offset,
// at most 2 segments, so small inputs make the multi-segment chunks that
// 64 KiB records could not hold.
// A record whose length runs past the input's end gets what is left.
#ifndef ADAMASYNC_FUZZ_FUZZ_REQUESTS_H_
#define ADAMASYNC_FUZZ_FUZZ_REQUESTS_H_

#include <cstdint>
#include <string>

namespace adamasync {
namespace fuzz {

enum FuzzKind : uint8_t {
  kCreateTable = 0,     // serialized v1::CreateTableRequest
  kPull,                // v1::PullRequest
  kPush,                // v1::PushRequest
  kGetStats,            // v1::GetStatsRequest
  kRegisterWorker,      // v1::RegisterWorkerRequest
  kClock,               // v1::ClockRequest
  kWriteParameters,     // v1::WriteParametersRequest
  kPrepareCheckpoint,   // v1::CheckpointCutRequest
  kCommitCheckpoint,    // v1::CheckpointCutRequest
  kAbortCheckpoint,     // v1::CheckpointCutRequest
  kFinalizeCheckpoint,  // v1::FinalizeCheckpointRequest
  kTokenTable,          // the text of a token table file
  kAuthorization,       // an "authorization" header value, for a Push
  kAdvanceClock,        // u16: milliseconds to move the fake clock on
  kFuzzKinds,
};
inline constexpr uint8_t kFixView = 0x80;
inline constexpr uint8_t kExpand = 0x40;

// Appends one record.
inline void AppendRecord(uint8_t kind, const std::string& bytes, std::string* out) {
  const size_t n = bytes.size() > 0xffff ? 0xffff : bytes.size();
  out->push_back(static_cast<char>(kind));
  out->push_back(static_cast<char>(n & 0xff));
  out->push_back(static_cast<char>(n >> 8));
  out->append(bytes.data(), n);
}

// The tables every input starts with (created by the harness).
inline constexpr char kDenseTable[] = "dense";  // 2 segments, AMSGrad
inline constexpr char kStaleTable[] = "stale";  // REJECT staleness policy
inline constexpr char kSyncTable[] = "sync";    // synchronous, 2 workers
inline constexpr char kSspTable[] = "ssp";      // SSP bound 1
inline constexpr uint64_t kDenseElements = 65536 + 1000;
inline constexpr uint64_t kSmallElements = 1000;

}  // namespace fuzz
}  // namespace adamasync

#endif  // ADAMASYNC_FUZZ_FUZZ_REQUESTS_H_
