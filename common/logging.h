// Log set-up shared by the daemons: spdlog to stderr, a level, and either
// the human pattern or one JSON object per line (for log collectors).
#ifndef ADAMASYNC_COMMON_LOGGING_H_
#define ADAMASYNC_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace adamasync {

// `level`: trace, debug, info, warn, error, critical or off.
// INVALID_ARGUMENT for an unknown level (logging is left unchanged).
absl::Status ConfigureLogging(const std::string& level, bool json);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_LOGGING_H_
