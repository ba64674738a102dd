#include "ctl/cluster_status.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/proto_convert.h"
#include "ctl/table_spec_text.h"
#include "ctl/text_table.h"
#include "nlohmann/json.hpp"

namespace adamasync::ctl {
namespace {

using Json = nlohmann::ordered_json;

// One table merged over the shards; per-shard fields are nullopt where the
// shard did not answer or does not hold the table.
struct TableView {
  std::string name;
  uint64_t num_elements = 0;
  std::vector<std::optional<uint64_t>> versions, pushes, pulls;
  std::vector<bool> empty_part;  // the shard holds no element of the table
  uint64_t staleness_sum = 0, staleness_max = 0, accepted = 0, duplicates = 0, rejected = 0;
  std::string spec;  // FormatTableSpec of the first shard's answer
};

struct WorkerView {
  uint64_t id = 0;
  std::vector<std::optional<uint64_t>> clocks;
  std::vector<std::optional<bool>> live;
  uint64_t last_seq = 0;
  std::vector<std::string> blocked_on;  // per shard, empty if not blocked
};

struct ClusterView {
  std::map<std::string, TableView> tables;
  std::map<uint64_t, WorkerView> workers;
};

ClusterView Merge(const std::vector<absl::StatusOr<v1::GetStatsResponse>>& answers) {
  const size_t n = answers.size();
  ClusterView view;
  for (size_t shard = 0; shard < n; ++shard) {
    if (!answers[shard].ok()) continue;
    for (const v1::TableStats& t : answers[shard]->tables()) {
      TableView& table = view.tables[t.name()];
      if (table.name.empty()) {
        table.name = t.name();
        table.num_elements = t.num_elements();
        table.versions.resize(n);
        table.pushes.resize(n);
        table.pulls.resize(n);
        table.empty_part.resize(n, false);
        TableSpec spec;
        spec.name = t.name();
        spec.num_elements = t.num_elements();
        if (absl::StatusOr<AdamConfig> adam = FromProto(t.adam()); adam.ok()) spec.adam = *adam;
        if (absl::StatusOr<ConsistencyConfig> c = FromProto(t.consistency()); c.ok()) {
          spec.consistency = *c;
        }
        // The element count has its own column.
        table.spec = FormatTableSpec(spec, /*with_init=*/false);
        table.spec.erase(0, table.spec.find(' ') + 1);
      }
      table.empty_part[shard] = t.part_begin() == t.part_end();
      table.versions[shard] = t.version();
      table.pushes[shard] = t.pushes();
      table.pulls[shard] = t.pulls();
      table.staleness_sum += t.staleness_sum();
      table.staleness_max = std::max(table.staleness_max, t.staleness_max());
      table.accepted += t.pushes();
      table.duplicates += t.duplicate_pushes();
      table.rejected += t.rejected_pushes();
    }
    for (const v1::WorkerStats& w : answers[shard]->workers()) {
      WorkerView& worker = view.workers[w.worker_id()];
      if (worker.id == 0) {
        worker.id = w.worker_id();
        worker.clocks.resize(n);
        worker.live.resize(n);
        worker.blocked_on.resize(n);
      }
      worker.clocks[shard] = w.clock();
      worker.live[shard] = w.live();
      worker.last_seq = std::max(worker.last_seq, w.last_seq());
      worker.blocked_on[shard] = w.blocked_on();
    }
  }
  return view;
}

// "?" where the shard did not answer, "-" where its part is empty.
std::string JoinPerShard(const std::vector<std::optional<uint64_t>>& values,
                         const std::vector<bool>& empty) {
  std::vector<std::string> cells;
  for (size_t i = 0; i < values.size(); ++i) {
    cells.push_back(!values[i] ? "?" : empty[i] ? "-" : absl::StrCat(*values[i]));
  }
  return absl::StrJoin(cells, ",");
}

template <typename T>
Json JsonPerShard(const std::vector<std::optional<T>>& values) {
  Json out = Json::array();
  for (const auto& v : values) out.push_back(v ? Json(*v) : Json(nullptr));
  return out;
}

double StalenessMean(const TableView& t) {
  return t.accepted == 0 ? 0.0 : static_cast<double>(t.staleness_sum) / t.accepted;
}

std::string LiveText(const std::vector<std::optional<bool>>& live) {
  int yes = 0, known = 0;
  for (const auto& l : live) {
    if (!l) continue;
    ++known;
    yes += *l ? 1 : 0;
  }
  if (yes == known) return "yes";
  return yes == 0 ? "no" : absl::StrCat("on ", yes, " of ", known, " shards");
}

std::optional<absl::Duration> CheckpointAge(const v1::GetStatsResponse& r, absl::Time now) {
  if (r.last_checkpoint_unix_ms() == 0) return std::nullopt;
  return now - absl::FromUnixMillis(r.last_checkpoint_unix_ms());
}

}  // namespace

std::string FormatAge(absl::Duration age) {
  if (age < absl::ZeroDuration()) age = absl::ZeroDuration();
  const int64_t ms = absl::ToInt64Milliseconds(age);
  if (ms < 1000) return absl::StrCat(ms, "ms");
  const double s = absl::ToDoubleSeconds(age);
  if (s < 60) return absl::StrFormat("%.1fs", s);
  const int64_t secs = ms / 1000;
  if (secs < 3600) return absl::StrFormat("%dm%02ds", secs / 60, secs % 60);
  if (secs < 86400) return absl::StrFormat("%dh%02dm", secs / 3600, (secs / 60) % 60);
  return absl::StrFormat("%dd%02dh", secs / 86400, (secs / 3600) % 24);
}

std::string FormatStatusText(const std::vector<std::string>& addresses,
                             const std::vector<absl::StatusOr<v1::GetStatsResponse>>& answers,
                             absl::Time now) {
  std::string out;
  TextTable shards(
      {"shard", "address", "uptime", "version", "last checkpoint", "age", "restored from"});
  std::vector<std::string> errors;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      shards.AddRow({absl::StrCat(i), addresses[i], "UNREACHABLE"});
      errors.push_back(std::string(answers[i].status().message()));
      continue;
    }
    const v1::GetStatsResponse& r = *answers[i];
    const std::optional<absl::Duration> age = CheckpointAge(r, now);
    shards.AddRow(
        {absl::StrCat(i), addresses[i], FormatAge(absl::Seconds(r.uptime_seconds())),
         r.server_version(), r.last_checkpoint_file().empty() ? "-" : r.last_checkpoint_file(),
         age ? FormatAge(*age) : "-", r.restored_from().empty() ? "-" : r.restored_from()});
  }
  absl::StrAppend(&out, "shards (", answers.size(), "):\n", shards.Render("  "));
  for (const std::string& e : errors) absl::StrAppend(&out, "  error: ", e, "\n");

  const ClusterView view = Merge(answers);
  TextTable tables(
      {"table", "elements", "versions", "pushes", "staleness mean/max", "duplicates", "rejected"});
  for (const auto& [name, t] : view.tables) {
    tables.AddRow({name, absl::StrCat(t.num_elements), JoinPerShard(t.versions, t.empty_part),
                   JoinPerShard(t.pushes, t.empty_part),
                   absl::StrFormat("%.2f/%d", StalenessMean(t), t.staleness_max),
                   absl::StrCat(t.duplicates), absl::StrCat(t.rejected)});
  }
  absl::StrAppend(&out, "\ntables (", view.tables.size(),
                  "; versions and pushes per shard, pushes in chunks, - = no part there):\n");
  if (!tables.empty()) absl::StrAppend(&out, tables.Render("  "));
  // Tables usually share a spec: list each distinct one once.
  std::map<std::string, std::vector<std::string>> tables_by_spec;
  for (const auto& [name, t] : view.tables) tables_by_spec[t.spec].push_back(name);
  if (!tables_by_spec.empty()) absl::StrAppend(&out, "\nspecs:\n");
  for (const auto& [spec, names] : tables_by_spec) {
    absl::StrAppend(&out, "  ", spec, "\n    tables: ", absl::StrJoin(names, ", "), "\n");
  }

  TextTable workers({"worker", "clocks", "live", "last seq", "blocked on"});
  for (const auto& [id, w] : view.workers) {
    std::vector<std::string> blocked;
    for (size_t i = 0; i < w.blocked_on.size(); ++i) {
      if (!w.blocked_on[i].empty())
        blocked.push_back(absl::StrCat("shard ", i, ": ", w.blocked_on[i]));
    }
    workers.AddRow({absl::StrCat(id),
                    JoinPerShard(w.clocks, std::vector<bool>(w.clocks.size(), false)),
                    LiveText(w.live), absl::StrCat(w.last_seq),
                    blocked.empty() ? "-" : absl::StrJoin(blocked, "; ")});
  }
  absl::StrAppend(&out, "\nworkers (", view.workers.size(), "; clocks per shard):\n");
  if (!workers.empty()) absl::StrAppend(&out, workers.Render("  "));
  return out;
}

std::string FormatStatusJson(const std::vector<std::string>& addresses,
                             const std::vector<absl::StatusOr<v1::GetStatsResponse>>& answers,
                             absl::Time now) {
  Json root;
  Json shards = Json::array();
  for (size_t i = 0; i < answers.size(); ++i) {
    Json s;
    s["index"] = i;
    s["address"] = addresses[i];
    s["ok"] = answers[i].ok();
    if (!answers[i].ok()) {
      s["error"] = std::string(answers[i].status().message());
      shards.push_back(std::move(s));
      continue;
    }
    const v1::GetStatsResponse& r = *answers[i];
    s["uptime_s"] = r.uptime_seconds();
    s["server_version"] = r.server_version();
    s["last_checkpoint_file"] = r.last_checkpoint_file();
    s["last_checkpoint_unix_ms"] = r.last_checkpoint_unix_ms();
    const std::optional<absl::Duration> age = CheckpointAge(r, now);
    s["last_checkpoint_age_s"] = age ? Json(absl::ToDoubleSeconds(*age)) : Json(nullptr);
    s["restored_from"] = r.restored_from();
    shards.push_back(std::move(s));
  }
  root["shards"] = std::move(shards);

  const ClusterView view = Merge(answers);
  Json tables = Json::array();
  for (const auto& [name, t] : view.tables) {
    Json j;
    j["name"] = name;
    j["num_elements"] = t.num_elements;
    j["versions"] = JsonPerShard(t.versions);
    j["pushes"] = JsonPerShard(t.pushes);
    j["pulls"] = JsonPerShard(t.pulls);
    j["part_empty"] = t.empty_part;
    j["staleness_mean"] = StalenessMean(t);
    j["staleness_max"] = t.staleness_max;
    j["duplicates"] = t.duplicates;
    j["rejected"] = t.rejected;
    j["spec"] = t.spec;
    tables.push_back(std::move(j));
  }
  root["tables"] = std::move(tables);
  Json workers = Json::array();
  for (const auto& [id, w] : view.workers) {
    Json j;
    j["id"] = id;
    j["clocks"] = JsonPerShard(w.clocks);
    j["live"] = JsonPerShard(w.live);
    j["last_seq"] = w.last_seq;
    j["blocked_on"] = w.blocked_on;
    workers.push_back(std::move(j));
  }
  root["workers"] = std::move(workers);
  return root.dump(2) + "\n";
}

}  // namespace adamasync::ctl
