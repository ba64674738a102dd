// Plain descriptions of a table: its size, its optimizer and its initial
// values. Shared by the client SDK and the server; no gRPC or proto types.
//
// Example:
//   adamasync::TableSpec spec;
//   spec.name = "mlp/layer1/weight";
//   spec.num_elements = 784 * 256;
//   spec.adam.algorithm = adamasync::Algorithm::kAdamW;
//   spec.adam.weight_decay = 1e-2;
//   spec.init = adamasync::Initializer::Uniform(-0.05, 0.05, /*seed=*/7);
#ifndef ADAMASYNC_TABLE_SPEC_H_
#define ADAMASYNC_TABLE_SPEC_H_

#include <cstdint>
#include <string>

namespace adamasync {

enum class Algorithm {
  kAdam,   // torch.optim.Adam: weight decay is added to the gradient (L2)
  kAdamW,  // torch.optim.AdamW: weight decay shrinks the parameter (decoupled)
};

// Adam hyper-parameters, with PyTorch's defaults. Doubles, like Python
// floats, so the fp32 constants derived from them round exactly as in
// PyTorch.
struct AdamConfig {
  Algorithm algorithm = Algorithm::kAdam;
  double lr = 1e-3;         // REQUIRES: > 0 and finite
  double beta1 = 0.9;       // REQUIRES: in [0, 1)
  double beta2 = 0.999;     // REQUIRES: in [0, 1)
  double eps = 1e-8;        // REQUIRES: > 0 and finite
  double weight_decay = 0;  // REQUIRES: >= 0 and finite
  bool amsgrad = false;     // keep vmax = max(vmax, v) and divide by it
  bool maximize = false;    // ascend instead of descend

  bool operator==(const AdamConfig& o) const {
    return algorithm == o.algorithm && lr == o.lr && beta1 == o.beta1 && beta2 == o.beta2 &&
           eps == o.eps && weight_decay == o.weight_decay && amsgrad == o.amsgrad &&
           maximize == o.maximize;
  }
  bool operator!=(const AdamConfig& o) const { return !(*this == o); }
};

// Initial parameter values. Element i's value depends only on (seed, i), so
// a table looks the same whatever the number of shards.
struct Initializer {
  enum class Kind { kZeros, kConstant, kUniform, kNormal };
  Kind kind = Kind::kZeros;
  double a = 0;  // constant value; uniform low; normal mean
  double b = 0;  // uniform high (REQUIRES: > a); normal stddev (REQUIRES: >= 0)
  uint64_t seed = 0;

  static Initializer Zeros() { return {}; }
  static Initializer Constant(double value) { return {Kind::kConstant, value, 0, 0}; }
  static Initializer Uniform(double low, double high, uint64_t seed) {
    return {Kind::kUniform, low, high, seed};
  }
  static Initializer Normal(double mean, double stddev, uint64_t seed) {
    return {Kind::kNormal, mean, stddev, seed};
  }

  bool operator==(const Initializer& o) const {
    return kind == o.kind && a == o.a && b == o.b && seed == o.seed;
  }
  bool operator!=(const Initializer& o) const { return !(*this == o); }
};

// What a shard does with a push whose staleness (the shard's version now
// minus the version the gradient was computed from) exceeds max_staleness.
enum class StalenessPolicy {
  kApply,   // no bound: apply every push
  kReject,  // answer ABORTED (with the current version), apply nothing
  kScale,   // apply with the learning rate scaled by 1 / staleness
};

// How much asynchrony a table tolerates (docs/consistency.md).
struct ConsistencyConfig {
  StalenessPolicy staleness_policy = StalenessPolicy::kApply;
  int64_t max_staleness = 0;  // REQUIRES: >= 0 (used by kReject and kScale)
  // Stale synchronous parallel: a registered worker at clock c may pull only
  // once every live worker has reached clock c - ssp_bound. -1: no SSP.
  // REQUIRES: >= -1.
  int64_t ssp_bound = -1;
  // Synchronous mode: > 0 makes every round take one push from each of this
  // many registered workers and apply one step with their mean gradient;
  // 0: asynchronous. REQUIRES: 0 .. 4096, and no SSP or staleness policy.
  int64_t sync_workers = 0;

  bool operator==(const ConsistencyConfig& o) const {
    return staleness_policy == o.staleness_policy && max_staleness == o.max_staleness &&
           ssp_bound == o.ssp_bound && sync_workers == o.sync_workers;
  }
  bool operator!=(const ConsistencyConfig& o) const { return !(*this == o); }
};

struct TableSpec {
  std::string name;           // REQUIRES: 1..128 chars of [A-Za-z0-9_.:/-]
  uint64_t num_elements = 0;  // REQUIRES: 1 .. 2^40
  AdamConfig adam;
  Initializer init;
  ConsistencyConfig consistency;

  bool operator==(const TableSpec& o) const {
    return name == o.name && num_elements == o.num_elements && adam == o.adam && init == o.init &&
           consistency == o.consistency;
  }
  bool operator!=(const TableSpec& o) const { return !(*this == o); }
};

}  // namespace adamasync

#endif  // ADAMASYNC_TABLE_SPEC_H_
