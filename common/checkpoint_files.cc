#include "common/checkpoint_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

// This abseil's string_view is not std::string_view: the API takes the std
// one, absl::StrCat and friends the absl one.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr absl::string_view kTempSuffix = ".tmp";
constexpr absl::string_view kCheckpointSuffix = ".ckpt";
constexpr absl::string_view kManifestPrefix = "manifest-";
constexpr absl::string_view kManifestSuffix = ".txt";
constexpr absl::string_view kManifestMagicLine = "ADAMASYNC-MANIFEST 1";
constexpr uint64_t kMaxManifestBytes = uint64_t{16} << 20;

absl::Status ErrnoError(int error, absl::string_view what, absl::string_view path) {
  char buffer[256];
  // GNU strerror_r: returns the message (in `buffer` or a static string).
  const char* message = strerror_r(error, buffer, sizeof(buffer));
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(what, " '", path, "': ", message));
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  return absl::StrCat(dir, absl::EndsWith(dir, "/") ? "" : "/", name);
}

// Digits only (no sign, no space), no leading zero unless `allow_zeros`,
// no overflow.
std::optional<uint64_t> ParseDecimal(absl::string_view s, bool allow_leading_zeros) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (!allow_leading_zeros && s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

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

// Closes the fd on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now, reporting the error (a write error may surface only here).
  absl::Status Close(absl::string_view path) {
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return ErrnoError(errno, "close", path);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, const char* data, size_t n, absl::string_view path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open directory", dir);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return ErrnoError(errno, "fsync directory", dir);
  return closer.Close(dir);
}

// Appends to an open file, hashing what it writes, and fires the mid_write
// fault stage after the first piece.
class FdSink final : public CheckpointSink {
 public:
  FdSink(int fd, std::string path, const CheckpointFaultHook* hook)
      : fd_(fd), path_(std::move(path)), hook_(hook), state_(XXH64_createState()) {
    XXH64_reset(state_, 0);
  }
  ~FdSink() override { XXH64_freeState(state_); }

  absl::Status Append(std::string_view bytes) override {
    RETURN_IF_ERROR(WriteAll(fd_, bytes.data(), bytes.size(), path_));
    XXH64_update(state_, bytes.data(), bytes.size());
    size_ += bytes.size();
    if (!fired_ && hook_ != nullptr && *hook_) {
      fired_ = true;
      absl::Status status = (*hook_)(kStageMidWrite);
      if (!status.ok()) {
        crashed_ = true;
        return status;
      }
    }
    return absl::OkStatus();
  }

  FileDigest digest() const { return {size_, XXH64_digest(state_)}; }
  // True when the fault hook stopped the write (a simulated crash).
  bool crashed() const { return crashed_; }

 private:
  const int fd_;
  const std::string path_;
  const CheckpointFaultHook* const hook_;
  XXH64_state_t* const state_;
  uint64_t size_ = 0;
  bool fired_ = false;
  bool crashed_ = false;
};

// Reads a file sequentially, optionally hashing what it reads.
class FileSource final : public CheckpointSource {
 public:
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, "stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return absl::FailedPreconditionError(absl::StrCat("'", path, "' is not a regular file"));
    }
    return std::unique_ptr<FileSource>(new FileSource(fd, path, static_cast<uint64_t>(st.st_size)));
  }
  ~FileSource() override {
    ::close(fd_);
    XXH64_freeState(state_);
  }

  uint64_t size() const override { return size_; }
  absl::Status Read(char* dst, size_t n) override {
    while (n > 0) {
      const ssize_t r = ::read(fd_, dst, n);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "read", path_);
      }
      if (r == 0) return absl::DataLossError("the file ended early (did it shrink?)");
      XXH64_update(state_, dst, static_cast<size_t>(r));
      read_ += static_cast<uint64_t>(r);
      dst += r;
      n -= static_cast<size_t>(r);
    }
    return absl::OkStatus();
  }
  FileDigest digest() const { return {read_, XXH64_digest(state_)}; }

 private:
  FileSource(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size), state_(XXH64_createState()) {
    XXH64_reset(state_, 0);
  }

  const int fd_;
  const std::string path_;
  const uint64_t size_;
  XXH64_state_t* const state_;
  uint64_t read_ = 0;
};

// The names of the regular files in `dir`.
absl::StatusOr<std::vector<std::string>> FileNames(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return ErrnoError(ec.value(), "list directory", dir);
  std::vector<std::string> names;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) names.push_back(it->path().filename().string());
  }
  if (ec) return ErrnoError(ec.value(), "list directory", dir);
  std::sort(names.begin(), names.end());
  return names;
}

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

// ------------------------------------------------------------- file names

std::string CheckpointFileName(const CheckpointFileId& id) {
  return absl::StrCat("shard-", id.shard_index, "-of-", id.num_shards, "-",
                      absl::Dec(id.sequence, absl::kZeroPad20), kCheckpointSuffix);
}

std::optional<CheckpointFileId> ParseCheckpointFileName(std::string_view file_name) {
  absl::string_view name = AV(file_name);
  if (name.substr(0, 6) != "shard-" || !absl::EndsWith(name, kCheckpointSuffix))
    return std::nullopt;
  name.remove_prefix(6);
  name.remove_suffix(kCheckpointSuffix.size());
  // <index>-of-<count>-<sequence>
  const std::vector<absl::string_view> parts = absl::StrSplit(name, '-');
  if (parts.size() != 4 || parts[1] != "of" || parts[3].size() != 20) return std::nullopt;
  const std::optional<uint64_t> index = ParseDecimal(parts[0], false);
  const std::optional<uint64_t> count = ParseDecimal(parts[2], false);
  const std::optional<uint64_t> sequence = ParseDecimal(parts[3], true);
  if (!index || !count || !sequence || *count == 0 || *count > kMaxCheckpointShards ||
      *index >= *count) {
    return std::nullopt;
  }
  return CheckpointFileId{static_cast<uint32_t>(*index), static_cast<uint32_t>(*count), *sequence};
}

// ------------------------------------------------------------ whole files

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  std::vector<char> buffer(std::min<uint64_t>(source->size(), kCheckpointIoBufferBytes));
  uint64_t left = source->size();
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
    absl::Status status = source->Read(buffer.data(), n);
    if (!status.ok())
      return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
    left -= n;
  }
  return source->digest();
}

absl::StatusOr<ShardCheckpoint> ReadCheckpointFile(const std::string& path, FileDigest* digest) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpoint(source.get(), path);
  if (digest != nullptr) *digest = source->digest();
  return checkpoint;
}

// ------------------------------------------------------- the directory

CheckpointDirectory::CheckpointDirectory(CheckpointDirectoryOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<CheckpointDirectory>> CheckpointDirectory::Open(
    CheckpointDirectoryOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("checkpoint directory path is empty");
  if (options.num_shards == 0 || options.num_shards > kMaxCheckpointShards ||
      options.shard_index >= options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint directory for shard ", options.shard_index, " of ", options.num_shards,
        ": need shard_index < num_shards <= ", kMaxCheckpointShards));
  }
  if (options.keep_last < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_last must be >= 1, got ", options.keep_last));
  }
  std::error_code ec;
  const bool created = std::filesystem::create_directories(options.path, ec);
  if (ec) return ErrnoError(ec.value(), "create directory", options.path);
  if (created) {
    // Make the new directory's own entry durable.
    std::filesystem::path dir = std::filesystem::absolute(options.path, ec).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    if (!ec) RETURN_IF_ERROR(SyncDirectory(dir.parent_path().string()));
  }
  if (!std::filesystem::is_directory(options.path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint path '", options.path, "' is not a directory"));
  }
  return std::unique_ptr<CheckpointDirectory>(new CheckpointDirectory(std::move(options)));
}

absl::Status CheckpointDirectory::Hook(std::string_view stage) const {
  return options_.fault_hook ? options_.fault_hook(stage) : absl::OkStatus();
}

absl::StatusOr<std::vector<CheckpointFileId>> CheckpointDirectory::List() const {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
  std::vector<CheckpointFileId> ids;
  for (const std::string& name : names) {
    const std::optional<CheckpointFileId> id = ParseCheckpointFileName(name);
    if (id && id->shard_index == options_.shard_index && id->num_shards == options_.num_shards) {
      ids.push_back(*id);
    }
  }
  std::sort(ids.begin(), ids.end(), [](const CheckpointFileId& a, const CheckpointFileId& b) {
    return a.sequence < b.sequence;
  });
  return ids;
}

absl::StatusOr<std::vector<std::string>> CheckpointDirectory::RemoveTempFiles() {
  ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
  std::vector<std::string> removed;
  for (const std::string& name : names) {
    if (!absl::EndsWith(name, kTempSuffix)) continue;
    const std::optional<CheckpointFileId> id =
        ParseCheckpointFileName(std::string_view(name).substr(0, name.size() - kTempSuffix.size()));
    if (!id || id->shard_index != options_.shard_index || id->num_shards != options_.num_shards) {
      continue;
    }
    const std::string path = JoinPath(options_.path, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "remove temp file", path);
    }
    removed.push_back(name);
  }
  return removed;
}

absl::StatusOr<WrittenCheckpoint> CheckpointDirectory::WriteAtomically(
    const ShardCheckpoint& checkpoint) {
  if (!CheckCheckpointShard(checkpoint.header, options_.shard_index, options_.num_shards).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint of shard ", checkpoint.header.shard_index, " of ", checkpoint.header.num_shards,
        " given to the directory of shard ", options_.shard_index, " of ", options_.num_shards));
  }
  // Fail before touching the directory (WriteCheckpoint checks it again).
  if (absl::Status s = ValidateShardCheckpoint(checkpoint); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write checkpoint: ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(RemoveTempFiles().status());
  ASSIGN_OR_RETURN(const std::vector<CheckpointFileId> existing, List());
  WrittenCheckpoint written;
  if (!existing.empty() && existing.back().sequence == UINT64_MAX) {
    return absl::ResourceExhaustedError(
        absl::StrCat("checkpoint sequence numbers of ", options_.path, " are used up"));
  }
  written.sequence = existing.empty() ? 1 : existing.back().sequence + 1;
  written.file_name =
      CheckpointFileName({options_.shard_index, options_.num_shards, written.sequence});
  written.path = JoinPath(options_.path, written.file_name);
  const std::string temp = absl::StrCat(written.path, kTempSuffix);

  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "create", temp);
  FdCloser closer(fd);
  RETURN_IF_ERROR(Hook(kStageAfterCreateTemp));
  FdSink sink(fd, temp, &options_.fault_hook);
  absl::Status status = WriteCheckpoint(checkpoint, &sink);
  if (sink.crashed()) return status;
  if (status.ok()) {
    RETURN_IF_ERROR(Hook(kStageAfterWriteBeforeFsync));
    if (::fsync(fd) != 0) status = ErrnoError(errno, "fsync", temp);
  }
  if (status.ok()) status = closer.Close(temp);
  if (status.ok()) {
    RETURN_IF_ERROR(Hook(kStageAfterFsyncBeforeRename));
    if (::rename(temp.c_str(), written.path.c_str()) != 0) {
      status = ErrnoError(errno, "rename", temp);
    }
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  written.digest = sink.digest();
  RETURN_IF_ERROR(Hook(kStageAfterRenameBeforeDirFsync));
  RETURN_IF_ERROR(SyncDirectory(options_.path));
  RETURN_IF_ERROR(Hook(kStageAfterDirFsyncBeforePrune));
  Prune(&written);
  return written;
}

void CheckpointDirectory::Prune(WrittenCheckpoint* written) {
  absl::StatusOr<std::vector<CheckpointFileId>> files = List();
  if (!files.ok()) {
    written->prune_errors.push_back(std::string(files.status().message()));
    return;
  }
  const size_t keep = static_cast<size_t>(options_.keep_last);
  if (files->size() <= keep) return;
  // Files a consistent cut needs stay until its manifest is deleted.
  std::set<std::string> needed;
  absl::StatusOr<std::vector<CheckpointManifest>> manifests = ListManifests(options_.path);
  if (!manifests.ok()) {
    written->prune_errors.push_back(absl::StrCat("not pruning: ", manifests.status().message()));
    return;
  }
  for (const CheckpointManifest& m : *manifests) {
    for (const ManifestEntry& e : m.entries) needed.insert(e.file_name);
  }
  for (size_t i = 0; i + keep < files->size(); ++i) {
    const std::string name = CheckpointFileName((*files)[i]);
    if (needed.count(name) > 0) continue;
    const std::string path = JoinPath(options_.path, name);
    if (::unlink(path.c_str()) == 0) {
      written->pruned.push_back(name);
    } else {
      written->prune_errors.push_back(ErrnoError(errno, "remove", path).ToString());
    }
  }
}

absl::StatusOr<LoadedCheckpoint> CheckpointDirectory::LoadNewestValid() {
  absl::MutexLock lock(&mu_);
  LoadedCheckpoint loaded;
  ASSIGN_OR_RETURN(loaded.removed_temp_files, RemoveTempFiles());
  ASSIGN_OR_RETURN(const std::vector<CheckpointFileId> files, List());
  const std::string shard =
      absl::StrCat("shard ", options_.shard_index, " of ", options_.num_shards);
  if (files.empty()) {
    ASSIGN_OR_RETURN(const std::vector<std::string> names, FileNames(options_.path));
    std::set<uint32_t> other_counts;
    for (const std::string& name : names) {
      const std::optional<CheckpointFileId> id = ParseCheckpointFileName(name);
      if (id && id->num_shards != options_.num_shards) other_counts.insert(id->num_shards);
    }
    if (!other_counts.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint directory '", options_.path, "' has no checkpoint of ", shard,
          " but has checkpoints written with ", absl::StrJoin(other_counts, ", "),
          " shards: a checkpoint restores only into a cluster with the same shard count"));
    }
    return absl::NotFoundError(
        absl::StrCat("checkpoint directory '", options_.path, "' has no checkpoint of ", shard));
  }
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const std::string name = CheckpointFileName(*it);
    absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpointFile(JoinPath(options_.path, name));
    absl::Status status = checkpoint.status();
    if (status.ok()) {
      status = CheckCheckpointShard(checkpoint->header, options_.shard_index, options_.num_shards);
    }
    if (!status.ok()) {
      loaded.rejected.push_back({name, status});
      continue;
    }
    loaded.checkpoint = *std::move(checkpoint);
    loaded.file_name = name;
    loaded.sequence = it->sequence;
    return loaded;
  }
  std::vector<std::string> reasons;
  for (const RejectedCheckpoint& r : loaded.rejected) {
    reasons.push_back(absl::StrCat(r.file_name, ": ", r.reason.ToString()));
  }
  return absl::DataLossError(absl::StrCat("no valid checkpoint of ", shard, " in '", options_.path,
                                          "'; rejected: ", absl::StrJoin(reasons, "; ")));
}

// -------------------------------------------------------------- manifests

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
