#include "common/table_spec_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

absl::Status Invalid(const char* field, double value, const char* rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be ", rule, ", got ", value));
}

}  // namespace

absl::Status ValidateTableName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("table name is empty");
  if (name.size() > kMaxTableNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table name is ", name.size(), " characters long, the limit is ", kMaxTableNameLength));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("table name may only hold [A-Za-z0-9_.:/-], found byte ",
                       static_cast<int>(static_cast<unsigned char>(c))));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAdamConfig(const AdamConfig& adam) {
  if (adam.algorithm != Algorithm::kAdam && adam.algorithm != Algorithm::kAdamW) {
    return absl::InvalidArgumentError("algorithm must be ADAM or ADAMW");
  }
  if (!(adam.lr > 0) || !std::isfinite(adam.lr)) return Invalid("lr", adam.lr, "> 0 and finite");
  if (!(adam.beta1 >= 0 && adam.beta1 < 1)) return Invalid("beta1", adam.beta1, "in [0, 1)");
  if (!(adam.beta2 >= 0 && adam.beta2 < 1)) return Invalid("beta2", adam.beta2, "in [0, 1)");
  if (!(adam.eps > 0) || !std::isfinite(adam.eps)) {
    return Invalid("eps", adam.eps, "> 0 and finite");
  }
  if (!(adam.weight_decay >= 0) || !std::isfinite(adam.weight_decay)) {
    return Invalid("weight_decay", adam.weight_decay, ">= 0 and finite");
  }
  return absl::OkStatus();
}

absl::Status ValidateInitializer(const Initializer& init) {
  switch (init.kind) {
    case Initializer::Kind::kZeros:
      return absl::OkStatus();
    case Initializer::Kind::kConstant:
      if (!std::isfinite(init.a)) return Invalid("init constant", init.a, "finite");
      return absl::OkStatus();
    case Initializer::Kind::kUniform:
      if (!std::isfinite(init.a) || !std::isfinite(init.b) || !(init.a < init.b)) {
        return absl::InvalidArgumentError(
            absl::StrCat("uniform init needs finite low < high, got [", init.a, ", ", init.b, ")"));
      }
      return absl::OkStatus();
    case Initializer::Kind::kNormal:
      if (!std::isfinite(init.a)) return Invalid("normal init mean", init.a, "finite");
      if (!(init.b >= 0) || !std::isfinite(init.b)) {
        return Invalid("normal init stddev", init.b, ">= 0 and finite");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown initializer kind");
}

absl::Status ValidateConsistency(const ConsistencyConfig& c) {
  if (c.staleness_policy != StalenessPolicy::kApply &&
      c.staleness_policy != StalenessPolicy::kReject &&
      c.staleness_policy != StalenessPolicy::kScale) {
    return absl::InvalidArgumentError("staleness_policy must be APPLY, REJECT or SCALE");
  }
  if (c.max_staleness < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_staleness must be >= 0, got ", c.max_staleness));
  }
  if (c.ssp_bound < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ssp_bound must be >= 0 (or unset for no SSP), got ", c.ssp_bound));
  }
  if (c.sync_workers < 0 || c.sync_workers > kMaxSyncWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("sync_workers must be in [0, ", kMaxSyncWorkers, "], got ", c.sync_workers));
  }
  if (c.sync_workers > 0 && (c.ssp_bound != -1 || c.staleness_policy != StalenessPolicy::kApply)) {
    return absl::InvalidArgumentError(
        "sync_workers (synchronous rounds) cannot be combined with ssp_bound or a staleness "
        "policy: rounds already bound staleness to zero");
  }
  return absl::OkStatus();
}

absl::Status ValidateTableSpec(const TableSpec& spec) {
  RETURN_IF_ERROR(ValidateTableName(spec.name));
  if (spec.num_elements == 0 || spec.num_elements > kMaxTableElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_elements must be in [1, ", kMaxTableElements, "], got ", spec.num_elements));
  }
  RETURN_IF_ERROR(ValidateAdamConfig(spec.adam));
  RETURN_IF_ERROR(ValidateInitializer(spec.init));
  return ValidateConsistency(spec.consistency);
}

}  // namespace adamasync
