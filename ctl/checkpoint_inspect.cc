#include "ctl/checkpoint_inspect.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint_files.h"
#include "common/checkpoint_format.h"
#include "ctl/cluster_status.h"
#include "ctl/table_spec_text.h"
#include "ctl/text_table.h"
#include "nlohmann/json.hpp"

namespace adamasync::ctl {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kManifestMagic = "ADAMASYNC-MANIFEST";

std::string Hex16(uint64_t value) { return absl::StrFormat("%016x", value); }

bool LooksLikeManifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string start(kManifestMagic.size(), '\0');
  in.read(start.data(), static_cast<std::streamsize>(start.size()));
  return in.gcount() == static_cast<std::streamsize>(start.size()) && start == kManifestMagic;
}

std::string FormatTime(int64_t unix_ms, absl::Time now) {
  const absl::Time t = absl::FromUnixMillis(unix_ms);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()), " (",
                      FormatAge(now - t), " ago)");
}

struct TableSummary {
  uint64_t min_step = 0, max_step = 0;
};

TableSummary Summarize(const TableRecord& t) {
  TableSummary s;
  if (t.segment_steps.empty()) return s;
  s.min_step = *std::min_element(t.segment_steps.begin(), t.segment_steps.end());
  s.max_step = *std::max_element(t.segment_steps.begin(), t.segment_steps.end());
  return s;
}

std::string CheckpointText(const std::string& path, const ShardCheckpoint& c,
                           const FileDigest& digest, absl::Time now) {
  const CheckpointHeader& h = c.header;
  std::string out = absl::StrCat(
      "file           ", path, "\n", "size           ", digest.size_bytes, " bytes, xxh64 ",
      Hex16(digest.xxh64), "\n", "format         version ", h.format_version, "\n",
      "shard          ", h.shard_index, " of ", h.num_shards, "\n", "checkpoint id  ",
      h.checkpoint_id,
      h.checkpoint_id == 0 ? " (periodic checkpoint of this shard)" : " (consistent cut)", "\n",
      "created        ", FormatTime(h.created_unix_ms, now), "\n", "verified       OK (every ",
      "section checksum and rule)\n");
  absl::StrAppend(&out, "\nworkers (", c.workers.size(), "):\n");
  if (!c.workers.empty()) {
    TextTable workers({"worker", "clock", "last seq", "lease ms"});
    for (const WorkerRecord& w : c.workers) {
      workers.AddRow({absl::StrCat(w.worker_id), absl::StrCat(w.clock), absl::StrCat(w.last_seq),
                      absl::StrCat(w.lease_ms)});
    }
    absl::StrAppend(&out, workers.Render("  "));
  }
  absl::StrAppend(&out, "\ntables (", c.tables.size(), "):\n");
  if (!c.tables.empty()) {
    TextTable tables({"table", "elements", "part", "segments", "versions min/max", "pushes",
                      "dedupe", "sync pending"});
    for (const TableRecord& t : c.tables) {
      const TableSummary s = Summarize(t);
      tables.AddRow({t.spec.name, absl::StrCat(t.spec.num_elements),
                     absl::StrCat("[", t.part_begin, ", ", t.part_end, ")"),
                     absl::StrCat(t.segment_steps.size()),
                     absl::StrCat(s.min_step, "/", s.max_step), absl::StrCat(t.pushes),
                     absl::StrCat(t.dedupe.size()), absl::StrCat(t.sync_pending.size())});
    }
    absl::StrAppend(&out, tables.Render("  "));
    for (const TableRecord& t : c.tables) {
      absl::StrAppend(&out, "  ", t.spec.name, ": ", FormatTableSpec(t.spec, true), "\n");
    }
  }
  return out;
}

Json CheckpointJson(const std::string& path, const ShardCheckpoint& c, const FileDigest& digest) {
  const CheckpointHeader& h = c.header;
  Json j;
  j["kind"] = "checkpoint";
  j["file"] = path;
  j["ok"] = true;
  j["size_bytes"] = digest.size_bytes;
  j["xxh64"] = Hex16(digest.xxh64);
  j["format_version"] = h.format_version;
  j["shard_index"] = h.shard_index;
  j["num_shards"] = h.num_shards;
  j["checkpoint_id"] = h.checkpoint_id;
  j["created_unix_ms"] = h.created_unix_ms;
  Json workers = Json::array();
  for (const WorkerRecord& w : c.workers) {
    workers.push_back({{"id", w.worker_id},
                       {"clock", w.clock},
                       {"last_seq", w.last_seq},
                       {"lease_ms", w.lease_ms}});
  }
  j["workers"] = std::move(workers);
  Json tables = Json::array();
  for (const TableRecord& t : c.tables) {
    const TableSummary s = Summarize(t);
    Json table;
    table["name"] = t.spec.name;
    table["num_elements"] = t.spec.num_elements;
    table["spec"] = FormatTableSpec(t.spec, true);
    table["part_begin"] = t.part_begin;
    table["part_end"] = t.part_end;
    table["segments"] = t.segment_steps.size();
    table["min_version"] = s.min_step;
    table["max_version"] = s.max_step;
    table["pushes"] = t.pushes;
    table["pulls"] = t.pulls;
    table["dedupe_entries"] = t.dedupe.size();
    table["sync_pending"] = t.sync_pending.size();
    tables.push_back(std::move(table));
  }
  j["tables"] = std::move(tables);
  return j;
}

InspectReport InspectCheckpoint(const std::string& path, bool json, absl::Time now) {
  FileDigest digest;
  absl::StatusOr<ShardCheckpoint> checkpoint = ReadCheckpointFile(path, &digest);
  InspectReport report;
  if (!checkpoint.ok()) {
    report.status = checkpoint.status();
    if (json) {
      report.text = Json{{"kind", "checkpoint"},
                         {"file", path},
                         {"ok", false},
                         {"error", checkpoint.status().ToString()}}
                        .dump(2) +
                    "\n";
    }
    return report;
  }
  report.text = json ? CheckpointJson(path, *checkpoint, digest).dump(2) + "\n"
                     : CheckpointText(path, *checkpoint, digest, now);
  return report;
}

InspectReport InspectManifest(const std::string& path, const std::vector<std::string>& shard_dirs,
                              bool json) {
  InspectReport report;
  absl::StatusOr<CheckpointManifest> manifest = ReadManifest(path);
  if (!manifest.ok()) {
    report.status = manifest.status();
    if (json) {
      report.text = Json{{"kind", "manifest"},
                         {"file", path},
                         {"ok", false},
                         {"error", manifest.status().ToString()}}
                        .dump(2) +
                    "\n";
    }
    return report;
  }
  const std::string manifest_dir = std::filesystem::path(path).parent_path().string();
  if (shard_dirs.size() > 1 && shard_dirs.size() != manifest->num_shards) {
    report.status = absl::InvalidArgumentError(
        absl::StrCat("give one directory, or one per shard (", manifest->num_shards, "), not ",
                     shard_dirs.size()));
    return report;
  }
  std::string text =
      absl::StrCat("manifest       ", path, "\n", "checkpoint id  ", manifest->checkpoint_id, "\n",
                   "shards         ", manifest->num_shards, "\n");
  Json shards = Json::array();
  TextTable table({"shard", "file", "bytes", "xxh64", "verified"});
  int failures = 0;
  absl::Status first_error;
  for (uint32_t shard = 0; shard < manifest->num_shards; ++shard) {
    const ManifestEntry& entry = manifest->entries[shard];
    std::string dir =
        shard_dirs.empty() ? manifest_dir : shard_dirs[shard_dirs.size() == 1 ? 0 : shard];
    if (dir.empty()) dir = ".";
    absl::StatusOr<ShardCheckpoint> loaded =
        LoadFromManifest(dir, *manifest, shard, manifest->num_shards);
    const std::string verdict = loaded.ok() ? "OK" : "FAILED";
    table.AddRow({absl::StrCat(shard), entry.file_name, absl::StrCat(entry.digest.size_bytes),
                  Hex16(entry.digest.xxh64), verdict});
    Json s{{"shard", shard},
           {"file", entry.file_name},
           {"dir", dir},
           {"size_bytes", entry.digest.size_bytes},
           {"xxh64", Hex16(entry.digest.xxh64)},
           {"ok", loaded.ok()}};
    if (!loaded.ok()) {
      ++failures;
      if (first_error.ok()) first_error = loaded.status();
      s["error"] = loaded.status().ToString();
    }
    shards.push_back(std::move(s));
  }
  absl::StrAppend(&text, "\n", table.Render("  "));
  for (const auto& s : shards) {
    if (s.contains("error")) {
      absl::StrAppend(&text, "  shard ", s["shard"].get<uint32_t>(), ": ",
                      s["error"].get<std::string>(), "\n");
    }
  }
  if (failures > 0) {
    report.status = absl::Status(
        first_error.code(),
        absl::StrCat(failures, " of ", manifest->num_shards, " file(s) of checkpoint ",
                     manifest->checkpoint_id, " failed verification: ", first_error.message()));
  }
  report.text = json ? Json{{"kind", "manifest"},
                            {"file", path},
                            {"ok", failures == 0},
                            {"checkpoint_id", manifest->checkpoint_id},
                            {"num_shards", manifest->num_shards},
                            {"shards", shards}}
                               .dump(2) +
                           "\n"
                     : text;
  return report;
}

}  // namespace

InspectReport InspectFile(const std::string& path, const std::vector<std::string>& shard_dirs,
                          bool json, absl::Time now) {
  if (!std::filesystem::exists(path)) {
    return {"", absl::NotFoundError(absl::StrCat(path, ": no such file"))};
  }
  if (LooksLikeManifest(path)) return InspectManifest(path, shard_dirs, json);
  return InspectCheckpoint(path, json, now);
}

}  // namespace adamasync::ctl
