// A minimal streaming JSON writer for the benchmarks' --json reports (the
// project has no JSON library dependency, and the reports only need objects,
// arrays, strings, numbers and booleans). Output is indented, two spaces per
// level. Non-finite numbers are written as null.
//
// Example:
//   JsonWriter w;
//   w.BeginObject();
//   w.Field("target", "AVX3");
//   w.Key("cases");
//   w.BeginArray();
//   w.Number(1.5);
//   w.EndArray();
//   w.EndObject();
//   std::cout << w.str();  // {"target": "AVX3", "cases": [1.5]}, indented
//
// REQUIRES (checked only by reading the output): keys only directly inside
// objects, one value per key, every Begin matched by its End.
#ifndef ADAMASYNC_BENCH_JSON_WRITER_H_
#define ADAMASYNC_BENCH_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace adamasync {
namespace bench {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(absl::string_view key);

  void String(absl::string_view value);
  void Number(double value);
  void Int(int64_t value);
  void Bool(bool value);

  // Key followed by a value.
  void Field(absl::string_view key, absl::string_view value);
  void Field(absl::string_view key, const char* value) { Field(key, absl::string_view(value)); }
  void Field(absl::string_view key, const std::string& value) {
    Field(key, absl::string_view(value));
  }
  void Field(absl::string_view key, double value);
  void Field(absl::string_view key, int64_t value);
  void Field(absl::string_view key, uint64_t value) { Field(key, static_cast<int64_t>(value)); }
  void Field(absl::string_view key, int value) { Field(key, static_cast<int64_t>(value)); }
  void Field(absl::string_view key, bool value);

  // The document so far.
  const std::string& str() const { return out_; }

 private:
  // Writes the separator and indentation that precede a new value, unless
  // the value follows a key.
  void BeforeValue();
  void Open(char bracket);
  void Close(char bracket);

  std::string out_;
  std::vector<bool> has_items_;  // per open container: something written yet
  bool after_key_ = false;
};

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_JSON_WRITER_H_
