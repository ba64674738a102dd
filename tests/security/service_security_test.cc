// The shard service under hostile callers, on a real loopback port: bearer
// tokens and roles, token rotation, limits (message size, tables, workers,
// state quota, response size, calls in flight per client), truncated
// messages and raw garbage on the port. After every rejected call the
// table's state must be bit-for-bit unchanged and the server healthy.
#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "adamasync/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/shard_server.h"
#include "tests/security/security_testing.h"

namespace adamasync {
namespace {

using testing_security::CreateRequest;
using testing_security::RandomToken;
using testing_security::SameState;
using testing_security::TempDir;
using testing_security::WriteFileAtomically;

constexpr uint64_t kElements = 3 * 65536 + 100;  // four segments

class ServiceSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = RandomToken();
    worker_ = RandomToken();
    token_file_ = dir_.File("tokens");
    WriteFileAtomically(token_file_,
                        absl::StrCat("admin ops ", admin_, "\nworker trainer ", worker_, "\n"));
  }

  void Start(ShardServerOptions options = ShardServerOptions()) {
    options.listen = "127.0.0.1:0";
    options.shard.max_state_bytes =
        options.shard.max_state_bytes ? options.shard.max_state_bytes : uint64_t{64} << 20;
    if (options.guard.token_file.empty()) options.guard.token_file = token_file_;
    options.guard.token_reload_interval = absl::ZeroDuration();
    auto server = ShardServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::ParameterServer::NewStub(channel_);
  }

  // A context carrying `authorization` (none when empty).
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& authorization) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!authorization.empty()) context->AddMetadata("authorization", authorization);
    return context;
  }
  static std::string Bearer(const std::string& token) { return "Bearer " + token; }

  grpc::Status Create(const std::string& auth, const std::string& name, uint64_t n) {
    v1::CreateTableResponse response;
    return stub_->CreateTable(Context(auth).get(), CreateRequest(name, n), &response);
  }

  v1::PushRequest PushRequest(const std::string& table, uint64_t worker_id = 0) {
    v1::PushRequest request;
    request.mutable_view()->set_num_shards(1);
    request.set_table(table);
    request.set_offset(0);
    std::vector<float> g(kElements, 0.25f);
    request.set_gradient(reinterpret_cast<const char*>(g.data()), g.size() * sizeof(float));
    request.set_worker_id(worker_id);
    request.set_seq(worker_id ? 1 : 0);
    return request;
  }

  grpc::Status Push(const std::string& auth, const v1::PushRequest& request) {
    v1::PushResponse response;
    return stub_->Push(Context(auth).get(), request, &response);
  }

  grpc::Status Pull(const std::string& auth, const std::string& table, uint64_t length) {
    v1::PullRequest request;
    request.mutable_view()->set_num_shards(1);
    request.set_table(table);
    request.set_length(length);
    v1::PullResponse response;
    return stub_->Pull(Context(auth).get(), request, &response);
  }

  // Sends `bytes` as the serialized request of `method` ("Push").
  grpc::Status RawCall(const std::string& method, const std::string& bytes,
                       const std::string& auth) {
    grpc::GenericStub generic(channel_);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    auto context = Context(auth);
    std::promise<grpc::Status> done;
    generic.UnaryCall(context.get(), absl::StrCat("/adamasync.v1.ParameterServer/", method),
                      grpc::StubOptions(), &request, &response,
                      [&done](grpc::Status status) { done.set_value(status); });
    return done.get_future().get();
  }

  TablePartSnapshot Snapshot(const std::string& table) {
    return server_->store()->Find(table).value()->Snapshot().value();
  }

  void ExpectHealthy() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    // Probes need no token.
    grpc::Status status = health->Check(Context("").get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    // And the service still answers a legitimate call.
    EXPECT_TRUE(Pull(Bearer(worker_), "t", 65536).ok());
  }

  TempDir dir_;
  std::string admin_, worker_, token_file_;
  std::unique_ptr<ShardServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ParameterServer::Stub> stub_;
};

TEST_F(ServiceSecurityTest, TokensAndRolesOnEveryRpc) {
  Start();
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());
  const TablePartSnapshot before = Snapshot("t");
  const TableStats stats_before = server_->store()->Stats()[0];

  // Every RPC of the service, called without a token, is UNAUTHENTICATED:
  // a new RPC cannot slip through without a role decision.
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          "adamasync.v1.ParameterServer");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string method = service->method(i)->name();
    EXPECT_EQ(RawCall(method, "", "").error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_EQ(RawCall(method, "", Bearer(RandomToken())).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << method;
    EXPECT_EQ(RawCall(method, "", "Basic " + admin_).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << method;
  }
  // Wrong role: a worker may not create tables (even an identical one).
  grpc::Status denied = Create(Bearer(worker_), "t", kElements);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.error_message(), "admin")) << denied.error_message();
  EXPECT_EQ(Create(Bearer(worker_), "other", 10).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Pushes without or with bad credentials.
  EXPECT_EQ(Push("", PushRequest("t")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Push(Bearer(worker_ + "0"), PushRequest("t")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Push(worker_, PushRequest("t")).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_TRUE(SameState(before, Snapshot("t")));
  const TableStats stats_after = server_->store()->Stats()[0];
  EXPECT_EQ(stats_after.pushes, stats_before.pushes);
  EXPECT_EQ(stats_after.rejected_pushes, stats_before.rejected_pushes);
  EXPECT_EQ(server_->store()->Stats().size(), 1u);

  // The right roles work: worker trains, admin does everything.
  EXPECT_TRUE(Push(Bearer(worker_), PushRequest("t")).ok());
  EXPECT_TRUE(Pull(Bearer(worker_), "t", 65536).ok());
  EXPECT_TRUE(Push(Bearer(admin_), PushRequest("t")).ok());
  EXPECT_TRUE(Create(Bearer(admin_), "t2", 10).ok());
  v1::GetStatsRequest stats_request;
  stats_request.mutable_view()->set_num_shards(1);
  v1::GetStatsResponse stats;
  EXPECT_TRUE(stub_->GetStats(Context(Bearer(worker_)).get(), stats_request, &stats).ok());
  ExpectHealthy();
}

TEST_F(ServiceSecurityTest, RotatedOutTokenIsRefused) {
  Start();
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());
  const std::string new_worker = RandomToken();
  WriteFileAtomically(token_file_,
                      absl::StrCat("admin ops ", admin_, "\nworker trainer ", new_worker, "\n"));
  ASSERT_TRUE(server_->ReloadTokens().ok());
  const TablePartSnapshot before = Snapshot("t");
  EXPECT_EQ(Push(Bearer(worker_), PushRequest("t")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(SameState(before, Snapshot("t")));
  EXPECT_TRUE(Push(Bearer(new_worker), PushRequest("t")).ok());

  // A malformed new file leaves the tokens in force.
  WriteFileAtomically(token_file_, "admin ops\n");
  EXPECT_FALSE(server_->ReloadTokens().ok());
  EXPECT_TRUE(Pull(Bearer(new_worker), "t", 65536).ok());
}

TEST_F(ServiceSecurityTest, SdkSendsTokensAndRereadsTheTokenFile) {
  Start();
  const std::string client_token_file = dir_.File("client-token");
  WriteFileAtomically(client_token_file, admin_ + "\n");
  ClientOptions options;
  options.servers = {absl::StrCat("127.0.0.1:", server_->port())};
  options.deadline = absl::Seconds(5);
  options.credentials.token_file = client_token_file;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  TableSpec spec;
  spec.name = "sdk";
  spec.num_elements = 100;
  ASSERT_TRUE((*client)->CreateTable(spec).ok());

  // Rotate to the worker token: creating is now PERMISSION_DENIED, pulling fine.
  WriteFileAtomically(client_token_file, worker_ + "\n");
  absl::SleepFor(absl::Milliseconds(1100));
  spec.name = "sdk2";
  EXPECT_TRUE(absl::IsPermissionDenied((*client)->CreateTable(spec)));
  std::vector<float> w(100);
  EXPECT_TRUE((*client)->Pull("sdk", absl::MakeSpan(w)).ok());

  ClientOptions anonymous = options;
  anonymous.credentials = ClientCredentials();
  auto no_token = Client::Create(anonymous);
  ASSERT_TRUE(no_token.ok());
  EXPECT_TRUE(absl::IsUnauthenticated((*no_token)->Pull("sdk", absl::MakeSpan(w)).status()));
}

TEST_F(ServiceSecurityTest, OversizedAndTruncatedMessages) {
  ShardServerOptions options;
  options.max_message_bytes = 1 << 20;
  Start(options);
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());
  const TablePartSnapshot before = Snapshot("t");

  // Over the message limit: refused by gRPC before any handler runs.
  auto big_channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                               grpc::InsecureChannelCredentials(), [] {
                                                 grpc::ChannelArguments args;
                                                 args.SetMaxSendMessageSize(-1);
                                                 return args;
                                               }());
  auto big_stub = v1::ParameterServer::NewStub(big_channel);
  v1::PushRequest too_big = PushRequest("t");
  too_big.mutable_gradient()->resize(size_t{2} << 20);  // 2 MiB > the 1 MiB limit
  v1::PushResponse response;
  grpc::Status oversized = big_stub->Push(Context(Bearer(worker_)).get(), too_big, &response);
  EXPECT_EQ(oversized.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << oversized.error_message();

  // Truncated: a push whose gradient field ends early; any prefix.
  v1::PushRequest small;
  small.mutable_view()->set_num_shards(1);
  small.set_table("t");
  std::vector<float> g(65536, 1.0f);
  small.set_gradient(reinterpret_cast<const char*>(g.data()), g.size() * sizeof(float));
  const std::string bytes = small.SerializeAsString();
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{7}, size_t{3}, size_t{1}}) {
    grpc::Status status = RawCall("Push", bytes.substr(0, cut), Bearer(worker_));
    EXPECT_FALSE(status.ok()) << "cut at " << cut << " of " << bytes.size();
    EXPECT_EQ(server_->store()->Stats()[0].pushes, 0u) << "cut at " << cut;
  }
  // Not protobuf at all.
  EXPECT_FALSE(RawCall("Push", std::string(1000, '\xff'), Bearer(worker_)).ok());
  EXPECT_FALSE(RawCall("CreateTable", std::string(64, '\x0a'), Bearer(admin_)).ok());

  EXPECT_TRUE(SameState(before, Snapshot("t")));
  EXPECT_EQ(server_->store()->Stats()[0].pushes, 0u);
  ExpectHealthy();
}

TEST_F(ServiceSecurityTest, PullLargerThanAMessageIsRefusedBeforeAllocating) {
  ShardServerOptions options;
  options.max_message_bytes = 1 << 20;
  Start(options);
  ASSERT_TRUE(Create(Bearer(admin_), "big", uint64_t{1} << 20).ok());
  grpc::Status status = Pull(Bearer(worker_), "big", uint64_t{1} << 20);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "smaller chunks"))
      << status.error_message();
  EXPECT_TRUE(Pull(Bearer(worker_), "big", 65536).ok());
}

TEST_F(ServiceSecurityTest, StateQuotaTablesAndWorkersAreBounded) {
  ShardServerOptions options;
  options.shard.max_state_bytes = uint64_t{4} << 20;  // 4 MiB
  options.shard.max_tables = 3;
  options.shard.max_workers = 2;
  Start(options);
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());  // ~3 MiB of state
  const TablePartSnapshot before = Snapshot("t");

  // Quota: the message says what was asked and what is left.
  grpc::Status quota = Create(Bearer(admin_), "huge", uint64_t{1} << 40);
  EXPECT_EQ(quota.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(quota.error_message(), "needs 13194139533312 bytes"))
      << quota.error_message();
  EXPECT_TRUE(absl::StrContains(quota.error_message(), "are left")) << quota.error_message();
  // A synchronous table counts a pending gradient per worker of a round.
  v1::CreateTableRequest sync = CreateRequest("sync", 65536);
  sync.mutable_spec()->mutable_consistency()->set_sync_workers(8);
  v1::CreateTableResponse created;
  grpc::Status sync_status = stub_->CreateTable(Context(Bearer(admin_)).get(), sync, &created);
  EXPECT_EQ(sync_status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << sync_status.error_message();

  // Tables.
  ASSERT_TRUE(Create(Bearer(admin_), "a", 10).ok());
  ASSERT_TRUE(Create(Bearer(admin_), "b", 10).ok());
  grpc::Status tables = Create(Bearer(admin_), "c", 10);
  EXPECT_EQ(tables.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(tables.error_message(), "max_tables")) << tables.error_message();
  EXPECT_TRUE(Create(Bearer(admin_), "a", 10).ok());  // idempotent re-create still fine

  // Workers: two ids fit, a third is refused however it arrives.
  for (uint64_t id : {1, 2}) {
    v1::RegisterWorkerRequest request;
    request.mutable_view()->set_num_shards(1);
    request.set_worker_id(id);
    request.set_lease_ms(60000);
    v1::RegisterWorkerResponse response;
    ASSERT_TRUE(stub_->RegisterWorker(Context(Bearer(worker_)).get(), request, &response).ok());
  }
  v1::RegisterWorkerRequest third;
  third.mutable_view()->set_num_shards(1);
  third.set_worker_id(3);
  third.set_lease_ms(60000);
  v1::RegisterWorkerResponse registered;
  EXPECT_EQ(stub_->RegisterWorker(Context(Bearer(worker_)).get(), third, &registered).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Push(Bearer(worker_), PushRequest("t", /*worker_id=*/77)).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  EXPECT_TRUE(SameState(before, Snapshot("t")));
  EXPECT_TRUE(Push(Bearer(worker_), PushRequest("t", /*worker_id=*/1)).ok());
  ExpectHealthy();
}

TEST_F(ServiceSecurityTest, CallsInFlightPerClientAreCapped) {
  ShardServerOptions options;
  options.guard.max_requests_per_client = 2;
  Start(options);
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());
  // Hold pushes inside the handler until released.
  absl::Notification release;
  std::atomic<int> held{0};
  server_->service()->SetPushReplyHookForTesting([&](const v1::PushRequest&) {
    ++held;
    release.WaitForNotification();
    return absl::OkStatus();
  });
  std::vector<std::thread> pushers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    pushers.emplace_back([&] { ok += Push(Bearer(worker_), PushRequest("t")).ok() ? 1 : 0; });
  }
  while (held.load() < 2) absl::SleepFor(absl::Milliseconds(5));
  const TablePartSnapshot before = Snapshot("t");
  grpc::Status third = Push(Bearer(worker_), PushRequest("t"));
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << third.error_message();
  EXPECT_TRUE(SameState(before, Snapshot("t")));
  // Another client (the admin principal) is not affected.
  EXPECT_TRUE(Pull(Bearer(admin_), "t", 65536).ok());
  release.Notify();
  for (auto& t : pushers) t.join();
  EXPECT_EQ(ok.load(), 2);
  server_->service()->SetPushReplyHookForTesting(nullptr);
  EXPECT_TRUE(Push(Bearer(worker_), PushRequest("t")).ok());
}

// Raw bytes on the port: random garbage, a broken HTTP/2 preface, a TLS
// ClientHello fragment, a slow half-open connection. The server must stay up.
void SendGarbage(int port, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string payloads[] = {
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage-garbage",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""};
  for (int round = 0; round < 40; ++round) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd);
      continue;
    }
    std::string bytes = payloads[round % 4];
    const size_t extra = rng() % 70000;
    for (size_t i = 0; i < extra; ++i) bytes.push_back(static_cast<char>(rng()));
    (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    close(fd);
  }
}

TEST_F(ServiceSecurityTest, GarbageOnThePortLeavesTheServerHealthy) {
  Start();
  ASSERT_TRUE(Create(Bearer(admin_), "t", kElements).ok());
  const TablePartSnapshot before = Snapshot("t");
  std::vector<std::thread> senders;
  for (uint32_t seed = 0; seed < 4; ++seed) {
    senders.emplace_back([this, seed] { SendGarbage(server_->port(), seed); });
  }
  for (auto& t : senders) t.join();
  EXPECT_TRUE(SameState(before, Snapshot("t")));
  ExpectHealthy();
}

TEST_F(ServiceSecurityTest, GarbageOnATlsPortLeavesTheServerHealthy) {
  auto pki = testing_security::MakePki(dir_.path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  ShardServerOptions options;
  options.tls.cert_file = pki->server_cert;
  options.tls.key_file = pki->server_key;
  options.listen = "127.0.0.1:0";
  options.guard.token_file = token_file_;
  auto server = ShardServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  SendGarbage((*server)->port(), 99);
  auto stub = v1::ParameterServer::NewStub(
      testing_security::Channel((*server)->port(), testing_security::TlsCredentials(pki->ca)));
  v1::CreateTableResponse response;
  EXPECT_TRUE(
      stub->CreateTable(Context(Bearer(admin_)).get(), CreateRequest("t", 10), &response).ok());
}

}  // namespace
}  // namespace adamasync
