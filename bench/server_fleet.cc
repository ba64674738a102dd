#include "bench/server_fleet.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace adamasync {
namespace bench {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The port in a port file, or 0 while the file is missing or incomplete.
// A port is accepted only when two reads 20 ms apart agree, so a file caught
// half-written is never taken for a shorter number.
int ReadPortFile(const std::string& path) {
  auto read_once = [&path]() {
    int port = 0;
    const std::string text = ReadWholeFile(path);
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) || port <= 0 || port > 65535) {
      return 0;
    }
    return port;
  };
  const int first = read_once();
  if (first == 0) return 0;
  absl::SleepFor(absl::Milliseconds(20));
  return read_once() == first ? first : 0;
}

std::string Tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

}  // namespace

std::string ServerFleet::LogPath(int shard) const {
  return absl::StrCat(dir_, "/shard", shard, ".log");
}

std::string ServerFleet::PortPath(int shard) const {
  return absl::StrCat(dir_, "/shard", shard, ".port");
}

absl::StatusOr<std::unique_ptr<ServerFleet>> ServerFleet::Start(const ServerFleetOptions& options) {
  if (options.num_shards < 1) return absl::InvalidArgumentError("num_shards must be >= 1");
  if (access(options.server_bin.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("server binary not found or not executable: '",
                                            options.server_bin, "' (see --server_bin)"));
  }
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "adamasync-bench-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", dir_template, " failed"));
  }
  std::unique_ptr<ServerFleet> fleet(new ServerFleet(dir_template));

  for (int i = 0; i < options.num_shards; ++i) {
    // 127.0.0.1 only and the benchmark's client speaks plaintext: the
    // servers must be told so explicitly (docs/security.md).
    std::vector<std::string> argv = {options.server_bin,
                                     "--listen=127.0.0.1:0",
                                     "--plaintext",
                                     absl::StrCat("--shard_index=", i),
                                     absl::StrCat("--num_shards=", options.num_shards),
                                     absl::StrCat("--port_file=", fleet->PortPath(i))};
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start(argv, fleet->LogPath(i));
    if (!child.ok()) return child.status();  // ~ServerFleet stops the others
    fleet->servers_.push_back(*std::move(child));
  }

  fleet->addresses_.assign(options.num_shards, "");
  const absl::Time deadline = absl::Now() + options.start_timeout;
  int ready = 0;
  while (ready < options.num_shards) {
    if (absl::Status alive = fleet->CheckAlive(); !alive.ok()) return alive;
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(
          "shard servers wrote no port file within ", absl::FormatDuration(options.start_timeout),
          "; log of shard 0: ", Tail(ReadWholeFile(fleet->LogPath(0)), 2000)));
    }
    ready = 0;
    for (int i = 0; i < options.num_shards; ++i) {
      if (fleet->addresses_[i].empty()) {
        const int port = ReadPortFile(fleet->PortPath(i));
        if (port != 0) fleet->addresses_[i] = absl::StrCat("127.0.0.1:", port);
      }
      if (!fleet->addresses_[i].empty()) ++ready;
    }
    if (ready < options.num_shards) absl::SleepFor(absl::Milliseconds(50));
  }
  return fleet;
}

absl::Status ServerFleet::CheckAlive() {
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->Running()) continue;
    return absl::UnavailableError(absl::StrCat(
        "shard server ", i, " (pid ", servers_[i]->pid(), ") exited (",
        servers_[i]->ExitDescription(), "); its log: ", Tail(ReadWholeFile(LogPath(i)), 2000)));
  }
  return absl::OkStatus();
}

ServerFleet::~ServerFleet() {
  // Signal all first so the shards shut down in parallel.
  for (auto& server : servers_) server->Terminate();
  for (auto& server : servers_) server->Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string DefaultServerBinary() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "../server/adamasync-server";
  return (self.parent_path().parent_path() / "server" / "adamasync-server").string();
}

}  // namespace bench
}  // namespace adamasync
