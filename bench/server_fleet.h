// A set of adamasync-server shard processes on 127.0.0.1 for one benchmark
// configuration. Each shard listens on a free port (--listen=127.0.0.1:0)
// and writes it to a port file in a private temporary directory; Start
// returns once every shard has written its port. The destructor stops the
// servers and removes the directory, so an early error return still cleans
// up; the servers also receive SIGTERM if the benchmark process dies
// (ChildProcess).
//
// Example:
//   ServerFleetOptions options;
//   options.server_bin = DefaultServerBinary();
//   options.num_shards = 2;
//   ASSIGN_OR_RETURN(std::unique_ptr<ServerFleet> fleet, ServerFleet::Start(options));
//   ClientOptions client_options;
//   client_options.servers = fleet->addresses();
//
// Thread safety: one thread at a time; start it from the main thread.
#ifndef ADAMASYNC_BENCH_SERVER_FLEET_H_
#define ADAMASYNC_BENCH_SERVER_FLEET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/child_process.h"

namespace adamasync {
namespace bench {

struct ServerFleetOptions {
  // Path of the adamasync-server binary. REQUIRES: executable.
  std::string server_bin;
  // Shards to start, each with --shard_index=i --num_shards=num_shards.
  // REQUIRES: >= 1.
  int num_shards = 1;
  // Further arguments given to every server. Default none.
  std::vector<std::string> extra_args;
  // How long to wait for all port files. Default 30 s.
  absl::Duration start_timeout = absl::Seconds(30);
};

class ServerFleet {
 public:
  // NOT_FOUND when server_bin is not executable; UNAVAILABLE, with the tail
  // of its log, when a server exits or writes no port file in time (servers
  // already started are stopped).
  static absl::StatusOr<std::unique_ptr<ServerFleet>> Start(const ServerFleetOptions& options);

  ServerFleet(const ServerFleet&) = delete;
  ServerFleet& operator=(const ServerFleet&) = delete;
  ~ServerFleet();

  // "127.0.0.1:PORT" of every shard, in shard order.
  const std::vector<std::string>& addresses() const { return addresses_; }

  // OK while every server runs; UNAVAILABLE naming the first that exited,
  // with the tail of its log.
  absl::Status CheckAlive();

 private:
  explicit ServerFleet(std::string dir) : dir_(std::move(dir)) {}

  std::string LogPath(int shard) const;
  std::string PortPath(int shard) const;

  std::string dir_;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
  std::vector<std::string> addresses_;
};

// <directory of this executable>/../server/adamasync-server: where the
// server binary sits in the build tree next to bench/adamasync-bench.
std::string DefaultServerBinary();

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_SERVER_FLEET_H_
