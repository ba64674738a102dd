// What the three files behind common/checkpoint_files.h share: POSIX calls
// with errors as absl::Status, paths, decimal parsing, the temp-file suffix,
// directory listing and FileSource, a hashing CheckpointSource over a file.
// Defined in checkpoint_files.cc; used by checkpoint_directory.cc and
// checkpoint_manifest.cc. Internal to the checkpoint code, never exported.
#ifndef ADAMASYNC_COMMON_CHECKPOINT_FILES_INTERNAL_H_
#define ADAMASYNC_COMMON_CHECKPOINT_FILES_INTERNAL_H_

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint_files.h"

namespace adamasync {
namespace checkpoint_internal {

// This abseil's string_view is not std::string_view: the API takes the std
// one, absl::StrCat and friends the absl one.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Appended to a file's name while it is being written.
inline constexpr absl::string_view kTempSuffix = ".tmp";

// `what` '<path>': <strerror>, with the absl::StatusCode of `error`.
absl::Status ErrnoError(int error, absl::string_view what, absl::string_view path);

// `dir` + "/" + `name` (no second "/" when `dir` ends with one).
std::string JoinPath(absl::string_view dir, absl::string_view name);

// Digits only (no sign, no space), no leading zero unless
// `allow_leading_zeros`,
// no overflow.
std::optional<uint64_t> ParseDecimal(absl::string_view s, bool allow_leading_zeros);

// Closes the fd on scope exit unless Close() already did.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now, reporting the error (a write error may surface only here).
  absl::Status Close(absl::string_view path);

 private:
  int fd_;
};

// Writes all `n` bytes, retrying short writes and EINTR.
absl::Status WriteAll(int fd, const char* data, size_t n, absl::string_view path);

// fsyncs the directory itself, making the entries created in it durable.
absl::Status SyncDirectory(const std::string& dir);

// Reads a file sequentially, hashing (XXH64) what it reads.
class FileSource final : public CheckpointSource {
 public:
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;

  uint64_t size() const override { return size_; }
  absl::Status Read(char* dst, size_t n) override;
  FileDigest digest() const { return {read_, XXH64_digest(state_)}; }

 private:
  FileSource(int fd, std::string path, uint64_t size);

  const int fd_;
  const std::string path_;
  const uint64_t size_;
  XXH64_state_t* const state_;
  uint64_t read_ = 0;
};

// The names of the regular files in `dir`.
absl::StatusOr<std::vector<std::string>> FileNames(const std::string& dir);

}  // namespace checkpoint_internal
}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_CHECKPOINT_FILES_INTERNAL_H_
