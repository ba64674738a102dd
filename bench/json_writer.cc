#include "bench/json_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace adamasync {
namespace bench {

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (has_items_.empty()) return;
  if (has_items_.back()) out_ += ",";
  has_items_.back() = true;
  out_ += "\n" + std::string(2 * has_items_.size(), ' ');
}

void JsonWriter::Open(char bracket) {
  BeforeValue();
  out_ += bracket;
  has_items_.push_back(false);
}

void JsonWriter::Close(char bracket) {
  const bool had_items = has_items_.back();
  has_items_.pop_back();
  if (had_items) out_ += "\n" + std::string(2 * has_items_.size(), ' ');
  out_ += bracket;
  if (has_items_.empty()) out_ += "\n";
}

void JsonWriter::BeginObject() { Open('{'); }
void JsonWriter::EndObject() { Close('}'); }
void JsonWriter::BeginArray() { Open('['); }
void JsonWriter::EndArray() { Close(']'); }

void JsonWriter::Key(absl::string_view key) {
  String(key);
  out_ += ": ";
  after_key_ = true;
}

void JsonWriter::String(absl::string_view value) {
  BeforeValue();
  out_ += '"';
  for (char c : value) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out_ += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out_ += c;
        }
    }
  }
  out_ += '"';
}

void JsonWriter::Number(double value) {
  BeforeValue();
  // %.6g keeps reports readable; benchmark figures carry no more precision.
  out_ += std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null";
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
}

void JsonWriter::Field(absl::string_view key, absl::string_view value) {
  Key(key);
  String(value);
}
void JsonWriter::Field(absl::string_view key, double value) {
  Key(key);
  Number(value);
}
void JsonWriter::Field(absl::string_view key, int64_t value) {
  Key(key);
  Int(value);
}
void JsonWriter::Field(absl::string_view key, bool value) {
  Key(key);
  Bool(value);
}

}  // namespace bench
}  // namespace adamasync
