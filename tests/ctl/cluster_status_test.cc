// Tests of ctl/cluster_status.h: the merged view of the shards' GetStats
// answers, as text and JSON, including an unreachable shard.
#include "ctl/cluster_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace adamasync::ctl {
namespace {

using ::testing::HasSubstr;

v1::GetStatsResponse Answer(uint32_t shard, uint64_t version) {
  v1::GetStatsResponse r;
  r.set_shard_index(shard);
  r.set_num_shards(2);
  r.set_uptime_seconds(75);
  r.set_server_version("0.1.0");
  r.set_last_checkpoint_file("shard-0-of-2-00000000000000000003.ckpt");
  r.set_last_checkpoint_unix_ms(1'000'000);
  r.set_restored_from("shard-0-of-2-00000000000000000002.ckpt");
  v1::TableStats* t = r.add_tables();
  t->set_name("mlp/w");
  t->set_num_elements(1000);
  t->set_part_begin(shard * 500);
  t->set_part_end(shard * 500 + 500);
  t->set_version(version);
  t->set_pushes(10);
  t->set_staleness_sum(5);
  t->set_staleness_max(3);
  t->set_duplicate_pushes(1);
  t->mutable_adam()->set_algorithm(v1::ALGORITHM_ADAM);
  t->mutable_adam()->set_lr(0.001);
  t->mutable_adam()->set_beta1(0.9);
  t->mutable_adam()->set_beta2(0.999);
  t->mutable_adam()->set_eps(1e-8);
  v1::WorkerStats* w = r.add_workers();
  w->set_worker_id(1);
  w->set_clock(7 + shard);
  w->set_live(true);
  w->set_last_seq(20);
  if (shard == 1) w->set_blocked_on("mlp/w: waiting for clock 5");
  return r;
}

TEST(ClusterStatusTest, TextMergesShards) {
  const std::vector<absl::StatusOr<v1::GetStatsResponse>> answers = {Answer(0, 11), Answer(1, 12)};
  const std::string text =
      FormatStatusText({"h:1", "h:2"}, answers, absl::FromUnixMillis(1'000'000) + absl::Seconds(5));
  EXPECT_THAT(text, HasSubstr("shard-0-of-2-00000000000000000003.ckpt  5.0s"));
  EXPECT_THAT(text, HasSubstr("mlp/w  1000      11,12     10,10   0.50/3              2"));
  EXPECT_THAT(text, HasSubstr("  algorithm=adam lr=0.001 beta1=0.9"));
  EXPECT_THAT(text, HasSubstr("    tables: mlp/w\n"));
  EXPECT_THAT(text, HasSubstr("1       7,8     yes   20        shard 1: mlp/w: waiting"));
}

TEST(ClusterStatusTest, JsonMarksUnreachableShards) {
  const std::vector<absl::StatusOr<v1::GetStatsResponse>> answers = {
      Answer(0, 11), absl::UnavailableError("shard 1 (h:2): GetStats: connection refused")};
  const auto j = nlohmann::json::parse(FormatStatusJson({"h:1", "h:2"}, answers, absl::Now()));
  EXPECT_TRUE(j["shards"][0]["ok"].get<bool>());
  EXPECT_FALSE(j["shards"][1]["ok"].get<bool>());
  EXPECT_THAT(j["shards"][1]["error"].get<std::string>(), HasSubstr("connection refused"));
  EXPECT_EQ(j["tables"][0]["versions"][0], 11);
  EXPECT_TRUE(j["tables"][0]["versions"][1].is_null());
  EXPECT_FALSE(j["tables"][0]["part_empty"][0].get<bool>());
  EXPECT_EQ(j["tables"][0]["duplicates"], 1);
  EXPECT_EQ(j["workers"][0]["id"], 1);
}

TEST(ClusterStatusTest, FormatsAges) {
  EXPECT_EQ(FormatAge(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(FormatAge(absl::Seconds(12.34)), "12.3s");
  EXPECT_EQ(FormatAge(absl::Seconds(245)), "4m05s");
  EXPECT_EQ(FormatAge(absl::Hours(3) + absl::Minutes(2)), "3h02m");
  EXPECT_EQ(FormatAge(absl::Hours(123)), "5d03h");
}

}  // namespace
}  // namespace adamasync::ctl
