// The server's --device choice and what a failed device does to a shard:
// parsing, the auto fallback, a refused --device=cuda where no GPU works, a
// backend failure that turns the shard NOT_SERVING (and every call
// UNAVAILABLE, no checkpoint written), and, where a GPU is usable, a CUDA
// shard that ends bit-identical to a CPU shard after the same pushes.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "adamasync/client.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "kernels/cuda_device.h"
#include "server/cuda_part_state.h"
#include "server/device_option.h"
#include "server/shard_server.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

using testing::RandomVector;

TEST(DeviceOptionTest, ParsesTheFourForms) {
  EXPECT_EQ(ParseDeviceOption("cpu")->kind, DeviceOption::Kind::kCpu);
  EXPECT_EQ(ParseDeviceOption("auto")->kind, DeviceOption::Kind::kAuto);
  absl::StatusOr<DeviceOption> cuda = ParseDeviceOption("cuda");
  ASSERT_TRUE(cuda.ok());
  EXPECT_EQ(cuda->kind, DeviceOption::Kind::kCuda);
  EXPECT_EQ(cuda->cuda_device, 0);
  absl::StatusOr<DeviceOption> third = ParseDeviceOption("cuda:3");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->kind, DeviceOption::Kind::kCuda);
  EXPECT_EQ(third->cuda_device, 3);
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda:0:1",
                          "cuda:99999999999"}) {
    absl::StatusOr<DeviceOption> parsed = ParseDeviceOption(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "cpu, cuda, cuda:N")) << bad;
  }
}

TEST(DeviceOptionTest, CpuIsTheHost) {
  absl::StatusOr<OpenedBackend> opened = OpenStateBackend({});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->backend, HostStateBackend());
  EXPECT_TRUE(absl::StartsWith(opened->backend->Describe(), "cpu (")) << opened->log_line;
}

TEST(DeviceOptionTest, AutoTakesTheGpuWhenOneWorksElseTheCpu) {
  absl::StatusOr<OpenedBackend> opened = OpenStateBackend({DeviceOption::Kind::kAuto, 0});
  ASSERT_TRUE(opened.ok()) << opened.status();
  if (kernels::CudaDeviceCount().ok()) {
    EXPECT_TRUE(absl::StartsWith(opened->backend->Describe(), "cuda:0 (")) << opened->log_line;
  } else {
    EXPECT_EQ(opened->backend, HostStateBackend());
    EXPECT_TRUE(absl::StartsWith(opened->log_line, "--device=auto: no usable CUDA device"))
        << opened->log_line;
  }
}

TEST(DeviceOptionTest, CudaWithoutAGpuIsRefusedNotQuietlyTheCpu) {
  absl::StatusOr<OpenedBackend> far = OpenStateBackend({DeviceOption::Kind::kCuda, 1000});
  ASSERT_FALSE(far.ok());
  EXPECT_TRUE(absl::StartsWith(far.status().message(), "--device=cuda:1000 cannot be used"))
      << far.status();
  if (kernels::CudaDeviceCount().ok()) GTEST_SKIP() << "a GPU is usable here";
  absl::StatusOr<OpenedBackend> opened = OpenStateBackend({DeviceOption::Kind::kCuda, 0});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), kernels::CudaCompiledIn()
                                        ? absl::StatusCode::kFailedPrecondition
                                        : absl::StatusCode::kUnimplemented)
      << opened.status();
}

// A host backend whose parts fail their `fail_at`-th step (counted over the
// whole backend) and stay failed, like a CUDA device after a sticky error.
class FailingBackend final : public StateBackend {
 public:
  explicit FailingBackend(int fail_at) : steps_left_(fail_at) {}

  std::string Describe() const override { return "failing test backend"; }

  absl::StatusOr<std::unique_ptr<PartState>> Allocate(const TableSpec& spec,
                                                      ElementRange range) override {
    absl::StatusOr<std::unique_ptr<PartState>> host = HostStateBackend()->Allocate(spec, range);
    if (!host.ok()) return host.status();
    return std::make_unique<Part>(this, *std::move(host));
  }

  absl::Status Health() const override { return failed_.load() ? Failure() : absl::OkStatus(); }

 private:
  static absl::Status Failure() { return absl::UnavailableError("injected device failure"); }

  class Part final : public PartState {
   public:
    Part(FailingBackend* backend, std::unique_ptr<PartState> host)
        : backend_(backend), host_(std::move(host)) {}
    uint64_t size() const override { return host_->size(); }
    uint64_t bytes() const override { return host_->bytes(); }
    absl::Status Step(const kernels::AdamScalars& s, uint64_t begin, uint64_t n,
                      const float* grad) override {
      if (backend_->failed_.load() || --backend_->steps_left_ == 0) {
        backend_->failed_.store(true);
        return Failure();
      }
      return host_->Step(s, begin, n, grad);
    }
    absl::Status ReadParameters(uint64_t begin, uint64_t n, void* out) const override {
      RETURN_IF_ERROR(backend_->Health());
      return host_->ReadParameters(begin, n, out);
    }
    absl::Status WriteParameters(uint64_t begin, uint64_t n, const float* values) override {
      RETURN_IF_ERROR(backend_->Health());
      return host_->WriteParameters(begin, n, values);
    }
    absl::Status ReadState(uint64_t begin, uint64_t n, StateSlice out) const override {
      RETURN_IF_ERROR(backend_->Health());
      return host_->ReadState(begin, n, out);
    }
    absl::Status WriteState(uint64_t begin, uint64_t n, ConstStateSlice in) override {
      RETURN_IF_ERROR(backend_->Health());
      return host_->WriteState(begin, n, in);
    }

   private:
    FailingBackend* const backend_;
    const std::unique_ptr<PartState> host_;
  };

  std::atomic<int> steps_left_;
  std::atomic<bool> failed_{false};
};

grpc::Status RawPush(const std::string& address, const std::string& table,
                     const std::vector<float>& grad) {
  auto stub = v1::ParameterServer::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::PushRequest request;
  request.mutable_view()->set_shard_index(0);
  request.mutable_view()->set_num_shards(1);
  request.set_table(table);
  request.set_gradient(std::string(reinterpret_cast<const char*>(grad.data()), grad.size() * 4));
  v1::PushResponse response;
  grpc::ClientContext context;
  return stub->Push(&context, request, &response);
}

grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  if (!stub->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

TEST(StateFailureTest, AFailedDeviceStopsTheShardAndWritesNoCheckpoint) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "state_failure_checkpoints";
  std::filesystem::remove_all(dir);
  std::atomic<int> failures{0};
  ShardServerOptions options;
  options.listen = "127.0.0.1:0";
  options.shard.backend = std::make_shared<FailingBackend>(/*fail_at=*/3);
  CheckpointOptions checkpoint;
  checkpoint.dir = dir.string();
  checkpoint.interval = absl::ZeroDuration();
  options.checkpoint = checkpoint;
  options.on_state_failure = [&failures](const absl::Status&) { failures.fetch_add(1); };
  options.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<ShardServer>> server = ShardServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = "127.0.0.1:" + std::to_string((*server)->port());

  ClientOptions client_options;
  client_options.servers = {address};
  client_options.deadline = absl::Seconds(2);
  std::unique_ptr<Client> client = Client::Create(client_options).value();
  ASSERT_TRUE(client->CreateTable(TableSpec{"t", 1000}).ok());
  const std::vector<float> grad = RandomVector(1000, 1);
  ASSERT_TRUE(RawPush(address, "t", grad).ok());
  ASSERT_TRUE(RawPush(address, "t", grad).ok());
  EXPECT_EQ(HealthOf(address), grpc::health::v1::HealthCheckResponse::SERVING);

  const grpc::Status third = RawPush(address, "t", grad);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(third.error_message(), "injected device failure"))
      << third.error_message();
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(HealthOf(address), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  httplib::Client scraper("127.0.0.1", (*server)->metrics_port());
  auto scraped = scraper.Get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_TRUE(absl::StrContains(
      scraped->body, "adamasync_state_backend_healthy{device=\"failing test backend\"} 0"))
      << scraped->body;

  // Every later call is UNAVAILABLE (clients retry; a restarted shard
  // answers them), the hook does not run again, and no checkpoint of the
  // untrusted state is written.
  const grpc::Status fourth = RawPush(address, "t", grad);
  EXPECT_EQ(fourth.error_code(), grpc::StatusCode::UNAVAILABLE);
  std::vector<float> out(1000);
  EXPECT_EQ(client->Pull("t", absl::MakeSpan(out)).status().code(), absl::StatusCode::kUnavailable);
  // The server marks these UNAVAILABLEs as "not applied": even an anonymous
  // push is retried (until the deadline), as a restarted shard would take it.
  std::unique_ptr<Client> anonymous = Client::Create(client_options).value();
  EXPECT_EQ(anonymous->Push("t", grad, Versions{}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GT(anonymous->Counters().retried_unavailable, 0u);
  EXPECT_EQ(failures.load(), 1);
  EXPECT_FALSE((*server)->checkpoints()->WriteNow().ok());
  (*server)->Shutdown(absl::Seconds(1), /*final_checkpoint=*/true);
  bool any_checkpoint = false;
  if (std::filesystem::exists(dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      any_checkpoint |= absl::StrContains(entry.path().filename().string(), ".ckpt");
    }
  }
  EXPECT_FALSE(any_checkpoint);
}

// Two one-shard servers, one per backend, given the same pushes through the
// SDK: their whole state must be identical, bit for bit.
TEST(GpuShardTest, CudaShardEqualsCpuShardBitForBit) {
  absl::StatusOr<std::shared_ptr<StateBackend>> cuda = CudaStateBackend({});
  if (!cuda.ok()) GTEST_SKIP() << "no usable CUDA device: " << cuda.status();
  std::vector<std::unique_ptr<ShardServer>> servers;
  std::vector<std::unique_ptr<Client>> clients;
  for (std::shared_ptr<StateBackend> backend : {HostStateBackend(), *cuda}) {
    ShardServerOptions options;
    options.listen = "127.0.0.1:0";
    options.shard.backend = backend;
    servers.push_back(ShardServer::Start(options).value());
    ClientOptions client_options;
    client_options.servers = {"127.0.0.1:" + std::to_string(servers.back()->port())};
    client_options.chunk_elements = 2 * kSegmentElements;
    clients.push_back(Client::Create(client_options).value());
  }
  constexpr uint64_t kN = 5 * kSegmentElements + 77;
  for (bool amsgrad : {false, true}) {
    TableSpec spec{amsgrad ? "ams" : "adamw", kN};
    spec.adam.algorithm = Algorithm::kAdamW;
    spec.adam.weight_decay = 0.01;
    spec.adam.amsgrad = amsgrad;
    spec.init = Initializer::Uniform(-0.1, 0.1, 3);
    for (auto& client : clients) ASSERT_TRUE(client->CreateTable(spec).ok());
    std::vector<float> pulled(kN);
    for (uint32_t step = 1; step <= 30; ++step) {
      const std::vector<float> grad = RandomVector(kN, step);
      for (auto& client : clients) {
        Versions versions = client->Pull(spec.name, absl::MakeSpan(pulled)).value();
        ASSERT_TRUE(client->Push(spec.name, grad, versions).ok());
      }
    }
    const TablePartSnapshot cpu = servers[0]->store()->Find(spec.name).value()->Snapshot().value();
    const TablePartSnapshot gpu = servers[1]->store()->Find(spec.name).value()->Snapshot().value();
    EXPECT_EQ(cpu.segment_steps, gpu.segment_steps);
    EXPECT_EQ(0, std::memcmp(cpu.p.data(), gpu.p.data(), kN * 4)) << spec.name;
    EXPECT_EQ(0, std::memcmp(cpu.m.data(), gpu.m.data(), kN * 4)) << spec.name;
    EXPECT_EQ(0, std::memcmp(cpu.v.data(), gpu.v.data(), kN * 4)) << spec.name;
    EXPECT_EQ(cpu.vmax, gpu.vmax) << spec.name;
  }
  EXPECT_TRUE((*cuda)->Health().ok());
}

}  // namespace
}  // namespace adamasync
