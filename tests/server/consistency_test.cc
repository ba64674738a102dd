// Consistency inside one table part: staleness policies at and past their
// bound, exactly-once pushes, synchronous rounds. Deterministic: no thread
// timing is relied on; waits are checked through deadlines.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "common/staleness.h"
#include "kernels/adam_cpu.h"
#include "kernels/adam_scalars.h"
#include "server/table_part.h"
#include "tests/testing/server_fixtures.h"

namespace adamasync {
namespace {

using testing::RandomVector;

TableSpec Spec(uint64_t n, ConsistencyConfig consistency) {
  TableSpec spec;
  spec.name = "t";
  spec.num_elements = n;
  spec.init = Initializer::Uniform(-1, 1, 5);
  spec.consistency = consistency;
  return spec;
}

absl::StatusOr<PushResult> Push(TablePart& part, const std::vector<float>& grad, uint64_t pulled,
                                uint64_t worker = 0, uint64_t seq = 0) {
  PushArgs args;
  args.offset = part.range().begin;
  args.grad = grad;
  args.pulled_version = pulled;
  args.worker_id = worker;
  args.seq = seq;
  return part.Push(args);
}

// Local reference state: p, m, v of a whole part.
struct Local {
  std::vector<float> p, m, v, vmax;
  explicit Local(const TablePartSnapshot& s) : p(s.p), m(s.m), v(s.v), vmax(s.p.size()) {}
  void Step(const AdamConfig& adam, uint64_t step, const std::vector<float>& g, double scale) {
    kernels::AdamCpu(kernels::MakeAdamScalars(adam, step, scale), g.data(),
                     {p.data(), m.data(), v.data(), vmax.data()}, p.size());
  }
};

TEST(StalenessRuleTest, PoliciesAtAndPastTheBound) {
  ConsistencyConfig c;
  c.max_staleness = 3;
  c.staleness_policy = StalenessPolicy::kApply;
  EXPECT_FALSE(DecideStaleness(c, 100, 0).reject);
  EXPECT_EQ(DecideStaleness(c, 100, 0).lr_scale, 1.0);
  c.staleness_policy = StalenessPolicy::kReject;
  EXPECT_FALSE(DecideStaleness(c, 13, 10).reject);  // at the bound
  EXPECT_TRUE(DecideStaleness(c, 14, 10).reject);   // one past
  EXPECT_EQ(DecideStaleness(c, 14, 10).staleness, 4u);
  c.staleness_policy = StalenessPolicy::kScale;
  EXPECT_EQ(DecideStaleness(c, 13, 10).lr_scale, 1.0);
  EXPECT_EQ(DecideStaleness(c, 14, 10).lr_scale, 0.25);
  // A version from the future (e.g. after a restore) counts as fresh.
  EXPECT_EQ(DecideStaleness(c, 5, 9).staleness, 0u);
  c.max_staleness = 0;
  EXPECT_EQ(DecideStaleness(c, 1, 0).lr_scale, 1.0);  // tau = 1: 1/max(1, tau)
  EXPECT_EQ(DecideStaleness(c, 2, 0).lr_scale, 0.5);
}

TEST(StalenessRuleTest, Buckets) {
  EXPECT_EQ(StalenessBucket(0), 0);
  EXPECT_EQ(StalenessBucket(1), 1);
  EXPECT_EQ(StalenessBucket(2), 2);
  EXPECT_EQ(StalenessBucket(3), 2);
  EXPECT_EQ(StalenessBucket(4), 3);
  EXPECT_EQ(StalenessBucket(UINT64_MAX), kStalenessBuckets - 1);
}

TEST(StalenessRuleTest, StaleGradientErrorRoundTrips) {
  const absl::Status status = StaleGradientError(9, 2, 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  auto info = GetStaleGradient(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->current_version, 9u);
  EXPECT_EQ(info->pulled_version, 2u);
  EXPECT_EQ(info->max_staleness, 3);
  EXPECT_FALSE(GetStaleGradient(absl::AbortedError("other")).has_value());
}

TEST(StalenessPolicyTest, RejectAtBoundAppliesAndPastBoundChangesNothing) {
  const uint64_t n = 1000;
  ConsistencyConfig c;
  c.staleness_policy = StalenessPolicy::kReject;
  c.max_staleness = 2;
  TablePart part(Spec(n, c), {0, n});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Push(part, RandomVector(n, i), i).ok());
  // Version 3 now: pulled at 1 is staleness 2 (at the bound): applied.
  auto at_bound = Push(part, RandomVector(n, 10), 1);
  ASSERT_TRUE(at_bound.ok()) << at_bound.status();
  EXPECT_EQ(at_bound->staleness, 2u);
  // Version 4: pulled at 1 is staleness 3: refused, nothing changes.
  const TablePartSnapshot before = part.Snapshot().value();
  auto past = Push(part, RandomVector(n, 11), 1);
  ASSERT_EQ(past.status().code(), absl::StatusCode::kAborted);
  auto info = GetStaleGradient(past.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->current_version, 4u);
  EXPECT_EQ(before.p, part.Snapshot().value().p);
  EXPECT_EQ(before.segment_steps, part.Snapshot().value().segment_steps);
  EXPECT_EQ(part.Stats().stale_rejected, 1u);
}

TEST(StalenessPolicyTest, ScaleEqualsLocalRunWithScaledStep) {
  const uint64_t n = 700;
  ConsistencyConfig c;
  c.staleness_policy = StalenessPolicy::kScale;
  c.max_staleness = 1;
  const TableSpec spec = Spec(n, c);
  TablePart part(spec, {0, n});
  Local local(part.Snapshot().value());
  // (pulled version, expected scale) at versions 0, 1, 2, 3, 4.
  const std::vector<std::pair<uint64_t, double>> pushes = {
      {0, 1.0}, {0, 1.0}, {0, 0.5}, {2, 1.0}, {1, 1.0 / 3}};
  uint64_t step = 0;
  for (const auto& [pulled, scale] : pushes) {
    const std::vector<float> g = RandomVector(n, static_cast<uint32_t>(step + 100));
    auto result = Push(part, g, pulled);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->lr_scale, scale) << "step " << step + 1;
    local.Step(spec.adam, ++step, g, scale);
  }
  const TablePartSnapshot remote = part.Snapshot().value();
  EXPECT_EQ(0, std::memcmp(remote.p.data(), local.p.data(), n * sizeof(float)));
  EXPECT_EQ(part.Stats().stale_scaled, 2u);
}

TEST(ExactlyOnceTest, RetriedChunkIsAppliedOnceAndOlderSeqIsRefused) {
  const uint64_t n = 2 * kSegmentElements + 9;
  TablePart part(Spec(n, {}), {0, n});
  const std::vector<float> g = RandomVector(n, 1);
  auto first = Push(part, g, 0, /*worker=*/7, /*seq=*/1);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  const TablePartSnapshot after_first = part.Snapshot().value();
  auto retry = Push(part, g, 0, 7, 1);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->version, first->version);
  EXPECT_EQ(after_first.p, part.Snapshot().value().p);
  ASSERT_TRUE(Push(part, g, 1, 7, 2).ok());
  const TablePartSnapshot after_second = part.Snapshot().value();
  auto older = Push(part, g, 1, 7, 1);
  EXPECT_EQ(older.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(older.status().message().find("older"), std::string::npos) << older.status();
  EXPECT_EQ(after_second.p, part.Snapshot().value().p);
  EXPECT_EQ(part.Version(), 2u);
  EXPECT_EQ(part.Stats().duplicate_pushes, 1u);
  // Another worker's seq 1 is its own.
  ASSERT_TRUE(Push(part, g, 2, 8, 1).ok());
  EXPECT_EQ(part.Version(), 3u);
}

TEST(ExactlyOnceTest, RefusalIsRememberedForRetries) {
  const uint64_t n = 100;
  ConsistencyConfig c;
  c.staleness_policy = StalenessPolicy::kReject;
  TablePart part(Spec(n, c), {0, n});
  ASSERT_TRUE(Push(part, RandomVector(n, 1), 0).ok());
  auto stale = Push(part, RandomVector(n, 2), 0, 3, 1);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(Push(part, RandomVector(n, 3), 1).ok());  // now the retry would be fresh...
  auto retry = Push(part, RandomVector(n, 2), 1, 3, 1);
  EXPECT_EQ(retry.status().code(), absl::StatusCode::kAborted);  // ...but answers as before
  EXPECT_EQ(part.Version(), 2u);
}

TEST(ExactlyOnceTest, ConcurrentRetriesApplyEachPushOnce) {
  const uint64_t n = 3000;
  TablePart part(Spec(n, {}), {0, n});
  const std::vector<float> g = RandomVector(n, 4);
  std::vector<std::thread> threads;
  for (uint64_t worker = 1; worker <= 8; ++worker) {
    threads.emplace_back([&, worker] {
      std::mt19937 rng(static_cast<uint32_t>(worker));
      for (uint64_t seq = 1; seq <= 20; ++seq) {
        const int attempts = 1 + static_cast<int>(rng() % 3);  // random retries
        for (int a = 0; a < attempts; ++a) ASSERT_TRUE(Push(part, g, 0, worker, seq).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(part.Version(), 160u);
  EXPECT_EQ(part.Stats().pushes, 160u);
}

TEST(SyncModeTest, RoundEqualsMeanGradientReferenceBitForBit) {
  const uint64_t n = kSegmentElements + 321;
  ConsistencyConfig c;
  c.sync_workers = 3;
  const TableSpec spec = Spec(n, c);
  TablePart part(spec, {0, n});
  Local local(part.Snapshot().value());
  for (uint64_t round = 0; round < 4; ++round) {
    std::vector<std::vector<float>> grads;
    for (uint32_t w = 0; w < 3; ++w) grads.push_back(RandomVector(n, 1000 * round + w));
    // Arrival order differs per round; worker ids 5, 6, 7.
    std::vector<int> order = {2, 0, 1};
    std::rotate(order.begin(), order.begin() + round % 3, order.end());
    for (int i = 0; i < 3; ++i) {
      auto r = Push(part, grads[order[i]], round, 5 + order[i], round + 1);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->version, i < 2 ? round : round + 1);
    }
    // Reference: all-reduce mean in worker order, then one Adam step.
    std::vector<float> mean(n);
    for (uint64_t e = 0; e < n; ++e) mean[e] = ((grads[0][e] + grads[1][e]) + grads[2][e]) / 3.0f;
    local.Step(spec.adam, round + 1, mean, 1.0);
  }
  const TablePartSnapshot remote = part.Snapshot().value();
  EXPECT_EQ(0, std::memcmp(remote.p.data(), local.p.data(), n * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(remote.v.data(), local.v.data(), n * sizeof(float)));
  EXPECT_EQ(part.Version(), 4u);
}

TEST(SyncModeTest, BadPushesAreRefusedWithStateUnchanged) {
  const uint64_t n = 500;
  ConsistencyConfig c;
  c.sync_workers = 2;
  TablePart part(Spec(n, c), {0, n});
  const std::vector<float> g = RandomVector(n, 1);
  EXPECT_EQ(Push(part, g, 0).status().code(), absl::StatusCode::kInvalidArgument);  // anonymous
  ASSERT_TRUE(Push(part, g, 0, 1, 1).ok());
  const TablePartSnapshot before = part.Snapshot().value();
  auto twice = Push(part, g, 0, 1, 2);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.status().message().find("already pushed"), std::string::npos);
  auto wrong_round = Push(part, g, 3, 2, 1);
  EXPECT_EQ(wrong_round.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_round.status().message().find("round"), std::string::npos);
  EXPECT_EQ(before.p, part.Snapshot().value().p);
  ASSERT_EQ(part.Snapshot().value().sync_pending.size(), 1u);
}

TEST(SyncModeTest, PullOfAWorkerThatPushedWaitsForTheRound) {
  const uint64_t n = 500;
  ConsistencyConfig c;
  c.sync_workers = 2;
  TablePart part(Spec(n, c), {0, n});
  std::vector<char> out(n * sizeof(float));
  ASSERT_TRUE(Push(part, RandomVector(n, 1), 0, 1, 1).ok());
  // Worker 2 has not pushed: it reads round 0 at once.
  auto other = part.Pull(0, n, out.data(), 2, absl::Now());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 0u);
  // Worker 1 pushed: its pull waits, here until an immediate deadline.
  auto waiting = part.Pull(0, n, out.data(), 1, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(waiting.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(waiting.status().message().find("1 of 2 workers"), std::string::npos)
      << waiting.status();
  // A pull blocked with a long deadline is released when the round closes.
  std::thread puller([&] {
    std::vector<char> buffer(n * sizeof(float));
    auto version = part.Pull(0, n, buffer.data(), 1, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(*version, 1u);
  });
  ASSERT_TRUE(Push(part, RandomVector(n, 2), 0, 2, 1).ok());
  puller.join();
}

}  // namespace
}  // namespace adamasync
