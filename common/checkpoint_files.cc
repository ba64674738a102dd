// The file layer under common/checkpoint_files.h: checkpoint file names,
// whole files (DigestFile, ReadCheckpointFile), and the POSIX helpers of
// checkpoint_files_internal.h that the directory (checkpoint_directory.cc)
// and the manifests (checkpoint_manifest.cc) share.
#include "common/checkpoint_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/checkpoint_files_internal.h"
#include "common/status_macros.h"

namespace adamasync {
namespace checkpoint_internal {

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

FdCloser::~FdCloser() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status FdCloser::Close(absl::string_view path) {
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return ErrnoError(errno, "close", path);
  return absl::OkStatus();
}

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

FileSource::FileSource(int fd, std::string path, uint64_t size)
    : fd_(fd), path_(std::move(path)), size_(size), state_(XXH64_createState()) {
  XXH64_reset(state_, 0);
}

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
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

FileSource::~FileSource() {
  ::close(fd_);
  XXH64_freeState(state_);
}

absl::Status FileSource::Read(char* dst, size_t n) {
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

}  // namespace checkpoint_internal

namespace {

using checkpoint_internal::AV;
using checkpoint_internal::FileSource;
using checkpoint_internal::ParseDecimal;

constexpr absl::string_view kCheckpointSuffix = ".ckpt";

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

}  // namespace adamasync
