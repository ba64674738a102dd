// The safetensors file format (https://huggingface.co/docs/safetensors),
// restricted to what adamasync-ctl exports and imports: F32 tensors.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v", ...},
//    "name": {"dtype": "F32", "shape": [n, ...], "data_offsets": [begin, end]}, ...}
// (padded with spaces), then the data section: each tensor's raw
// little-endian bytes at [begin, end) relative to the data section's start.
//
// The reader trusts nothing: the header length is bounded
// (kMaxSafetensorsHeaderBytes) and checked against the file size before
// anything is allocated; the JSON must parse, hold no duplicate key and no
// unknown field, nest no deeper than the format does; every dtype must be
// F32, every size (product of the shape times 4) must equal its offsets'
// span, and the tensors must tile the data section exactly (sorted by
// offset: no overlap, no gap, nothing past the end), as the reference
// implementation requires.
//
// Example:
//   ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(
//       "model.safetensors", {{"w", {784, 10}}, {"b", {10}}}, {{"format", "pt"}}));
//   RETURN_IF_ERROR(writer->Append(w));  // in the order given
//   RETURN_IF_ERROR(writer->Append(b));
//   RETURN_IF_ERROR(writer->Commit());   // fsync + rename: all or nothing
//
//   ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open("model.safetensors"));
//   for (const SafetensorsTensor& t : reader->header().tensors) {
//     std::vector<float> values(t.num_elements());
//     RETURN_IF_ERROR(reader->Read(t, absl::MakeSpan(values)));
//   }
//
// Thread safety: the functions keep no state; a writer or reader is used by
// one thread at a time.
#ifndef ADAMASYNC_CTL_SAFETENSORS_H_
#define ADAMASYNC_CTL_SAFETENSORS_H_

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace adamasync::ctl {

// The reference implementation's bound on the JSON header.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;
// The only dtype this tool reads and writes.
inline constexpr std::string_view kSafetensorsF32 = "F32";

struct SafetensorsTensor {
  std::string name;  // REQUIRES: non-empty, not "__metadata__"
  std::vector<uint64_t> shape;
  // Byte offsets in the data section, [begin, end). Computed by the writer.
  uint64_t begin = 0;
  uint64_t end = 0;

  // The product of the shape (1 for a scalar: shape []).
  uint64_t num_elements() const;
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;  // in data order (ascending offsets)
  std::map<std::string, std::string> metadata;
};

// The JSON header for `header` (offsets as given), padded with spaces to a
// multiple of 8 bytes so the data section is aligned. Keys in the order of
// `tensors`, "__metadata__" first (omitted when empty).
std::string EncodeSafetensorsHeader(const SafetensorsHeader& header);

// Parses and validates a JSON header (the N bytes after the length) for a
// data section of `data_bytes`. INVALID_ARGUMENT, saying what and where,
// for anything the format or this tool does not allow (see the overview).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json,
                                                         uint64_t data_bytes);

// Writes a file: the header, then each tensor's values in order, into
// "<path>.tmp", renamed to `path` by Commit(). A writer destroyed before
// Commit() removes the temp file.
class SafetensorsWriter {
 public:
  // Lays the tensors out back to back in the order given. INVALID_ARGUMENT
  // for an empty or repeated name, or a size that overflows; the error of
  // creating the file.
  static absl::StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, std::vector<SafetensorsTensor> tensors,
      std::map<std::string, std::string> metadata);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  const SafetensorsHeader& header() const { return header_; }

  // Writes the values of the next tensor. INVALID_ARGUMENT when the size is
  // not that tensor's or every tensor was written; I/O errors.
  absl::Status Append(absl::Span<const float> values);
  // Flushes, fsyncs and renames the file into place. FAILED_PRECONDITION
  // when tensors are missing.
  absl::Status Commit();

 private:
  SafetensorsWriter(std::string path, SafetensorsHeader header);

  const std::string path_;
  const std::string temp_path_;
  const SafetensorsHeader header_;
  std::ofstream out_;
  size_t next_ = 0;  // index of the next tensor to append
  bool committed_ = false;
};

// Reads a file whose header has been validated by Open().
class SafetensorsReader {
 public:
  // NOT_FOUND when the file cannot be opened; INVALID_ARGUMENT (naming the
  // file) when it is not a valid safetensors file of F32 tensors.
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(const std::string& path);
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const SafetensorsHeader& header() const { return header_; }
  // The tensor called `name`, or nullptr.
  const SafetensorsTensor* Find(std::string_view name) const;

  // Copies `tensor`'s values into `out`. REQUIRES: tensor is one of
  // header().tensors; out.size() == tensor.num_elements() (else
  // INVALID_ARGUMENT). DATA_LOSS when the file is shorter than it was.
  absl::Status Read(const SafetensorsTensor& tensor, absl::Span<float> out);

 private:
  SafetensorsReader(std::string path, SafetensorsHeader header, uint64_t data_start);

  const std::string path_;
  const SafetensorsHeader header_;
  const uint64_t data_start_;  // file offset of the data section
  std::ifstream in_;
};

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_SAFETENSORS_H_
