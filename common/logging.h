// Log set-up shared by the daemons: spdlog to stderr (the server) or stdout
// (the worker, whose progress lines are its output), a level, and either the
// human pattern or one JSON object per line (for log collectors).
#ifndef ADAMASYNC_COMMON_LOGGING_H_
#define ADAMASYNC_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace adamasync {

enum class LogStream { kStderr, kStdout };

// `level`: trace, debug, info, warn, error, critical or off. Makes a logger
// named "adamasync" writing to `stream` the default; call once per process.
// INVALID_ARGUMENT for an unknown level (logging is left unchanged).
absl::Status ConfigureLogging(const std::string& level, bool json,
                              LogStream stream = LogStream::kStderr);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_LOGGING_H_
