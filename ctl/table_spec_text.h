// A table spec as one line of "key=value" words, for people and files:
// what `adamasync-ctl status` and `inspect` print, what `export` stores in
// a safetensors file's metadata (one entry per table) and what `warm-start`
// reads back, so a round trip recreates the exact spec.
//
//   num_elements=7850 algorithm=adam lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08
//   weight_decay=0 amsgrad=false maximize=false init=uniform init_a=-0.05
//   init_b=0.05 init_seed=1 staleness_policy=apply max_staleness=0
//   ssp_bound=-1 sync_workers=0
//
// Doubles are written with the fewest digits that read back to the same
// double, so hyper-parameters survive bit for bit.
//
// Example:
//   std::string text = FormatTableSpec(spec, /*with_init=*/true);
//   TableSpec back;  // defaults for any key the text lacks
//   RETURN_IF_ERROR(ApplyTableSpecText(text, &back));
#ifndef ADAMASYNC_CTL_TABLE_SPEC_TEXT_H_
#define ADAMASYNC_CTL_TABLE_SPEC_TEXT_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "adamasync/table_spec.h"

namespace adamasync::ctl {

// The shortest decimal text that parses back to `value` exactly.
std::string FormatDouble(double value);

// Every field of `spec` except its name; the init keys only when
// `with_init` (a live server does not report a table's initializer).
std::string FormatTableSpec(const TableSpec& spec, bool with_init);

// Overwrites the fields of `spec` named in `text` (any subset of the keys
// FormatTableSpec writes, separated by spaces), leaving the others.
// INVALID_ARGUMENT naming the word for an unknown key, a repeated key or a
// value that does not parse; the spec's rules are checked later by
// ValidateTableSpec.
absl::Status ApplyTableSpecText(std::string_view text, TableSpec* spec);

// Names of the enums, as FormatTableSpec writes them.
const char* AlgorithmName(Algorithm algorithm);
const char* InitKindName(Initializer::Kind kind);
const char* StalenessPolicyName(StalenessPolicy policy);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_TABLE_SPEC_TEXT_H_
