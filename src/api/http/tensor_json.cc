#include "api/http/tensor_json.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace mlos::http {
namespace {

using nlohmann::json;
using core::DataType;

Status ElementError(const core::Tensor& t, const char* want, const json& v) {
  std::string got = v.type_name();
  if (v.is_number()) got = "number " + v.dump();
  return InvalidArgument("tensor '" + t.name + "': expected " + want + " elements of dtype " +
                         core::DataTypeName(t.dtype) + ", got " + got);
}

template <typename T>
void Put(core::Tensor& t, T v) {
  const size_t at = t.data.size();
  t.data.resize(at + sizeof(T));
  std::memcpy(t.data.data() + at, &v, sizeof(T));
}

template <typename T>
Status PutInteger(core::Tensor& t, const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return InvalidArgument("tensor '" + t.name + "': value " + v.dump() + " out of range for " +
                             core::DataTypeName(t.dtype));
    }
    Put<T>(t, static_cast<T>(u));
    return Status::Ok();
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0) {
        return InvalidArgument("tensor '" + t.name + "': value " + v.dump() +
                               " out of range for " + core::DataTypeName(t.dtype));
      }
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return InvalidArgument("tensor '" + t.name + "': value " + v.dump() +
                               " out of range for " + core::DataTypeName(t.dtype));
      }
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        return InvalidArgument("tensor '" + t.name + "': value " + v.dump() +
                               " out of range for " + core::DataTypeName(t.dtype));
      }
    }
    Put<T>(t, static_cast<T>(i));
    return Status::Ok();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) == d && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
        d <= static_cast<double>(std::numeric_limits<T>::max())) {
      Put<T>(t, static_cast<T>(d));
      return Status::Ok();
    }
    return InvalidArgument("tensor '" + t.name + "': value " + v.dump() +
                           " is not an integer (dtype " + core::DataTypeName(t.dtype) + ")");
  }
  return ElementError(t, "integer", v);
}

Status PutElement(core::Tensor& t, const json& v) {
  switch (t.dtype) {
    case DataType::kFloat32:
      if (!v.is_number()) return ElementError(t, "number", v);
      Put<float>(t, static_cast<float>(v.get<double>()));
      return Status::Ok();
    case DataType::kFloat64:
      if (!v.is_number()) return ElementError(t, "number", v);
      Put<double>(t, v.get<double>());
      return Status::Ok();
    case DataType::kFloat16:
      if (!v.is_number()) return ElementError(t, "number", v);
      Put<uint16_t>(t, FloatToHalf(static_cast<float>(v.get<double>())));
      return Status::Ok();
    case DataType::kBFloat16:
      if (!v.is_number()) return ElementError(t, "number", v);
      Put<uint16_t>(t, FloatToBFloat16(static_cast<float>(v.get<double>())));
      return Status::Ok();
    case DataType::kInt8: return PutInteger<int8_t>(t, v);
    case DataType::kInt16: return PutInteger<int16_t>(t, v);
    case DataType::kInt32: return PutInteger<int32_t>(t, v);
    case DataType::kInt64: return PutInteger<int64_t>(t, v);
    case DataType::kUInt8: return PutInteger<uint8_t>(t, v);
    case DataType::kUInt16: return PutInteger<uint16_t>(t, v);
    case DataType::kUInt32: return PutInteger<uint32_t>(t, v);
    case DataType::kUInt64: return PutInteger<uint64_t>(t, v);
    case DataType::kBool:
      if (v.is_boolean()) {
        Put<uint8_t>(t, v.get<bool>() ? 1 : 0);
        return Status::Ok();
      }
      if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
        Put<uint8_t>(t, static_cast<uint8_t>(v.get<int64_t>()));
        return Status::Ok();
      }
      return ElementError(t, "boolean", v);
    case DataType::kString:
      if (!v.is_string()) return ElementError(t, "string", v);
      t.strings.push_back(v.get<std::string>());
      return Status::Ok();
    case DataType::kInvalid:
      break;
  }
  return InvalidArgument("tensor '" + t.name + "': unsupported dtype");
}

Status Walk(const json& v, core::Tensor& t, const std::vector<int64_t>& shape, size_t depth) {
  if (depth == shape.size()) {
    if (v.is_array()) {
      return InvalidArgument("tensor '" + t.name + "': ragged nested array (too deep at depth " +
                             std::to_string(depth) + ")");
    }
    return PutElement(t, v);
  }
  if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[depth]) {
    return InvalidArgument("tensor '" + t.name + "': ragged nested array: expected " +
                           std::to_string(shape[depth]) + " elements at depth " +
                           std::to_string(depth));
  }
  if (depth + 1 == shape.size() && t.dtype == DataType::kFloat32) {
    // Hot path: the innermost float32 row.
    const size_t at = t.data.size();
    t.data.resize(at + v.size() * sizeof(float));
    float* out = reinterpret_cast<float*>(t.data.data() + at);
    for (const json& e : v) {
      if (!e.is_number()) {
        t.data.resize(at);
        return ElementError(t, "number", e);
      }
      *out++ = static_cast<float>(e.get<double>());
    }
    return Status::Ok();
  }
  for (const json& e : v) MLOS_RETURN_IF_ERROR(Walk(e, t, shape, depth + 1));
  return Status::Ok();
}

template <typename T>
void WriteInts(JsonWriter& w, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    if constexpr (std::is_signed_v<T>) {
      w.Int(v);
    } else {
      w.UInt(v);
    }
  }
}

}  // namespace

Status DecodeJsonTensorData(const json& value, core::Tensor& t, std::vector<int64_t>& shape) {
  shape.clear();
  const json* cur = &value;
  while (cur->is_array()) {
    shape.push_back(static_cast<int64_t>(cur->size()));
    if (cur->empty()) break;
    cur = &(*cur)[0];
  }
  const int64_t count = core::ElementCount(shape);
  if (t.dtype == DataType::kString) {
    t.strings.reserve(t.strings.size() + static_cast<size_t>(count > 0 ? count : 0));
  } else {
    t.data.reserve(t.data.size() + static_cast<size_t>(count > 0 ? count : 0) *
                                       core::DataTypeSize(t.dtype));
  }
  if (shape.empty()) return PutElement(t, value);
  if (count == 0) {
    // An empty array somewhere: every sibling must be empty too; nothing to convert.
    return Status::Ok();
  }
  return Walk(value, t, shape, 0);
}

Result<std::vector<int64_t>> InferFlatShape(const std::vector<int64_t>& schema_shape,
                                            int64_t count, std::string_view tensor_name) {
  const std::string name(tensor_name);
  int64_t fixed = 1;
  int dynamic = 0;
  size_t last_dynamic = 0;
  for (size_t i = 0; i < schema_shape.size(); ++i) {
    if (schema_shape[i] < 0) {
      ++dynamic;
      last_dynamic = i;
    } else {
      fixed *= schema_shape[i];
    }
  }
  std::vector<int64_t> shape = schema_shape;
  if (dynamic > 1) {
    // [-1, 3, -1, -1]: which dim takes the elements is a guess; do not guess.
    return InvalidArgument("input '" + name + "': a flat array of " + std::to_string(count) +
                           " elements cannot be shaped as " + ShapeToString(schema_shape) +
                           ", which has more than one unknown dimension; send nested arrays, "
                           "or give the shape in \"input_shapes\": {\"" + name +
                           "\": [...]}");
  }
  if (dynamic == 0) {
    if (count != fixed) {
      return InvalidArgument("input '" + name + "' has " + std::to_string(count) +
                             " elements; the model expects shape " +
                             ShapeToString(schema_shape) + " (" + std::to_string(fixed) +
                             " elements)");
    }
    return shape;
  }
  if (fixed == 0) {
    if (count != 0) {
      return InvalidArgument("input '" + name + "' has " + std::to_string(count) +
                             " elements; the model expects shape " +
                             ShapeToString(schema_shape) + " (0 elements)");
    }
    for (auto& d : shape) {
      if (d < 0) d = 1;
    }
    return shape;
  }
  if (count % fixed != 0) {
    return InvalidArgument("input '" + name + "' has " + std::to_string(count) +
                           " elements, which does not fit shape " + ShapeToString(schema_shape) +
                           " (not a multiple of " + std::to_string(fixed) + ")");
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) shape[i] = i == last_dynamic ? count / fixed : 1;
  }
  return shape;
}

core::DataType GuessJsonDataType(const json& value) {
  const json* cur = &value;
  while (cur->is_array() && !cur->empty()) cur = &(*cur)[0];
  if (cur->is_boolean()) return DataType::kBool;
  if (cur->is_string()) return DataType::kString;
  return DataType::kFloat32;
}

void WriteTensorDataFlat(JsonWriter& w, const core::Tensor& t) {
  w.BeginArray();
  const uint8_t* p = t.bytes();
  const uint64_t size = core::DataTypeSize(t.dtype);
  const size_t n = size ? static_cast<size_t>(t.byte_size() / size) : 0;
  switch (t.dtype) {
    case DataType::kFloat32:
      for (size_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, p + i * 4, 4);
        w.Float(v);
      }
      break;
    case DataType::kFloat64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + i * 8, 8);
        w.Double(v);
      }
      break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + i * 2, 2);
        w.Float(t.dtype == DataType::kFloat16 ? HalfToFloat(v) : BFloat16ToFloat(v));
      }
      break;
    case DataType::kInt8: WriteInts<int8_t>(w, p, n); break;
    case DataType::kInt16: WriteInts<int16_t>(w, p, n); break;
    case DataType::kInt32: WriteInts<int32_t>(w, p, n); break;
    case DataType::kInt64: WriteInts<int64_t>(w, p, n); break;
    case DataType::kUInt8: WriteInts<uint8_t>(w, p, n); break;
    case DataType::kUInt16: WriteInts<uint16_t>(w, p, n); break;
    case DataType::kUInt32: WriteInts<uint32_t>(w, p, n); break;
    case DataType::kUInt64: WriteInts<uint64_t>(w, p, n); break;
    case DataType::kBool:
      for (size_t i = 0; i < n; ++i) w.Bool(p[i] != 0);
      break;
    case DataType::kString:
      for (const std::string& s : t.strings) w.String(s);
      break;
    case DataType::kInvalid:
      break;
  }
  w.EndArray();
}

}  // namespace mlos::http
