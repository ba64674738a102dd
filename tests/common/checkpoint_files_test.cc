// Tests of common/checkpoint_files.h: file names, atomic writes, keeping
// the last K files, falling back past corrupt or truncated newer files and
// leftover temp files, simulated crashes at every stage of a write, shard
// count mismatches, and manifests (round trip, corruption, protection from
// pruning, verification of the files they name).
#include "common/checkpoint_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/sharding.h"

namespace adamasync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A checkpoint of shard `shard` of `shards` whose parameters all equal
// `value`, so tests can tell checkpoints apart.
ShardCheckpoint MakeCheckpoint(uint32_t shard, uint32_t shards, float value,
                               uint64_t checkpoint_id = 0) {
  ShardCheckpoint c;
  c.header.shard_index = shard;
  c.header.num_shards = shards;
  c.header.checkpoint_id = checkpoint_id;
  c.header.created_unix_ms = 1000 + static_cast<int64_t>(value);
  c.workers.push_back({5, 1, 2, 60'000});
  TableRecord t;
  t.spec.name = "w";
  t.spec.num_elements = 70'000;
  const ElementRange part = ShardRange("w", t.spec.num_elements, shard, shards);
  t.part_begin = part.begin;
  t.part_end = part.end;
  t.segment_steps.assign((part.size() + kSegmentElements - 1) / kSegmentElements, 3);
  t.p.assign(part.size(), value);
  t.m.assign(part.size(), 0.25f);
  t.v.assign(part.size(), 0.5f);
  c.tables.push_back(t);
  return c;
}

float ValueOf(const ShardCheckpoint& c) { return c.tables.at(0).p.empty() ? -1 : c.tables[0].p[0]; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class CheckpointFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/ckpt_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<CheckpointDirectory> Open(uint32_t shard, uint32_t shards, int keep_last = 3,
                                            CheckpointFaultHook hook = nullptr) {
    CheckpointDirectoryOptions options;
    options.path = dir_;
    options.shard_index = shard;
    options.num_shards = shards;
    options.keep_last = keep_last;
    options.fault_hook = std::move(hook);
    absl::StatusOr<std::unique_ptr<CheckpointDirectory>> dir = CheckpointDirectory::Open(options);
    EXPECT_TRUE(dir.ok()) << dir.status();
    return dir.ok() ? *std::move(dir) : nullptr;
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST(CheckpointFileNameTest, RoundTripsAndRejectsOtherNames) {
  const CheckpointFileId id{2, 4, 7};
  EXPECT_EQ(CheckpointFileName(id), "shard-2-of-4-00000000000000000007.ckpt");
  EXPECT_EQ(ParseCheckpointFileName(CheckpointFileName(id)), id);
  const CheckpointFileId max{0, 1, UINT64_MAX};
  EXPECT_EQ(ParseCheckpointFileName(CheckpointFileName(max)), max);
  for (const char* bad : {
           "shard-02-of-4-00000000000000000007.ckpt",     // leading zero
           "shard-4-of-4-00000000000000000007.ckpt",      // index >= count
           "shard-0-of-0-00000000000000000007.ckpt",      // no shards
           "shard-2-of-4-0000000000000000007.ckpt",       // 19 digits
           "shard-2-of-4-00000000000000000007.ckpt.tmp",  // temp file
           "shard-2-of-4-99999999999999999999.ckpt",      // overflows
           "../shard-2-of-4-00000000000000000007.ckpt",
           "shard-+2-of-4-00000000000000000007.ckpt",
           "shard-2-of-4-00000000000000000007.CKPT",
           "manifest-00000000000000000007.txt",
       }) {
    EXPECT_FALSE(ParseCheckpointFileName(bad).has_value()) << bad;
  }
}

TEST_F(CheckpointFilesTest, OpenValidatesOptions) {
  CheckpointDirectoryOptions options;
  options.path = dir_;
  options.shard_index = 2;
  options.num_shards = 2;
  EXPECT_TRUE(absl::IsInvalidArgument(CheckpointDirectory::Open(options).status()));
  options.shard_index = 0;
  options.keep_last = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(CheckpointDirectory::Open(options).status()));
  options.path.clear();
  options.keep_last = 1;
  EXPECT_TRUE(absl::IsInvalidArgument(CheckpointDirectory::Open(options).status()));
}

TEST_F(CheckpointFilesTest, WritesAtomicallyAndLoads) {
  auto dir = Open(1, 2);
  const ShardCheckpoint c = MakeCheckpoint(1, 2, 1.5f);
  absl::StatusOr<WrittenCheckpoint> written = dir->WriteAtomically(c);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->file_name, "shard-1-of-2-00000000000000000001.ckpt");
  EXPECT_EQ(written->path, Path(written->file_name));
  EXPECT_EQ(written->sequence, 1u);
  EXPECT_THAT(Files(), ElementsAre(written->file_name));
  absl::StatusOr<FileDigest> digest = DigestFile(written->path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, written->digest);
  EXPECT_EQ(digest->size_bytes, fs::file_size(written->path));

  FileDigest read_digest;
  absl::StatusOr<ShardCheckpoint> read = ReadCheckpointFile(written->path, &read_digest);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == c);
  EXPECT_EQ(read_digest, written->digest);

  absl::StatusOr<LoadedCheckpoint> loaded = dir->LoadNewestValid();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->checkpoint == c);
  EXPECT_EQ(loaded->file_name, written->file_name);
  EXPECT_EQ(loaded->sequence, 1u);
  EXPECT_TRUE(loaded->rejected.empty());
}

TEST_F(CheckpointFilesTest, KeepsTheLastK) {
  auto dir = Open(0, 1, /*keep_last=*/2);
  for (int i = 1; i <= 5; ++i) {
    absl::StatusOr<WrittenCheckpoint> written =
        dir->WriteAtomically(MakeCheckpoint(0, 1, static_cast<float>(i)));
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(written->sequence, static_cast<uint64_t>(i));
    EXPECT_TRUE(written->prune_errors.empty());
    if (i > 2) {
      EXPECT_THAT(written->pruned, ElementsAre(CheckpointFileName({0, 1, uint64_t(i - 2)})));
    }
  }
  EXPECT_THAT(Files(), ElementsAre(CheckpointFileName({0, 1, 4}), CheckpointFileName({0, 1, 5})));
  absl::StatusOr<LoadedCheckpoint> loaded = dir->LoadNewestValid();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ValueOf(loaded->checkpoint), 5.0f);
}

TEST_F(CheckpointFilesTest, FallsBackPastCorruptAndTruncatedFilesAndTempFiles) {
  auto dir = Open(1, 2, /*keep_last=*/5);
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(dir->WriteAtomically(MakeCheckpoint(1, 2, static_cast<float>(i))).ok());
  }
  // Newest: one byte flipped in its parameters. Next: cut short.
  const std::string newest = Path(CheckpointFileName({1, 2, 4}));
  std::string bytes = ReadAll(newest);
  bytes[bytes.size() / 2] ^= 0x10;
  WriteAll(newest, bytes);
  const std::string third = Path(CheckpointFileName({1, 2, 3}));
  WriteAll(third, ReadAll(third).substr(0, 1000));
  // A crash in the middle of writing the fifth left its temp file.
  const std::string temp = CheckpointFileName({1, 2, 5}) + ".tmp";
  WriteAll(Path(temp), "ADAMCKPT partial");

  absl::StatusOr<LoadedCheckpoint> loaded = Open(1, 2)->LoadNewestValid();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ValueOf(loaded->checkpoint), 2.0f);
  EXPECT_EQ(loaded->sequence, 2u);
  ASSERT_EQ(loaded->rejected.size(), 2u);
  EXPECT_EQ(loaded->rejected[0].file_name, CheckpointFileName({1, 2, 4}));
  EXPECT_TRUE(absl::IsDataLoss(loaded->rejected[0].reason)) << loaded->rejected[0].reason;
  EXPECT_THAT(loaded->rejected[0].reason.message(), HasSubstr("checksum mismatch"));
  EXPECT_EQ(loaded->rejected[1].file_name, CheckpointFileName({1, 2, 3}));
  EXPECT_THAT(loaded->rejected[1].reason.message(), HasSubstr("exceeds"));
  EXPECT_THAT(loaded->removed_temp_files, ElementsAre(temp));
  EXPECT_FALSE(fs::exists(Path(temp)));

  // The next write goes after the newest file, corrupt or not.
  absl::StatusOr<WrittenCheckpoint> written = dir->WriteAtomically(MakeCheckpoint(1, 2, 9));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->sequence, 5u);
}

TEST_F(CheckpointFilesTest, EveryFileRejectedIsDataLoss) {
  auto dir = Open(0, 1);
  ASSERT_TRUE(dir->WriteAtomically(MakeCheckpoint(0, 1, 1)).ok());
  ASSERT_TRUE(dir->WriteAtomically(MakeCheckpoint(0, 1, 2)).ok());
  WriteAll(Path(CheckpointFileName({0, 1, 1})), "garbage");
  WriteAll(Path(CheckpointFileName({0, 1, 2})), "");
  absl::Status status = dir->LoadNewestValid().status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr(CheckpointFileName({0, 1, 1})));
  EXPECT_THAT(status.message(), HasSubstr(CheckpointFileName({0, 1, 2})));
}

TEST_F(CheckpointFilesTest, EmptyDirectoryIsNotFound) {
  absl::Status status = Open(0, 1)->LoadNewestValid().status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
}

TEST_F(CheckpointFilesTest, OtherShardCountIsFailedPrecondition) {
  ASSERT_TRUE(Open(1, 4)->WriteAtomically(MakeCheckpoint(1, 4, 1)).ok());
  absl::Status status = Open(1, 8)->LoadNewestValid().status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("written with 4 shards"));
}

TEST_F(CheckpointFilesTest, ShardsShareADirectory) {
  ASSERT_TRUE(Open(0, 2)->WriteAtomically(MakeCheckpoint(0, 2, 10)).ok());
  ASSERT_TRUE(Open(1, 2)->WriteAtomically(MakeCheckpoint(1, 2, 11)).ok());
  ASSERT_TRUE(Open(1, 2)->WriteAtomically(MakeCheckpoint(1, 2, 12)).ok());
  absl::StatusOr<LoadedCheckpoint> zero = Open(0, 2)->LoadNewestValid();
  absl::StatusOr<LoadedCheckpoint> one = Open(1, 2)->LoadNewestValid();
  ASSERT_TRUE(zero.ok() && one.ok());
  EXPECT_EQ(ValueOf(zero->checkpoint), 10.0f);
  EXPECT_EQ(ValueOf(one->checkpoint), 12.0f);
  EXPECT_EQ(one->sequence, 2u);
}

TEST_F(CheckpointFilesTest, RejectsAFileWhoseContentIsOfAnotherShard) {
  ASSERT_TRUE(Open(0, 2)->WriteAtomically(MakeCheckpoint(0, 2, 1)).ok());
  fs::copy_file(Path(CheckpointFileName({0, 2, 1})), Path(CheckpointFileName({1, 2, 1})));
  absl::StatusOr<LoadedCheckpoint> loaded = Open(1, 2)->LoadNewestValid();
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
  EXPECT_THAT(loaded.status().message(), HasSubstr("written by shard 0 of 2"));
}

TEST_F(CheckpointFilesTest, WriteRejectsAnotherShardsCheckpoint) {
  auto dir = Open(0, 2);
  absl::Status status = dir->WriteAtomically(MakeCheckpoint(1, 2, 1)).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  ShardCheckpoint broken = MakeCheckpoint(0, 2, 1);
  broken.tables[0].p.pop_back();
  status = dir->WriteAtomically(broken).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_TRUE(Files().empty());
}

TEST_F(CheckpointFilesTest, ACrashAtAnyStageLeavesALoadableCheckpoint) {
  bool renamed = false;
  for (std::string_view stage : kCheckpointWriteStages) {
    SCOPED_TRACE(std::string(stage));
    fs::remove_all(dir_);
    ASSERT_TRUE(Open(0, 1, /*keep_last=*/1)->WriteAtomically(MakeCheckpoint(0, 1, 1)).ok());
    const absl::Status crash = absl::UnavailableError("simulated crash");
    auto crashing = Open(0, 1, /*keep_last=*/1,
                         [&](std::string_view s) { return s == stage ? crash : absl::OkStatus(); });
    EXPECT_EQ(crashing->WriteAtomically(MakeCheckpoint(0, 1, 2)).status(), crash);
    renamed = renamed || stage == kStageAfterRenameBeforeDirFsync;

    // A restarted process: the previous checkpoint, or the new one if it
    // was complete and renamed; never an error; the temp file is cleaned.
    absl::StatusOr<LoadedCheckpoint> loaded = Open(0, 1, 1)->LoadNewestValid();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_TRUE(loaded->rejected.empty());
    EXPECT_EQ(ValueOf(loaded->checkpoint), renamed ? 2.0f : 1.0f);
    EXPECT_EQ(loaded->removed_temp_files.size(), renamed ? 0u : 1u);
    for (const std::string& name : Files()) EXPECT_THAT(name, ::testing::Not(HasSubstr(".tmp")));

    // Writing goes on normally afterwards.
    absl::StatusOr<WrittenCheckpoint> next =
        Open(0, 1, 1)->WriteAtomically(MakeCheckpoint(0, 1, 3));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_THAT(Files(), ElementsAre(next->file_name));
    loaded = Open(0, 1, 1)->LoadNewestValid();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(ValueOf(loaded->checkpoint), 3.0f);
  }
}

// Writes shard i of `shards` for cut `id` and returns the manifest naming them.
CheckpointManifest WriteCut(const std::string& dir, uint32_t shards, uint64_t id, float value) {
  CheckpointManifest m;
  m.checkpoint_id = id;
  m.num_shards = shards;
  for (uint32_t s = 0; s < shards; ++s) {
    CheckpointDirectoryOptions options;
    options.path = dir;
    options.shard_index = s;
    options.num_shards = shards;
    options.keep_last = 1;
    absl::StatusOr<WrittenCheckpoint> written =
        (*CheckpointDirectory::Open(options))
            ->WriteAtomically(MakeCheckpoint(s, shards, value, id));
    EXPECT_TRUE(written.ok()) << written.status();
    m.entries.push_back({s, written->file_name, written->digest});
  }
  return m;
}

TEST_F(CheckpointFilesTest, ManifestRoundTripsAndLoadsEachShard) {
  const CheckpointManifest m = WriteCut(dir_, 2, 7, 4);
  ASSERT_TRUE(WriteManifest(dir_, m).ok());
  EXPECT_EQ(ManifestFileName(7), "manifest-00000000000000000007.txt");
  absl::StatusOr<CheckpointManifest> read = ReadManifest(Path(ManifestFileName(7)));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, m);
  absl::StatusOr<std::vector<CheckpointManifest>> all = ListManifests(dir_);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(m));
  for (uint32_t s = 0; s < 2; ++s) {
    absl::StatusOr<ShardCheckpoint> c = LoadFromManifest(dir_, m, s, 2);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(*c == MakeCheckpoint(s, 2, 4, 7));
  }
  EXPECT_TRUE(absl::IsFailedPrecondition(LoadFromManifest(dir_, m, 0, 3).status()));
}

TEST_F(CheckpointFilesTest, ManifestDetectsEveryFlipAndTruncation) {
  const CheckpointManifest m = WriteCut(dir_, 3, 12, 1);
  const std::string text = EncodeManifest(m);
  ASSERT_TRUE(DecodeManifest(text, "m").ok());
  for (size_t i = 0; i < text.size(); ++i) {
    for (uint8_t mask : {0x01, 0x20, 0xff}) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      absl::Status status = DecodeManifest(bad, "m").status();
      EXPECT_TRUE(absl::IsDataLoss(status)) << "byte " << i << ": " << status;
    }
  }
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(text.substr(0, n), "m").status())) << n;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(text + "\n", "m").status()));
}

TEST_F(CheckpointFilesTest, ManifestDetectsAReplacedFile) {
  const CheckpointManifest m = WriteCut(dir_, 2, 3, 1);
  // Same name, valid checkpoint, different content.
  ShardCheckpoint other = MakeCheckpoint(0, 2, 99, 3);
  std::string bytes;
  StringCheckpointSink sink(&bytes);
  ASSERT_TRUE(WriteCheckpoint(other, &sink).ok());
  WriteAll(Path(m.entries[0].file_name), bytes);
  absl::Status status = LoadFromManifest(dir_, m, 0, 2).status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("the manifest of checkpoint 3 recorded"));
  fs::remove(Path(m.entries[1].file_name));
  EXPECT_TRUE(absl::IsNotFound(LoadFromManifest(dir_, m, 1, 2).status()));
}

TEST_F(CheckpointFilesTest, WriteManifestValidates) {
  CheckpointManifest m = WriteCut(dir_, 2, 5, 1);
  CheckpointManifest bad = m;
  bad.checkpoint_id = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(WriteManifest(dir_, bad)));
  bad = m;
  bad.entries.pop_back();
  EXPECT_TRUE(absl::IsInvalidArgument(WriteManifest(dir_, bad)));
  bad = m;
  bad.entries[1].file_name = "../" + bad.entries[1].file_name;
  EXPECT_TRUE(absl::IsInvalidArgument(WriteManifest(dir_, bad)));
  bad = m;
  std::swap(bad.entries[0], bad.entries[1]);
  EXPECT_TRUE(absl::IsInvalidArgument(WriteManifest(dir_, bad)));
  EXPECT_FALSE(fs::exists(Path(ManifestFileName(5))));
}

TEST_F(CheckpointFilesTest, ACrashWritingAManifestLeavesTheOldOnes) {
  const CheckpointManifest first = WriteCut(dir_, 1, 1, 1);
  ASSERT_TRUE(WriteManifest(dir_, first).ok());
  const CheckpointManifest second = WriteCut(dir_, 1, 2, 2);
  for (const char* stage :
       {"manifest_after_write_before_fsync", "manifest_after_fsync_before_rename"}) {
    SCOPED_TRACE(stage);
    const absl::Status crash = absl::UnavailableError("simulated crash");
    EXPECT_EQ(
        WriteManifest(dir_, second,
                      [&](std::string_view s) { return s == stage ? crash : absl::OkStatus(); }),
        crash);
    absl::StatusOr<std::vector<CheckpointManifest>> all = ListManifests(dir_);
    ASSERT_TRUE(all.ok());
    EXPECT_THAT(*all, ElementsAre(first));
  }
  ASSERT_TRUE(WriteManifest(dir_, second).ok());
  absl::StatusOr<std::vector<CheckpointManifest>> all = ListManifests(dir_);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(first, second));
}

TEST_F(CheckpointFilesTest, FilesAManifestNamesAreNotPruned) {
  const CheckpointManifest cut = WriteCut(dir_, 1, 9, 1);
  ASSERT_TRUE(WriteManifest(dir_, cut).ok());
  auto dir = Open(0, 1, /*keep_last=*/1);
  for (int i = 2; i <= 4; ++i) {
    ASSERT_TRUE(dir->WriteAtomically(MakeCheckpoint(0, 1, static_cast<float>(i))).ok());
  }
  EXPECT_THAT(Files(), ElementsAre(ManifestFileName(9), cut.entries[0].file_name,
                                   CheckpointFileName({0, 1, 4})));
  EXPECT_TRUE(LoadFromManifest(dir_, cut, 0, 1).ok());
  // Deleting the manifest releases the file to the next prune.
  fs::remove(Path(ManifestFileName(9)));
  ASSERT_TRUE(dir->WriteAtomically(MakeCheckpoint(0, 1, 5)).ok());
  EXPECT_THAT(Files(), ElementsAre(CheckpointFileName({0, 1, 5})));
}

}  // namespace
}  // namespace adamasync
