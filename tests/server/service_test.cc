// The service end to end on loopback: two in-process shard servers, the
// client SDK and raw stubs. Results must equal the kernel applied locally,
// bit for bit; every bad input gets its status and changes nothing.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "adamasync/client.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "common/proto_convert.h"
#include "common/sharding.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "server/shard_server.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

constexpr uint32_t kShards = 2;

using testing::RandomVector;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shards_.Start(kShards, 64ull << 20);
    ClientOptions options;
    options.servers = addresses_;
    options.chunk_elements = kSegmentElements;  // many chunks per shard
    options.deadline = absl::Seconds(20);
    auto client = Client::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::unique_ptr<v1::ParameterServer::Stub> RawStub(uint32_t shard) {
    return v1::ParameterServer::NewStub(
        grpc::CreateChannel(addresses_[shard], grpc::InsecureChannelCredentials()));
  }

  // Every shard's state of `table`, concatenated in shard order.
  std::vector<TablePartSnapshot> Snapshots(const std::string& table) {
    std::vector<TablePartSnapshot> snaps;
    for (auto& server : servers_)
      snaps.push_back(server->store()->Find(table).value()->Snapshot().value());
    return snaps;
  }

  void ExpectUnchanged(const std::vector<TablePartSnapshot>& before, const std::string& table) {
    const std::vector<TablePartSnapshot> after = Snapshots(table);
    for (size_t s = 0; s < before.size(); ++s) {
      EXPECT_EQ(before[s].p, after[s].p) << "shard " << s;
      EXPECT_EQ(before[s].m, after[s].m) << "shard " << s;
      EXPECT_EQ(before[s].v, after[s].v) << "shard " << s;
      EXPECT_EQ(before[s].vmax, after[s].vmax) << "shard " << s;
      EXPECT_EQ(before[s].segment_steps, after[s].segment_steps) << "shard " << s;
    }
  }

  testing::LocalShards shards_;
  std::vector<std::string>& addresses_ = shards_.addresses;
  std::vector<std::unique_ptr<ShardServer>>& servers_ = shards_.servers;
  std::unique_ptr<Client> client_;
};

struct Variant {
  const char* name;
  AdamConfig adam;
};

TEST_F(ServiceTest, PushSequenceEqualsLocalKernelBitForBit) {
  AdamConfig adamw;
  adamw.algorithm = Algorithm::kAdamW;
  adamw.weight_decay = 1e-2;
  adamw.lr = 3e-3;
  AdamConfig ams;
  ams.amsgrad = true;
  ams.weight_decay = 1e-3;
  ams.maximize = true;
  for (const Variant& variant :
       {Variant{"adam", AdamConfig{}}, Variant{"adamw", adamw}, Variant{"amsgrad_l2_max", ams}}) {
    SCOPED_TRACE(variant.name);
    TableSpec spec;
    spec.name = std::string("seq_") + variant.name;
    spec.num_elements = 3 * kSegmentElements + 777;  // several chunks, ragged end
    spec.adam = variant.adam;
    spec.init = Initializer::Normal(0, 0.1, 42);
    ASSERT_TRUE(client_->CreateTable(spec).ok());

    const size_t n = spec.num_elements;
    std::vector<float> p(n), m(n), v(n), vmax(n);
    std::vector<float> pulled(n);
    auto versions = client_->Pull(spec.name, absl::MakeSpan(pulled));
    ASSERT_TRUE(versions.ok()) << versions.status();
    p = pulled;  // the initial values, computed by the servers
    for (uint64_t step = 1; step <= 10; ++step) {
      const std::vector<float> grad = RandomVector(n, static_cast<uint32_t>(step));
      auto pushed = client_->Push(spec.name, grad, *versions);
      ASSERT_TRUE(pushed.ok()) << pushed.status();
      EXPECT_EQ(pushed->per_shard, std::vector<uint64_t>(kShards, step));
      kernels::AdamCpu(kernels::MakeAdamScalars(spec.adam, step), grad.data(),
                       {p.data(), m.data(), v.data(), vmax.data()}, n);
      versions = client_->Pull(spec.name, absl::MakeSpan(pulled));
      ASSERT_TRUE(versions.ok());
    }
    EXPECT_EQ(0, std::memcmp(pulled.data(), p.data(), n * sizeof(float)));
    EXPECT_EQ(versions->per_shard, std::vector<uint64_t>(kShards, 10));
  }
}

TEST_F(ServiceTest, ConcurrentPushesAreAllApplied) {
  TableSpec spec{"concurrent", 2 * kSegmentElements + 5};
  ASSERT_TRUE(client_->CreateTable(spec).ok());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> grad = RandomVector(spec.num_elements, 100 + t);
      for (int i = 0; i < 10; ++i) {
        auto future = client_->PushAsync("concurrent", grad, Versions{});
        if (future.get().ok()) accepted++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 80);
  auto stats = client_->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  for (const ShardStats& shard : *stats) {
    ASSERT_EQ(shard.tables.size(), 1u);
    EXPECT_EQ(shard.tables[0].version, 80u);
  }
  for (const TablePartSnapshot& snap : Snapshots("concurrent")) {
    for (uint64_t step : snap.segment_steps) EXPECT_EQ(step, 80u);
  }
}

TEST_F(ServiceTest, ClientRejectsBadInputBeforeSending) {
  TableSpec spec{"client_checks", 1000};
  ASSERT_TRUE(client_->CreateTable(spec).ok());
  const auto before = Snapshots("client_checks");
  std::vector<float> grad(1000, 1.0f);
  grad[500] = std::numeric_limits<float>::quiet_NaN();
  auto status = client_->Push("client_checks", grad, Versions{}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("element 500"), std::string::npos) << status;
  std::vector<float> short_grad(999, 1.0f);
  EXPECT_EQ(client_->Push("client_checks", short_grad, Versions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> out(1001);
  EXPECT_EQ(client_->Pull("client_checks", absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Pull("missing", absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kNotFound);
  TableSpec bad{"bad", 10};
  bad.adam.beta2 = 1.0;
  EXPECT_EQ(client_->CreateTable(bad).code(), absl::StatusCode::kInvalidArgument);
  TableSpec conflicting{"client_checks", 1000};
  conflicting.adam.eps = 1e-6;
  EXPECT_EQ(client_->CreateTable(conflicting).code(), absl::StatusCode::kAlreadyExists);
  ExpectUnchanged(before, "client_checks");
}

TEST_F(ServiceTest, ServerRejectsBadRequestsAndStateIsUnchanged) {
  TableSpec spec{"raw", 2 * kSegmentElements + 3000};
  spec.adam.amsgrad = true;
  ASSERT_TRUE(client_->CreateTable(spec).ok());
  std::vector<float> grad = RandomVector(spec.num_elements, 5);
  ASSERT_TRUE(client_->Push("raw", grad, Versions{}).ok());
  const auto before = Snapshots("raw");
  const std::vector<ElementRange> parts = ShardRanges("raw", spec.num_elements, kShards);
  const uint32_t shard = parts[0].size() >= parts[1].size() ? 0 : 1;
  const ElementRange part = parts[shard];
  auto stub = RawStub(shard);

  auto push = [&](uint32_t view_index, uint32_t view_count, const std::string& table,
                  uint64_t offset, const std::string& bytes) {
    v1::PushRequest request;
    request.mutable_view()->set_shard_index(view_index);
    request.mutable_view()->set_num_shards(view_count);
    request.set_table(table);
    request.set_offset(offset);
    request.set_gradient(bytes);
    v1::PushResponse response;
    grpc::ClientContext context;
    return stub->Push(&context, request, &response);
  };
  auto floats = [](size_t n, float value) {
    std::vector<float> v(n, value);
    return std::string(reinterpret_cast<const char*>(v.data()), n * 4);
  };
  struct Case {
    const char* what;
    grpc::Status status;
    grpc::StatusCode expected;
    const char* message_part;
  };
  std::string nan_bytes = floats(part.size(), 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&nan_bytes[nan_bytes.size() - 4], &nan, 4);
  std::string inf_bytes = floats(part.size(), 1.0f);
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(&inf_bytes[0], &inf, 4);
  const std::vector<Case> cases = {
      {"unknown table", push(shard, kShards, "nope", part.begin, floats(10, 1)),
       grpc::StatusCode::NOT_FOUND, "nope"},
      {"wrong shard index", push(1 - shard, kShards, "raw", part.begin, floats(10, 1)),
       grpc::StatusCode::FAILED_PRECONDITION, "shard"},
      {"wrong shard count", push(shard, 3, "raw", part.begin, floats(10, 1)),
       grpc::StatusCode::FAILED_PRECONDITION, "of 3"},
      {"misaligned offset", push(shard, kShards, "raw", part.begin + 1, floats(10, 1)),
       grpc::StatusCode::INVALID_ARGUMENT, "segment"},
      {"offset outside part", push(shard, kShards, "raw", part.end + 4096, floats(10, 1)),
       grpc::StatusCode::INVALID_ARGUMENT, "outside"},
      {"chunk too long", push(shard, kShards, "raw", part.begin, floats(part.size() + 1, 1)),
       grpc::StatusCode::INVALID_ARGUMENT, "outside"},
      {"ragged chunk end", push(shard, kShards, "raw", part.begin, floats(10, 1)),
       grpc::StatusCode::INVALID_ARGUMENT, "segment"},
      {"bytes not floats", push(shard, kShards, "raw", part.begin, std::string(7, 'x')),
       grpc::StatusCode::INVALID_ARGUMENT, "4-byte"},
      {"empty gradient", push(shard, kShards, "raw", part.begin, ""),
       grpc::StatusCode::INVALID_ARGUMENT, "empty"},
      {"NaN", push(shard, kShards, "raw", part.begin, nan_bytes),
       grpc::StatusCode::INVALID_ARGUMENT, "NaN"},
      {"Inf", push(shard, kShards, "raw", part.begin, inf_bytes),
       grpc::StatusCode::INVALID_ARGUMENT, "Inf"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), c.expected) << c.what << ": " << c.status.error_message();
    EXPECT_NE(c.status.error_message().find(c.message_part), std::string::npos)
        << c.what << ": " << c.status.error_message();
  }
  ExpectUnchanged(before, "raw");

  // Pulls: bad ranges and views.
  auto pull = [&](uint32_t view_index, const std::string& table, uint64_t offset, uint64_t length) {
    v1::PullRequest request;
    request.mutable_view()->set_shard_index(view_index);
    request.mutable_view()->set_num_shards(kShards);
    request.set_table(table);
    request.set_offset(offset);
    request.set_length(length);
    v1::PullResponse response;
    grpc::ClientContext context;
    return stub->Pull(&context, request, &response).error_code();
  };
  EXPECT_EQ(pull(shard, "nope", part.begin, 1), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(pull(1 - shard, "raw", part.begin, 1), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(pull(shard, "raw", part.begin, uint64_t{1} << 62), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(pull(shard, "raw", UINT64_MAX - 1, 2), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(pull(shard, "raw", part.begin, 0), grpc::StatusCode::INVALID_ARGUMENT);

  // CreateTable: bad hyper-parameters, missing fields.
  auto create = [&](const TableSpec& s, bool with_view) {
    v1::CreateTableRequest request;
    if (with_view) {
      request.mutable_view()->set_shard_index(shard);
      request.mutable_view()->set_num_shards(kShards);
    }
    *request.mutable_spec() = ToProto(s);
    v1::CreateTableResponse response;
    grpc::ClientContext context;
    return stub->CreateTable(&context, request, &response);
  };
  auto bad_spec = [](auto mutate) {
    TableSpec s{"new_table", 100};
    mutate(s);
    return s;
  };
  const std::vector<std::pair<TableSpec, const char*>> bad_specs = {
      {bad_spec([](TableSpec& s) { s.adam.lr = 0; }), "lr"},
      {bad_spec([](TableSpec& s) { s.adam.lr = -1; }), "lr"},
      {bad_spec([](TableSpec& s) { s.adam.lr = std::nan(""); }), "lr"},
      {bad_spec([](TableSpec& s) { s.adam.beta1 = 1; }), "beta1"},
      {bad_spec([](TableSpec& s) { s.adam.beta1 = -0.1; }), "beta1"},
      {bad_spec([](TableSpec& s) { s.adam.beta2 = 1.5; }), "beta2"},
      {bad_spec([](TableSpec& s) { s.adam.eps = 0; }), "eps"},
      {bad_spec([](TableSpec& s) { s.adam.weight_decay = -1; }), "weight_decay"},
      {bad_spec([](TableSpec& s) { s.num_elements = 0; }), "num_elements"},
      {bad_spec([](TableSpec& s) { s.name = ""; }), "name"},
      {bad_spec([](TableSpec& s) { s.name = "bad name!"; }), "name"},
  };
  for (const auto& [s, field] : bad_specs) {
    const grpc::Status status = create(s, true);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_NE(status.error_message().find(field), std::string::npos) << status.error_message();
  }
  EXPECT_EQ(create(TableSpec{"new_table", 100}, false).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(servers_[shard]->store()->Find("new_table").status().code(),
            absl::StatusCode::kNotFound);
  ExpectUnchanged(before, "raw");
  // The 8 bad pushes that reached the table (not the unknown table or wrong views).
  EXPECT_EQ(servers_[shard]->store()->Find("raw").value()->Stats().rejected_pushes, 8u);
}

TEST_F(ServiceTest, AsyncCallbacksAndSmallTablesOnOneShard) {
  // 10 elements: one block, so one shard holds it all and the other none.
  TableSpec spec{"tiny", 10};
  spec.init = Initializer::Constant(0.5);
  ASSERT_TRUE(client_->CreateTable(spec).ok());
  std::vector<float> out(10);
  std::promise<absl::StatusOr<Versions>> promise;
  client_->PullAsync("tiny", absl::MakeSpan(out),
                     [&](absl::StatusOr<Versions> r) { promise.set_value(std::move(r)); });
  auto versions = promise.get_future().get();
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(out, std::vector<float>(10, 0.5f));
  std::vector<float> grad(10, 1.0f);
  ASSERT_TRUE(client_->Push("tiny", grad, *versions).ok());
  ASSERT_TRUE(client_->Pull("tiny", absl::MakeSpan(out)).ok());
  // Step 1 with wd = 0: p - lr * g / (|g| + eps).
  const float expected = 0.5f - static_cast<float>(1e-3 * 1.0 / (1.0 + 1e-8));
  for (float x : out) EXPECT_NEAR(x, expected, 1e-7);
}

TEST_F(ServiceTest, HealthServiceReportsServing) {
  for (const std::string& address : addresses_) {
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->Check(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST(ClientOptionsTest, BadOptionsAreInvalidArgument) {
  ClientOptions options;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.servers = {"127.0.0.1:1"};
  options.chunk_elements = 1000;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.chunk_elements = kSegmentElements;
  options.max_chunks_in_flight = 0;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientDeadlineTest, UnreachableServerEndsWithDeadlineExceeded) {
  ClientOptions options;
  options.servers = {"127.0.0.1:1"};  // nothing listens on port 1
  options.deadline = absl::Milliseconds(500);
  auto client = Client::Create(options).value();
  const absl::Time start = absl::Now();
  const absl::Status status = client->CreateTable(TableSpec{"x", 10});
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace adamasync
