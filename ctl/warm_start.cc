#include "ctl/warm_start.h"

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/sharding.h"
#include "common/status_macros.h"
#include "common/table_spec_validation.h"
#include "ctl/model_export.h"
#include "ctl/safetensors.h"
#include "ctl/table_spec_text.h"

namespace adamasync::ctl {
namespace {

// True when `name` is "<t>.exp_avg" or "<t>.exp_avg_sq" and the file holds <t>.
bool IsMoment(const SafetensorsReader& reader, const std::string& name) {
  for (const std::string suffix : {kExpAvgSuffix, kExpAvgSqSuffix}) {
    if (absl::EndsWith(name, suffix) &&
        reader.Find(name.substr(0, name.size() - suffix.size())) != nullptr) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<TableSpec> SpecFor(const SafetensorsReader& reader, const SafetensorsTensor& tensor,
                                  const std::string& overrides) {
  TableSpec spec;
  spec.name = tensor.name;
  auto in_table = [&tensor](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("table '", tensor.name, "': ", s.message()));
  };
  const auto metadata = reader.header().metadata.find(kSpecMetadataPrefix + tensor.name);
  if (metadata != reader.header().metadata.end()) {
    if (absl::Status s = ApplyTableSpecText(metadata->second, &spec); !s.ok()) return in_table(s);
    if (spec.num_elements != tensor.num_elements()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table '", tensor.name, "': the metadata says ", spec.num_elements,
                       " elements, the tensor has ", tensor.num_elements()));
    }
  }
  if (absl::Status s = ApplyTableSpecText(overrides, &spec); !s.ok()) return in_table(s);
  spec.num_elements = tensor.num_elements();
  if (absl::Status s = ValidateTableSpec(spec); !s.ok()) return in_table(s);
  return spec;
}

absl::Status CheckFinite(const std::string& name, const std::vector<float>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' element ", i, " is ",
                                                     values[i], ": parameters must be finite"));
    }
  }
  return absl::OkStatus();
}

// FAILED_PRECONDITION when a shard reports updates to one of `names`.
absl::Status CheckUntrained(AdminClient& admin, const std::set<std::string>& names) {
  std::vector<absl::StatusOr<v1::GetStatsResponse>> stats = admin.GetStatsAll();
  for (uint32_t shard = 0; shard < stats.size(); ++shard) {
    RETURN_IF_ERROR(stats[shard].status());
    for (const v1::TableStats& t : stats[shard]->tables()) {
      if (names.count(t.name()) == 0 || (t.version() == 0 && t.pushes() == 0)) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("table '", t.name(), "' has already been trained (shard ", shard,
                       ": version ", t.version(), ", ", t.pushes(),
                       " push chunks): a warm start only writes fresh tables; "
                       "nothing was written"));
    }
  }
  return absl::OkStatus();
}

// Writes `values` into every shard's part of `spec`'s table; returns the
// number of chunks.
absl::StatusOr<uint64_t> WriteTable(AdminClient& admin, const TableSpec& spec,
                                    const std::vector<float>& values, uint64_t chunk_elements) {
  absl::Mutex mu;
  absl::Status first_error;
  uint64_t chunks = 0;
  admin.ForEachShard([&](uint32_t shard) {
    const ElementRange part = ShardRange(spec.name, spec.num_elements, shard, admin.num_shards());
    if (part.empty()) return;
    for (const ElementRange& chunk : ChunkRanges(part, chunk_elements)) {
      absl::Status s =
          admin.WriteParameters(shard, spec.name, chunk.begin,
                                absl::MakeConstSpan(values.data() + chunk.begin, chunk.size()));
      absl::MutexLock lock(&mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s;
        return;
      }
      ++chunks;
    }
  });
  if (!first_error.ok()) {
    return absl::Status(first_error.code(),
                        absl::StrCat("writing table '", spec.name, "': ", first_error.message()));
  }
  return chunks;
}

}  // namespace

absl::StatusOr<std::vector<WarmStartedTable>> WarmStart(const WarmStartOptions& options,
                                                        AdminClient& admin, Client& client) {
  if (options.chunk_elements == 0 || options.chunk_elements % kSegmentElements != 0) {
    return absl::InvalidArgumentError("chunk_elements must be a positive multiple of 65536");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsReader> reader, SafetensorsReader::Open(options.in));
  std::vector<const SafetensorsTensor*> chosen;
  if (options.tables.empty()) {
    for (const SafetensorsTensor& t : reader->header().tensors) {
      if (!IsMoment(*reader, t.name)) chosen.push_back(&t);
    }
  } else {
    for (const std::string& name : options.tables) {
      const SafetensorsTensor* t = reader->Find(name);
      if (t == nullptr) {
        return absl::NotFoundError(absl::StrCat(options.in, " holds no tensor '", name, "'"));
      }
      chosen.push_back(t);
    }
  }
  if (chosen.empty())
    return absl::InvalidArgumentError(absl::StrCat(options.in, " holds no tensor"));
  // Every spec is checked before anything is sent.
  std::vector<TableSpec> specs;
  std::set<std::string> names;
  for (const SafetensorsTensor* t : chosen) {
    ASSIGN_OR_RETURN(TableSpec spec, SpecFor(*reader, *t, options.spec_overrides));
    names.insert(spec.name);
    specs.push_back(std::move(spec));
  }
  RETURN_IF_ERROR(CheckUntrained(admin, names));

  std::vector<WarmStartedTable> done;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const TableSpec& spec = specs[i];
    std::vector<float> values(spec.num_elements);
    RETURN_IF_ERROR(reader->Read(*chosen[i], absl::MakeSpan(values)));
    RETURN_IF_ERROR(CheckFinite(spec.name, values));
    if (absl::Status s = client.CreateTable(spec); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("creating table '", spec.name, "' (",
                                                 FormatTableSpec(spec, true), "): ", s.message()));
    }
    ASSIGN_OR_RETURN(uint64_t chunks, WriteTable(admin, spec, values, options.chunk_elements));
    done.push_back({spec, chunks});
  }
  return done;
}

}  // namespace adamasync::ctl
