// Tests of common/checkpoint_format.h: round trips of random checkpoints,
// the byte layout against an independent encoder written from
// docs/checkpoint.md, and the reader against corrupt and crafted input:
// every single-byte flip and every truncation of a small file is rejected,
// lengths claiming huge sizes fail fast without allocating, and the writer
// refuses checkpoints that break a rule.
#include "common/checkpoint_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "common/sharding.h"

// Records the largest single allocation while tracking is on, so tests can
// check that the reader allocates nothing a corrupt length asks for and the
// writer never holds the whole file. (GCC's -Wmismatched-new-delete cannot
// see that this operator delete pairs with this operator new.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<size_t> g_max_allocation{0};
}  // namespace

void* operator new(size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    size_t seen = g_max_allocation.load(std::memory_order_relaxed);
    while (n > seen && !g_max_allocation.compare_exchange_weak(seen, n)) {
    }
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace adamasync {
namespace {

using ::testing::HasSubstr;

class AllocationTracker {
 public:
  AllocationTracker() {
    g_max_allocation = 0;
    g_tracking = true;
  }
  ~AllocationTracker() { g_tracking = false; }
  size_t max() const { return g_max_allocation.load(); }
};

// ------------------------------------------------------------ test data

// A table name whose part on shard `shard` of `shards` is empty.
std::string NameWithEmptyPart(uint64_t n, uint32_t shard, uint32_t shards) {
  for (int i = 0;; ++i) {
    std::string name = "tiny" + std::to_string(i);
    if (ShardRange(name, n, shard, shards).empty()) return name;
  }
}

std::vector<float> RandomFloats(size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

TableRecord MakeTable(const TableSpec& spec, uint32_t shard, uint32_t shards, int dedupe,
                      std::mt19937_64& rng) {
  TableRecord t;
  t.spec = spec;
  const ElementRange part = ShardRange(spec.name, spec.num_elements, shard, shards);
  t.part_begin = part.begin;
  t.part_end = part.end;
  const uint64_t segments = (part.size() + kSegmentElements - 1) / kSegmentElements;
  for (uint64_t s = 0; s < segments; ++s) t.segment_steps.push_back(rng() % 1000);
  t.p = RandomFloats(part.size(), rng);
  t.m = RandomFloats(part.size(), rng);
  t.v = RandomFloats(part.size(), rng);
  if (spec.adam.amsgrad) t.vmax = RandomFloats(part.size(), rng);
  for (int i = 0; i < dedupe && segments > 0; ++i) {
    DedupeRecord r;
    r.worker_id = 1 + static_cast<uint64_t>(i);
    r.offset = part.begin + (static_cast<uint64_t>(i) % segments) * kSegmentElements;
    r.seq = 1 + rng() % 100;
    r.version = rng() % 1000;
    r.staleness = rng() % 5;
    r.lr_scale = 1.0 / static_cast<double>(1 + r.staleness);
    if (i % 2 == 1) {
      absl::Status stale = absl::AbortedError("stale gradient: version 9, pulled 3");
      stale.SetPayload("type.googleapis.com/adamasync.v1.StaleGradient", absl::Cord("\x08\x09"));
      stale.SetPayload("type.googleapis.com/a.First", absl::Cord(std::string("\0\1", 2)));
      SetDedupeRecordStatus(stale, &r);
    }
    t.dedupe.push_back(r);
  }
  const int64_t sync = spec.consistency.sync_workers;
  for (uint64_t s = 0; sync > 1 && s < segments; s += 2) {
    for (int64_t w = 0; w + 1 < sync && w < 2; ++w) {
      SyncContribution c;
      c.worker_id = 10 + static_cast<uint64_t>(w);
      c.segment = s;
      c.gradient =
          RandomFloats(std::min(kSegmentElements, part.size() - s * kSegmentElements), rng);
      t.sync_pending.push_back(std::move(c));
    }
  }
  t.pushes = rng() % 10000;
  t.pulls = rng() % 10000;
  return t;
}

// Shard 1 of 3 with: an amsgrad AdamW table of several segments, a
// synchronous table with pending contributions, a table whose part here is
// empty, and a table with a staleness policy; plus workers.
ShardCheckpoint MakeCheckpoint(uint64_t seed) {
  std::mt19937_64 rng(seed);
  ShardCheckpoint c;
  c.header.shard_index = 1;
  c.header.num_shards = 3;
  c.header.checkpoint_id = 42;
  c.header.created_unix_ms = 1'700'000'000'123;
  for (uint64_t w = 1; w <= 3; ++w) {
    c.workers.push_back({w, 10 * w, 100 + w, 30'000});
  }
  TableSpec dense;
  dense.name = "mlp/layer1/weight";
  dense.num_elements = 9 * kSegmentElements + 777;
  dense.adam.algorithm = Algorithm::kAdamW;
  dense.adam.lr = 3e-4;
  dense.adam.weight_decay = 0.01;
  dense.adam.amsgrad = true;
  dense.init = Initializer::Uniform(-0.05, 0.05, 7);
  c.tables.push_back(MakeTable(dense, 1, 3, 5, rng));

  TableSpec sync;
  sync.name = "sync:bias";
  sync.num_elements = 6 * kSegmentElements + 5;
  sync.adam.maximize = true;
  sync.consistency.sync_workers = 4;
  c.tables.push_back(MakeTable(sync, 1, 3, 2, rng));

  TableSpec tiny;
  tiny.name = NameWithEmptyPart(10, 1, 3);
  tiny.num_elements = 10;
  tiny.init = Initializer::Constant(0.5);
  c.tables.push_back(MakeTable(tiny, 1, 3, 0, rng));

  TableSpec scaled;
  scaled.name = "emb.users";
  scaled.num_elements = 5000;
  scaled.init = Initializer::Normal(0, 0.02, 3);
  scaled.consistency.staleness_policy = StalenessPolicy::kScale;
  scaled.consistency.max_staleness = 4;
  scaled.consistency.ssp_bound = 2;
  c.tables.push_back(MakeTable(scaled, 1, 3, 1, rng));
  return c;
}

std::string Encode(const ShardCheckpoint& c) {
  std::string bytes;
  StringCheckpointSink sink(&bytes);
  const absl::Status status = WriteCheckpoint(c, &sink);
  EXPECT_TRUE(status.ok()) << status;
  return bytes;
}

// ------------------------------------------- an encoder written from the doc

struct TestEncoder {
  std::string out;
  TestEncoder& U8(uint8_t v) {
    out.push_back(static_cast<char>(v));
    return *this;
  }
  TestEncoder& U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  TestEncoder& U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  TestEncoder& F32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return U32(bits);
  }
  TestEncoder& F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return U64(bits);
  }
  TestEncoder& Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out += s;
    return *this;
  }
  TestEncoder& Raw(const std::string& s) {
    out += s;
    return *this;
  }
  // type, length, payload, XXH64(type, length, payload).
  TestEncoder& Section(uint32_t type, const std::string& payload) {
    TestEncoder framed;
    framed.U32(type).U64(payload.size()).Raw(payload);
    out += framed.out;
    return U64(XXH64(framed.out.data(), framed.out.size(), 0));
  }
  TestEncoder& Preamble() { return Raw("ADAMCKPT").U32(1).U32(0); }
};

std::string Floats(const std::vector<float>& values) {
  TestEncoder e;
  for (float v : values) e.F32(v);
  return e.out;
}

// A small checkpoint touching every field, and its bytes as the doc
// specifies them.
ShardCheckpoint SmallCheckpoint() {
  ShardCheckpoint c;
  c.header = {kCheckpointFormatVersion, 0, 1, 9, 1234};
  c.workers.push_back({7, 3, 11, 60'000});
  TableRecord t;
  t.spec.name = "t";
  t.spec.num_elements = 3;
  t.spec.adam.algorithm = Algorithm::kAdamW;
  t.spec.adam.lr = 0.01;
  t.spec.adam.amsgrad = true;
  t.spec.init = Initializer::Uniform(-1, 1, 5);
  t.spec.consistency.staleness_policy = StalenessPolicy::kReject;
  t.spec.consistency.max_staleness = 2;
  t.part_begin = 0;
  t.part_end = 3;
  t.segment_steps = {4};
  t.p = {1, 2, 3};
  t.m = {0.5f, -0.5f, 0.25f};
  t.v = {0.1f, 0.2f, 0.3f};
  t.vmax = {0.4f, 0.5f, 0.6f};
  DedupeRecord r;
  r.worker_id = 7;
  r.offset = 0;
  r.seq = 11;
  r.version = 4;
  r.status_code = 10;  // ABORTED
  r.status_message = "stale";
  r.status_payloads = {{"type.googleapis.com/x", std::string("\x01\x02", 2)}};
  r.staleness = 5;
  r.lr_scale = 0.5;
  t.dedupe.push_back(r);
  t.pushes = 4;
  t.pulls = 6;
  c.tables.push_back(t);

  TableRecord s;
  s.spec.name = "s";
  s.spec.num_elements = 2;
  s.spec.consistency.sync_workers = 3;
  s.part_begin = 0;
  s.part_end = 2;
  s.segment_steps = {1};
  s.p = {1, 1};
  s.m = {0, 0};
  s.v = {0, 0};
  s.sync_pending.push_back({7, 0, {0.5f, -0.5f}});
  c.tables.push_back(s);
  return c;
}

std::string SmallCheckpointBytes() {
  TestEncoder h;
  h.U32(0).U32(1).U64(9).U64(1234);                                     // shard 0 of 1, id, time
  h.U64(1).U64(7).U64(3).U64(11).U64(60'000);                           // one worker
  h.U64(2);                                                             // two tables
  h.Str("t").U64(3);                                                    // name, num_elements
  h.U32(1).F64(0.01).F64(0.9).F64(0.999).F64(1e-8).F64(0).U8(1).U8(0);  // AdamW, amsgrad
  h.U32(2).F64(-1).F64(1).U64(5);                                       // uniform init
  h.U32(1).U64(2).U64(static_cast<uint64_t>(-1)).U64(0);                // REJECT, 2, no SSP, async
  h.U64(0).U64(3).U64(4).U64(6);                                        // part, pushes, pulls
  h.U64(1).U64(4);                                                      // segment steps
  h.U64(1).U64(7).U64(0).U64(11).U64(4).U64(5).F64(0.5).U32(10).Str("stale");
  h.U32(1).Str("type.googleapis.com/x").Str(std::string("\x01\x02", 2));
  h.U64(0);  // no sync pending
  h.Str("s").U64(2);
  h.U32(0).F64(1e-3).F64(0.9).F64(0.999).F64(1e-8).F64(0).U8(0).U8(0);
  h.U32(0).F64(0).F64(0).U64(0);
  h.U32(0).U64(0).U64(static_cast<uint64_t>(-1)).U64(3);  // sync_workers 3
  h.U64(0).U64(2).U64(0).U64(0);
  h.U64(1).U64(1);
  h.U64(0);
  h.U64(1).U64(7).U64(0).U64(2);  // worker 7, segment 0, 2 elements

  TestEncoder f;
  f.Preamble().Section(1, h.out);
  f.Section(2, Floats({1, 2, 3})).Section(3, Floats({0.5f, -0.5f, 0.25f}));
  f.Section(4, Floats({0.1f, 0.2f, 0.3f})).Section(5, Floats({0.4f, 0.5f, 0.6f}));
  f.Section(2, Floats({1, 1})).Section(3, Floats({0, 0})).Section(4, Floats({0, 0}));
  f.Section(6, Floats({0.5f, -0.5f}));
  const uint64_t before_end = f.out.size();
  f.Section(7, TestEncoder().U64(9).U64(before_end).out);  // 9 sections before END
  return f.out;
}

// ------------------------------------------------------------------ tests

TEST(CheckpointFormatTest, RoundTripsARandomCheckpoint) {
  const ShardCheckpoint c = MakeCheckpoint(1);
  ASSERT_TRUE(c.tables[2].p.empty()) << "the third table must have an empty part";
  ASSERT_FALSE(c.tables[1].sync_pending.empty());
  const std::string bytes = Encode(c);
  absl::StatusOr<ShardCheckpoint> back = ReadCheckpointBytes(bytes, "random");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == c);
  EXPECT_EQ(Encode(*back), bytes) << "encoding is deterministic";
}

TEST(CheckpointFormatTest, RoundTripsEmptyCheckpoint) {
  ShardCheckpoint c;
  c.header.shard_index = 4;
  c.header.num_shards = 5;
  absl::StatusOr<ShardCheckpoint> back = ReadCheckpointBytes(Encode(c), "empty");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == c);
}

TEST(CheckpointFormatTest, BytesMatchTheDocumentedLayout) {
  const std::string expected = SmallCheckpointBytes();
  EXPECT_EQ(Encode(SmallCheckpoint()), expected);
  absl::StatusOr<ShardCheckpoint> back = ReadCheckpointBytes(expected, "small");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == SmallCheckpoint());
}

TEST(CheckpointFormatTest, EverySingleByteFlipIsDetected) {
  const std::string good = SmallCheckpointBytes();
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      absl::StatusOr<ShardCheckpoint> read = ReadCheckpointBytes(bad, "flipped");
      ASSERT_FALSE(read.ok()) << "flip of byte " << i << " with mask " << int{mask}
                              << " went unnoticed";
      EXPECT_TRUE(absl::IsDataLoss(read.status()) || absl::IsFailedPrecondition(read.status()))
          << read.status();
    }
  }
}

TEST(CheckpointFormatTest, EveryTruncationIsDetected) {
  const std::string good = SmallCheckpointBytes();
  for (size_t n = 0; n < good.size(); ++n) {
    absl::StatusOr<ShardCheckpoint> read = ReadCheckpointBytes(good.substr(0, n), "short");
    ASSERT_FALSE(read.ok()) << "truncation to " << n << " bytes went unnoticed";
    EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  }
  absl::StatusOr<ShardCheckpoint> longer = ReadCheckpointBytes(good + "x", "long");
  EXPECT_TRUE(absl::IsDataLoss(longer.status())) << longer.status();
  EXPECT_THAT(longer.status().message(), HasSubstr("after the END section"));
}

TEST(CheckpointFormatTest, ErrorsNameTheFileSectionAndOffset) {
  std::string bytes = SmallCheckpointBytes();
  // The first float of table 't''s EXP_AVG_SQ section.
  const size_t v_payload = bytes.find(Floats({0.1f, 0.2f, 0.3f}));
  ASSERT_NE(v_payload, std::string::npos);
  bytes[v_payload] ^= 0x40;
  absl::Status status = ReadCheckpointBytes(bytes, "shard-0-of-1.ckpt").status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("checkpoint 'shard-0-of-1.ckpt'"));
  EXPECT_THAT(status.message(), HasSubstr("section EXP_AVG_SQ of table #0 't'"));
  EXPECT_THAT(status.message(), HasSubstr("at offset " + std::to_string(v_payload - 12)));
  EXPECT_THAT(status.message(), HasSubstr("checksum mismatch"));
}

TEST(CheckpointFormatTest, RejectsOtherFilesAndVersions) {
  std::string bytes = SmallCheckpointBytes();
  absl::Status status = ReadCheckpointBytes("hello world, not a checkpoint", "x").status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("not a checkpoint file"));

  bytes[8] = 2;  // format version 2
  status = ReadCheckpointBytes(bytes, "x").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("format version 2"));
}

// `bytes` with the HEADER payload's byte `at` set to `value` and the
// HEADER's checksum recomputed, so only the field rules can catch it.
std::string WithHeaderByte(std::string bytes, size_t at, uint8_t value) {
  const size_t payload = 16 + 12;
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<uint8_t>(bytes[20 + i]);
  bytes[payload + at] = static_cast<char>(value);
  const uint64_t sum = XXH64(bytes.data() + 16, 12 + length, 0);
  for (int i = 0; i < 8; ++i) bytes[payload + length + i] = static_cast<char>(sum >> (8 * i));
  return bytes;
}

TEST(CheckpointFormatTest, ValidatesEveryHeaderFieldBehindAGoodChecksum) {
  // Offsets in SmallCheckpointBytes()'s HEADER payload.
  struct Case {
    size_t at;
    uint8_t value;
    const char* message;
  };
  const Case cases[] = {
      {0, 1, "shard_index < num_shards"},
      {4, 0, "shard_index < num_shards"},
      {32, 0, "worker_id 0"},
      {76, '!', "table name may only hold"},
      {85, 7, "unknown algorithm code 7"},
      {96, 0xbf, "lr must be > 0"},  // sign bit of lr
      {129, 2, "amsgrad must be 0 or 1"},
      {131, 9, "unknown init kind code 9"},
      {159, 5, "unknown staleness_policy code 5"},
      {195, 2, "is not shard 0 of 1's part"},
      {219, 2, "cannot hold"},  // segment count 2: the dedupe record is read as steps
      {291, 99, "status_code must be in [0, 16]"},
  };
  const std::string good = SmallCheckpointBytes();
  ASSERT_TRUE(ReadCheckpointBytes(WithHeaderByte(good, 0, 0), "same").ok());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.at);
    absl::Status status = ReadCheckpointBytes(WithHeaderByte(good, c.at, c.value), "f").status();
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr("section HEADER at offset 16"));
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
}

// A valid file up to a HEADER section holding `header_payload`.
std::string WithHeader(const std::string& header_payload) {
  return TestEncoder().Preamble().Section(1, header_payload).out;
}

TEST(CheckpointFormatTest, HugeLengthsFailFastWithoutAllocating) {
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::vector<Case> cases;
  {
    TestEncoder e;
    e.Preamble().U32(1).U64(uint64_t{1} << 60).Raw(std::string(100, 'x'));
    cases.push_back({"section length 2^60", e.out, "exceeds the"});
  }
  cases.push_back({"2^60 workers",
                   WithHeader(TestEncoder().U32(0).U32(1).U64(0).U64(0).U64(uint64_t{1} << 60).out),
                   "cannot hold"});
  cases.push_back(
      {"2^60 tables",
       WithHeader(TestEncoder().U32(0).U32(1).U64(0).U64(0).U64(0).U64(uint64_t{1} << 60).out),
       "cannot hold"});
  // A valid spec of 2^40 elements, on one shard: 2^24 segments claimed.
  const auto big_table = [](uint64_t segments) {
    TestEncoder h;
    h.U32(0).U32(1).U64(0).U64(0).U64(0).U64(1);
    h.Str("big").U64(uint64_t{1} << 40);
    h.U32(0).F64(1e-3).F64(0.9).F64(0.999).F64(1e-8).F64(0).U8(0).U8(0);
    h.U32(0).F64(0).F64(0).U64(0);
    h.U32(0).U64(0).U64(static_cast<uint64_t>(-1)).U64(0);
    h.U64(0).U64(uint64_t{1} << 40).U64(0).U64(0);
    h.U64(segments);
    return h;
  };
  cases.push_back(
      {"2^24 segment steps", WithHeader(big_table(uint64_t{1} << 24).out), "cannot hold"});
  cases.push_back(
      {"2^60 segment steps", WithHeader(big_table(uint64_t{1} << 60).out), "cannot hold"});
  {
    TestEncoder h;
    h.U32(0).U32(1).U64(0).U64(0).U64(0).U64(1).U32(0xffffffffu).Raw(std::string(200, 'a'));
    cases.push_back({"name of 4 GiB", WithHeader(h.out), "limit"});
  }
  {
    // A complete header for a part of 2^20 elements; PARAMS claims 2^42 bytes.
    TestEncoder h;
    h.U32(0).U32(1).U64(0).U64(0).U64(0).U64(1);
    h.Str("w").U64(uint64_t{1} << 20);
    h.U32(0).F64(1e-3).F64(0.9).F64(0.999).F64(1e-8).F64(0).U8(0).U8(0);
    h.U32(0).F64(0).F64(0).U64(0);
    h.U32(0).U64(0).U64(static_cast<uint64_t>(-1)).U64(0);
    h.U64(0).U64(uint64_t{1} << 20).U64(0).U64(0);
    h.U64(16);
    for (int i = 0; i < 16; ++i) h.U64(0);
    h.U64(0).U64(0);
    TestEncoder f;
    f.Preamble().Section(1, h.out).U32(2).U64(uint64_t{1} << 42).Raw(std::string(64, 'p'));
    cases.push_back({"PARAMS of 2^42 bytes", f.out, "exceeds the"});
    // ... and one claiming exactly the part's 4 MiB, with the file too short.
    TestEncoder g;
    g.Preamble().Section(1, h.out).U32(2).U64(uint64_t{4} << 20).Raw(std::string(64, 'p'));
    cases.push_back({"PARAMS of 4 MiB in a short file", g.out, "exceeds the"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    AllocationTracker tracker;
    absl::Status status = ReadCheckpointBytes(c.bytes, "crafted").status();
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
    EXPECT_LT(tracker.max(), size_t{64} << 10) << "the reader allocated for a corrupt length";
  }
}

TEST(CheckpointFormatTest, StreamsLargeArraysThroughABoundedBuffer) {
  ShardCheckpoint c;
  std::mt19937_64 rng(5);
  TableSpec spec;
  spec.name = "large";
  spec.num_elements = 3'000'000;  // 12 MB per array, 36 MB in all
  c.tables.push_back(MakeTable(spec, 0, 1, 0, rng));

  // The writer hands out pieces of at most the buffer size and never
  // allocates more than the buffer.
  class CountingSink final : public CheckpointSink {
   public:
    absl::Status Append(std::string_view bytes) override {
      ++appends;
      largest = std::max(largest, bytes.size());
      all.append(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    size_t appends = 0, largest = 0;
    std::string all;
  } sink;
  sink.all.reserve(40 << 20);
  {
    AllocationTracker tracker;
    ASSERT_TRUE(WriteCheckpoint(c, &sink).ok());
    EXPECT_LE(tracker.max(), kCheckpointIoBufferBytes + 4096);
  }
  EXPECT_GE(sink.appends, 8u);
  EXPECT_LE(sink.largest, kCheckpointIoBufferBytes);

  // The reader allocates the arrays it returns, and never the whole file.
  AllocationTracker tracker;
  absl::StatusOr<ShardCheckpoint> back = ReadCheckpointBytes(sink.all, "large");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_GE(tracker.max(), size_t{12'000'000}) << "the tracker sees the arrays";
  EXPECT_LE(tracker.max(), size_t{12'000'000} + 4096);
  EXPECT_TRUE(*back == c);
}

TEST(CheckpointFormatTest, WriterRejectsCheckpointsThatBreakTheRules) {
  struct Case {
    const char* what;
    void (*edit)(ShardCheckpoint&);
    const char* message;
  };
  const Case cases[] = {
      {"version", [](ShardCheckpoint& c) { c.header.format_version = 2; }, "format_version"},
      {"shard index", [](ShardCheckpoint& c) { c.header.shard_index = 3; }, "shard_index <"},
      {"worker 0", [](ShardCheckpoint& c) { c.workers[0].worker_id = 0; }, "worker_id 0"},
      {"worker twice", [](ShardCheckpoint& c) { c.workers.push_back(c.workers[0]); },
       "two worker records"},
      {"spec", [](ShardCheckpoint& c) { c.tables[0].spec.adam.lr = -1; }, "lr must be"},
      {"part", [](ShardCheckpoint& c) { c.tables[0].part_end -= 1; }, "is not shard 1 of 3"},
      {"segments", [](ShardCheckpoint& c) { c.tables[0].segment_steps.pop_back(); },
       "segment steps"},
      {"p size", [](ShardCheckpoint& c) { c.tables[0].p.pop_back(); }, "p has"},
      {"vmax without amsgrad", [](ShardCheckpoint& c) { c.tables[1].vmax = c.tables[1].p; },
       "amsgrad is off"},
      {"name twice", [](ShardCheckpoint& c) { c.tables.push_back(c.tables[3]); }, "used twice"},
      {"dedupe code", [](ShardCheckpoint& c) { c.tables[0].dedupe[0].status_code = 17; },
       "status_code"},
      {"dedupe offset", [](ShardCheckpoint& c) { c.tables[0].dedupe[0].offset += 1; },
       "not a segment start"},
      {"dedupe twice",
       [](ShardCheckpoint& c) { c.tables[0].dedupe.push_back(c.tables[0].dedupe[0]); },
       "two dedupe records"},
      {"dedupe OK with message",
       [](ShardCheckpoint& c) {
         c.tables[0].dedupe[0].status_code = 0;
         c.tables[0].dedupe[0].status_message = "x";
       },
       "OK status"},
      {"dedupe payload order",
       [](ShardCheckpoint& c) {
         auto& p = c.tables[0].dedupe[1].status_payloads;
         std::swap(p[0], p[1]);
       },
       "sorted"},
      {"dedupe lr_scale", [](ShardCheckpoint& c) { c.tables[0].dedupe[0].lr_scale = 0; },
       "lr_scale"},
      {"sync on async table",
       [](ShardCheckpoint& c) { c.tables[0].sync_pending = c.tables[1].sync_pending; },
       "not synchronous"},
      {"sync gradient size",
       [](ShardCheckpoint& c) { c.tables[1].sync_pending[0].gradient.pop_back(); }, "gradient has"},
      {"sync segment", [](ShardCheckpoint& c) { c.tables[1].sync_pending[0].segment = 99; },
       "is not one of"},
      {"sync complete round",
       [](ShardCheckpoint& c) { c.tables[1].spec.consistency.sync_workers = 2; }, "closes at"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.what);
    ShardCheckpoint c = MakeCheckpoint(2);
    tc.edit(c);
    std::string bytes;
    StringCheckpointSink sink(&bytes);
    absl::Status status = WriteCheckpoint(c, &sink);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr(tc.message));
    EXPECT_TRUE(bytes.empty());
    EXPECT_FALSE(ValidateShardCheckpoint(c).ok());
  }
}

TEST(CheckpointFormatTest, ShardCheckNamesBothShapes) {
  CheckpointHeader header;
  header.shard_index = 2;
  header.num_shards = 4;
  EXPECT_TRUE(CheckCheckpointShard(header, 2, 4).ok());
  absl::Status other_count = CheckCheckpointShard(header, 2, 8);
  EXPECT_TRUE(absl::IsFailedPrecondition(other_count)) << other_count;
  EXPECT_THAT(other_count.message(), HasSubstr("shard 2 of 4"));
  EXPECT_THAT(other_count.message(), HasSubstr("shard 2 of 8"));
  EXPECT_THAT(other_count.message(), HasSubstr("same shard count"));
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCheckpointShard(header, 1, 4)));
}

TEST(CheckpointFormatTest, DedupeStatusRoundTrips) {
  absl::Status status = absl::AbortedError("stale");
  status.SetPayload("type.googleapis.com/b", absl::Cord("2"));
  status.SetPayload("type.googleapis.com/a", absl::Cord("1"));
  DedupeRecord record;
  SetDedupeRecordStatus(status, &record);
  EXPECT_EQ(record.status_code, 10);
  ASSERT_EQ(record.status_payloads.size(), 2u);
  EXPECT_EQ(record.status_payloads[0].type_url, "type.googleapis.com/a");
  EXPECT_EQ(DedupeRecordStatus(record), status);

  SetDedupeRecordStatus(absl::OkStatus(), &record);
  EXPECT_EQ(record.status_code, 0);
  EXPECT_TRUE(record.status_payloads.empty());
  EXPECT_TRUE(DedupeRecordStatus(record).ok());
}

TEST(CheckpointFormatTest, SectionNames) {
  EXPECT_EQ(CheckpointSectionName(1), "HEADER");
  EXPECT_EQ(CheckpointSectionName(6), "SYNC_PENDING");
  EXPECT_EQ(CheckpointSectionName(99), "UNKNOWN(99)");
}

}  // namespace
}  // namespace adamasync
