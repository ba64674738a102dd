// Tests of the Fashion-MNIST loader on the real files (skipped when the
// dataset-fashion-mnist package is absent; ADAMASYNC_FASHION_MNIST_DIR
// overrides the directory), on small files written here, and on broken
// files; and of sharding, epoch shuffling and batch gathering.
#include "worker/fashion_mnist.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace adamasync {
namespace training {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string DataDir() {
  const char* env = std::getenv("ADAMASYNC_FASHION_MNIST_DIR");
  return env != nullptr ? env : kDefaultFashionMnistDir;
}

#define SKIP_WITHOUT_DATA()                                                            \
  if (!fs::exists(DataDir() + "/train-images-idx3-ubyte.gz")) {                        \
    GTEST_SKIP() << "no Fashion-MNIST in " << DataDir() << " (dataset-fashion-mnist)"; \
  }

std::vector<uint8_t> BigEndian(std::initializer_list<uint32_t> words) {
  std::vector<uint8_t> out;
  for (uint32_t w : words) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(w >> shift));
  }
  return out;
}

std::vector<uint8_t> Concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FashionMnistFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("fashion_mnist_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WritePlain(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return path;
  }
  std::string WriteGz(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), bytes.size()), static_cast<int>(bytes.size()));
    gzclose(f);
    return path;
  }
  // Three 2x2 images with pixel bytes 0, 1, ..., 11 and labels 7, 0, 9.
  static std::vector<uint8_t> SmallImages() {
    std::vector<uint8_t> pixels(12);
    for (int i = 0; i < 12; ++i) pixels[i] = static_cast<uint8_t>(i == 11 ? 255 : i);
    return Concat(BigEndian({0x803, 3, 2, 2}), pixels);
  }
  static std::vector<uint8_t> SmallLabels() { return Concat(BigEndian({0x801, 3}), {7, 0, 9}); }

  fs::path dir_;
};

TEST(FashionMnistTest, RealTrainAndTestSets) {
  SKIP_WITHOUT_DATA();
  for (auto [split, expected] : {std::pair{Split::kTrain, 60000}, std::pair{Split::kTest, 10000}}) {
    absl::StatusOr<Dataset> data = LoadFashionMnist(DataDir(), split);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_examples, expected);
    EXPECT_EQ(data->rows, 28);
    EXPECT_EQ(data->cols, 28);
    EXPECT_EQ(data->num_features(), 784);
    ASSERT_EQ(data->images.size(), size_t{784} * expected);
    ASSERT_EQ(data->labels.size(), static_cast<size_t>(expected));
    // Fashion-MNIST is balanced: every class has a tenth of the examples.
    std::vector<int> per_class(10);
    for (uint8_t label : data->labels) {
      ASSERT_LT(label, 10);
      ++per_class[label];
    }
    EXPECT_THAT(per_class, ::testing::Each(expected / 10));
    const auto [lo, hi] = std::minmax_element(data->images.begin(), data->images.end());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
  }
}

TEST(FashionMnistTest, MissingDirectoryIsNotFound) {
  absl::StatusOr<Dataset> data = LoadFashionMnist("/nonexistent/fashion", Split::kTest);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(data.status().message(),
              HasSubstr("/nonexistent/fashion/t10k-images-idx3-ubyte.gz: file not found"));
}

TEST_F(FashionMnistFilesTest, ReadsGzippedAndPlainFiles) {
  for (bool gz : {true, false}) {
    const std::string images =
        gz ? WriteGz("i.gz", SmallImages()) : WritePlain("i.idx", SmallImages());
    const std::string labels =
        gz ? WriteGz("l.gz", SmallLabels()) : WritePlain("l.idx", SmallLabels());
    absl::StatusOr<Dataset> data = LoadIdxDataset(images, labels);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_examples, 3);
    EXPECT_EQ(data->rows, 2);
    EXPECT_EQ(data->cols, 2);
    EXPECT_THAT(data->labels, ::testing::ElementsAre(7, 0, 9));
    for (int i = 0; i < 11; ++i) EXPECT_FLOAT_EQ(data->images[i], i / 255.0f);
    EXPECT_EQ(data->images[11], 1.0f);
    ExampleBatch second = data->Slice(1, 2);
    EXPECT_EQ(second.size(), 1);
    EXPECT_EQ(second.features.data(), data->images.data() + 4);
    EXPECT_EQ(second.labels[0], 0);
  }
}

TEST_F(FashionMnistFilesTest, TruncatedGzipIsDataLoss) {
  SKIP_WITHOUT_DATA();
  std::vector<uint8_t> real = ReadBytes(DataDir() + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_GT(real.size(), 1000u);
  real.resize(real.size() / 2);
  const std::string images =
      WriteGz("i.gz", Concat(BigEndian({0x803, 10000, 1, 1}), std::vector<uint8_t>(10000)));
  const std::string labels = WritePlain("l.gz", real);
  absl::StatusOr<Dataset> data = LoadIdxDataset(images, labels);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr(labels));
  EXPECT_THAT(data.status().message(), HasSubstr("truncated"));
}

TEST_F(FashionMnistFilesTest, CorruptGzipIsDataLoss) {
  SKIP_WITHOUT_DATA();
  std::vector<uint8_t> real = ReadBytes(DataDir() + "/t10k-labels-idx1-ubyte.gz");
  for (size_t i = real.size() / 3; i < real.size() / 3 + 64; ++i) real[i] ^= 0x5a;
  const std::string images =
      WriteGz("i.gz", Concat(BigEndian({0x803, 10000, 1, 1}), std::vector<uint8_t>(10000)));
  absl::StatusOr<Dataset> data = LoadIdxDataset(images, WritePlain("l.gz", real));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
}

TEST_F(FashionMnistFilesTest, ShortPayloadIsDataLoss) {
  std::vector<uint8_t> images = SmallImages();
  images.resize(images.size() - 5);
  absl::StatusOr<Dataset> data =
      LoadIdxDataset(WriteGz("i.gz", images), WriteGz("l.gz", SmallLabels()));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("truncated while reading the pixels"));
}

TEST_F(FashionMnistFilesTest, TrailingBytesAreDataLoss) {
  absl::StatusOr<Dataset> data = LoadIdxDataset(WriteGz("i.gz", SmallImages()),
                                                WriteGz("l.gz", Concat(SmallLabels(), {1, 2})));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(data.status().message(), HasSubstr("after the declared payload"));
}

TEST_F(FashionMnistFilesTest, BadMagicIsInvalidArgument) {
  // Labels where images belong, and a text file.
  for (const std::vector<uint8_t>& bytes :
       {SmallLabels(), std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o', '\n'}}) {
    absl::StatusOr<Dataset> data =
        LoadIdxDataset(WriteGz("i.gz", bytes), WriteGz("l.gz", SmallLabels()));
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(data.status().message(), HasSubstr("bad magic number"));
  }
}

TEST_F(FashionMnistFilesTest, BadDimensionsAndCountsAreInvalidArgument) {
  const std::string labels = WriteGz("l.gz", SmallLabels());
  for (std::initializer_list<uint32_t> header :
       {std::initializer_list<uint32_t>{0x803, 3, 0, 2}, {0x803, 0xffffffffu, 28, 28}}) {
    absl::StatusOr<Dataset> data = LoadIdxDataset(WriteGz("i.gz", BigEndian(header)), labels);
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(data.status().message(), HasSubstr("implausible dimensions"));
  }
  absl::StatusOr<Dataset> data = LoadIdxDataset(
      WriteGz("i.gz", SmallImages()), WriteGz("l2.gz", Concat(BigEndian({0x801, 2}), {1, 2})));
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("holds 2 labels but the image file holds 3"));
}

TEST_F(FashionMnistFilesTest, FashionMnistRequires28x28AndTenClasses) {
  WriteGz("t10k-images-idx3-ubyte.gz", SmallImages());
  WriteGz("t10k-labels-idx1-ubyte.gz", SmallLabels());
  absl::StatusOr<Dataset> data = LoadFashionMnist(dir_.string(), Split::kTest);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("28x28"));

  WriteGz("t10k-images-idx3-ubyte.gz",
          Concat(BigEndian({0x803, 1, 28, 28}), std::vector<uint8_t>(784)));
  WriteGz("t10k-labels-idx1-ubyte.gz", Concat(BigEndian({0x801, 1}), {10}));
  data = LoadFashionMnist(dir_.string(), Split::kTest);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("label 10 of example 0"));
}

// A dataset of n one-pixel examples whose pixel is the example's index.
Dataset IndexDataset(int64_t n) {
  Dataset data;
  data.num_examples = n;
  data.rows = data.cols = 1;
  for (int64_t i = 0; i < n; ++i) {
    data.images.push_back(static_cast<float>(i));
    data.labels.push_back(static_cast<uint8_t>(i % 10));
  }
  return data;
}

TEST(ShardDatasetTest, ShardsCoverEveryExampleExactlyOnce) {
  const Dataset full = IndexDataset(1003);
  for (int workers : {1, 2, 3, 4, 7, 16}) {
    std::vector<int> seen(full.num_examples);
    for (int w = 0; w < workers; ++w) {
      absl::StatusOr<Dataset> shard = ShardDataset(full, w, workers);
      ASSERT_TRUE(shard.ok()) << shard.status();
      const int64_t expected_size = (full.num_examples - w + workers - 1) / workers;
      EXPECT_EQ(shard->num_examples, expected_size);
      for (int64_t k = 0; k < shard->num_examples; ++k) {
        const int64_t i = static_cast<int64_t>(shard->images[k]);
        EXPECT_EQ(i % workers, w);
        EXPECT_EQ(shard->labels[k], full.labels[i]);
        ++seen[i];
      }
    }
    EXPECT_THAT(seen, ::testing::Each(1)) << workers << " workers";
  }
}

TEST(ShardDatasetTest, RejectsBadWorkerIndex) {
  const Dataset full = IndexDataset(10);
  for (auto [index, workers] : {std::pair{-1, 2}, std::pair{2, 2}, std::pair{0, 0}}) {
    EXPECT_EQ(ShardDataset(full, index, workers).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(EpochOrderTest, IsASeededPermutation) {
  const std::vector<int64_t> a = EpochOrder(1000, 42, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, EpochOrder(1000, 42, 0));
  EXPECT_NE(a, EpochOrder(1000, 42, 1));
  EXPECT_NE(a, EpochOrder(1000, 43, 0));
  EXPECT_TRUE(EpochOrder(0, 1, 0).empty());
}

TEST(GatherBatchTest, CopiesTheChosenExamplesInOrder) {
  Dataset data = IndexDataset(6);
  data.cols = 2;  // three two-pixel examples
  data.num_examples = 3;
  data.labels.resize(3);
  Batch batch;
  const std::vector<int64_t> indices = {2, 0};
  GatherBatch(data, indices, &batch);
  EXPECT_THAT(batch.features, ::testing::ElementsAre(4, 5, 0, 1));
  EXPECT_THAT(batch.labels, ::testing::ElementsAre(2, 0));
  EXPECT_EQ(batch.View().size(), 2);
}

}  // namespace
}  // namespace training
}  // namespace adamasync
