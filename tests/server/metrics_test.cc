// The Prometheus endpoint: real requests show up under the documented names.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "adamasync/client.h"
#include "server/shard_server.h"

namespace adamasync {
namespace {

TEST(MetricsTest, EndpointReportsRequestsTablesAndWorkers) {
  ShardServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  auto server = ShardServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);

  ClientOptions client_options;
  client_options.servers = {"127.0.0.1:" + std::to_string((*server)->port())};
  client_options.worker_id = 3;
  auto client = Client::Create(client_options).value();
  ASSERT_TRUE(client->CreateTable(TableSpec{"w", 1000}).ok());
  std::vector<float> params(1000), grad(1000, 0.1f);
  auto pulled = client->Pull("w", absl::MakeSpan(params));
  ASSERT_TRUE(pulled.ok());
  ASSERT_TRUE(client->Push("w", grad, *pulled).ok());
  grad[3] = 1.0f / 0.0f;
  EXPECT_FALSE(client->Push("w", grad, *pulled).ok());                 // refused by the client
  EXPECT_FALSE(client->Pull("missing", absl::MakeSpan(params)).ok());  // NOT_FOUND lookup

  httplib::Client http("127.0.0.1", (*server)->metrics_port());
  auto response = http.Get("/metrics");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const std::string& body = response->body;
  for (const char* expected :
       {"adamasync_requests_total{code=\"OK\",method=\"Push\"} 1",
        "adamasync_requests_total{code=\"OK\",method=\"CreateTable\"} 1",
        "adamasync_push_bytes_total 4000", "adamasync_pull_bytes_total 4000",
        "adamasync_table_elements{table=\"w\"} 1000", "adamasync_table_version{table=\"w\"} 1",
        "adamasync_live_workers 1", "adamasync_push_apply_duration_seconds_count 1",
        "adamasync_push_staleness_count 1", "adamasync_checkpoint_age_seconds -1",
        "adamasync_state_backend_healthy{device=\"cpu ("}) {
    EXPECT_NE(body.find(expected), std::string::npos) << "missing: " << expected << "\n" << body;
  }
  EXPECT_EQ(http.Get("/healthz")->body, "ok\n");
}

std::string Scrape(int port) {
  httplib::Client http("127.0.0.1", port);
  auto response = http.Get("/metrics");
  return response && response->status == 200 ? response->body : "";
}

// Retries answered as duplicates and stale pushes are counted per table
// (once, however often /metrics is read), and a restarted shard's
// checkpoint age counts from the checkpoint it restored.
TEST(MetricsTest, DuplicateAndStalePushesAndTheRestoredCheckpointsAge) {
  const std::string dir = ::testing::TempDir() + "/metrics_test_checkpoints";
  std::filesystem::remove_all(dir);
  ShardServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  CheckpointOptions checkpoint;
  checkpoint.dir = dir;
  options.checkpoint = checkpoint;
  auto server = ShardServer::Start(options).value();
  // The first push's reply is lost after it was applied: the retry is a duplicate.
  std::atomic<int> replies{0};
  server->service()->SetPushReplyHookForTesting([&replies](const v1::PushRequest&) {
    return replies.fetch_add(1) == 0 ? absl::UnavailableError("injected: reply lost")
                                     : absl::OkStatus();
  });
  ClientOptions client_options;
  client_options.servers = {"127.0.0.1:" + std::to_string(server->port())};
  client_options.worker_id = 5;
  auto client = Client::Create(client_options).value();
  TableSpec spec{"w", 1000};
  spec.consistency.staleness_policy = StalenessPolicy::kReject;
  spec.consistency.max_staleness = 0;
  ASSERT_TRUE(client->CreateTable(spec).ok());
  const std::vector<float> grad(1000, 0.1f);
  ASSERT_TRUE(client->Push("w", grad, Versions{{0}}).ok());
  ASSERT_TRUE(client->Push("w", grad, Versions{{1}}).ok());
  // Computed at version 0, two updates ago: refused.
  EXPECT_EQ(client->Push("w", grad, Versions{{0}}).status().code(), absl::StatusCode::kAborted);
  for (int scrape = 0; scrape < 2; ++scrape) {
    const std::string body = Scrape(server->metrics_port());
    for (const char* expected : {"adamasync_duplicate_pushes_total{table=\"w\"} 1",
                                 "adamasync_stale_pushes_total{action=\"rejected\",table=\"w\"} 1",
                                 "adamasync_stale_pushes_total{action=\"scaled\",table=\"w\"} 0",
                                 "adamasync_checkpoint_age_seconds -1"}) {
      EXPECT_NE(body.find(expected), std::string::npos) << "missing: " << expected << "\n" << body;
    }
  }
  ASSERT_TRUE(server->checkpoints()->WriteNow().ok());
  server->Shutdown(absl::Seconds(1));
  server.reset();

  auto restarted = ShardServer::Start(options).value();
  const std::string body = Scrape(restarted->metrics_port());
  const std::string series = "\nadamasync_checkpoint_age_seconds ";
  const size_t at = body.find(series);
  ASSERT_NE(at, std::string::npos) << body;
  const double age = std::strtod(body.c_str() + at + series.size(), nullptr);
  EXPECT_GE(age, 0.0) << body;
  EXPECT_LT(age, 600.0) << body;
}

TEST(MetricsTest, BadAddressIsRefused) {
  ShardServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "no-port";
  EXPECT_EQ(ShardServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace adamasync
