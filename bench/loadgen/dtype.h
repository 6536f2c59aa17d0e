// The element types mlos-bench sends: ONNX Runtime's, the SDK's and KServe v2's names for each,
// conversions for the 16-bit floats, and the KServe rendering of a tensor's values (JSON array,
// BYTES length-prefixed encoding). Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "wire/float16.h"

namespace mlos::bench {

struct Dtype {
  ONNXTensorElementDataType onnx;
  const char* sdk;     // the client SDK's name: "float32", ..., "string"
  const char* kserve;  // KServe v2: "FP32", ..., "BYTES"
  size_t size;         // bytes per element; 0 for BYTES
};

// nullptr when mlos-bench cannot send the type.
const Dtype* DtypeOf(ONNXTensorElementDataType onnx);
const Dtype* DtypeOfKServe(std::string_view kserve);
// "BOOL, UINT8, ..., BYTES": every KServe datatype mlos-bench sends.
std::string KServeDatatypes();

inline bool IsBytes(const Dtype& t) { return t.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING; }
inline bool IsFloat(const Dtype& t) {
  return t.kserve[0] == 'F' || (t.kserve[0] == 'B' && t.kserve[1] == 'F');
}

// IEEE binary16 and bfloat16 from a float, rounded to nearest even, and back: the wire layer's.
using wire::BFloat16ToFloat;
using wire::FloatToBFloat16;
using wire::FloatToHalf;
using wire::HalfToFloat;

// The values of a tensor as a flat JSON array: numbers (the shortest text that reads back to the
// same value), true/false for BOOL, strings for BYTES (`strings`; `bytes` otherwise).
std::string ValuesJson(const Dtype& t, const std::vector<uint8_t>& bytes,
                       const std::vector<std::string>& strings);

// KServe's BYTES encoding (HTTP binary extension, gRPC raw contents): each element a
// little-endian u32 length, then its bytes.
std::vector<uint8_t> EncodeBytesElements(const std::vector<std::string>& strings);

// "[2,batch,128]": `shape` with each dynamic dim (< 0) written as its name from `names` (ONNX
// symbolic dims), else "?".
std::string ShapeText(const std::vector<int64_t>& shape,
                      const std::vector<std::string>& names = {});

// A JSON string literal (quotes included) for `s`.
std::string JsonString(const std::string& s);

}  // namespace mlos::bench
