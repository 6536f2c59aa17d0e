// TensorFlow Lite's string tensor buffer (tensorflow/lite/string_util.h), as the C API leaves
// it to callers: one allocation holding
//   int32 count; int32 offsets[count + 1]; the strings' bytes back to back
// where offsets[i] is string i's start from the buffer's beginning and offsets[count] the
// buffer's end. Little endian, as TFLite runs only on little-endian hosts here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlos/smi.h"

namespace mlos::tflite_plugin {

// Encodes `count` strings into `out` (replacing its contents). Returns "" or, when the buffer
// would not fit TFLite's int32 offsets, a message such as "strings take 3000000000 bytes, above
// TFLite's 2147483647". Strings with length > 0 must have data (the caller checks).
std::string EncodeStrings(const smi_string* strings, uint64_t count, std::vector<char>& out);

// One decoded string: a view into the buffer it was read from.
struct StringSpan {
  uint64_t offset = 0;  // from the buffer's start
  uint64_t length = 0;
};

// Decodes a string buffer of `bytes` bytes that should hold `expected_count` strings. Returns ""
// and fills `out` (spans into `data`), or what is wrong with the buffer ("count 3 where the
// tensor's dims give 2", "offset 2 out of order", ...). Never reads outside [data, data + bytes).
std::string DecodeStrings(const char* data, uint64_t bytes, uint64_t expected_count,
                          std::vector<StringSpan>& out);

}  // namespace mlos::tflite_plugin
