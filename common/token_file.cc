#include "common/token_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {

absl::StatusOr<FileStamp> StatFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat '", path, "': ", std::strerror(errno)));
  }
  FileStamp stamp;
  stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  stamp.size = static_cast<uint64_t>(st.st_size);
  stamp.inode = static_cast<uint64_t>(st.st_ino);
  return stamp;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::string contents;
  char buffer[4096];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    contents.append(buffer, static_cast<size_t>(in.gcount()));
    if (contents.size() > kMaxSecretFileBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("'", path, "' is larger than ", kMaxSecretFileBytes, " bytes"));
    }
  }
  if (in.bad()) return absl::NotFoundError(absl::StrCat("error reading '", path, "'"));
  return contents;
}

absl::Status ValidateBearerToken(const std::string& token) {
  if (token.empty()) return absl::InvalidArgumentError("the bearer token is empty");
  if (token.size() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("the bearer token is ", token.size(), " characters, the limit is 4096"));
  }
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(
          "the bearer token may hold only printable ASCII characters without spaces");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BearerTokenSource>> BearerTokenSource::Create(
    const ClientCredentials& credentials, const Clock* clock, absl::Duration recheck) {
  if (!credentials.token.empty() && !credentials.token_file.empty()) {
    return absl::InvalidArgumentError("credentials: give token or token_file, not both");
  }
  std::unique_ptr<BearerTokenSource> source(new BearerTokenSource(clock, recheck));
  absl::MutexLock lock(&source->mu_);
  if (credentials.token_file.empty()) {
    RETURN_IF_ERROR(ValidateBearerToken(credentials.token));
    source->token_ = credentials.token;
  } else {
    source->path_ = credentials.token_file;
    RETURN_IF_ERROR(source->Load());
  }
  source->checked_ = clock->Now();
  return source;
}

absl::Status BearerTokenSource::Load() {
  ASSIGN_OR_RETURN(FileStamp stamp, StatFile(path_));
  ASSIGN_OR_RETURN(std::string contents, ReadSecretFile(path_));
  std::string token(absl::StripAsciiWhitespace(contents));
  if (absl::Status valid = ValidateBearerToken(token); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path_, "': ", valid.message()));
  }
  token_ = std::move(token);
  stamp_ = stamp;
  return absl::OkStatus();
}

std::string BearerTokenSource::AuthorizationValue() {
  absl::MutexLock lock(&mu_);
  if (!path_.empty()) {
    const absl::Time now = clock_->Now();
    if (now - checked_ >= recheck_) {
      checked_ = now;
      absl::StatusOr<FileStamp> stamp = StatFile(path_);
      // A failed reload keeps the last good token: a half-written file must
      // not turn every call into UNAUTHENTICATED.
      if (stamp.ok() && *stamp != stamp_) Load().IgnoreError();
    }
  }
  return absl::StrCat("Bearer ", token_);
}

}  // namespace adamasync
