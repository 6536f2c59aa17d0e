// A small append-only JSON writer for responses: no DOM, no allocation beyond the output
// string, numbers via std::to_chars (shortest round-trip form; float32 values are written as
// float so they parse back bit-exact). NaN and infinities, which JSON lacks, are written as null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlos::api {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  // Inside an object: the next value belongs to `key`.
  void Key(std::string_view key);

  void String(std::string_view s);
  void Bool(bool b);
  void Null();
  void Int(int64_t v);
  void UInt(uint64_t v);
  void Double(double v);
  void Float(float v);
  // Appends pre-serialised JSON as one value.
  void Raw(std::string_view json);

  // Appends `s` JSON-escaped, without quotes.
  static void AppendEscaped(std::string& out, std::string_view s);

 private:
  void Value();  // comma handling before a value
  void Open(char c);
  void Close(char c);

  std::string& out_;
  // first_[d]: nothing written yet at depth d. Depth is bounded by what responses need.
  static constexpr int kMaxDepth = 32;
  bool first_[kMaxDepth] = {true};
  int depth_ = 0;
  bool after_key_ = false;
};

// Writes a shape as a JSON array of integers.
inline void WriteShape(JsonWriter& w, const std::vector<int64_t>& shape) {
  w.BeginArray();
  for (int64_t d : shape) w.Int(d);
  w.EndArray();
}

}  // namespace mlos::api
