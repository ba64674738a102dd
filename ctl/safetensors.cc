#include "ctl/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this code copies it as host floats");

namespace adamasync::ctl {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr char kMetadataKey[] = "__metadata__";
// Header nesting: {"t": {"shape": [n]}} puts n at depth 3.
constexpr int kMaxJsonDepth = 3;

// Thrown by the parse callback only, caught in ParseSafetensorsHeader.
struct HeaderRuleBroken {
  std::string message;
};

absl::Status ErrnoError(const std::string& what) {
  const int error = errno;
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(what, ": ", std::strerror(error)));
}

// a * b, or nullopt on overflow.
std::optional<uint64_t> Multiply(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

absl::StatusOr<uint64_t> ByteSize(const SafetensorsTensor& tensor) {
  uint64_t elements = 1;
  for (uint64_t d : tensor.shape) {
    std::optional<uint64_t> product = Multiply(elements, d);
    if (!product) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.name, "': shape [", absl::StrJoin(tensor.shape, ","), "] overflows"));
    }
    elements = *product;
  }
  std::optional<uint64_t> bytes = Multiply(elements, sizeof(float));
  if (!bytes) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' is too large"));
  }
  return *bytes;
}

absl::StatusOr<uint64_t> UnsignedField(const Json& value, const std::string& what) {
  if (!value.is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a non-negative integer, got ", value.dump()));
  }
  return value.get<uint64_t>();
}

absl::StatusOr<SafetensorsTensor> ParseTensor(const std::string& name, const Json& entry) {
  const std::string where = absl::StrCat("tensor '", name, "'");
  if (name.empty()) return absl::InvalidArgumentError("a tensor has an empty name");
  if (!entry.is_object())
    return absl::InvalidArgumentError(absl::StrCat(where, " is not an object"));
  for (const auto& [key, unused] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return absl::InvalidArgumentError(absl::StrCat(where, " has an unknown field '", key, "'"));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no '", key, "'"));
    }
  }
  const Json& dtype = entry["dtype"];
  if (!dtype.is_string())
    return absl::InvalidArgumentError(absl::StrCat(where, ": dtype is not a string"));
  if (dtype.get<std::string>() != kSafetensorsF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " has dtype ", dtype.get<std::string>(), ": only F32 is supported"));
  }
  SafetensorsTensor tensor;
  tensor.name = name;
  const Json& shape = entry["shape"];
  if (!shape.is_array())
    return absl::InvalidArgumentError(absl::StrCat(where, ": shape is not an array"));
  for (const Json& d : shape) {
    absl::StatusOr<uint64_t> dim = UnsignedField(d, absl::StrCat(where, ": a shape entry"));
    if (!dim.ok()) return dim.status();
    tensor.shape.push_back(*dim);
  }
  const Json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data_offsets must be an array [begin, end]"));
  }
  absl::StatusOr<uint64_t> begin = UnsignedField(offsets[0], absl::StrCat(where, ": begin"));
  if (!begin.ok()) return begin.status();
  absl::StatusOr<uint64_t> end = UnsignedField(offsets[1], absl::StrCat(where, ": end"));
  if (!end.ok()) return end.status();
  if (*begin > *end) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data_offsets [", *begin, ", ", *end, "] run backwards"));
  }
  tensor.begin = *begin;
  tensor.end = *end;
  absl::StatusOr<uint64_t> bytes = ByteSize(tensor);
  if (!bytes.ok()) return bytes.status();
  if (*bytes != tensor.end - tensor.begin) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": shape [", absl::StrJoin(tensor.shape, ","), "] of F32 is ", *bytes,
                     " bytes but data_offsets span ", tensor.end - tensor.begin));
  }
  return tensor;
}

// The JSON of one tensor entry.
OrderedJson TensorJson(const SafetensorsTensor& tensor) {
  OrderedJson entry;
  entry["dtype"] = kSafetensorsF32;
  entry["shape"] = tensor.shape;
  entry["data_offsets"] = {tensor.begin, tensor.end};
  return entry;
}

}  // namespace

uint64_t SafetensorsTensor::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // validated not to overflow by the parser and writer
  return n;
}

std::string EncodeSafetensorsHeader(const SafetensorsHeader& header) {
  OrderedJson root = OrderedJson::object();
  if (!header.metadata.empty()) {
    OrderedJson metadata = OrderedJson::object();
    for (const auto& [key, value] : header.metadata) metadata[key] = value;
    root[kMetadataKey] = std::move(metadata);
  }
  for (const SafetensorsTensor& tensor : header.tensors) root[tensor.name] = TensorJson(tensor);
  // Invalid UTF-8 is replaced rather than thrown on; our names are ASCII.
  std::string text = root.dump(-1, ' ', false, Json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view json,
                                                         uint64_t data_bytes) {
  Json root;
  try {
    std::vector<std::set<std::string>> keys_per_object;
    Json::parser_callback_t check = [&keys_per_object](int depth, Json::parse_event_t event,
                                                       Json& parsed) {
      if (depth > kMaxJsonDepth) throw HeaderRuleBroken{"the JSON nests deeper than the format"};
      switch (event) {
        case Json::parse_event_t::object_start:
          keys_per_object.emplace_back();
          break;
        case Json::parse_event_t::object_end:
          keys_per_object.pop_back();
          break;
        case Json::parse_event_t::key:
          if (!keys_per_object.back().insert(parsed.get<std::string>()).second) {
            throw HeaderRuleBroken{absl::StrCat("duplicate key '", parsed.get<std::string>(), "'")};
          }
          break;
        default:
          break;
      }
      return true;
    };
    root = Json::parse(json.begin(), json.end(), check);
  } catch (const HeaderRuleBroken& e) {
    return absl::InvalidArgumentError(absl::StrCat("header: ", e.message));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return absl::InvalidArgumentError("header is not a JSON object");

  SafetensorsHeader header;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) return absl::InvalidArgumentError("__metadata__ is not an object");
      for (const auto& [name, text] : value.items()) {
        if (!text.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat("__metadata__ '", name, "' is not a string"));
        }
        header.metadata[name] = text.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<SafetensorsTensor> tensor = ParseTensor(key, value);
    if (!tensor.ok()) return tensor.status();
    header.tensors.push_back(*std::move(tensor));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t expected = 0;
  for (const SafetensorsTensor& t : header.tensors) {
    if (t.begin < expected) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' at [", t.begin, ", ",
                                                     t.end, ") overlaps the tensor before it"));
    }
    if (t.begin > expected) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' at [", t.begin, ", ",
                                                     t.end, ") leaves a gap after byte ", expected,
                                                     " of the data section"));
    }
    if (t.end > data_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' at [", t.begin, ", ",
                                                     t.end, ") ends past the data section (",
                                                     data_bytes, " bytes)"));
    }
    expected = t.end;
  }
  if (expected != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the tensors cover ", expected, " bytes of the ",
                                                   data_bytes, "-byte data section"));
  }
  return header;
}

// ------------------------------------------------------------------ writer

absl::StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, std::vector<SafetensorsTensor> tensors,
    std::map<std::string, std::string> metadata) {
  SafetensorsHeader header;
  header.metadata = std::move(metadata);
  std::set<std::string> names;
  uint64_t offset = 0;
  for (SafetensorsTensor& tensor : tensors) {
    if (tensor.name.empty() || tensor.name == kMetadataKey || !names.insert(tensor.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name '", tensor.name, "' is empty, reserved or repeated"));
    }
    absl::StatusOr<uint64_t> bytes = ByteSize(tensor);
    if (!bytes.ok()) return bytes.status();
    tensor.begin = offset;
    tensor.end = offset + *bytes;
    offset = tensor.end;
    header.tensors.push_back(std::move(tensor));
  }
  std::unique_ptr<SafetensorsWriter> writer(new SafetensorsWriter(path, std::move(header)));
  writer->out_.open(writer->temp_path_, std::ios::binary | std::ios::trunc);
  if (!writer->out_.is_open())
    return ErrnoError(absl::StrCat("cannot create ", writer->temp_path_));
  const std::string json = EncodeSafetensorsHeader(writer->header_);
  char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<char>((uint64_t{json.size()} >> (8 * i)) & 0xff);
  writer->out_.write(length, sizeof(length));
  writer->out_.write(json.data(), static_cast<std::streamsize>(json.size()));
  if (!writer->out_.good()) return ErrnoError(absl::StrCat("cannot write ", writer->temp_path_));
  return writer;
}

SafetensorsWriter::SafetensorsWriter(std::string path, SafetensorsHeader header)
    : path_(std::move(path)), temp_path_(path_ + ".tmp"), header_(std::move(header)) {}

SafetensorsWriter::~SafetensorsWriter() {
  if (committed_) return;
  out_.close();
  std::remove(temp_path_.c_str());
}

absl::Status SafetensorsWriter::Append(absl::Span<const float> values) {
  if (next_ >= header_.tensors.size()) {
    return absl::InvalidArgumentError("every tensor has already been written");
  }
  const SafetensorsTensor& tensor = header_.tensors[next_];
  if (values.size() != tensor.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has ",
                                                   tensor.num_elements(), " elements, got ",
                                                   values.size()));
  }
  out_.write(reinterpret_cast<const char*>(values.data()),
             static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out_.good()) return ErrnoError(absl::StrCat("cannot write ", temp_path_));
  ++next_;
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Commit() {
  if (next_ != header_.tensors.size()) {
    return absl::FailedPreconditionError(absl::StrCat(header_.tensors.size() - next_,
                                                      " tensor(s) not written yet, next '",
                                                      header_.tensors[next_].name, "'"));
  }
  out_.close();
  if (out_.fail()) return ErrnoError(absl::StrCat("cannot write ", temp_path_));
  const int fd = ::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    absl::Status s = ErrnoError(absl::StrCat("cannot fsync ", temp_path_));
    if (fd >= 0) ::close(fd);
    return s;
  }
  ::close(fd);
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoError(absl::StrCat("cannot rename ", temp_path_, " to ", path_));
  }
  committed_ = true;
  return absl::OkStatus();
}

// ------------------------------------------------------------------ reader

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0) return ErrnoError(absl::StrCat("cannot read ", path));
  const uint64_t size = static_cast<uint64_t>(end);
  in.seekg(0);
  auto bad = [&path](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid safetensors file: ", what));
  };
  if (size < 8) return bad(absl::StrCat("only ", size, " bytes"));
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), sizeof(length_bytes));
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  if (header_bytes < 2 || header_bytes > kMaxSafetensorsHeaderBytes) {
    return bad(absl::StrCat("header length ", header_bytes, " is outside [2, ",
                            kMaxSafetensorsHeaderBytes, "]"));
  }
  if (header_bytes > size - 8) {
    return bad(
        absl::StrCat("header length ", header_bytes, " exceeds the ", size - 8, " bytes after it"));
  }
  std::string json(header_bytes, '\0');
  in.read(json.data(), static_cast<std::streamsize>(header_bytes));
  if (!in.good()) return absl::DataLossError(absl::StrCat(path, ": cannot read the header"));
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(json, size - 8 - header_bytes);
  if (!header.ok()) return bad(std::string(header.status().message()));
  std::unique_ptr<SafetensorsReader> reader(
      new SafetensorsReader(path, *std::move(header), 8 + header_bytes));
  reader->in_ = std::move(in);
  return reader;
}

SafetensorsReader::SafetensorsReader(std::string path, SafetensorsHeader header,
                                     uint64_t data_start)
    : path_(std::move(path)), header_(std::move(header)), data_start_(data_start) {}

const SafetensorsTensor* SafetensorsReader::Find(std::string_view name) const {
  for (const SafetensorsTensor& t : header_.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::Status SafetensorsReader::Read(const SafetensorsTensor& tensor, absl::Span<float> out) {
  if (out.size() != tensor.num_elements()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has ",
                                                   tensor.num_elements(), " elements, buffer ",
                                                   out.size()));
  }
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(data_start_ + tensor.begin));
  in_.read(reinterpret_cast<char*>(out.data()),
           static_cast<std::streamsize>(tensor.end - tensor.begin));
  if (!in_.good() &&
      !(in_.eof() && in_.gcount() == static_cast<std::streamsize>(tensor.end - tensor.begin))) {
    return absl::DataLossError(
        absl::StrCat(path_, ": tensor '", tensor.name, "' is cut short (file changed?)"));
  }
  return absl::OkStatus();
}

}  // namespace adamasync::ctl
