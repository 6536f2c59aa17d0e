#include "api/common/json_writer.h"

#include <charconv>
#include <cmath>

namespace mlos::api {

void JsonWriter::Value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_[depth_]) out_.push_back(',');
  first_[depth_] = false;
}

void JsonWriter::Open(char c) {
  Value();
  out_.push_back(c);
  if (depth_ + 1 < kMaxDepth) ++depth_;
  first_[depth_] = true;
}

void JsonWriter::Close(char c) {
  out_.push_back(c);
  if (depth_ > 0) --depth_;
}

void JsonWriter::Key(std::string_view key) {
  Value();
  out_.push_back('"');
  AppendEscaped(out_, key);
  out_.append("\":", 2);
  after_key_ = true;
}

void JsonWriter::String(std::string_view s) {
  Value();
  out_.push_back('"');
  AppendEscaped(out_, s);
  out_.push_back('"');
}

void JsonWriter::Bool(bool b) {
  Value();
  out_.append(b ? "true" : "false");
}

void JsonWriter::Null() {
  Value();
  out_.append("null", 4);
}

void JsonWriter::Int(int64_t v) {
  Value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
}

void JsonWriter::UInt(uint64_t v) {
  Value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
}

namespace {

// Shortest round-trip text of a float or double; null for NaN/Inf (JSON has neither).
template <typename T>
void AppendFloating(std::string& out, T v) {
  if (!std::isfinite(v)) {
    out.append("null", 4);
    return;
  }
  if (v == 0 && std::signbit(v)) {  // "-0" would parse back as the integer 0
    out.append("-0.0", 4);
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void JsonWriter::Double(double v) {
  Value();
  AppendFloating(out_, v);
}

void JsonWriter::Float(float v) {
  Value();
  AppendFloating(out_, v);
}

void JsonWriter::Raw(std::string_view json) {
  Value();
  out_.append(json);
}

void JsonWriter::AppendEscaped(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  size_t run = 0;  // start of the current run of characters that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\"", 2); break;
      case '\\': out.append("\\\\", 2); break;
      case '\n': out.append("\\n", 2); break;
      case '\r': out.append("\\r", 2); break;
      case '\t': out.append("\\t", 2); break;
      case '\b': out.append("\\b", 2); break;
      case '\f': out.append("\\f", 2); break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(esc, 6);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
}

}  // namespace mlos::api
