#include "common/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {

v1::AdamConfig ToProto(const AdamConfig& adam) {
  v1::AdamConfig p;
  p.set_algorithm(adam.algorithm == Algorithm::kAdamW ? v1::ALGORITHM_ADAMW : v1::ALGORITHM_ADAM);
  p.set_lr(adam.lr);
  p.set_beta1(adam.beta1);
  p.set_beta2(adam.beta2);
  p.set_eps(adam.eps);
  p.set_weight_decay(adam.weight_decay);
  p.set_amsgrad(adam.amsgrad);
  p.set_maximize(adam.maximize);
  return p;
}

v1::ConsistencyConfig ToProto(const ConsistencyConfig& c) {
  v1::ConsistencyConfig p;
  switch (c.staleness_policy) {
    case StalenessPolicy::kApply:
      p.set_staleness_policy(v1::STALENESS_APPLY);
      break;
    case StalenessPolicy::kReject:
      p.set_staleness_policy(v1::STALENESS_REJECT);
      break;
    case StalenessPolicy::kScale:
      p.set_staleness_policy(v1::STALENESS_SCALE);
      break;
  }
  p.set_max_staleness(c.max_staleness);
  if (c.ssp_bound != -1) p.set_ssp_bound(c.ssp_bound);
  p.set_sync_workers(c.sync_workers);
  return p;
}

absl::StatusOr<ConsistencyConfig> FromProto(const v1::ConsistencyConfig& p) {
  ConsistencyConfig c;
  switch (p.staleness_policy()) {
    case v1::STALENESS_APPLY:
      c.staleness_policy = StalenessPolicy::kApply;
      break;
    case v1::STALENESS_REJECT:
      c.staleness_policy = StalenessPolicy::kReject;
      break;
    case v1::STALENESS_SCALE:
      c.staleness_policy = StalenessPolicy::kScale;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("consistency.staleness_policy ",
                                                     static_cast<int>(p.staleness_policy()),
                                                     " is not a known policy"));
  }
  c.max_staleness = p.max_staleness();
  if (p.has_ssp_bound()) {
    if (p.ssp_bound() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("consistency.ssp_bound must be >= 0, got ", p.ssp_bound()));
    }
    c.ssp_bound = p.ssp_bound();
  }
  c.sync_workers = p.sync_workers();
  return c;
}

v1::TableSpec ToProto(const TableSpec& spec) {
  v1::TableSpec p;
  p.set_name(spec.name);
  p.set_num_elements(spec.num_elements);
  *p.mutable_adam() = ToProto(spec.adam);
  v1::Initializer* init = p.mutable_init();
  init->set_kind(static_cast<v1::InitKind>(static_cast<int>(spec.init.kind)));
  init->set_a(spec.init.a);
  init->set_b(spec.init.b);
  init->set_seed(spec.init.seed);
  *p.mutable_consistency() = ToProto(spec.consistency);
  return p;
}

absl::StatusOr<AdamConfig> FromProto(const v1::AdamConfig& p) {
  AdamConfig adam;
  switch (p.algorithm()) {
    case v1::ALGORITHM_ADAM:
      adam.algorithm = Algorithm::kAdam;
      break;
    case v1::ALGORITHM_ADAMW:
      adam.algorithm = Algorithm::kAdamW;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("adam.algorithm must be ALGORITHM_ADAM or ALGORITHM_ADAMW, got ",
                       static_cast<int>(p.algorithm())));
  }
  adam.lr = p.lr();
  adam.beta1 = p.beta1();
  adam.beta2 = p.beta2();
  adam.eps = p.eps();
  adam.weight_decay = p.weight_decay();
  adam.amsgrad = p.amsgrad();
  adam.maximize = p.maximize();
  return adam;
}

absl::StatusOr<TableSpec> FromProto(const v1::TableSpec& p) {
  TableSpec spec;
  spec.name = p.name();
  spec.num_elements = p.num_elements();
  if (!p.has_adam()) return absl::InvalidArgumentError("spec.adam is missing");
  ASSIGN_OR_RETURN(spec.adam, FromProto(p.adam()));
  switch (p.init().kind()) {
    case v1::INIT_ZEROS:
    case v1::INIT_CONSTANT:
    case v1::INIT_UNIFORM:
    case v1::INIT_NORMAL:
      spec.init.kind = static_cast<Initializer::Kind>(static_cast<int>(p.init().kind()));
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.init.kind ", static_cast<int>(p.init().kind()), " is not a known initializer"));
  }
  spec.init.a = p.init().a();
  spec.init.b = p.init().b();
  spec.init.seed = p.init().seed();
  ASSIGN_OR_RETURN(spec.consistency, FromProto(p.consistency()));
  return spec;
}

}  // namespace adamasync
