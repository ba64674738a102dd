// WorkerRegistry with a FakeClock: registration, clocks, leases and the SSP
// wait. Whether a pull may proceed is checked with an immediate deadline,
// so no test depends on thread timing.
#include "server/worker_registry.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace adamasync {
namespace {

// True when worker `id` may pull now under `bound`.
bool MayPull(WorkerRegistry& r, uint64_t id, uint64_t bound) {
  const absl::Status s = r.WaitForSsp(id, "t", bound, absl::Now());
  EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kDeadlineExceeded) << s;
  return s.ok();
}

TEST(WorkerRegistryTest, BadInputs) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  EXPECT_EQ(r.Register(0, absl::Seconds(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Register(1, absl::Milliseconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AdvanceClock(9, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(r.Register(1, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.AdvanceClock(1, 5).ok());
  auto backwards = r.AdvanceClock(1, 4);
  EXPECT_EQ(backwards.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(backwards.status().message().find("backwards"), std::string::npos);
  EXPECT_EQ(r.Workers()[0].clock, 5u);
}

TEST(WorkerRegistryTest, FastWorkerWaitsExactlyUntilTheSlowOneCatchesUp) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  ASSERT_TRUE(r.Register(1, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.Register(2, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.AdvanceClock(1, 3).ok());  // fast worker at 3, bound 1: needs everyone at >= 2
  EXPECT_FALSE(MayPull(r, 1, 1));
  ASSERT_TRUE(r.AdvanceClock(2, 1).ok());
  EXPECT_FALSE(MayPull(r, 1, 1));
  ASSERT_TRUE(r.AdvanceClock(2, 2).ok());
  EXPECT_TRUE(MayPull(r, 1, 1));
  EXPECT_TRUE(MayPull(r, 2, 1));  // the slow one never waits
  EXPECT_EQ(r.MinLiveClock(), 2u);
}

TEST(WorkerRegistryTest, BlockedPullSaysWhatItWaitsForAndIsReleased) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  ASSERT_TRUE(r.Register(1, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.Register(2, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.AdvanceClock(1, 2).ok());
  auto waiter = std::async(
      std::launch::async, [&] { return r.WaitForSsp(1, "w", 0, absl::Now() + absl::Seconds(60)); });
  // Wait (without sleeping) until the registry shows the pull as blocked.
  while (r.Workers()[0].blocked_on.empty()) std::this_thread::yield();
  EXPECT_NE(r.Workers()[0].blocked_on.find("worker 2 is at 0"), std::string::npos)
      << r.Workers()[0].blocked_on;
  ASSERT_TRUE(r.AdvanceClock(2, 2).ok());
  EXPECT_TRUE(waiter.get().ok());
  EXPECT_TRUE(r.Workers()[0].blocked_on.empty());
}

TEST(WorkerRegistryTest, ExpiredLeaseStopsHoldingOthersBackUntilTheWorkerRejoins) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  ASSERT_TRUE(r.Register(1, absl::Seconds(100)).ok());
  ASSERT_TRUE(r.Register(2, absl::Seconds(5)).ok());
  ASSERT_TRUE(r.AdvanceClock(1, 4).ok());
  EXPECT_FALSE(MayPull(r, 1, 1));
  clock.Advance(absl::Seconds(5));  // exactly the lease: still live
  EXPECT_FALSE(MayPull(r, 1, 1));
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(MayPull(r, 1, 1));
  EXPECT_EQ(r.expired_leases(), 1u);
  EXPECT_FALSE(r.Workers()[1].live);
  // Worker 2 calls again: it rejoins with its old clock and holds 1 back.
  ASSERT_TRUE(r.AdvanceClock(2, 1).ok());
  EXPECT_TRUE(r.Workers()[1].live);
  EXPECT_FALSE(MayPull(r, 1, 1));
}

TEST(WorkerRegistryTest, DeadlineExceededNamesTheSlowWorker) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  ASSERT_TRUE(r.Register(1, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.Register(2, absl::Seconds(10)).ok());
  ASSERT_TRUE(r.AdvanceClock(1, 5).ok());
  const absl::Status s = r.WaitForSsp(1, "w", 2, absl::Now() + absl::Milliseconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("worker 2 is at 0"), std::string::npos) << s;
}

TEST(WorkerRegistryTest, SeqAndClockSurviveReRegistration) {
  FakeClock clock;
  WorkerRegistry r(&clock);
  ASSERT_TRUE(r.Register(3, absl::Seconds(10)).ok());
  r.NoteSeq(3, 41);
  r.NoteSeq(3, 40);
  ASSERT_TRUE(r.AdvanceClock(3, 7).ok());
  auto again = r.Register(3, absl::Seconds(10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->last_seq, 41u);
  EXPECT_EQ(again->clock, 7u);
}

}  // namespace
}  // namespace adamasync
