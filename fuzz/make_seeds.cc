// Writes the seed corpus of the fuzz targets:
//   make_seeds DIR   ->  DIR/request/seed-*, DIR/checkpoint/seed-*
// Seeds are small, valid-looking inputs that reach deep into each target
// (the fuzzers mutate them). Re-run after a format change and commit the
// result in fuzz/corpus/.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "adamasync/v1/parameter_server.pb.h"
#include "common/checkpoint_format.h"
#include "common/proto_convert.h"
#include "common/sharding.h"
#include "fuzz/fuzz_requests.h"

namespace adamasync {
namespace fuzz {
namespace {

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

template <typename Request>
std::string Bytes(Request request) {
  request.mutable_view()->set_shard_index(0);
  request.mutable_view()->set_num_shards(1);
  return request.SerializeAsString();
}

std::string Floats(size_t n, float value) {
  std::vector<float> v(n, value);
  return std::string(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
}

std::string Push(const std::string& table, uint64_t offset, size_t n, uint64_t worker, uint64_t seq,
                 uint64_t pulled, float value = 0.5f) {
  v1::PushRequest r;
  r.set_table(table);
  r.set_offset(offset);
  r.set_gradient(Floats(n, value));
  r.set_worker_id(worker);
  r.set_seq(seq);
  r.set_pulled_version(pulled);
  return Bytes(r);
}

std::string Pull(const std::string& table, uint64_t offset, uint64_t n, uint64_t worker) {
  v1::PullRequest r;
  r.set_table(table);
  r.set_offset(offset);
  r.set_length(n);
  r.set_worker_id(worker);
  return Bytes(r);
}

std::string Register(uint64_t worker) {
  v1::RegisterWorkerRequest r;
  r.set_worker_id(worker);
  r.set_lease_ms(1000);
  return Bytes(r);
}

void RequestSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  {  // a new table, pushed and pulled
    TableSpec spec;
    spec.name = "new/table";
    spec.num_elements = 300;
    spec.init = Initializer::Normal(0, 1, 9);
    v1::CreateTableRequest create;
    *create.mutable_spec() = ToProto(spec);
    std::string seed;
    AppendRecord(kCreateTable, Bytes(create), &seed);
    AppendRecord(kPush, Push("new/table", 0, 300, 0, 0, 0), &seed);
    AppendRecord(kPull, Pull("new/table", 0, 300, 0), &seed);
    AppendRecord(kGetStats, Bytes(v1::GetStatsRequest()), &seed);
    Write(dir / "seed-create-push-pull", seed);
  }
  {  // exactly-once pushes to a two-segment table, in chunks and whole
    std::string seed;
    AppendRecord(kRegisterWorker, Register(3), &seed);
    // kExpand: the harness tiles the 4 floats up to the part's end.
    AppendRecord(kPush | kExpand, Push(kDenseTable, 0, 4, 3, 1, 0), &seed);
    AppendRecord(kPush | kExpand, Push(kDenseTable, 0, 4, 3, 1, 0), &seed);  // retry
    AppendRecord(kPush | kExpand, Push(kDenseTable, kSegmentElements, 4, 3, 2, 1), &seed);
    AppendRecord(kPull, Pull(kDenseTable, 0, kDenseElements, 3), &seed);
    AppendRecord(kPull, Pull(kDenseTable, kSegmentElements, kDenseElements - kSegmentElements, 3),
                 &seed);
    Write(dir / "seed-dense-exactly-once", seed);
  }
  {  // SSP clocks and a synchronous round
    std::string seed;
    AppendRecord(kRegisterWorker, Register(1), &seed);
    AppendRecord(kRegisterWorker, Register(2), &seed);
    v1::ClockRequest clock;
    clock.set_worker_id(1);
    clock.set_clock(3);
    AppendRecord(kClock, Bytes(clock), &seed);
    AppendRecord(kPull, Pull(kSspTable, 0, kSmallElements, 1), &seed);
    AppendRecord(kPush, Push(kSyncTable, 0, kSmallElements, 1, 1, 0), &seed);
    AppendRecord(kPull, Pull(kSyncTable, 0, kSmallElements, 1), &seed);
    AppendRecord(kPush, Push(kSyncTable, 0, kSmallElements, 2, 1, 0), &seed);
    AppendRecord(kAdvanceClock, std::string("\xff\xff", 2), &seed);
    AppendRecord(kPull, Pull(kSspTable, 0, kSmallElements, 1), &seed);
    Write(dir / "seed-ssp-sync", seed);
  }
  {  // refused requests: stale, NaN, misaligned, oversized, bad view
    std::string seed;
    AppendRecord(kPush, Push(kStaleTable, 0, kSmallElements, 0, 0, 0), &seed);
    AppendRecord(kPush, Push(kStaleTable, 0, kSmallElements, 0, 0, 0), &seed);
    AppendRecord(kPush, Push(kStaleTable, 0, kSmallElements, 0, 0, 0), &seed);  // stale
    AppendRecord(kPush, Push(kStaleTable, 0, kSmallElements, 0, 0, 0, std::nanf("")), &seed);
    AppendRecord(kPush, Push(kDenseTable, 5, 100, 0, 0, 0), &seed);
    AppendRecord(kPull, Pull(kDenseTable, 0, uint64_t{1} << 40, 0), &seed);
    AppendRecord(kPull, Pull(kDenseTable, UINT64_MAX, 2, 0), &seed);
    v1::PullRequest wrong_view;
    wrong_view.set_table(kDenseTable);
    wrong_view.mutable_view()->set_num_shards(3);
    AppendRecord(kPull, wrong_view.SerializeAsString(), &seed);
    Write(dir / "seed-refused", seed);
  }
  {  // tokens and authorization headers
    std::string seed;
    AppendRecord(kTokenTable, "# c\nadmin ops 0123456789abcdef0123\nworker w xyzxyzxyzxyzxyzxyz\n",
                 &seed);
    AppendRecord(kAuthorization, "Bearer abcdefabcdefabcdef", &seed);
    AppendRecord(kAuthorization, "Bearer 0123456789abcdef0123", &seed);
    AppendRecord(kAuthorization, "bearer nope", &seed);
    Write(dir / "seed-auth", seed);
  }
  {  // administrative calls without a checkpoint manager, and exports
    std::string seed;
    v1::WriteParametersRequest write;
    write.set_table(kStaleTable);
    write.set_values(Floats(kSmallElements, 2.0f));
    AppendRecord(kWriteParameters, Bytes(write), &seed);
    v1::CheckpointCutRequest cut;
    cut.set_checkpoint_id(7);
    AppendRecord(kPrepareCheckpoint, Bytes(cut), &seed);
    AppendRecord(kCommitCheckpoint, Bytes(cut), &seed);
    AppendRecord(kAbortCheckpoint, Bytes(cut), &seed);
    v1::FinalizeCheckpointRequest finalize;
    finalize.set_checkpoint_id(7);
    finalize.add_entries()->set_file_name("../x");
    AppendRecord(kFinalizeCheckpoint, Bytes(finalize), &seed);
    Write(dir / "seed-admin", seed);
  }
}

TableRecord Table(const std::string& name, uint64_t n, bool amsgrad, int64_t sync_workers) {
  TableRecord t;
  t.spec.name = name;
  t.spec.num_elements = n;
  t.spec.adam.amsgrad = amsgrad;
  t.spec.consistency.sync_workers = sync_workers;
  const ElementRange range = ShardRange(name, n, 0, 1);
  t.part_begin = range.begin;
  t.part_end = range.end;
  t.segment_steps.assign((range.size() + kSegmentElements - 1) / kSegmentElements, 4);
  t.p.assign(range.size(), 0.25f);
  t.m.assign(range.size(), 0.01f);
  t.v.assign(range.size(), 0.001f);
  if (amsgrad) t.vmax.assign(range.size(), 0.002f);
  return t;
}

void CheckpointSeeds(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  ShardCheckpoint simple;
  simple.header.checkpoint_id = 0;
  simple.header.created_unix_ms = 1700000000000;
  simple.workers.push_back({1, 5, 9, 60000});
  simple.tables.push_back(Table("w", 40, false, 0));

  ShardCheckpoint rich;
  rich.header.checkpoint_id = 12;
  rich.workers.push_back({1, 2, 3, 1000});
  rich.workers.push_back({2, 2, 4, 1000});
  TableRecord ams = Table("layer/weight", 70, true, 0);
  DedupeRecord dedupe;
  dedupe.worker_id = 1;
  dedupe.offset = 0;
  dedupe.seq = 3;
  dedupe.version = 4;
  dedupe.status_code = 10;  // ABORTED, with a payload
  dedupe.status_message = "stale";
  dedupe.status_payloads.push_back({"type.googleapis.com/x", "\x08\x01"});
  ams.dedupe.push_back(dedupe);
  rich.tables.push_back(ams);
  TableRecord sync = Table("sync", 30, false, 3);
  sync.sync_pending.push_back({2, 0, std::vector<float>(30, 1.5f)});
  rich.tables.push_back(sync);

  int i = 0;
  for (const ShardCheckpoint* checkpoint : {&simple, &rich}) {
    std::string bytes;
    StringCheckpointSink sink(&bytes);
    absl::Status status = WriteCheckpoint(*checkpoint, &sink);
    if (!status.ok()) {
      std::fprintf(stderr, "seed %d: %s\n", i, status.ToString().c_str());
      std::exit(1);
    }
    // Mode byte: 0 = as is, 1 = checksums recomputed by the harness.
    Write(dir / ("seed-" + std::to_string(i) + "-raw"), std::string(1, '\0') + bytes);
    Write(dir / ("seed-" + std::to_string(i) + "-fixsums"), std::string(1, '\1') + bytes);
    ++i;
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace adamasync

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir(argv[1]);
  adamasync::fuzz::RequestSeeds(dir / "request");
  adamasync::fuzz::CheckpointSeeds(dir / "checkpoint");
  return 0;
}
