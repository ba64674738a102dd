// Manifests (common/checkpoint_files.h): the text file that names the
// checkpoint file of every shard of one consistent cut. Its canonical,
// checksummed encoding and strict decoding, atomic writes, listing, and
// loading one shard's file of a cut with its size and XXH64 checked.
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/checkpoint_files.h"
#include "common/checkpoint_files_internal.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

using checkpoint_internal::AV;
using checkpoint_internal::ErrnoError;
using checkpoint_internal::FdCloser;
using checkpoint_internal::FileNames;
using checkpoint_internal::FileSource;
using checkpoint_internal::JoinPath;
using checkpoint_internal::kTempSuffix;
using checkpoint_internal::ParseDecimal;
using checkpoint_internal::SyncDirectory;
using checkpoint_internal::WriteAll;

constexpr absl::string_view kManifestPrefix = "manifest-";
constexpr absl::string_view kManifestSuffix = ".txt";
constexpr absl::string_view kManifestMagicLine = "ADAMASYNC-MANIFEST 1";
constexpr uint64_t kMaxManifestBytes = uint64_t{16} << 20;

std::optional<uint64_t> ParseHex16(absl::string_view s) {
  if (s.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a') + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  return v;
}

std::string Hex16(uint64_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad16)); }

absl::Status ValidateManifest(const CheckpointManifest& m) {
  if (m.checkpoint_id == 0) {
    return absl::InvalidArgumentError("manifest checkpoint_id must be > 0 (0 means periodic)");
  }
  if (m.num_shards == 0 || m.num_shards > kMaxCheckpointShards) {
    return absl::InvalidArgumentError(absl::StrCat("manifest num_shards must be in [1, ",
                                                   kMaxCheckpointShards, "], got ", m.num_shards));
  }
  if (m.entries.size() != m.num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest has ", m.entries.size(), " entries for ", m.num_shards, " shards"));
  }
  for (uint32_t i = 0; i < m.num_shards; ++i) {
    const ManifestEntry& e = m.entries[i];
    const std::optional<CheckpointFileId> id = ParseCheckpointFileName(e.file_name);
    if (e.shard_index != i || !id || id->shard_index != i || id->num_shards != m.num_shards) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest entry #", i, " must be shard ", i, " with a file named shard-", i,
                       "-of-", m.num_shards, "-<sequence>.ckpt; got shard ", e.shard_index,
                       " and '", absl::CHexEscape(e.file_name), "'"));
    }
  }
  return absl::OkStatus();
}

// Writes `content` to dir/name via a temp file, fsync, rename, fsync dir.
absl::Status WriteSmallFileAtomically(const std::string& dir, const std::string& name,
                                      std::string_view content, const CheckpointFaultHook& hook) {
  const std::string path = JoinPath(dir, name);
  // A temp name of this process and thread: shards that share a directory
  // may write the same manifest at the same time.
  const std::string temp =
      absl::StrCat(path, ".", ::getpid(), ".",
                   std::hash<std::thread::id>{}(std::this_thread::get_id()), kTempSuffix);
  const auto stage = [&hook](std::string_view s) { return hook ? hook(s) : absl::OkStatus(); };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "create", temp);
  FdCloser closer(fd);
  absl::Status status = WriteAll(fd, content.data(), content.size(), temp);
  if (status.ok()) {
    RETURN_IF_ERROR(stage("manifest_after_write_before_fsync"));
    if (::fsync(fd) != 0) status = ErrnoError(errno, "fsync", temp);
  }
  if (status.ok()) status = closer.Close(temp);
  if (status.ok()) {
    RETURN_IF_ERROR(stage("manifest_after_fsync_before_rename"));
    if (::rename(temp.c_str(), path.c_str()) != 0) status = ErrnoError(errno, "rename", temp);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  RETURN_IF_ERROR(stage("manifest_after_rename_before_dir_fsync"));
  return SyncDirectory(dir);
}

}  // namespace

std::string ManifestFileName(uint64_t checkpoint_id) {
  return absl::StrCat(kManifestPrefix, absl::Dec(checkpoint_id, absl::kZeroPad20), kManifestSuffix);
}

std::string EncodeManifest(const CheckpointManifest& m) {
  std::string text = absl::StrCat(kManifestMagicLine, "\ncheckpoint_id ", m.checkpoint_id,
                                  "\nnum_shards ", m.num_shards, "\n");
  for (const ManifestEntry& e : m.entries) {
    absl::StrAppend(&text, "shard ", e.shard_index, " ", e.file_name, " ", e.digest.size_bytes, " ",
                    Hex16(e.digest.xxh64), "\n");
  }
  absl::StrAppend(&text, "checksum ", Hex16(XXH64(text.data(), text.size(), 0)), "\n");
  return text;
}

absl::StatusOr<CheckpointManifest> DecodeManifest(std::string_view text_std,
                                                  std::string_view name_std) {
  const absl::string_view text = AV(text_std);
  const absl::string_view name = AV(name_std);
  const auto corrupt = [name](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("manifest '", name, "': ", what));
  };
  // The last line is "checksum <16 hex>" over everything before it.
  constexpr size_t kChecksumLineBytes = 9 + 16 + 1;
  if (text.size() < kChecksumLineBytes || text.back() != '\n') {
    return corrupt("truncated (no final checksum line)");
  }
  const absl::string_view body = text.substr(0, text.size() - kChecksumLineBytes);
  const absl::string_view last = text.substr(body.size());
  const std::optional<uint64_t> stored = ParseHex16(last.substr(9, 16));
  if (last.substr(0, 9) != "checksum " || !stored || (!body.empty() && body.back() != '\n')) {
    return corrupt("truncated or damaged final checksum line");
  }
  const uint64_t actual = XXH64(body.data(), body.size(), 0);
  if (*stored != actual) {
    return corrupt(
        absl::StrCat("checksum mismatch: stored ", Hex16(*stored), ", computed ", Hex16(actual)));
  }
  std::vector<absl::string_view> lines = absl::StrSplit(body, '\n');
  lines.pop_back();  // after the final '\n'
  if (lines.size() < 3 || lines[0] != kManifestMagicLine) {
    return corrupt(absl::StrCat("does not start with \"", kManifestMagicLine, "\""));
  }
  CheckpointManifest m;
  const auto field = [](absl::string_view line, absl::string_view key) -> std::optional<uint64_t> {
    if (line.substr(0, key.size() + 1) != absl::StrCat(key, " ")) return std::nullopt;
    return ParseDecimal(line.substr(key.size() + 1), false);
  };
  const std::optional<uint64_t> id = field(lines[1], "checkpoint_id");
  const std::optional<uint64_t> shards = field(lines[2], "num_shards");
  if (!id || !shards || *shards > kMaxCheckpointShards) {
    return corrupt("bad checkpoint_id or num_shards line");
  }
  m.checkpoint_id = *id;
  m.num_shards = static_cast<uint32_t>(*shards);
  for (size_t i = 3; i < lines.size(); ++i) {
    const std::vector<absl::string_view> t = absl::StrSplit(lines[i], ' ');
    std::optional<uint64_t> index, size, hash;
    if (t.size() == 5 && t[0] == "shard") {
      index = ParseDecimal(t[1], false);
      size = ParseDecimal(t[3], false);
      hash = ParseHex16(t[4]);
    }
    if (!index || !size || !hash || *index > kMaxCheckpointShards) {
      return corrupt(
          absl::StrCat("line ", i + 1, " is not \"shard <index> <file> <size> <xxh64>\""));
    }
    m.entries.push_back({static_cast<uint32_t>(*index), std::string(t[2]), {*size, *hash}});
  }
  if (absl::Status s = ValidateManifest(m); !s.ok()) return corrupt(s.message());
  if (EncodeManifest(m) != text) return corrupt("not in canonical form");
  return m;
}

absl::Status WriteManifest(const std::string& dir, const CheckpointManifest& manifest,
                           const CheckpointFaultHook& fault_hook) {
  RETURN_IF_ERROR(ValidateManifest(manifest));
  return WriteSmallFileAtomically(dir, ManifestFileName(manifest.checkpoint_id),
                                  EncodeManifest(manifest), fault_hook);
}

absl::StatusOr<CheckpointManifest> ReadManifest(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  if (source->size() > kMaxManifestBytes) {
    return absl::DataLossError(absl::StrCat("manifest '", path, "' is ", source->size(),
                                            " bytes, the limit is ", kMaxManifestBytes));
  }
  std::string text(source->size(), '\0');
  if (absl::Status s = source->Read(text.data(), text.size()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("manifest '", path, "': ", s.message()));
  }
  return DecodeManifest(text, path);
}

absl::StatusOr<std::vector<CheckpointManifest>> ListManifests(const std::string& dir) {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(dir));
  std::vector<CheckpointManifest> manifests;
  for (const std::string& name : names) {  // sorted: the 20-digit id orders them
    if (name.substr(0, kManifestPrefix.size()) != kManifestPrefix ||
        !absl::EndsWith(name, kManifestSuffix)) {
      continue;
    }
    absl::StatusOr<CheckpointManifest> m = ReadManifest(JoinPath(dir, name));
    if (m.ok() && ManifestFileName(m->checkpoint_id) == name) manifests.push_back(*std::move(m));
  }
  return manifests;
}

absl::StatusOr<ShardCheckpoint> LoadFromManifest(const std::string& dir,
                                                 const CheckpointManifest& manifest,
                                                 uint32_t shard_index, uint32_t num_shards) {
  RETURN_IF_ERROR(ValidateManifest(manifest));
  if (manifest.num_shards != num_shards || shard_index >= num_shards) {
    return absl::FailedPreconditionError(absl::StrCat(
        "manifest of checkpoint ", manifest.checkpoint_id, " is for ", manifest.num_shards,
        " shards, but this server is shard ", shard_index, " of ", num_shards,
        ": a checkpoint restores only into a cluster with the same shard count"));
  }
  const ManifestEntry& entry = manifest.entries[shard_index];
  const std::string path = JoinPath(dir, entry.file_name);
  FileDigest digest;
  absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpointFile(path, &digest);
  // A file that differs from the manifest's record is the wrong file even
  // when it reads as a valid checkpoint.
  if (checkpoint.ok() && digest != entry.digest) {
    return absl::DataLossError(absl::StrCat(
        "'", path, "' is ", digest.size_bytes, " bytes with XXH64 ", Hex16(digest.xxh64),
        ", the manifest of checkpoint ", manifest.checkpoint_id, " recorded ",
        entry.digest.size_bytes, " bytes with XXH64 ", Hex16(entry.digest.xxh64)));
  }
  if (!checkpoint.ok()) return checkpoint.status();
  RETURN_IF_ERROR(CheckCheckpointShard(checkpoint->header, shard_index, num_shards));
  if (checkpoint->header.checkpoint_id != manifest.checkpoint_id) {
    return absl::DataLossError(
        absl::StrCat("'", path, "' belongs to checkpoint ", checkpoint->header.checkpoint_id,
                     ", the manifest is of checkpoint ", manifest.checkpoint_id));
  }
  return checkpoint;
}

}  // namespace adamasync
