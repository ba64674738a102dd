// `adamasync-ctl export`: every table of a cluster into one safetensors
// file (ctl/safetensors.h), from the live servers or from checkpoint files.
//
// Tensors are named after the tables (shape [num_elements], F32), sorted by
// name; with moments, Adam's m and v follow as "<table>.exp_avg" and
// "<table>.exp_avg_sq" (PyTorch's optimizer-state names). The metadata
// records each table's spec ("adamasync.spec.<table>", ctl/table_spec_text.h)
// so `warm-start` recreates the tables exactly; a checkpoint export also
// records the step counts ("adamasync.steps.<table>": "min=S max=S"), which
// Adam's bias correction needs to continue from m and v.
//
// From live servers the export Pulls every table: each segment is read
// atomically, but training that goes on meanwhile may land between tables
// or segments. For an exact state, take a consistent cut
// (`adamasync-ctl checkpoint`) and export it with --checkpoint_id. Live
// servers do not report m, v or initializers over RPC: moments need a
// checkpoint export, and the metadata of a live export lacks the init keys.
//
// Thread safety: the functions keep no state.
#ifndef ADAMASYNC_CTL_MODEL_EXPORT_H_
#define ADAMASYNC_CTL_MODEL_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adamasync/client.h"
#include "ctl/admin_client.h"
#include "ctl/shard_checkpoints.h"

namespace adamasync::ctl {

inline constexpr char kSpecMetadataPrefix[] = "adamasync.spec.";
inline constexpr char kStepsMetadataPrefix[] = "adamasync.steps.";
inline constexpr char kSourceMetadataKey[] = "adamasync.source";
inline constexpr char kExpAvgSuffix[] = ".exp_avg";
inline constexpr char kExpAvgSqSuffix[] = ".exp_avg_sq";

struct ExportSummary {
  std::vector<std::string> tensors;  // names, in file order
  uint64_t parameters = 0;           // elements of the tables (moments not counted)
  std::vector<std::string> notes;    // things the operator should know (skipped files, ...)
};

// Pulls every table from the servers into `out` (written atomically).
// FAILED_PRECONDITION when the shards disagree on the tables; the errors of
// GetStats and Pull.
absl::StatusOr<ExportSummary> ExportFromServers(AdminClient& admin, Client& client,
                                                const std::string& out);

// Assembles every table from the selected checkpoint files of every shard
// into `out`. The errors of loading (DATA_LOSS for corrupt files, ...) and
// of TableAssembler.
absl::StatusOr<ExportSummary> ExportFromCheckpoints(const CheckpointSelection& selection,
                                                    bool with_moments, const std::string& out);

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_MODEL_EXPORT_H_
