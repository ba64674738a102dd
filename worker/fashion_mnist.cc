// Fashion-MNIST loading (IDX through zlib), sharding, shuffling and batch
// gathering. See fashion_mnist.h for the contracts.
#include "worker/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {
namespace training {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
constexpr uint64_t kMaxPixels = uint64_t{1} << 30;
constexpr size_t kReadChunkBytes = 1 << 20;

// An open gzip (or plain) file; closes on destruction.
class GzReader {
 public:
  static absl::StatusOr<GzReader> Open(const std::string& path) {
    errno = 0;
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      const int err = errno;
      const std::string why = err != 0 ? std::strerror(err) : "out of memory";
      if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": file not found"));
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", why));
    }
    gzbuffer(file, 256 * 1024);
    return GzReader(path, file);
  }

  GzReader(GzReader&& other) noexcept
      : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)) {}
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  GzReader& operator=(GzReader&&) = delete;
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }

  // Reads exactly `n` bytes into `out`; DATA_LOSS naming `what` when the
  // file ends early or its stream is corrupt.
  absl::Status ReadExactly(uint8_t* out, size_t n, const char* what) {
    size_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min(n - done, kReadChunkBytes));
      const int got = gzread(file_, out + done, want);
      if (got < 0) return StreamError(what);
      if (got == 0) {
        // zlib reports a cut gzip stream as an error only here, at the end.
        int errnum = Z_OK;
        const char* msg = gzerror(file_, &errnum);
        return absl::DataLossError(absl::StrCat(
            path_, ": truncated while reading the ", what, " (got ", done, " of ", n, " bytes",
            errnum != Z_OK ? absl::StrCat("; zlib: ", msg) : std::string(), ")"));
      }
      done += static_cast<size_t>(got);
    }
    return absl::OkStatus();
  }

  // DATA_LOSS unless the file ends here. Reading past the payload also makes
  // zlib check the gzip trailer (CRC and length), which catches corruption
  // that inflated to plausible bytes.
  absl::Status ExpectEnd() {
    uint8_t extra;
    const int got = gzread(file_, &extra, 1);
    if (got < 0) return StreamError("gzip trailer");
    if (got > 0) {
      return absl::DataLossError(
          absl::StrCat(path_, ": unexpected bytes after the declared payload"));
    }
    int errnum = Z_OK;
    const char* msg = gzerror(file_, &errnum);
    if (errnum != Z_OK) {
      return absl::DataLossError(absl::StrCat(path_, ": truncated gzip stream (zlib: ", msg, ")"));
    }
    return absl::OkStatus();
  }

  // Reads one big-endian uint32.
  absl::Status ReadU32(uint32_t* value, const char* what) {
    std::array<uint8_t, 4> b;
    RETURN_IF_ERROR(ReadExactly(b.data(), b.size(), what));
    *value = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }

 private:
  GzReader(std::string path, gzFile file) : path_(std::move(path)), file_(file) {}

  absl::Status StreamError(const char* what) {
    int errnum = Z_OK;
    const char* msg = gzerror(file_, &errnum);
    return absl::DataLossError(absl::StrCat(path_, ": corrupt gzip stream while reading the ", what,
                                            " (zlib: ", msg, ")"));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

absl::Status CheckMagic(const GzReader& reader, uint32_t magic, uint32_t expected,
                        const char* kind) {
  if (magic == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      reader.path(), ": bad magic number 0x", absl::Hex(magic, absl::kZeroPad8), " (an IDX ", kind,
      " file starts with 0x", absl::Hex(expected, absl::kZeroPad8), ")"));
}

// Reads the image file's header and pixels into `data`.
absl::Status ReadImages(const std::string& path, Dataset* data) {
  ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  uint32_t magic, count, rows, cols;
  RETURN_IF_ERROR(reader.ReadU32(&magic, "header"));
  RETURN_IF_ERROR(CheckMagic(reader, magic, kImagesMagic, "image"));
  RETURN_IF_ERROR(reader.ReadU32(&count, "header"));
  RETURN_IF_ERROR(reader.ReadU32(&rows, "header"));
  RETURN_IF_ERROR(reader.ReadU32(&cols, "header"));
  if (rows == 0 || cols == 0 || uint64_t{count} * rows * cols > kMaxPixels) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": implausible dimensions ", count, " x ", rows, " x ", cols));
  }
  data->num_examples = count;
  data->rows = static_cast<int>(rows);
  data->cols = static_cast<int>(cols);
  const size_t total = size_t{count} * rows * cols;
  data->images.resize(total);

  std::array<float, 256> scale;
  for (int i = 0; i < 256; ++i) scale[i] = static_cast<float>(i) / 255.0f;
  std::vector<uint8_t> chunk(std::min(total, kReadChunkBytes));
  for (size_t done = 0; done < total;) {
    const size_t n = std::min(total - done, chunk.size());
    RETURN_IF_ERROR(reader.ReadExactly(chunk.data(), n, "pixels"));
    float* out = data->images.data() + done;
    for (size_t i = 0; i < n; ++i) out[i] = scale[chunk[i]];
    done += n;
  }
  return reader.ExpectEnd();
}

absl::Status ReadLabels(const std::string& path, Dataset* data) {
  ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  uint32_t magic, count;
  RETURN_IF_ERROR(reader.ReadU32(&magic, "header"));
  RETURN_IF_ERROR(CheckMagic(reader, magic, kLabelsMagic, "label"));
  RETURN_IF_ERROR(reader.ReadU32(&count, "header"));
  if (count != data->num_examples) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds ", count,
                                                   " labels but the image file holds ",
                                                   data->num_examples, " images"));
  }
  data->labels.resize(count);
  RETURN_IF_ERROR(reader.ReadExactly(data->labels.data(), count, "labels"));
  return reader.ExpectEnd();
}

}  // namespace

ExampleBatch Dataset::Slice(int64_t begin, int64_t end) const {
  const size_t f = static_cast<size_t>(num_features());
  return {absl::MakeConstSpan(images).subspan(begin * f, (end - begin) * f),
          absl::MakeConstSpan(labels).subspan(begin, end - begin)};
}

absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path) {
  Dataset data;
  RETURN_IF_ERROR(ReadImages(images_path, &data));
  RETURN_IF_ERROR(ReadLabels(labels_path, &data));
  return data;
}

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = absl::StrCat(dir, dir.empty() || dir.back() == '/' ? "" : "/",
                                          split == Split::kTrain ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  ASSIGN_OR_RETURN(Dataset data, LoadIdxDataset(images_path, prefix + "-labels-idx1-ubyte.gz"));
  if (data.rows != kFashionMnistRows || data.cols != kFashionMnistCols) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, ": images are ", data.rows, "x",
                                                   data.cols, ", Fashion-MNIST's are 28x28"));
  }
  for (int64_t i = 0; i < data.num_examples; ++i) {
    if (data.labels[i] >= kFashionMnistClasses) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, "-labels-idx1-ubyte.gz: label ",
                                                     int{data.labels[i]}, " of example ", i,
                                                     " is not a class in 0..9"));
    }
  }
  return data;
}

absl::StatusOr<Dataset> ShardDataset(const Dataset& full, int worker_index, int num_workers) {
  if (num_workers < 1 || worker_index < 0 || worker_index >= num_workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker index ", worker_index, " is not in [0, ", num_workers, ")"));
  }
  std::vector<int64_t> indices;
  for (int64_t i = worker_index; i < full.num_examples; i += num_workers) indices.push_back(i);
  Dataset shard;
  shard.num_examples = static_cast<int64_t>(indices.size());
  shard.rows = full.rows;
  shard.cols = full.cols;
  Batch gathered;
  GatherBatch(full, indices, &gathered);
  shard.images = std::move(gathered.features);
  shard.labels = std::move(gathered.labels);
  return shard;
}

std::vector<int64_t> EpochOrder(int64_t num_examples, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(num_examples));
  std::iota(order.begin(), order.end(), int64_t{0});
  const uint64_t e = static_cast<uint64_t>(epoch);
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(e), static_cast<uint32_t>(e >> 32)};
  std::mt19937_64 rng(seq);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

void GatherBatch(const Dataset& data, absl::Span<const int64_t> indices, Batch* batch) {
  const size_t f = static_cast<size_t>(data.num_features());
  batch->features.resize(indices.size() * f);
  batch->labels.resize(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    const size_t i = static_cast<size_t>(indices[k]);
    std::copy_n(data.images.data() + i * f, f, batch->features.data() + k * f);
    batch->labels[k] = data.labels[i];
  }
}

}  // namespace training
}  // namespace adamasync
