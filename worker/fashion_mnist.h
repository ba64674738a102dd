// Fashion-MNIST for the training worker: loading the gzipped IDX files,
// splitting the training set into per-worker shards, shuffling each epoch and
// gathering minibatches into contiguous memory.
//
// The IDX format (http://yann.lecun.com/exdb/mnist/) is a big-endian header
// (magic 0x00000803 for unsigned-byte images with 3 dimensions, 0x00000801 for
// labels with 1), the dimension sizes as uint32, then the bytes. The files are
// read through zlib directly; a plain, not gzipped, file is read as well.
//
// Example:
//   auto train = adamasync::training::LoadFashionMnist(
//       adamasync::training::kDefaultFashionMnistDir, Split::kTrain);
//   if (!train.ok()) return train.status();
//   auto shard = ShardDataset(*train, /*worker_index=*/1, /*num_workers=*/4);
//   std::vector<int64_t> order = EpochOrder(shard->num_examples, seed, epoch);
//   Batch batch;
//   GatherBatch(*shard, absl::MakeConstSpan(order).subspan(0, 64), &batch);
//   ... model.LossAndGradient(params, batch.View(), grads) ...
//
// Thread safety: the functions are pure; a const Dataset may be read from
// any number of threads.
#ifndef ADAMASYNC_WORKER_FASHION_MNIST_H_
#define ADAMASYNC_WORKER_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace adamasync {
namespace training {

// Where the Debian package dataset-fashion-mnist installs the files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
inline constexpr int kFashionMnistRows = 28;
inline constexpr int kFashionMnistCols = 28;
inline constexpr int kFashionMnistClasses = 10;

// A read-only view of `size()` consecutive examples: features row-major
// [size x num_features], one label per example.
struct ExampleBatch {
  absl::Span<const float> features;
  absl::Span<const uint8_t> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Labelled images in memory. Pixel p of example i is images[i * rows * cols
// + p], scaled from the file's bytes to [0, 1] (byte / 255); the rows of
// `images` are therefore an Eigen row-major [num_examples x rows*cols] matrix.
struct Dataset {
  int64_t num_examples = 0;
  int rows = 0;
  int cols = 0;
  std::vector<float> images;    // num_examples * rows * cols values in [0, 1]
  std::vector<uint8_t> labels;  // num_examples class indices

  int num_features() const { return rows * cols; }
  // Examples [begin, end). REQUIRES: 0 <= begin <= end <= num_examples.
  ExampleBatch Slice(int64_t begin, int64_t end) const;
};

// Reads one IDX image file and its label file (each gzipped or plain).
// Errors (the message names the file):
//   NOT_FOUND            a file does not exist or cannot be opened;
//   DATA_LOSS            a file is truncated, its gzip stream is corrupt, or
//                        it has bytes after the declared payload;
//   INVALID_ARGUMENT     a bad magic number, a zero or implausibly large
//                        dimension (over 2^30 pixels in all), or image and
//                        label counts that differ.
absl::StatusOr<Dataset> LoadIdxDataset(const std::string& images_path,
                                       const std::string& labels_path);

enum class Split { kTrain, kTest };

// Loads train-{images-idx3,labels-idx1}-ubyte.gz (kTrain) or the t10k-...
// files (kTest) from `dir`, with LoadIdxDataset's errors, and also
// INVALID_ARGUMENT when the images are not 28x28 or a label is not in 0..9.
absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split);

// The examples of `full` that worker `worker_index` of `num_workers` trains
// on: every i with i % num_workers == worker_index, in increasing order.
// Round-robin rather than contiguous blocks because it needs no knowledge of
// the file's order: shards differ in size by at most one example, and since
// the Fashion-MNIST training file is already in random class order, every
// shard keeps the class balance. The shards of all workers together hold
// every example exactly once.
// INVALID_ARGUMENT unless 0 <= worker_index < num_workers.
absl::StatusOr<Dataset> ShardDataset(const Dataset& full, int worker_index, int num_workers);

// A permutation of 0 .. num_examples-1 for epoch `epoch` (0-based): a
// std::shuffle driven by a std::mt19937_64 seeded from (seed, epoch), so the
// order is reproducible for a given seed and differs between epochs.
// REQUIRES: num_examples >= 0.
std::vector<int64_t> EpochOrder(int64_t num_examples, uint64_t seed, int64_t epoch);

// A minibatch copied out of a Dataset into contiguous storage (reused from
// call to call, so the steady state allocates nothing).
struct Batch {
  std::vector<float> features;
  std::vector<uint8_t> labels;

  ExampleBatch View() const { return {features, labels}; }
};

// Copies the examples `indices` of `data`, in that order, into `batch`.
// REQUIRES: every index is in [0, data.num_examples).
void GatherBatch(const Dataset& data, absl::Span<const int64_t> indices, Batch* batch);

}  // namespace training
}  // namespace adamasync

#endif  // ADAMASYNC_WORKER_FASHION_MNIST_H_
