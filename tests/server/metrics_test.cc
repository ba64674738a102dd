// The Prometheus endpoint: real requests show up under the documented names.
#include <gtest/gtest.h>
#include <httplib.h>

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
        "adamasync_push_staleness_count 1", "adamasync_checkpoint_age_seconds -1"}) {
    EXPECT_NE(body.find(expected), std::string::npos) << "missing: " << expected << "\n" << body;
  }
  EXPECT_EQ(http.Get("/healthz")->body, "ok\n");
}

TEST(MetricsTest, BadAddressIsRefused) {
  ShardServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "no-port";
  EXPECT_EQ(ShardServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace adamasync
