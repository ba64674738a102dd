// Helpers shared by the server tests: seeded random tensors and a cluster
// of in-process shard servers on loopback.
#ifndef ADAMASYNC_TESTS_TESTING_SERVER_FIXTURES_H_
#define ADAMASYNC_TESTS_TESTING_SERVER_FIXTURES_H_

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "server/shard_server.h"

namespace adamasync {
namespace testing {

// n values from N(0, 1), the same for the same seed.
inline std::vector<float> RandomVector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// `num_shards` in-process servers on free loopback ports (plaintext), each
// with a state quota of `quota_bytes`.
struct LocalShards {
  std::vector<std::string> addresses;
  std::vector<std::unique_ptr<ShardServer>> servers;

  void Start(uint32_t num_shards, uint64_t quota_bytes) {
    for (uint32_t s = 0; s < num_shards; ++s) {
      ShardServerOptions options;
      options.listen = "127.0.0.1:0";
      options.shard = ShardOptions{s, num_shards, quota_bytes};
      auto server = ShardServer::Start(options);
      ASSERT_TRUE(server.ok()) << server.status();
      addresses.push_back("127.0.0.1:" + std::to_string((*server)->port()));
      servers.push_back(std::move(*server));
    }
  }
};

}  // namespace testing
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_TESTING_SERVER_FIXTURES_H_
