#include "dtype.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "wire/dtype.h"

namespace mlos::bench {
namespace {

// ONNX Runtime's element type for each SMI dtype; names and sizes come from the one dtype
// table (wire/dtype.h).
struct OnnxToSmi {
  ONNXTensorElementDataType onnx;
  smi_dtype smi;
};
constexpr OnnxToSmi kOnnxToSmi[] = {
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL, SMI_DTYPE_BOOL},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, SMI_DTYPE_UINT8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16, SMI_DTYPE_UINT16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32, SMI_DTYPE_UINT32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64, SMI_DTYPE_UINT64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, SMI_DTYPE_INT8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, SMI_DTYPE_INT16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, SMI_DTYPE_INT32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, SMI_DTYPE_INT64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, SMI_DTYPE_FLOAT16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, SMI_DTYPE_FLOAT32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, SMI_DTYPE_FLOAT64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, SMI_DTYPE_BFLOAT16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING, SMI_DTYPE_STRING},
};

const std::vector<Dtype>& Dtypes() {
  static const std::vector<Dtype> table = [] {
    std::vector<Dtype> t;
    for (const OnnxToSmi& m : kOnnxToSmi) {
      const wire::DtypeInfo* d = wire::DtypeById(m.smi);
      t.push_back({m.onnx, d->name, d->kserve, d->size});
    }
    return t;
  }();
  return table;
}


template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void AppendNumber(std::string& out, T v) {
  char b[64];
  auto r = std::to_chars(b, b + sizeof b, v);
  out.append(b, r.ptr);
}

}  // namespace

const Dtype* DtypeOf(ONNXTensorElementDataType onnx) {
  for (const Dtype& t : Dtypes()) {
    if (t.onnx == onnx) return &t;
  }
  return nullptr;
}

const Dtype* DtypeOfKServe(std::string_view kserve) {
  for (const Dtype& t : Dtypes()) {
    if (kserve == t.kserve) return &t;
  }
  return nullptr;
}

std::string KServeDatatypes() {
  std::string s;
  for (const Dtype& t : Dtypes()) s += (s.empty() ? "" : ", ") + std::string(t.kserve);
  return s;
}


std::string ValuesJson(const Dtype& t, const std::vector<uint8_t>& bytes,
                       const std::vector<std::string>& strings) {
  std::string out = "[";
  if (IsBytes(t)) {
    for (size_t i = 0; i < strings.size(); ++i) {
      if (i) out += ',';
      out += JsonString(strings[i]);
    }
    return out + "]";
  }
  const size_t n = bytes.size() / t.size;
  out.reserve(n * (t.size >= 4 && IsFloat(t) ? 12 : 4) + 2);
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    const uint8_t* p = bytes.data() + i * t.size;
    switch (t.onnx) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
        out += *p ? "true" : "false";
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
        AppendNumber(out, *p);
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
        AppendNumber(out, Load<uint16_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
        AppendNumber(out, Load<uint32_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
        AppendNumber(out, Load<uint64_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
        AppendNumber(out, Load<int8_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
        AppendNumber(out, Load<int16_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
        AppendNumber(out, Load<int32_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
        AppendNumber(out, Load<int64_t>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
        AppendNumber(out, HalfToFloat(Load<uint16_t>(p)));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
        AppendNumber(out, BFloat16ToFloat(Load<uint16_t>(p)));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
        AppendNumber(out, Load<float>(p));
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
        AppendNumber(out, Load<double>(p));
        break;
      default:
        break;
    }
  }
  return out + "]";
}

std::vector<uint8_t> EncodeBytesElements(const std::vector<std::string>& strings) {
  std::vector<uint8_t> out;
  for (const std::string& s : strings) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    const uint8_t len[4] = {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8),
                            static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
    out.insert(out.end(), len, len + 4);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

std::string ShapeText(const std::vector<int64_t>& shape, const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    if (shape[i] >= 0)
      s += std::to_string(shape[i]);
    else
      s += i < names.size() && !names[i].empty() ? names[i] : "?";
  }
  return s + "]";
}

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

}  // namespace mlos::bench
