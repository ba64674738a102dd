// Bearer-token authentication and role-based authorization of the shard
// server's RPCs.
//
// A token table file lists who may call, one principal per line:
//
//   # role    name        token
//   admin     ops         6d1f0c...   (>= 16 printable characters, no spaces)
//   worker    trainer-0   a81b2e...
//
// Roles: "worker" may call the training RPCs (Pull, Push, RegisterWorker,
// Clock, GetStats); "admin" may call everything (also CreateTable and the
// administrative RPCs). The mapping lives in one table, kMethodRoles in
// auth.cc; a method missing from it needs admin (fail closed). Names are
// for logs and per-client limits; several lines may share a name (rotation:
// add the new token, move the clients over, remove the old one).
//
// Only SHA-256 digests of the tokens are kept, and a presented token is
// compared with every entry in constant time (CRYPTO_memcmp on digests), so
// neither its content nor its length leaks through timing. Tokens are never
// logged.
//
// Example:
//   ASSIGN_OR_RETURN(auto authorizer, Authorizer::Create("/etc/adamasync/tokens"));
//   absl::StatusOr<Principal> who = authorizer->Authorize("Push", "Bearer a81b2e...");
//
// Thread safety: Authorizer is thread-safe; Reload may run concurrently with
// Authorize (which sees the old or the new table, never a mix).
#ifndef ADAMASYNC_SERVER_AUTH_H_
#define ADAMASYNC_SERVER_AUTH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/token_file.h"

namespace adamasync {

enum class Role { kWorker = 1, kAdmin = 2 };

// "worker" / "admin".
const char* RoleName(Role role);

// The role a method (its name in the ParameterServer service, e.g. "Push")
// requires. Admin for any method not in the table.
Role RequiredRole(absl::string_view method);

// The explicit method -> role table, for documentation and tests.
struct MethodRole {
  const char* method;
  Role role;
};
const std::vector<MethodRole>& MethodRoles();

struct Principal {
  std::string name;
  Role role = Role::kWorker;
};

// Shortest token a table accepts.
inline constexpr size_t kMinTokenLength = 16;

// A parsed token table: digests of tokens and whom they identify.
class TokenTable {
 public:
  // Parses the file format above. INVALID_ARGUMENT naming the line (never
  // quoting a token) for an unknown role, a bad name, a short or malformed
  // token, a token listed twice, or a table without any token.
  static absl::StatusOr<TokenTable> Parse(absl::string_view contents);

  // The principal `token` identifies; nullopt when none. Compares the
  // token's digest with every entry, in constant time per entry.
  std::optional<Principal> Find(absl::string_view token) const;

  size_t size() const { return entries_.size(); }
  size_t CountRole(Role role) const;

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

class Authorizer {
 public:
  // Loads the table from `token_file`; with reload_interval > 0 a thread
  // re-reads it whenever it changes (checked every reload_interval).
  // NOT_FOUND / INVALID_ARGUMENT when the file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(
      const std::string& token_file, absl::Duration reload_interval = absl::ZeroDuration());
  // A fixed table (tests, fuzzing): Reload is a no-op.
  explicit Authorizer(TokenTable table);
  ~Authorizer();
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // Checks the value of the call's "authorization" header (nullopt: none)
  // for `method`. UNAUTHENTICATED when it is missing, not "Bearer <token>"
  // or names no known token; PERMISSION_DENIED when the token's role may
  // not call `method`.
  absl::StatusOr<Principal> Authorize(absl::string_view method,
                                      std::optional<absl::string_view> authorization) const;

  // Re-reads the file. On error the current table stays in force and the
  // error is returned (and logged).
  absl::Status Reload();

  size_t size() const;

 private:
  Authorizer(std::string token_file, std::shared_ptr<const TokenTable> table,
             absl::Duration reload_interval);
  void ReloadLoop();

  const std::string token_file_;  // empty: fixed table
  const absl::Duration reload_interval_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reloader_;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_AUTH_H_
