#include "server/push_dedupe.h"

#include "absl/strings/str_cat.h"

namespace adamasync {

absl::StatusOr<std::optional<PushOutcome>> PushDedupe::Begin(uint64_t worker_id, uint64_t offset,
                                                             uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(Key{worker_id, offset});
  Entry& entry = it->second;
  if (inserted || seq > entry.seq) {
    entry.seq = seq;
    entry.done = false;
    entry.outcome = PushOutcome();
    return std::optional<PushOutcome>();
  }
  if (seq < entry.seq) {
    return absl::FailedPreconditionError(
        absl::StrCat("push seq ", seq, " from worker ", worker_id, " at offset ", offset,
                     " is older than seq ", entry.seq,
                     " already received: pushes of one worker must arrive "
                     "in sequence order"));
  }
  // A retry of the newest seq: wait for the original to finish.
  const uint64_t key_seq = seq;
  auto finished = [&entry, key_seq]() { return entry.seq != key_seq || entry.done; };
  while (!finished()) finished_.Wait(&mu_);
  // The entry is stable: it only changes to a newer seq, which would have
  // made this retry older (handled above) had it come first.
  if (entry.seq != key_seq) {
    return absl::FailedPreconditionError(absl::StrCat("push seq ", seq, " from worker ", worker_id,
                                                      " was overtaken by seq ", entry.seq));
  }
  return std::optional<PushOutcome>(entry.outcome);
}

void PushDedupe::Finish(uint64_t worker_id, uint64_t offset, uint64_t seq, PushOutcome outcome) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(Key{worker_id, offset});
  if (it == entries_.end() || it->second.seq != seq) return;
  it->second.done = true;
  it->second.outcome = std::move(outcome);
  finished_.SignalAll();
}

std::vector<DedupeEntry> PushDedupe::Export() const {
  absl::MutexLock lock(&mu_);
  std::vector<DedupeEntry> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) {
    if (entry.done) out.push_back({key.first, key.second, entry.seq, entry.outcome});
  }
  return out;
}

void PushDedupe::Import(const std::vector<DedupeEntry>& entries) {
  absl::MutexLock lock(&mu_);
  entries_.clear();
  for (const DedupeEntry& e : entries) {
    entries_[Key{e.worker_id, e.offset}] = Entry{e.seq, true, e.outcome};
  }
}

}  // namespace adamasync
