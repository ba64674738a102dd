#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace adamasync {
namespace {

// The one method -> role table. Any method not listed needs admin, so a new
// RPC is closed until it is added here (tests/security/auth_test.cc checks
// that every method of the service is listed).
const std::vector<MethodRole>& Table() {
  static const auto* table = new std::vector<MethodRole>{
      {"Pull", Role::kWorker},
      {"Push", Role::kWorker},
      {"RegisterWorker", Role::kWorker},
      {"Clock", Role::kWorker},
      // Read-only counters; the SDK looks table sizes up through it.
      {"GetStats", Role::kWorker},
      {"CreateTable", Role::kAdmin},
      {"PrepareCheckpoint", Role::kAdmin},
      {"CommitCheckpoint", Role::kAdmin},
      {"AbortCheckpoint", Role::kAdmin},
      {"FinalizeCheckpoint", Role::kAdmin},
      {"WriteParameters", Role::kAdmin},
  };
  return *table;
}

std::array<uint8_t, 32> Sha256(absl::string_view data) {
  std::array<uint8_t, 32> digest{};
  unsigned int length = 0;
  // EVP_Digest with SHA-256 cannot fail on valid arguments; a failure would
  // leave an all-zero digest, which no token of a table has.
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == '@' || c == ':';
}

}  // namespace

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "worker"; }

const std::vector<MethodRole>& MethodRoles() { return Table(); }

Role RequiredRole(absl::string_view method) {
  for (const MethodRole& entry : Table()) {
    if (method == entry.method) return entry.role;
  }
  return Role::kAdmin;
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view contents) {
  TokenTable table;
  absl::flat_hash_set<std::string> digests;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto bad = [line_number](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("token table line ", line_number, ": ", why));
    };
    if (fields.size() != 3) {
      return bad(absl::StrCat("expected 'ROLE NAME TOKEN', found ", fields.size(), " fields"));
    }
    Entry entry;
    if (fields[0] == "admin") {
      entry.principal.role = Role::kAdmin;
    } else if (fields[0] == "worker") {
      entry.principal.role = Role::kWorker;
    } else {
      // Not quoted: a misordered line could put the token first.
      return bad("unknown role (expected worker or admin as the first field)");
    }
    if (fields[1].size() > 64 ||
        !std::all_of(fields[1].begin(), fields[1].end(), [](char c) { return IsNameChar(c); })) {
      return bad("the name must be 1-64 characters of [A-Za-z0-9_.@:-]");
    }
    entry.principal.name = std::string(fields[1]);
    const std::string token(fields[2]);
    if (absl::Status valid = ValidateBearerToken(token); !valid.ok()) return bad(valid.message());
    if (token.size() < kMinTokenLength) {
      return bad(absl::StrCat("the token is shorter than ", kMinTokenLength,
                              " characters (make one with: openssl rand -hex 32)"));
    }
    entry.digest = Sha256(token);
    if (!digests.insert(std::string(entry.digest.begin(), entry.digest.end())).second) {
      return bad("this token is listed twice");
    }
    table.entries_.push_back(std::move(entry));
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(
        "the token table lists no token: every call would be refused");
  }
  return table;
}

std::optional<Principal> TokenTable::Find(absl::string_view token) const {
  const std::array<uint8_t, 32> digest = Sha256(token);
  // Look at every entry whatever matched, so the time taken does not say
  // which entry (if any) matched.
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    const bool match = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (match) found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  return found->principal;
}

size_t TokenTable::CountRole(Role role) const {
  size_t count = 0;
  for (const Entry& entry : entries_) count += entry.principal.role == role ? 1 : 0;
  return count;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(const std::string& token_file,
                                                               absl::Duration reload_interval) {
  if (token_file.empty()) return absl::InvalidArgumentError("no token file given");
  ASSIGN_OR_RETURN(FileStamp stamp, StatFile(token_file));
  ASSIGN_OR_RETURN(std::string contents, ReadSecretFile(token_file));
  absl::StatusOr<TokenTable> table = TokenTable::Parse(contents);
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file '", token_file, "': ", table.status().message()));
  }
  std::unique_ptr<Authorizer> authorizer(new Authorizer(
      token_file, std::make_shared<const TokenTable>(*std::move(table)), reload_interval));
  {
    absl::MutexLock lock(&authorizer->mu_);
    authorizer->stamp_ = stamp;
  }
  if (reload_interval > absl::ZeroDuration()) {
    authorizer->reloader_ = std::thread([a = authorizer.get()] { a->ReloadLoop(); });
  }
  return authorizer;
}

Authorizer::Authorizer(TokenTable table)
    : Authorizer("", std::make_shared<const TokenTable>(std::move(table)), absl::ZeroDuration()) {}

Authorizer::Authorizer(std::string token_file, std::shared_ptr<const TokenTable> table,
                       absl::Duration reload_interval)
    : token_file_(std::move(token_file)),
      reload_interval_(reload_interval),
      table_(std::move(table)) {}

Authorizer::~Authorizer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (reloader_.joinable()) reloader_.join();
}

absl::StatusOr<Principal> Authorizer::Authorize(
    absl::string_view method, std::optional<absl::string_view> authorization) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        method,
        ": no credentials: this server requires an 'authorization: Bearer <token>' header"));
  }
  // RFC 6750: the scheme is case-insensitive, one space, then the token.
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization->size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization->substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError(
        absl::StrCat(method, ": malformed authorization header: expected 'Bearer <token>'"));
  }
  const absl::string_view token = authorization->substr(kScheme.size());
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  std::optional<Principal> principal = table->Find(token);
  if (!principal) {
    return absl::UnauthenticatedError(absl::StrCat(method, ": unknown or revoked bearer token"));
  }
  const Role required = RequiredRole(method);
  if (principal->role == Role::kWorker && required == Role::kAdmin) {
    return absl::PermissionDeniedError(
        absl::StrCat(method, " needs the admin role; '", principal->name, "' has the worker role"));
  }
  return *std::move(principal);
}

absl::Status Authorizer::Reload() {
  if (token_file_.empty()) return absl::OkStatus();
  absl::StatusOr<FileStamp> stamp = StatFile(token_file_);
  absl::StatusOr<std::string> contents =
      stamp.ok() ? ReadSecretFile(token_file_) : absl::StatusOr<std::string>(stamp.status());
  absl::StatusOr<TokenTable> table =
      contents.ok() ? TokenTable::Parse(*contents) : absl::StatusOr<TokenTable>(contents.status());
  absl::MutexLock lock(&mu_);
  if (stamp.ok()) stamp_ = *stamp;  // a bad version is reported once, not every interval
  if (!table.ok()) {
    spdlog::error("token file {}: reload failed, keeping the {} tokens in force: {}", token_file_,
                  table_->size(), std::string(table.status().message()));
    return table.status();
  }
  spdlog::info("token file {} reloaded: {} tokens ({} admin, {} worker)", token_file_,
               table->size(), table->CountRole(Role::kAdmin), table->CountRole(Role::kWorker));
  table_ = std::make_shared<const TokenTable>(*std::move(table));
  return absl::OkStatus();
}

size_t Authorizer::size() const {
  absl::MutexLock lock(&mu_);
  return table_->size();
}

void Authorizer::ReloadLoop() {
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), reload_interval_)) {
    const FileStamp known = stamp_;
    mu_.Unlock();
    absl::StatusOr<FileStamp> now = StatFile(token_file_);
    if (now.ok() && *now != known) Reload().IgnoreError();
    mu_.Lock();
  }
}

}  // namespace adamasync
