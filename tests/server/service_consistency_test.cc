// Consistency through the SDK and real servers on loopback: retried pushes
// applied once (lost replies and timed-out attempts are injected at the
// server), stale pushes refused or dropped, synchronous rounds across
// clients, SSP clocks and what GetStats tells about workers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "adamasync/client.h"
#include "common/sharding.h"
#include "common/staleness.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "server/shard_server.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

constexpr uint32_t kShards = 2;

using testing::RandomVector;

class ServiceConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override { shards_.Start(kShards, 256ull << 20); }

  std::unique_ptr<Client> NewClient(uint64_t worker_id, ClientOptions options = {}) {
    options.servers = addresses_;
    options.worker_id = worker_id;
    options.chunk_elements = kSegmentElements;
    options.deadline = absl::Seconds(30);
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(20);
    auto client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  uint64_t TotalDuplicates(const std::string& table) {
    uint64_t total = 0;
    for (auto& server : servers_)
      total += server->store()->Find(table).value()->Stats().duplicate_pushes;
    return total;
  }

  testing::LocalShards shards_;
  std::vector<std::string>& addresses_ = shards_.addresses;
  std::vector<std::unique_ptr<ShardServer>>& servers_ = shards_.servers;
};

TEST_F(ServiceConsistencyTest, PushRetriedAfterAttemptDeadlineIsAppliedOnce) {
  // The first answer of shard 0 is held back longer than the attempt
  // timeout; the client retries with the same seq; the server recognises it.
  std::atomic<int> held{0};
  servers_[0]->service()->SetPushReplyHookForTesting([&](const v1::PushRequest&) {
    if (held.fetch_add(1) == 0) absl::SleepFor(absl::Milliseconds(1500));  // injected delay
    return absl::OkStatus();
  });
  ClientOptions options;
  options.attempt_timeout = absl::Milliseconds(300);
  auto client = NewClient(/*worker_id=*/1, options);
  TableSpec spec{"retry_once", 3 * kSegmentElements};
  ASSERT_TRUE(client->CreateTable(spec).ok());
  auto pushed = client->Push("retry_once", RandomVector(spec.num_elements, 1), Versions{});
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(pushed->per_shard, std::vector<uint64_t>(kShards, 1));
  EXPECT_GE(TotalDuplicates("retry_once"), 1u);
  // The client counted the timed-out attempt and its retry.
  const ClientCounters counters = client->Counters();
  EXPECT_GE(counters.retried_attempt_timeout, 1u);
  EXPECT_EQ(counters.retried_unavailable, 0u);
  EXPECT_EQ(counters.failed_calls, 0u);
  EXPECT_GE(counters.attempts, kShards + counters.retried_attempt_timeout);
  for (auto& server : servers_) {
    const TablePartSnapshot snap = server->store()->Find("retry_once").value()->Snapshot().value();
    for (uint64_t step : snap.segment_steps) EXPECT_EQ(step, 1u);
  }
}

// An anonymous push has no seq to dedupe: when its reply is lost (the
// connection broke after the server applied it) the SDK must not send it
// again, and say why; the push stays applied exactly once.
TEST_F(ServiceConsistencyTest, AnonymousPushWhoseReplyIsLostIsNotSentAgain) {
  std::atomic<int> replies{0};
  servers_[0]->service()->SetPushReplyHookForTesting([&replies](const v1::PushRequest&) {
    return replies.fetch_add(1) == 0 ? absl::UnavailableError("injected: reply lost")
                                     : absl::OkStatus();
  });
  auto client = NewClient(/*worker_id=*/0);
  TableSpec spec{"anonymous", 2 * kSegmentElements};
  ASSERT_TRUE(client->CreateTable(spec).ok());
  auto pushed = client->Push("anonymous", RandomVector(spec.num_elements, 1), Versions{});
  ASSERT_EQ(pushed.status().code(), absl::StatusCode::kUnavailable) << pushed.status();
  EXPECT_TRUE(absl::StrContains(pushed.status().message(), "may have been applied"))
      << pushed.status();
  EXPECT_EQ(client->Counters().retried_unavailable, 0u);
  EXPECT_EQ(replies.load(), 1);
  EXPECT_EQ(servers_[0]->store()->Find("anonymous").value()->Version(), 1u);
}

TEST_F(ServiceConsistencyTest, EightWorkersWithLostRepliesApplyEachDistinctPushOnce) {
  // Every shard loses the reply of about one push chunk in three (after
  // applying it): clients retry; the applied count must still equal the
  // number of distinct (worker, seq) pushes.
  absl::Mutex rng_mu;
  std::mt19937 rng(1234);
  for (auto& server : servers_) {
    server->service()->SetPushReplyHookForTesting([&](const v1::PushRequest&) {
      absl::MutexLock lock(&rng_mu);
      return rng() % 3 == 0 ? absl::UnavailableError("injected: reply lost") : absl::OkStatus();
    });
  }
  TableSpec spec{"lossy", 2 * kSegmentElements + 100};
  ASSERT_TRUE(NewClient(0)->CreateTable(spec).ok());
  constexpr int kWorkers = 8, kPushes = 12;
  std::atomic<uint64_t> retried{0}, failed{0};
  std::vector<std::thread> threads;
  for (int w = 1; w <= kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto client = NewClient(static_cast<uint64_t>(w));
      const std::vector<float> grad = RandomVector(spec.num_elements, w);
      for (int i = 0; i < kPushes; ++i) {
        auto pushed = client->Push("lossy", grad, Versions{});
        ASSERT_TRUE(pushed.ok()) << pushed.status();
      }
      retried += client->Counters().retried_unavailable;
      failed += client->Counters().failed_calls;
    });
  }
  for (auto& t : threads) t.join();
  // About one chunk in three was retried (192 chunks in all), none failed.
  EXPECT_GT(retried.load(), 20u);
  EXPECT_EQ(failed.load(), 0u);
  for (auto& server : servers_) {
    auto part = server->store()->Find("lossy").value();
    EXPECT_EQ(part->Version(), static_cast<uint64_t>(kWorkers * kPushes));
    const TablePartSnapshot snap = part->Snapshot().value();
    for (uint64_t step : snap.segment_steps) EXPECT_EQ(step, kWorkers * kPushes);
  }
  EXPECT_GT(TotalDuplicates("lossy"), 0u);
}

TEST_F(ServiceConsistencyTest, RestartedWorkerContinuesItsSequence) {
  TableSpec spec{"seq_continues", 1000};
  {
    auto client = NewClient(5);
    ASSERT_TRUE(client->CreateTable(spec).ok());
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(client->Push("seq_continues", std::vector<float>(1000, 1), {}).ok());
  }
  auto again = NewClient(5);  // a new incarnation of worker 5
  ASSERT_TRUE(again->Push("seq_continues", std::vector<float>(1000, 1), {}).ok());
  auto stats = again->GetStats();
  ASSERT_TRUE(stats.ok());
  uint64_t version = 0;
  for (const auto& shard : *stats) {
    for (const auto& t : shard.tables) version = std::max(version, t.version);
    for (const auto& w : shard.workers) {
      if (w.worker_id == 5 && !shard.tables.empty() &&
          shard.tables[0].part_end > shard.tables[0].part_begin) {
        EXPECT_EQ(w.last_seq, 4u);
      }
    }
  }
  EXPECT_EQ(version, 4u);
}

TEST_F(ServiceConsistencyTest, StalePushIsAbortedOrDroppedOnRequest) {
  TableSpec spec{"bounded", 5000};
  spec.consistency.staleness_policy = StalenessPolicy::kReject;
  spec.consistency.max_staleness = 1;
  auto fresh = NewClient(1);
  ASSERT_TRUE(fresh->CreateTable(spec).ok());
  std::vector<float> params(5000), grad(5000, 0.5f);
  auto old_versions = fresh->Pull("bounded", absl::MakeSpan(params));
  ASSERT_TRUE(old_versions.ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(fresh->Push("bounded", grad, Versions{}).ok());
  auto refused = fresh->Push("bounded", grad, *old_versions);  // staleness 2 > 1
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  auto info = GetStaleGradient(refused.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->current_version, 2u);

  ClientOptions drop;
  drop.drop_stale_pushes = true;
  auto dropping = NewClient(2, drop);
  auto dropped = dropping->Push("bounded", grad, *old_versions);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->stale_dropped);
  auto now = fresh->Pull("bounded", absl::MakeSpan(params));
  ASSERT_TRUE(now.ok());
  uint64_t max_version = 0;
  for (uint64_t v : now->per_shard) max_version = std::max(max_version, v);
  EXPECT_EQ(max_version, 2u);  // neither stale push was applied
}

TEST_F(ServiceConsistencyTest, SyncRoundsAcrossClientsEqualMeanGradientAdam) {
  const uint64_t n = kSegmentElements + 5000;
  TableSpec spec{"sync_table", n};
  spec.consistency.sync_workers = 2;
  spec.init = Initializer::Normal(0, 0.1, 3);
  auto a = NewClient(1), b = NewClient(2);
  ASSERT_TRUE(a->CreateTable(spec).ok());
  std::vector<float> p(n), m(n), v(n), vmax(n), pulled_a(n), pulled_b(n);
  ASSERT_TRUE(a->Pull("sync_table", absl::MakeSpan(p)).ok());
  for (uint64_t round = 0; round < 3; ++round) {
    auto va = a->Pull("sync_table", absl::MakeSpan(pulled_a));
    ASSERT_TRUE(va.ok()) << va.status();
    const std::vector<float> ga = RandomVector(n, 10 + round), gb = RandomVector(n, 20 + round);
    ASSERT_TRUE(a->Push("sync_table", ga, *va).ok());
    // a's next pull waits for b's push: start it, then let b push.
    auto next_a = a->PullAsync("sync_table", absl::MakeSpan(pulled_a));
    auto vb = b->Pull("sync_table", absl::MakeSpan(pulled_b));
    ASSERT_TRUE(vb.ok());
    ASSERT_TRUE(b->Push("sync_table", gb, *vb).ok());
    auto after = next_a.get();
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->per_shard, std::vector<uint64_t>(kShards, round + 1));
    std::vector<float> mean(n);
    for (uint64_t i = 0; i < n; ++i) mean[i] = (ga[i] + gb[i]) / 2.0f;
    kernels::AdamCpu(kernels::MakeAdamScalars(spec.adam, round + 1), mean.data(),
                     {p.data(), m.data(), v.data(), vmax.data()}, n);
    EXPECT_EQ(0, std::memcmp(pulled_a.data(), p.data(), n * sizeof(float))) << "round " << round;
  }
}

TEST_F(ServiceConsistencyTest, ClocksAndStatsShowWorkers) {
  TableSpec spec{"ssp", 1000};
  spec.consistency.ssp_bound = 1;
  auto fast = NewClient(1), slow = NewClient(2);
  ASSERT_TRUE(fast->CreateTable(spec).ok());
  ASSERT_TRUE(slow->Register().ok());
  std::vector<float> out(1000);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(fast->Clock().ok());  // fast at 2, slow at 0
  // The fast worker's pull must wait: with a short deadline it fails and
  // says which worker it waited for.
  ClientOptions impatient;
  impatient.deadline = absl::Milliseconds(300);
  impatient.servers = addresses_;
  impatient.worker_id = 1;
  impatient.attempt_timeout = absl::Milliseconds(300);
  auto fast_view = Client::Create(impatient).value();
  auto blocked = fast_view->Pull("ssp", absl::MakeSpan(out));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kDeadlineExceeded) << blocked.status();
  // The slow worker catches up by one clock: now 2 - 1 <= 1.
  auto min_clock = slow->Clock();
  ASSERT_TRUE(min_clock.ok());
  EXPECT_EQ(*min_clock, 1u);
  EXPECT_TRUE(fast->Pull("ssp", absl::MakeSpan(out)).ok());
  auto stats = fast->GetStats();
  ASSERT_TRUE(stats.ok());
  for (const ShardStats& shard : *stats) {
    ASSERT_EQ(shard.workers.size(), 2u);
    EXPECT_EQ(shard.workers[0].clock, 2u);
    EXPECT_EQ(shard.workers[1].clock, 1u);
    EXPECT_EQ(shard.min_live_clock, 1u);
  }
  EXPECT_EQ(NewClient(0)->Clock().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace adamasync
