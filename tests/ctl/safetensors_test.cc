// Tests of ctl/safetensors.h: round trips through files, and the strict
// reader refusing every malformed header and file it can be given.
#include "ctl/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace adamasync::ctl {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(getpid()) + "-" + name))
      .string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A file made of a header length, `json` and `data_bytes` zero bytes.
std::string FileWith(const std::string& json, size_t data_bytes) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<char>((uint64_t{json.size()} >> (8 * i)) & 0xff);
  return bytes + json + std::string(data_bytes, '\0');
}

TEST(SafetensorsTest, RoundTripsTensorsAndMetadata) {
  const std::string path = TempPath("roundtrip.safetensors");
  const std::vector<float> w = {1.5f, -2.25f, 3e-38f, 0.0f, -0.0f, 7.0f};
  const std::vector<float> b = {0.125f};
  {
    auto writer = SafetensorsWriter::Create(path, {{"layer/w", {2, 3}}, {"layer/b", {1}}},
                                            {{"format", "pt"}, {"note", "a \"quoted\" value"}});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(w).ok());
    ASSERT_TRUE((*writer)->Append(b).ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const std::string bytes = ReadAll(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u) << "the data section is 8-byte aligned";
  EXPECT_EQ(bytes.size(), 8 + n + 4 * (w.size() + b.size()));

  auto reader = SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const SafetensorsHeader& header = (*reader)->header();
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.tensors[0].name, "layer/w");
  EXPECT_EQ(header.tensors[0].shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(header.metadata.at("note"), "a \"quoted\" value");
  std::vector<float> w_back(6), b_back(1);
  ASSERT_TRUE((*reader)->Read(header.tensors[0], absl::MakeSpan(w_back)).ok());
  ASSERT_TRUE((*reader)->Read(*(*reader)->Find("layer/b"), absl::MakeSpan(b_back)).ok());
  EXPECT_EQ(0, std::memcmp(w.data(), w_back.data(), w.size() * 4));  // -0.0 included
  EXPECT_EQ(b_back, b);
  std::remove(path.c_str());
}

TEST(SafetensorsTest, WriterRefusesBadInputAndLeavesNothingBehind) {
  const std::string path = TempPath("refused.safetensors");
  EXPECT_FALSE(SafetensorsWriter::Create(path, {{"a", {1}}, {"a", {2}}}, {}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(path, {{"", {1}}}, {}).ok());
  EXPECT_FALSE(SafetensorsWriter::Create(path, {{"__metadata__", {1}}}, {}).ok());
  {
    auto writer = SafetensorsWriter::Create(path, {{"a", {2}}}, {});
    ASSERT_TRUE(writer.ok());
    EXPECT_FALSE((*writer)->Append(std::vector<float>{1}).ok()) << "wrong size";
    EXPECT_EQ((*writer)->Commit().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(SafetensorsTest, EncodedHeaderParsesBack) {
  SafetensorsHeader header;
  header.tensors = {{"x", {3}, 0, 12}, {"y", {}, 12, 16}};
  header.metadata = {{"k", "v"}};
  const std::string json = EncodeSafetensorsHeader(header);
  EXPECT_EQ(json.size() % 8, 0u);
  auto back = ParseSafetensorsHeader(json, 16);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tensors.size(), 2u);
  EXPECT_EQ(back->tensors[1].num_elements(), 1u) << "a scalar has shape []";
  EXPECT_EQ(back->metadata, header.metadata);
}

struct BadHeader {
  const char* json;
  uint64_t data_bytes;
  const char* error;
};

class SafetensorsBadHeaderTest : public ::testing::TestWithParam<BadHeader> {};

TEST_P(SafetensorsBadHeaderTest, IsRefused) {
  auto parsed = ParseSafetensorsHeader(GetParam().json, GetParam().data_bytes);
  ASSERT_FALSE(parsed.ok()) << GetParam().json;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Headers, SafetensorsBadHeaderTest,
    ::testing::Values(
        BadHeader{"{", 0, "not valid JSON"}, BadHeader{"[]", 0, "not a JSON object"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, "duplicate key 'a'"},
        BadHeader{"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                  "only F32"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "span 4"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                  "unknown field 'x'"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "no 'data_offsets'"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                  "non-negative integer"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                  "non-negative integer"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                  "run backwards"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
                  8, "overlaps"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                  "leaves a gap"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                  "ends past the data section"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
                  "cover 4 bytes of the 12-byte"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                  "\"data_offsets\":[0,4]}}",
                  4, "overflows"},
        BadHeader{"{\"__metadata__\":{\"k\":1}}", 0, "is not a string"},
        BadHeader{"{\"__metadata__\":{\"k\":{\"deep\":[[1]]}}}", 0, "nests deeper"},
        BadHeader{"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                  "[begin, end]"}));

TEST(SafetensorsTest, ReaderRefusesBadFiles) {
  const std::string path = TempPath("bad.safetensors");
  const std::string good_json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  struct Case {
    std::string bytes;
    const char* error;
  };
  std::string huge_length(8, '\0');
  huge_length[7] = 0x7f;  // 2^62 and more
  const Case cases[] = {
      {"", "only 0 bytes"},
      {std::string(5, 'x'), "only 5 bytes"},
      {huge_length + "{}", "outside [2, "},
      {FileWith("{}", 0).substr(0, 8) + "{", "exceeds"},
      {FileWith(good_json, 3), "ends past the data section"},   // truncated data
      {FileWith(good_json, 5), "cover 4 bytes of the 5-byte"},  // trailing bytes
  };
  for (const Case& c : cases) {
    WriteAll(path, c.bytes);
    auto reader = SafetensorsReader::Open(path);
    ASSERT_FALSE(reader.ok()) << c.error;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(reader.status().message(), HasSubstr(c.error));
  }
  WriteAll(path, FileWith(good_json, 4));
  EXPECT_TRUE(SafetensorsReader::Open(path).ok());
  EXPECT_EQ(SafetensorsReader::Open(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace adamasync::ctl
