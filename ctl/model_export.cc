#include "ctl/model_export.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_convert.h"
#include "common/status_macros.h"
#include "ctl/safetensors.h"
#include "ctl/table_assembler.h"
#include "ctl/table_spec_text.h"

namespace adamasync::ctl {
namespace {

std::map<std::string, std::string> BaseMetadata(const std::string& source) {
  // "format": "pt" lets Hugging Face loaders take the file as PyTorch weights.
  return {{"format", "pt"}, {kSourceMetadataKey, source}};
}

}  // namespace

absl::StatusOr<ExportSummary> ExportFromServers(AdminClient& admin, Client& client,
                                                const std::string& out) {
  std::vector<absl::StatusOr<v1::GetStatsResponse>> stats = admin.GetStatsAll();
  std::map<std::string, TableSpec> specs;
  for (uint32_t shard = 0; shard < stats.size(); ++shard) {
    RETURN_IF_ERROR(stats[shard].status());
    std::set<std::string> names;
    for (const v1::TableStats& t : stats[shard]->tables()) {
      names.insert(t.name());
      if (shard != 0) continue;
      TableSpec spec;
      spec.name = t.name();
      spec.num_elements = t.num_elements();
      ASSIGN_OR_RETURN(spec.adam, FromProto(t.adam()));
      ASSIGN_OR_RETURN(spec.consistency, FromProto(t.consistency()));
      // The initializer travels in GetStats, so a warm start recreates the
      // exact spec (and workers that create the same table agree with it).
      v1::TableSpec init_only;
      *init_only.mutable_adam() = t.adam();
      *init_only.mutable_init() = t.init();
      ASSIGN_OR_RETURN(TableSpec with_init, FromProto(init_only));
      spec.init = with_init.init;
      specs[t.name()] = spec;
    }
    if (names.size() != specs.size() ||
        !std::equal(names.begin(), names.end(), specs.begin(),
                    [](const std::string& a, const auto& b) { return a == b.first; })) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shard ", shard, " holds other tables than shard 0 (a table being created?)"));
    }
  }
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata = BaseMetadata("servers");
  for (const auto& [name, spec] : specs) {
    tensors.push_back({name, {spec.num_elements}});
    metadata[kSpecMetadataPrefix + name] = FormatTableSpec(spec, /*with_init=*/true);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsWriter> writer,
                   SafetensorsWriter::Create(out, tensors, std::move(metadata)));
  ExportSummary summary;
  for (const auto& [name, spec] : specs) {
    std::vector<float> values(spec.num_elements);
    absl::StatusOr<Versions> pulled = client.Pull(name, absl::MakeSpan(values));
    if (!pulled.ok()) {
      return absl::Status(pulled.status().code(),
                          absl::StrCat("pulling '", name, "': ", pulled.status().message()));
    }
    RETURN_IF_ERROR(writer->Append(values));
    summary.tensors.push_back(name);
    summary.parameters += spec.num_elements;
  }
  RETURN_IF_ERROR(writer->Commit());
  return summary;
}

absl::StatusOr<ExportSummary> ExportFromCheckpoints(const CheckpointSelection& selection,
                                                    bool with_moments, const std::string& out) {
  ExportSummary summary;
  std::unique_ptr<TableAssembler> assembler;
  std::set<uint64_t> cut_ids;
  RETURN_IF_ERROR(ForEachShardCheckpoint(selection, [&](LoadedShard shard) -> absl::Status {
    if (assembler == nullptr) {
      assembler = std::make_unique<TableAssembler>(shard.num_shards, with_moments);
    }
    for (const std::string& skipped : shard.skipped) {
      summary.notes.push_back(absl::StrCat("shard ", shard.shard_index, ": skipped ", skipped));
    }
    summary.notes.push_back(absl::StrCat("shard ", shard.shard_index, ": ", shard.path));
    cut_ids.insert(shard.checkpoint.header.checkpoint_id);
    return assembler->Add(shard.checkpoint);
  }));
  if (assembler == nullptr) return absl::InvalidArgumentError("no shard to export");
  if (selection.checkpoint_id == 0 && (cut_ids.size() > 1 || cut_ids.count(0) != 0) &&
      selection.num_shards > 1) {
    summary.notes.push_back(
        "the shards' newest files were not taken at one consistent cut: pushes in flight "
        "around them may be in some shards' files and not others'");
  }
  ASSIGN_OR_RETURN(std::vector<AssembledTable> tables, std::move(*assembler).Finish());

  const std::string source = selection.checkpoint_id != 0
                                 ? absl::StrCat("checkpoint cut ", selection.checkpoint_id)
                                 : "checkpoint files";
  std::map<std::string, std::string> metadata = BaseMetadata(source);
  std::vector<SafetensorsTensor> tensors;
  for (const AssembledTable& t : tables) {
    const std::string& name = t.spec.name;
    tensors.push_back({name, {t.spec.num_elements}});
    metadata[kSpecMetadataPrefix + name] = FormatTableSpec(t.spec, /*with_init=*/true);
    metadata[kStepsMetadataPrefix + name] = absl::StrCat("min=", t.min_step, " max=", t.max_step);
  }
  if (with_moments) {
    for (const AssembledTable& t : tables) {
      tensors.push_back({t.spec.name + kExpAvgSuffix, {t.spec.num_elements}});
      tensors.push_back({t.spec.name + kExpAvgSqSuffix, {t.spec.num_elements}});
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsWriter> writer,
                   SafetensorsWriter::Create(out, tensors, std::move(metadata)));
  for (const AssembledTable& t : tables) {
    RETURN_IF_ERROR(writer->Append(t.p));
    summary.parameters += t.spec.num_elements;
  }
  if (with_moments) {
    for (const AssembledTable& t : tables) {
      RETURN_IF_ERROR(writer->Append(t.m));
      RETURN_IF_ERROR(writer->Append(t.v));
    }
  }
  RETURN_IF_ERROR(writer->Commit());
  for (const SafetensorsTensor& t : writer->header().tensors) summary.tensors.push_back(t.name);
  return summary;
}

}  // namespace adamasync::ctl
