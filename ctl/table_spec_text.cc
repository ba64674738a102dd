#include "ctl/table_spec_text.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace adamasync::ctl {
namespace {

absl::Status BadWord(absl::string_view word, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("table spec word '", word, "': ", why));
}

bool ParseExactDouble(absl::string_view text, double* out) {
  // strtod rounds correctly, so FormatDouble's text reads back exactly.
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) return false;
  *out = value;
  return true;
}

bool ParseBool(absl::string_view text, bool* out) {
  if (text == "true" || text == "1") {
    *out = true;
  } else if (text == "false" || text == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string FormatDouble(double value) {
  char buffer[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

const char* AlgorithmName(Algorithm algorithm) {
  return algorithm == Algorithm::kAdamW ? "adamw" : "adam";
}

const char* InitKindName(Initializer::Kind kind) {
  switch (kind) {
    case Initializer::Kind::kZeros:
      return "zeros";
    case Initializer::Kind::kConstant:
      return "constant";
    case Initializer::Kind::kUniform:
      return "uniform";
    case Initializer::Kind::kNormal:
      return "normal";
  }
  return "unknown";
}

const char* StalenessPolicyName(StalenessPolicy policy) {
  switch (policy) {
    case StalenessPolicy::kApply:
      return "apply";
    case StalenessPolicy::kReject:
      return "reject";
    case StalenessPolicy::kScale:
      return "scale";
  }
  return "unknown";
}

std::string FormatTableSpec(const TableSpec& spec, bool with_init) {
  const AdamConfig& a = spec.adam;
  std::string text = absl::StrCat(
      "num_elements=", spec.num_elements, " algorithm=", AlgorithmName(a.algorithm),
      " lr=", FormatDouble(a.lr), " beta1=", FormatDouble(a.beta1),
      " beta2=", FormatDouble(a.beta2), " eps=", FormatDouble(a.eps),
      " weight_decay=", FormatDouble(a.weight_decay), " amsgrad=", a.amsgrad ? "true" : "false",
      " maximize=", a.maximize ? "true" : "false");
  if (with_init) {
    absl::StrAppend(&text, " init=", InitKindName(spec.init.kind),
                    " init_a=", FormatDouble(spec.init.a), " init_b=", FormatDouble(spec.init.b),
                    " init_seed=", spec.init.seed);
  }
  const ConsistencyConfig& c = spec.consistency;
  absl::StrAppend(&text, " staleness_policy=", StalenessPolicyName(c.staleness_policy),
                  " max_staleness=", c.max_staleness, " ssp_bound=", c.ssp_bound,
                  " sync_workers=", c.sync_workers);
  return text;
}

absl::Status ApplyTableSpecText(std::string_view std_text, TableSpec* spec) {
  const absl::string_view text(std_text.data(), std_text.size());
  std::set<std::string> seen;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    const size_t eq = word.find('=');
    if (eq == absl::string_view::npos) return BadWord(word, "expected key=value");
    const std::string key(word.substr(0, eq));
    const absl::string_view value = word.substr(eq + 1);
    if (!seen.insert(key).second) return BadWord(word, "key given twice");
    bool ok = true;
    AdamConfig& a = spec->adam;
    ConsistencyConfig& c = spec->consistency;
    if (key == "num_elements") {
      ok = absl::SimpleAtoi(value, &spec->num_elements);
    } else if (key == "algorithm") {
      if (value == "adam") {
        a.algorithm = Algorithm::kAdam;
      } else if (value == "adamw") {
        a.algorithm = Algorithm::kAdamW;
      } else {
        return BadWord(word, "expected adam or adamw");
      }
    } else if (key == "lr") {
      ok = ParseExactDouble(value, &a.lr);
    } else if (key == "beta1") {
      ok = ParseExactDouble(value, &a.beta1);
    } else if (key == "beta2") {
      ok = ParseExactDouble(value, &a.beta2);
    } else if (key == "eps") {
      ok = ParseExactDouble(value, &a.eps);
    } else if (key == "weight_decay") {
      ok = ParseExactDouble(value, &a.weight_decay);
    } else if (key == "amsgrad") {
      ok = ParseBool(value, &a.amsgrad);
    } else if (key == "maximize") {
      ok = ParseBool(value, &a.maximize);
    } else if (key == "init") {
      if (value == "zeros") {
        spec->init.kind = Initializer::Kind::kZeros;
      } else if (value == "constant") {
        spec->init.kind = Initializer::Kind::kConstant;
      } else if (value == "uniform") {
        spec->init.kind = Initializer::Kind::kUniform;
      } else if (value == "normal") {
        spec->init.kind = Initializer::Kind::kNormal;
      } else {
        return BadWord(word, "expected zeros, constant, uniform or normal");
      }
    } else if (key == "init_a") {
      ok = ParseExactDouble(value, &spec->init.a);
    } else if (key == "init_b") {
      ok = ParseExactDouble(value, &spec->init.b);
    } else if (key == "init_seed") {
      ok = absl::SimpleAtoi(value, &spec->init.seed);
    } else if (key == "staleness_policy") {
      if (value == "apply") {
        c.staleness_policy = StalenessPolicy::kApply;
      } else if (value == "reject") {
        c.staleness_policy = StalenessPolicy::kReject;
      } else if (value == "scale") {
        c.staleness_policy = StalenessPolicy::kScale;
      } else {
        return BadWord(word, "expected apply, reject or scale");
      }
    } else if (key == "max_staleness") {
      ok = absl::SimpleAtoi(value, &c.max_staleness);
    } else if (key == "ssp_bound") {
      ok = absl::SimpleAtoi(value, &c.ssp_bound);
    } else if (key == "sync_workers") {
      ok = absl::SimpleAtoi(value, &c.sync_workers);
    } else {
      return BadWord(word, "unknown key");
    }
    if (!ok) return BadWord(word, "the value does not parse");
  }
  return absl::OkStatus();
}

}  // namespace adamasync::ctl
