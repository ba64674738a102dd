// The AdamAsync C++ client SDK: create tables on the shard servers, pull
// parameters, push gradients.
//
// A Client talks to every shard of one cluster. Each table is split across
// the shards by common/sharding.h; a Pull or Push fans out to all shards in
// parallel, in chunks of `ClientOptions::chunk_elements`, many in flight at
// once, and retries UNAVAILABLE with exponential backoff until the
// operation's deadline.
//
// Example:
//   adamasync::ClientOptions options;
//   options.servers = {"10.0.0.1:7000", "10.0.0.2:7000"};
//   auto client = adamasync::Client::Create(options).value();
//   adamasync::TableSpec spec{"w", 1000};
//   if (auto s = client->CreateTable(spec); !s.ok()) ...
//   std::vector<float> w(1000), g(1000);
//   auto pulled = client->Pull("w", absl::MakeSpan(w));   // versions seen
//   ... compute g from w ...
//   auto pushed = client->Push("w", g, *pulled);          // one Adam step
//
// Thread safety: a Client may be used from any number of threads at once.
// Callbacks of the asynchronous forms run on an internal gRPC thread and must
// not block for long. Buffers passed to an asynchronous call must stay alive
// and untouched until its callback has run or its future is ready.
#ifndef ADAMASYNC_CLIENT_H_
#define ADAMASYNC_CLIENT_H_

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "adamasync/security.h"
#include "adamasync/stats.h"
#include "adamasync/table_spec.h"

namespace adamasync {

struct ClientOptions {
  // "host:port" of every shard, in shard order (entry i is shard i).
  // REQUIRES: non-empty.
  std::vector<std::string> servers;
  // Time allowed for one whole operation (all its chunks, retries included).
  // Default 30 s.
  absl::Duration deadline = absl::Seconds(30);
  // First wait before retrying an UNAVAILABLE answer; doubles (with jitter)
  // up to max_backoff. Defaults 20 ms and 1 s.
  absl::Duration initial_backoff = absl::Milliseconds(20);
  absl::Duration max_backoff = absl::Seconds(1);
  // Elements per Pull/Push RPC. REQUIRES: a positive multiple of 65536
  // (kSegmentElements). Default 1 Mi elements (4 MiB).
  uint64_t chunk_elements = uint64_t{1} << 20;
  // Chunk RPCs one operation keeps in flight at once. Default 8.
  int max_chunks_in_flight = 8;
  // Largest gRPC message sent or accepted, in bytes. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // Time allowed for one attempt of one chunk RPC; an attempt that runs out
  // (DEADLINE_EXCEEDED) is retried like UNAVAILABLE while the operation's
  // deadline allows. Infinite (default): one attempt may use the whole
  // deadline. Pushes of an anonymous client (worker_id 0) are not retried
  // when they may have been applied (a timed-out attempt, a connection lost
  // mid-call): they fail instead, so they are never applied twice.
  absl::Duration attempt_timeout = absl::InfiniteDuration();

  // This worker's identity (> 0), or 0 for an anonymous client. With an id,
  // the client registers on every shard on first use, numbers its pushes so
  // each is applied exactly once however often it is retried, keeps one
  // push per table in flight at a time (in call order), takes part in SSP
  // (Clock()) and synchronous rounds. Two live clients must not share an id.
  uint64_t worker_id = 0;
  // How long a shard keeps counting this worker without hearing from it
  // (any call renews it). Default 60 s; REQUIRES: 100 ms .. 1 h.
  absl::Duration lease = absl::Seconds(60);
  // When a table's REJECT staleness policy refuses a push as too stale:
  // false (default) = the push fails with ABORTED; true = the gradient is
  // dropped, the push succeeds with Versions::stale_dropped set, and the
  // caller's next Pull brings the fresh parameters.
  bool drop_stale_pushes = false;

  // TLS to the servers (adamasync/security.h). Default: plaintext.
  ClientTlsOptions tls;
  // Bearer token sent with every call, for servers that check tokens.
  // Default: none.
  ClientCredentials credentials;
};

// The versions a Pull saw or a Push produced: for each shard, the number of
// updates its part of the table had received (the fewest over the segments
// the call touched).
struct Versions {
  std::vector<uint64_t> per_shard;
  // Push only: some shard refused the gradient as too stale and the client
  // dropped it (ClientOptions::drop_stale_pushes).
  bool stale_dropped = false;
};

// What a client's RPCs have met since it was created, for monitoring (the
// worker daemon exports them as Prometheus counters). A "call" is one chunk
// RPC of an operation; each call makes one or more attempts.
struct ClientCounters {
  uint64_t attempts = 0;                 // attempts sent, first tries and retries
  uint64_t retried_unavailable = 0;      // attempts answered UNAVAILABLE, then retried
  uint64_t retried_attempt_timeout = 0;  // attempts past attempt_timeout, then retried
  uint64_t failed_calls = 0;             // calls that ended in an error, retries spent
};

class Client {
 public:
  using VersionsCallback = std::function<void(absl::StatusOr<Versions>)>;

  // INVALID_ARGUMENT when the options break a REQUIRES; NOT_FOUND when a TLS
  // or token file cannot be read. Connects lazily.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Waits for the operations still in flight.
  virtual ~Client() = default;

  // Creates `spec` on every shard. OK when every shard now holds exactly this
  // spec (also when it already did); ALREADY_EXISTS when a shard holds a
  // different table under the same name; INVALID_ARGUMENT for a bad spec
  // (checked before anything is sent).
  virtual absl::Status CreateTable(const TableSpec& spec) = 0;

  // Copies the whole table into `out`. REQUIRES: out.size() is the table's
  // num_elements (else INVALID_ARGUMENT). NOT_FOUND for an unknown table.
  // A table created by another client is looked up on first use.
  virtual absl::StatusOr<Versions> Pull(absl::string_view table, absl::Span<float> out) = 0;
  virtual void PullAsync(absl::string_view table, absl::Span<float> out, VersionsCallback done) = 0;
  std::future<absl::StatusOr<Versions>> PullAsync(absl::string_view table, absl::Span<float> out);

  // Applies one Adam step with `gradient` to the whole table. `pulled` are
  // the versions of the Pull the gradient was computed from (staleness).
  // INVALID_ARGUMENT, with nothing sent, when the gradient has the wrong size
  // or holds a NaN or Inf.
  virtual absl::StatusOr<Versions> Push(absl::string_view table, absl::Span<const float> gradient,
                                        const Versions& pulled) = 0;
  virtual void PushAsync(absl::string_view table, absl::Span<const float> gradient,
                         const Versions& pulled, VersionsCallback done) = 0;
  std::future<absl::StatusOr<Versions>> PushAsync(absl::string_view table,
                                                  absl::Span<const float> gradient,
                                                  const Versions& pulled);

  // Counters of every shard, in shard order.
  virtual absl::StatusOr<std::vector<ShardStats>> GetStats() = 0;

  // The number of elements of `table`, looking it up if this client has not
  // seen it yet. NOT_FOUND for an unknown table.
  virtual absl::StatusOr<uint64_t> TableSize(absl::string_view table) = 0;

  // Registers this worker (ClientOptions::worker_id) on every shard, or
  // renews its lease. Done automatically on first use; FAILED_PRECONDITION
  // for an anonymous client.
  virtual absl::Status Register() = 0;

  // Advances this worker's SSP clock by one on every shard (call once per
  // iteration). Returns the slowest live worker's clock over all shards.
  // FAILED_PRECONDITION for an anonymous client.
  virtual absl::StatusOr<uint64_t> Clock() = 0;

  // Totals since this client was created (a consistent-enough snapshot:
  // each counter is read atomically).
  virtual ClientCounters Counters() const = 0;

 protected:
  Client() = default;
};

}  // namespace adamasync

#endif  // ADAMASYNC_CLIENT_H_
