// CallGuard: what every ParameterServer call passes before its handler
// does any work — authentication and the method's role (server/auth.h), and
// the cap on requests one client may have in flight — plus the response
// size bound the handlers apply.
//
// A client is one connection (the peer's address and port; with tokens, the
// principal's name too): co-located workers and workers sharing a token each
// keep their own budget. A client that opens many connections is bounded by
// the server's thread pool (--max_threads), not by this cap.
//
// Example (inside a handler):
//   ASSIGN_OR_RETURN(CallGuard::Ticket ticket, guard->Admit(*context, "Push"));
//   ... the call holds one of the client's slots until `ticket` dies ...
//
// Thread safety: all methods may be called concurrently. A Ticket must not
// outlive its CallGuard.
#ifndef ADAMASYNC_SERVER_CALL_GUARD_H_
#define ADAMASYNC_SERVER_CALL_GUARD_H_

#include <grpcpp/server_context.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth.h"

namespace adamasync {

struct CallGuardOptions {
  // Token table (server/auth.h). Empty: no authentication, every caller may
  // call everything. Default empty.
  std::string token_file;
  // How often the token file is checked for changes (re-read when changed);
  // zero: only on ReloadTokens(). Default 30 s.
  absl::Duration token_reload_interval = absl::Seconds(30);
  // Most calls one client may have in flight; beyond, RESOURCE_EXHAUSTED.
  // 0: no limit. Default 0.
  int max_requests_per_client = 0;
  // Largest response payload a handler may build (a Pull's values); beyond,
  // RESOURCE_EXHAUSTED before anything is allocated. 0: no limit. Default 0.
  uint64_t max_response_bytes = 0;
};

class CallGuard {
 public:
  // Holds one in-flight slot of a client; releases it when destroyed.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket();
    // Who called: "" without authentication.
    const std::string& principal() const { return principal_; }

   private:
    friend class CallGuard;
    void Release();
    CallGuard* guard_ = nullptr;
    std::string key_;  // the client whose slot this is
    std::string principal_;
  };

  // NOT_FOUND / INVALID_ARGUMENT when the token file cannot be loaded;
  // INVALID_ARGUMENT for a negative limit.
  static absl::StatusOr<std::unique_ptr<CallGuard>> Create(const CallGuardOptions& options);
  // With a fixed token table instead of a file (tests and fuzzing).
  CallGuard(const CallGuardOptions& options, std::unique_ptr<Authorizer> authorizer);
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  // Admits a call of `method` ("Push"): UNAUTHENTICATED / PERMISSION_DENIED
  // (Authorizer::Authorize), RESOURCE_EXHAUSTED when the client already has
  // max_requests_per_client calls in flight.
  absl::StatusOr<Ticket> Admit(const grpc::ServerContext& context, absl::string_view method);
  // The same from the parts of a call (what Admit reads from the context).
  absl::StatusOr<Ticket> Admit(absl::string_view method,
                               std::optional<absl::string_view> authorization,
                               absl::string_view peer);

  // RESOURCE_EXHAUSTED when a response of `bytes` payload bytes is over
  // max_response_bytes; `what` describes the request in the message.
  absl::Status CheckResponseBytes(uint64_t bytes, absl::string_view what) const;

  // Re-reads the token file (SIGHUP). OK without authentication.
  absl::Status ReloadTokens();
  bool authenticating() const { return authorizer_ != nullptr; }

 private:
  void Release(const std::string& key);
  // Logs a refused call, at most about once a second (a flood of bad calls
  // must not flood the log).
  void LogRefusal(absl::string_view peer, const absl::Status& status);

  const CallGuardOptions options_;
  const std::unique_ptr<Authorizer> authorizer_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> in_flight_ ABSL_GUARDED_BY(mu_);
  absl::Mutex log_mu_;
  absl::Time last_log_ ABSL_GUARDED_BY(log_mu_) = absl::InfinitePast();
  uint64_t unlogged_ ABSL_GUARDED_BY(log_mu_) = 0;
};

}  // namespace adamasync

#endif  // ADAMASYNC_SERVER_CALL_GUARD_H_
