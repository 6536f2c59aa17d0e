#include "string_tensor.h"

#include <cstring>
#include <limits>

namespace mlos::tflite_plugin {
namespace {

constexpr uint64_t kMaxBytes = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());

void PutInt32(char* at, uint64_t value) {
  const int32_t v = static_cast<int32_t>(value);
  std::memcpy(at, &v, sizeof v);
}

int32_t GetInt32(const char* at) {
  int32_t v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

}  // namespace

std::string EncodeStrings(const smi_string* strings, uint64_t count, std::vector<char>& out) {
  if (count > (kMaxBytes - 8) / 4) {
    return std::to_string(count) + " strings are more than TFLite's int32 offsets can index";
  }
  const uint64_t header = 4 * (count + 2);
  uint64_t total = header;
  for (uint64_t i = 0; i < count; ++i) {
    total += strings[i].length;
    if (total > kMaxBytes) {
      return "strings take more than " + std::to_string(kMaxBytes) +
             " bytes, the most TFLite's int32 offsets can index";
    }
  }
  out.assign(total, 0);
  PutInt32(out.data(), count);
  uint64_t offset = header;
  for (uint64_t i = 0; i < count; ++i) {
    PutInt32(out.data() + 4 * (i + 1), offset);
    if (strings[i].length > 0) {
      std::memcpy(out.data() + offset, strings[i].data, strings[i].length);
    }
    offset += strings[i].length;
  }
  PutInt32(out.data() + 4 * (count + 1), offset);
  return "";
}

std::string DecodeStrings(const char* data, uint64_t bytes, uint64_t expected_count,
                          std::vector<StringSpan>& out) {
  out.clear();
  if (bytes < 4 || data == nullptr) {
    return "string buffer of " + std::to_string(bytes) + " bytes has no count";
  }
  const int32_t count = GetInt32(data);
  if (count < 0 || static_cast<uint64_t>(count) != expected_count) {
    return "string count " + std::to_string(count) + " where the tensor's dims give " +
           std::to_string(expected_count);
  }
  const uint64_t n = static_cast<uint64_t>(count);
  const uint64_t header = 4 * (n + 2);
  if (bytes < header) {
    return "string buffer of " + std::to_string(bytes) + " bytes is shorter than its " +
           std::to_string(header) + "-byte header";
  }
  uint64_t previous = header;
  out.reserve(n);
  for (uint64_t i = 0; i <= n; ++i) {
    const int32_t offset = GetInt32(data + 4 * (i + 1));
    if (offset < 0 || static_cast<uint64_t>(offset) < previous ||
        static_cast<uint64_t>(offset) > bytes) {
      return "string offset " + std::to_string(i) + " (" + std::to_string(offset) +
             ") is out of order or outside the buffer";
    }
    if (i > 0) out.push_back({previous, static_cast<uint64_t>(offset) - previous});
    previous = static_cast<uint64_t>(offset);
  }
  return "";
}

}  // namespace mlos::tflite_plugin
