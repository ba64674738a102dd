// Secret files (bearer tokens, token tables): bounded reads, change
// detection for rotation, and the client's source of its bearer token.
//
// Secrets are never logged: errors name the file, never its contents.
//
// Example (client):
//   ASSIGN_OR_RETURN(auto source, BearerTokenSource::Create(credentials));
//   context->AddMetadata("authorization", source->AuthorizationValue());
#ifndef ADAMASYNC_COMMON_TOKEN_FILE_H_
#define ADAMASYNC_COMMON_TOKEN_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adamasync/security.h"
#include "common/clock.h"

namespace adamasync {

// Largest secret file read (a token table of many thousand lines fits).
inline constexpr uint64_t kMaxSecretFileBytes = uint64_t{1} << 20;

// What identifies one version of a file: rewriting it (or renaming a new
// file over it, as Kubernetes does for mounted secrets) changes the stamp.
struct FileStamp {
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

// NOT_FOUND when the file cannot be stat'ed.
absl::StatusOr<FileStamp> StatFile(const std::string& path);

// The whole file. NOT_FOUND when unreadable; RESOURCE_EXHAUSTED beyond
// kMaxSecretFileBytes.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// The bearer token a client sends, from ClientCredentials: fixed, or read
// from a file and re-read when the file changes (checked at most once per
// `recheck`). Thread-safe.
class BearerTokenSource {
 public:
  // INVALID_ARGUMENT for both a token and a file, an empty token or one with
  // characters not allowed in a header; NOT_FOUND for an unreadable file.
  // `clock` (not owned) must outlive the source.
  static absl::StatusOr<std::unique_ptr<BearerTokenSource>> Create(
      const ClientCredentials& credentials, const Clock* clock = Clock::Real(),
      absl::Duration recheck = absl::Seconds(1));

  // "Bearer <token>", re-reading a changed file first (keeping the last
  // good token if the new contents are unreadable or malformed).
  std::string AuthorizationValue();

 private:
  BearerTokenSource(const Clock* clock, absl::Duration recheck)
      : clock_(clock), recheck_(recheck) {}
  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const absl::Duration recheck_;
  std::string path_;  // empty: fixed token
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_ ABSL_GUARDED_BY(mu_);
};

// OK when `token` may be sent as a bearer token: 1-4096 printable ASCII
// characters without spaces. INVALID_ARGUMENT otherwise (never quoting it).
absl::Status ValidateBearerToken(const std::string& token);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_TOKEN_FILE_H_
