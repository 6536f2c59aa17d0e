#include "workload.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

namespace mlos::bench {
namespace {

struct TypeInfo {
  ONNXTensorElementDataType onnx;
  const char* dtype;
  const char* kserve;
  size_t size;
};
constexpr TypeInfo kTypes[] = {
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, "float32", "FP32", 4},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, "float64", "FP64", 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, "float16", "FP16", 2},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, "bfloat16", "BF16", 2},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, "int8", "INT8", 1},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, "int16", "INT16", 2},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, "int32", "INT32", 4},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, "int64", "INT64", 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, "uint8", "UINT8", 1},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16, "uint16", "UINT16", 2},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32, "uint32", "UINT32", 4},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64, "uint64", "UINT64", 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL, "bool", "BOOL", 1},
};

const TypeInfo* Find(ONNXTensorElementDataType t) {
  for (const TypeInfo& i : kTypes) {
    if (i.onnx == t) return &i;
  }
  return nullptr;
}

template <typename T>
void Put(std::vector<uint8_t>& bytes, size_t i, T v) {
  std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
}

template <typename T>
void AppendNumber(std::string& json, T v) {
  char b[64];
  auto r = std::to_chars(b, b + sizeof b, v);
  json.append(b, r.ptr);
}

// Values that float16 / bfloat16 represent exactly (k / 1024, k / 128 in [-1, 1)), so the
// JSON text and the binary bytes carry the same numbers.
uint16_t HalfBits(int k) {  // k / 1024, |k| < 1024
  if (k == 0) return 0;
  uint16_t sign = k < 0 ? 0x8000 : 0;
  unsigned m = static_cast<unsigned>(k < 0 ? -k : k);
  int e = 0;
  while (m < 1024) {  // normalise to 1.xxxx * 2^(e)
    m <<= 1;
    --e;
  }
  // |k| = m * 2^e, so k / 1024 = (m / 1024) * 2^e with m / 1024 in [1, 2).
  return static_cast<uint16_t>(sign | ((e + 15) << 10) | (m & 0x3FF));
}

}  // namespace

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

Workload MakeWorkload(Ort::Session& session, int64_t batch, int64_t int_max, bool with_json) {
  Workload w;
  Ort::AllocatorWithDefaultOptions alloc;
  std::mt19937_64 rng(12345);
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    w.outputs.push_back(session.GetOutputNameAllocated(i, alloc).get());
  }
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    InputTensor t;
    t.name = session.GetInputNameAllocated(i, alloc).get();
    Ort::TypeInfo type = session.GetInputTypeInfo(i);
    if (type.GetONNXType() != ONNX_TYPE_TENSOR) {
      throw std::runtime_error("input '" + t.name + "' is not a tensor");
    }
    auto info = type.GetTensorTypeAndShapeInfo();
    t.onnx_type = info.GetElementType();
    const TypeInfo* ti = Find(t.onnx_type);
    if (!ti) {
      throw std::runtime_error("input '" + t.name + "': element type " +
                               std::to_string(static_cast<int>(t.onnx_type)) +
                               " is not supported by mlos-bench");
    }
    t.dtype = ti->dtype;
    t.kserve = ti->kserve;
    t.shape = info.GetShape();
    size_t n = 1;
    for (int64_t& d : t.shape) {
      if (d < 0) d = batch;
      n *= static_cast<size_t>(d);
    }
    t.bytes.resize(n * ti->size);
    if (with_json) {
      t.json.reserve(n * (ti->size >= 4 && t.kserve[0] == 'F' ? 12 : 4) + 2);
      t.json = "[";
    }
    std::uniform_real_distribution<float> f32(-1.0f, 1.0f);
    std::uniform_real_distribution<double> f64(-1.0, 1.0);
    // Integers in [0, int_max), capped to what the type holds.
    const int bits = static_cast<int>(ti->size) * 8;
    const bool is_signed = t.kserve[0] == 'I';
    uint64_t cap = bits >= 64 ? UINT64_MAX : (uint64_t{1} << (bits - (is_signed ? 1 : 0)));
    uint64_t hi = std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(int_max, 1)), cap);
    std::uniform_int_distribution<uint64_t> ints(0, hi - 1);
    for (size_t k = 0; k < n; ++k) {
      if (with_json && k) t.json += ',';
      switch (t.onnx_type) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: {
          float v = f32(rng);
          Put(t.bytes, k, v);
          if (with_json) AppendNumber(t.json, v);
          break;
        }
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: {
          double v = f64(rng);
          Put(t.bytes, k, v);
          if (with_json) AppendNumber(t.json, v);
          break;
        }
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: {
          const bool half = t.onnx_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
          const int scale = half ? 1024 : 128;
          int q = static_cast<int>(rng() % (2 * scale)) - scale;
          float v = static_cast<float>(q) / static_cast<float>(scale);
          uint16_t bitsv;
          if (half) {
            bitsv = HalfBits(q);
          } else {
            uint32_t u;
            std::memcpy(&u, &v, 4);
            bitsv = static_cast<uint16_t>(u >> 16);  // exact: v has <= 8 significant bits
          }
          Put(t.bytes, k, bitsv);
          if (with_json) AppendNumber(t.json, v);
          break;
        }
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: {
          bool v = (rng() & 1) != 0;
          t.bytes[k] = v ? 1 : 0;
          if (with_json) t.json += v ? "true" : "false";
          break;
        }
        default: {
          uint64_t v = ints(rng);
          std::memcpy(t.bytes.data() + k * ti->size, &v, ti->size);  // little endian
          if (with_json) AppendNumber(t.json, v);
          break;
        }
      }
    }
    if (with_json) t.json += ']';
    w.inputs.push_back(std::move(t));
  }
  return w;
}

}  // namespace mlos::bench
