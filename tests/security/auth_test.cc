// Token tables, roles, the Authorizer's rotation, the CallGuard's limits
// and the client's token source, without a network.
#include "server/auth.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "common/token_file.h"
#include "server/call_guard.h"
#include "tests/security/security_testing.h"

namespace adamasync {
namespace {

using testing_security::RandomToken;
using testing_security::TempDir;
using testing_security::WriteFileAtomically;

const std::string kAdminToken = "admin-token-0123456789abcdef";
const std::string kWorkerToken = "worker-token-0123456789abcdef";

std::string Table() {
  return absl::StrCat("# role name token\n", "admin  ops  ", kAdminToken, "\n",
                      "\tworker trainer-0\t", kWorkerToken, "  \n\n");
}

TEST(MethodRolesTest, EveryRpcOfTheServiceIsListed) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "adamasync.v1.ParameterServer");
  ASSERT_NE(service, nullptr);
  std::set<std::string> listed;
  for (const MethodRole& entry : MethodRoles()) listed.insert(entry.method);
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_TRUE(listed.count(service->method(i)->name()))
        << service->method(i)->name()
        << " is not in kMethodRoles (server/auth.cc): decide which role may call it";
  }
}

TEST(MethodRolesTest, WorkerAndAdminMethods) {
  for (const char* method : {"Pull", "Push", "RegisterWorker", "Clock", "GetStats"}) {
    EXPECT_EQ(RequiredRole(method), Role::kWorker) << method;
  }
  EXPECT_EQ(RequiredRole("CreateTable"), Role::kAdmin);
  // Fail closed: anything unknown needs admin.
  EXPECT_EQ(RequiredRole("Checkpoint"), Role::kAdmin);
  EXPECT_EQ(RequiredRole(""), Role::kAdmin);
}

TEST(TokenTableTest, ParsesRolesNamesAndComments) {
  auto table = TokenTable::Parse(Table());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(table->CountRole(Role::kAdmin), 1u);
  auto admin = table->Find(kAdminToken);
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->name, "ops");
  EXPECT_EQ(admin->role, Role::kAdmin);
  auto worker = table->Find(kWorkerToken);
  ASSERT_TRUE(worker.has_value());
  EXPECT_EQ(worker->name, "trainer-0");
  EXPECT_EQ(worker->role, Role::kWorker);
  EXPECT_FALSE(table->Find("").has_value());
  EXPECT_FALSE(table->Find(kWorkerToken.substr(1)).has_value());
  EXPECT_FALSE(table->Find(kWorkerToken + "x").has_value());
}

TEST(TokenTableTest, RejectsBadLinesWithoutQuotingTokens) {
  const std::string secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t";
  const struct {
    std::string contents;
    std::string says;
  } cases[] = {
      {"", "no token"},
      {"# only a comment\n", "no token"},
      {absl::StrCat("root ops ", secret), "unknown role"},
      {absl::StrCat("admin ", secret), "expected 'ROLE NAME TOKEN'"},
      {absl::StrCat("admin ops ", secret, " extra"), "expected 'ROLE NAME TOKEN'"},
      {"admin ops short", "shorter than 16"},
      {absl::StrCat("admin o/ps ", secret), "name"},
      {absl::StrCat("admin ops ", secret, "\nworker w ", secret), "listed twice"},
      {absl::StrCat("admin ops ", secret, "\x01"), "printable"},
  };
  for (const auto& c : cases) {
    auto table = TokenTable::Parse(c.contents);
    ASSERT_FALSE(table.ok()) << c.contents;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(table.status().message(), c.says)) << table.status();
    EXPECT_FALSE(absl::StrContains(table.status().message(), secret)) << table.status();
  }
}

TEST(AuthorizerTest, CodesForMissingMalformedUnknownAndWrongRole) {
  Authorizer authorizer(TokenTable::Parse(Table()).value());
  auto missing = authorizer.Authorize("Pull", std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  for (const std::string& header :
       {std::string("Basic ") + kWorkerToken, kWorkerToken, std::string("Bearer"),
        std::string("Bearer "), std::string("Bearer  ") + kWorkerToken}) {
    auto malformed = authorizer.Authorize("Pull", header);
    EXPECT_EQ(malformed.status().code(), absl::StatusCode::kUnauthenticated) << header;
    EXPECT_FALSE(absl::StrContains(malformed.status().message(), kWorkerToken));
  }
  auto unknown = authorizer.Authorize("Pull", "Bearer " + RandomToken());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);

  auto worker_pull = authorizer.Authorize("Pull", "Bearer " + kWorkerToken);
  ASSERT_TRUE(worker_pull.ok()) << worker_pull.status();
  EXPECT_EQ(worker_pull->name, "trainer-0");
  // The scheme is case-insensitive (RFC 6750).
  EXPECT_TRUE(authorizer.Authorize("Push", "bearer " + kWorkerToken).ok());
  auto worker_create = authorizer.Authorize("CreateTable", "Bearer " + kWorkerToken);
  EXPECT_EQ(worker_create.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(worker_create.status().message(), "admin"));
  EXPECT_TRUE(authorizer.Authorize("CreateTable", "Bearer " + kAdminToken).ok());
  EXPECT_TRUE(authorizer.Authorize("Push", "Bearer " + kAdminToken).ok());
  EXPECT_TRUE(authorizer.Authorize("SomeFutureAdminRpc", "Bearer " + kAdminToken).ok());
  EXPECT_EQ(authorizer.Authorize("SomeFutureAdminRpc", "Bearer " + kWorkerToken).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, ReloadRotatesTokensAndKeepsTheOldTableOnError) {
  TempDir dir;
  const std::string path = dir.File("tokens");
  const std::string old_token = RandomToken(), new_token = RandomToken();
  WriteFileAtomically(path, absl::StrCat("worker w ", old_token, "\n"));
  auto authorizer = Authorizer::Create(path);
  ASSERT_TRUE(authorizer.ok()) << authorizer.status();
  EXPECT_TRUE((*authorizer)->Authorize("Push", "Bearer " + old_token).ok());

  // Rotation: the new token in, the old one out.
  WriteFileAtomically(path, absl::StrCat("worker w ", new_token, "\n"));
  ASSERT_TRUE((*authorizer)->Reload().ok());
  EXPECT_EQ((*authorizer)->Authorize("Push", "Bearer " + old_token).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*authorizer)->Authorize("Push", "Bearer " + new_token).ok());

  // A broken file is refused and the tokens in force stay.
  WriteFileAtomically(path, "worker w tooshort\n");
  EXPECT_EQ((*authorizer)->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*authorizer)->Authorize("Push", "Bearer " + new_token).ok());
  std::filesystem::remove(path);
  EXPECT_FALSE((*authorizer)->Reload().ok());
  EXPECT_TRUE((*authorizer)->Authorize("Push", "Bearer " + new_token).ok());
}

TEST(AuthorizerTest, PeriodicReloadPicksUpAChangedFile) {
  TempDir dir;
  const std::string path = dir.File("tokens");
  const std::string old_token = RandomToken(), new_token = RandomToken();
  WriteFileAtomically(path, absl::StrCat("admin a ", old_token, "\n"));
  auto authorizer = Authorizer::Create(path, absl::Milliseconds(20));
  ASSERT_TRUE(authorizer.ok()) << authorizer.status();
  WriteFileAtomically(path, absl::StrCat("admin a ", new_token, "\n"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!(*authorizer)->Authorize("Pull", "Bearer " + new_token).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE((*authorizer)->Authorize("Pull", "Bearer " + new_token).ok());
  EXPECT_FALSE((*authorizer)->Authorize("Pull", "Bearer " + old_token).ok());
}

TEST(AuthorizerTest, MissingOrBadFileIsAnError) {
  TempDir dir;
  EXPECT_EQ(Authorizer::Create(dir.File("absent")).status().code(), absl::StatusCode::kNotFound);
  WriteFileAtomically(dir.File("empty"), "\n# nothing\n");
  EXPECT_EQ(Authorizer::Create(dir.File("empty")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CallGuardTest, CapsCallsInFlightPerClient) {
  CallGuardOptions options;
  options.max_requests_per_client = 2;
  CallGuard guard(options, nullptr);
  auto a = guard.Admit("Pull", std::nullopt, "ipv4:10.0.0.1:1000");
  auto b = guard.Admit("Pull", std::nullopt, "ipv4:10.0.0.1:1000");  // same connection
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = guard.Admit("Push", std::nullopt, "ipv4:10.0.0.1:1000");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "2 calls in flight")) << c.status();
  // Another connection, from this host or another, has its own budget.
  EXPECT_TRUE(guard.Admit("Pull", std::nullopt, "ipv4:10.0.0.1:1001").ok());
  EXPECT_TRUE(guard.Admit("Pull", std::nullopt, "ipv6:[::1]:5").ok());
  // A finished call frees its slot.
  *a = CallGuard::Ticket();
  EXPECT_TRUE(guard.Admit("Push", std::nullopt, "ipv4:10.0.0.1:1000").ok());
}

TEST(CallGuardTest, AuthenticatesBeforeCountingAndKeysByPrincipalAndConnection) {
  CallGuardOptions options;
  options.max_requests_per_client = 1;
  CallGuard guard(options, std::make_unique<Authorizer>(TokenTable::Parse(Table()).value()));
  EXPECT_EQ(guard.Admit("Pull", std::nullopt, "ipv4:1.1.1.1:1").status().code(),
            absl::StatusCode::kUnauthenticated);
  auto worker = guard.Admit("Pull", "Bearer " + kWorkerToken, "ipv4:1.1.1.1:1");
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->principal(), "trainer-0");
  EXPECT_EQ(guard.Admit("Pull", "Bearer " + kWorkerToken, "ipv4:1.1.1.1:1").status().code(),
            absl::StatusCode::kResourceExhausted);
  // The same token on another connection, and another principal on this one.
  EXPECT_TRUE(guard.Admit("Pull", "Bearer " + kWorkerToken, "ipv4:2.2.2.2:1").ok());
  EXPECT_TRUE(guard.Admit("Pull", "Bearer " + kAdminToken, "ipv4:1.1.1.1:1").ok());
}

TEST(CallGuardTest, ResponseBound) {
  CallGuardOptions options;
  options.max_response_bytes = 1000;
  CallGuard guard(options, nullptr);
  EXPECT_TRUE(guard.CheckResponseBytes(1000, "x").ok());
  EXPECT_EQ(guard.CheckResponseBytes(1001, "x").code(), absl::StatusCode::kResourceExhausted);
}

TEST(BearerTokenSourceTest, FixedTokenAndValidation) {
  ClientCredentials credentials;
  credentials.token = "abc";
  auto source = BearerTokenSource::Create(credentials);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->AuthorizationValue(), "Bearer abc");
  credentials.token = "has space";
  EXPECT_EQ(BearerTokenSource::Create(credentials).status().code(),
            absl::StatusCode::kInvalidArgument);
  credentials.token_file = "/x";
  credentials.token = "abc";
  EXPECT_EQ(BearerTokenSource::Create(credentials).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BearerTokenSourceTest, FileIsRereadWhenItChanges) {
  TempDir dir;
  FakeClock clock;
  ClientCredentials credentials;
  credentials.token_file = dir.File("token");
  EXPECT_EQ(BearerTokenSource::Create(credentials, &clock).status().code(),
            absl::StatusCode::kNotFound);
  WriteFileAtomically(credentials.token_file, "  first-token\n");
  auto source = BearerTokenSource::Create(credentials, &clock, absl::Seconds(1));
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->AuthorizationValue(), "Bearer first-token");
  WriteFileAtomically(credentials.token_file, "second-token-longer\n");
  // Not re-checked within the interval...
  EXPECT_EQ((*source)->AuthorizationValue(), "Bearer first-token");
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ((*source)->AuthorizationValue(), "Bearer second-token-longer");
  // ...and a broken file keeps the last good token.
  WriteFileAtomically(credentials.token_file, "\n\n");
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ((*source)->AuthorizationValue(), "Bearer second-token-longer");
}

}  // namespace
}  // namespace adamasync
