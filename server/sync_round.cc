#include "server/sync_round.h"

#include <algorithm>
#include <cstring>

namespace adamasync {

SyncRound::SyncRound(uint64_t workers, uint64_t elements)
    : workers_(workers), elements_(elements) {}

bool SyncRound::HasContribution(uint64_t worker_id) const {
  return std::any_of(pending_.begin(), pending_.end(),
                     [worker_id](const Slot& s) { return s.worker_id == worker_id; });
}

bool SyncRound::Add(uint64_t worker_id, absl::Span<const float> grad) {
  AlignedFloats buffer;
  if (!free_.empty()) {
    buffer = std::move(free_.back());
    free_.pop_back();
  } else {
    buffer = AlignedFloats(elements_);
  }
  std::memcpy(buffer.data(), grad.data(), elements_ * sizeof(float));
  pending_.push_back({worker_id, std::move(buffer)});
  return pending_.size() == workers_;
}

void SyncRound::TakeMean(float* mean) {
  std::sort(pending_.begin(), pending_.end(),
            [](const Slot& a, const Slot& b) { return a.worker_id < b.worker_id; });
  std::memcpy(mean, pending_[0].gradient.data(), elements_ * sizeof(float));
  for (size_t k = 1; k < pending_.size(); ++k) {
    const float* g = pending_[k].gradient.data();
    for (uint64_t i = 0; i < elements_; ++i) mean[i] += g[i];
  }
  const float n = static_cast<float>(workers_);
  for (uint64_t i = 0; i < elements_; ++i) mean[i] /= n;
  for (Slot& slot : pending_) free_.push_back(std::move(slot.gradient));
  pending_.clear();
}

std::vector<SyncRound::Contribution> SyncRound::Export() const {
  std::vector<Contribution> out;
  for (const Slot& slot : pending_) {
    out.push_back({slot.worker_id,
                   std::vector<float>(slot.gradient.data(), slot.gradient.data() + elements_)});
  }
  return out;
}

}  // namespace adamasync
