#include "server/call_guard.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace adamasync {

CallGuard::Ticket::Ticket(Ticket&& other) noexcept
    : guard_(std::exchange(other.guard_, nullptr)),
      key_(std::move(other.key_)),
      principal_(std::move(other.principal_)) {}

CallGuard::Ticket& CallGuard::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    guard_ = std::exchange(other.guard_, nullptr);
    key_ = std::move(other.key_);
    principal_ = std::move(other.principal_);
  }
  return *this;
}

CallGuard::Ticket::~Ticket() { Release(); }

void CallGuard::Ticket::Release() {
  if (guard_ != nullptr) guard_->Release(key_);
  guard_ = nullptr;
}

absl::StatusOr<std::unique_ptr<CallGuard>> CallGuard::Create(const CallGuardOptions& options) {
  if (options.max_requests_per_client < 0) {
    return absl::InvalidArgumentError("max_requests_per_client must be >= 0");
  }
  std::unique_ptr<Authorizer> authorizer;
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(authorizer,
                     Authorizer::Create(options.token_file, options.token_reload_interval));
  }
  return std::make_unique<CallGuard>(options, std::move(authorizer));
}

CallGuard::CallGuard(const CallGuardOptions& options, std::unique_ptr<Authorizer> authorizer)
    : options_(options), authorizer_(std::move(authorizer)) {}

absl::StatusOr<CallGuard::Ticket> CallGuard::Admit(const grpc::ServerContext& context,
                                                   absl::string_view method) {
  std::optional<absl::string_view> authorization;
  const auto& metadata = context.client_metadata();
  const auto range = metadata.equal_range("authorization");
  for (auto it = range.first; it != range.second; ++it) {
    if (authorization.has_value()) {
      absl::Status refused =
          absl::UnauthenticatedError(absl::StrCat(method, ": more than one authorization header"));
      LogRefusal(context.peer(), refused);
      return refused;
    }
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return Admit(method, authorization, context.peer());
}

absl::StatusOr<CallGuard::Ticket> CallGuard::Admit(absl::string_view method,
                                                   std::optional<absl::string_view> authorization,
                                                   absl::string_view peer) {
  Ticket ticket;
  if (authorizer_ != nullptr) {
    absl::StatusOr<Principal> principal = authorizer_->Authorize(method, authorization);
    if (!principal.ok()) {
      LogRefusal(peer, principal.status());
      return principal.status();
    }
    ticket.principal_ = principal->name;
  }
  if (options_.max_requests_per_client > 0) {
    // Per connection (and principal): clients on one host, or sharing one
    // token, do not share a budget; see call_guard.h.
    std::string key =
        ticket.principal_.empty() ? std::string(peer) : absl::StrCat(ticket.principal_, "@", peer);
    absl::MutexLock lock(&mu_);
    int& count = in_flight_[key];
    if (count >= options_.max_requests_per_client) {
      if (count == 0) in_flight_.erase(key);
      absl::Status refused = absl::ResourceExhaustedError(absl::StrCat(
          method, ": client ", key, " already has ", count,
          " calls in flight, the per-client limit (--max_requests_per_client); retry later"));
      LogRefusal(peer, refused);
      return refused;
    }
    ++count;
    ticket.guard_ = this;
    ticket.key_ = std::move(key);
  }
  return ticket;
}

void CallGuard::Release(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(key);
  if (it == in_flight_.end()) return;
  if (--it->second <= 0) in_flight_.erase(it);
}

absl::Status CallGuard::CheckResponseBytes(uint64_t bytes, absl::string_view what) const {
  if (options_.max_response_bytes == 0 || bytes <= options_.max_response_bytes) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(
      absl::StrCat(what, " would answer ", bytes, " bytes, over the server's message limit of ",
                   options_.max_response_bytes, " bytes: ask for smaller chunks"));
}

absl::Status CallGuard::ReloadTokens() {
  if (authorizer_ == nullptr) return absl::OkStatus();
  return authorizer_->Reload();
}

void CallGuard::LogRefusal(absl::string_view peer, const absl::Status& status) {
  const absl::Time now = absl::Now();
  uint64_t suppressed = 0;
  {
    absl::MutexLock lock(&log_mu_);
    if (now - last_log_ < absl::Seconds(1)) {
      ++unlogged_;
      return;
    }
    last_log_ = now;
    suppressed = std::exchange(unlogged_, 0);
  }
  spdlog::warn("refused a call from {}: {} ({} more refusals not logged)", std::string(peer),
               status.ToString(), suppressed);
}

}  // namespace adamasync
