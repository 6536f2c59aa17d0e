// JSON tensors and tensor files (.npy / .json) on disk.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "client/tensor_file.h"
#include "wire/float16.h"

namespace mlos::client {
namespace {

using nlohmann::json;

// Flattens nested arrays into `flat`, recording the shape (checked rectangular).
Status Flatten(const json& v, size_t depth, std::vector<int64_t>& shape,
               std::vector<const json*>& flat, const std::string& name) {
  if (v.is_array()) {
    if (depth == shape.size()) {
      if (!flat.empty()) return InvalidArgument("input '" + name + "': ragged nested array");
      shape.push_back(static_cast<int64_t>(v.size()));
    } else if (depth > shape.size() || shape[depth] != static_cast<int64_t>(v.size())) {
      return InvalidArgument("input '" + name + "': ragged nested array");
    }
    for (const json& e : v) MLOS_RETURN_IF_ERROR(Flatten(e, depth + 1, shape, flat, name));
    return Status::Ok();
  }
  if (depth != shape.size()) return InvalidArgument("input '" + name + "': ragged nested array");
  flat.push_back(&v);
  return Status::Ok();
}

std::string Guess(const std::vector<const json*>& flat) {
  bool any_float = false, all_bool = !flat.empty(), any_string = false;
  for (const json* v : flat) {
    any_float |= v->is_number_float();
    all_bool &= v->is_boolean();
    any_string |= v->is_string();
  }
  if (any_string) return "string";
  if (all_bool) return "bool";
  if (any_float || flat.empty()) return "float32";
  return "int64";
}

template <typename T>
void Append(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}

Status Encode(const json& v, const std::string& dtype, Tensor& t) {
  if (dtype == "string") {
    if (!v.is_string()) return InvalidArgument("input '" + t.name + "': expected strings");
    t.strings.push_back(v.get<std::string>());
    return Status::Ok();
  }
  if (dtype == "bool") {
    if (v.is_boolean()) t.data.push_back(v.get<bool>() ? 1 : 0);
    else if (v.is_number()) t.data.push_back(v.get<double>() != 0 ? 1 : 0);
    else return InvalidArgument("input '" + t.name + "': expected booleans");
    return Status::Ok();
  }
  if (!v.is_number() && !v.is_boolean()) {
    return InvalidArgument("input '" + t.name + "': expected numbers, got " + v.type_name());
  }
  const double d = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
  const bool integral = dtype.starts_with("int") || dtype.starts_with("uint");
  if (integral && (v.is_number_float() && d != std::floor(d))) {
    return InvalidArgument("input '" + t.name + "': " + v.dump() + " is not an integer (" +
                           dtype + ")");
  }
  // A whole double beyond the 64-bit integer it is read as (converting it would be undefined).
  if (integral && v.is_number_float() &&
      (dtype.starts_with("uint") ? !(d >= 0 && d < 0x1p64) : !(d >= -0x1p63 && d < 0x1p63))) {
    return InvalidArgument("input '" + t.name + "': " + v.dump() + " is out of range (" + dtype +
                           ")");
  }
  if (dtype == "float32") Append(t.data, static_cast<float>(d));
  else if (dtype == "float64") Append(t.data, d);
  else if (dtype == "float16") Append(t.data, wire::FloatToHalf(static_cast<float>(d)));
  else if (dtype == "bfloat16") Append(t.data, wire::FloatToBFloat16(static_cast<float>(d)));
  else if (dtype == "int8") Append(t.data, static_cast<int8_t>(v.get<int64_t>()));
  else if (dtype == "int16") Append(t.data, static_cast<int16_t>(v.get<int64_t>()));
  else if (dtype == "int32") Append(t.data, static_cast<int32_t>(v.get<int64_t>()));
  else if (dtype == "int64") Append(t.data, v.get<int64_t>());
  else if (dtype == "uint8") Append(t.data, static_cast<uint8_t>(v.get<uint64_t>()));
  else if (dtype == "uint16") Append(t.data, static_cast<uint16_t>(v.get<uint64_t>()));
  else if (dtype == "uint32") Append(t.data, static_cast<uint32_t>(v.get<uint64_t>()));
  else if (dtype == "uint64") Append(t.data, v.get<uint64_t>());
  else return InvalidArgument("input '" + t.name + "': unknown dtype '" + dtype + "'");
  return Status::Ok();
}

}  // namespace

Result<Tensor> DecodeJsonTensor(std::string_view text, std::string name,
                                std::string_view dtype_hint) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("input '" + name + "': malformed JSON");
  Tensor t;
  t.name = std::move(name);
  std::string dtype(dtype_hint);
  const json* data = &doc;
  std::optional<std::vector<int64_t>> declared_shape;
  if (doc.is_object()) {
    if (!doc.contains("data")) {
      return InvalidArgument("input '" + t.name + "': a JSON object needs \"data\" (and "
                             "optionally \"shape\", \"dtype\")");
    }
    data = &doc["data"];
    if (doc.contains("dtype")) {
      if (!doc["dtype"].is_string()) return InvalidArgument("input '" + t.name + "': dtype must be a string");
      dtype = doc["dtype"].get<std::string>();
    }
    if (doc.contains("shape")) {
      const json& s = doc["shape"];
      if (!s.is_array()) return InvalidArgument("input '" + t.name + "': shape must be an array");
      std::vector<int64_t> shape;
      for (const json& d : s) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0) {
          return InvalidArgument("input '" + t.name + "': shape dims must be non-negative integers");
        }
        shape.push_back(d.get<int64_t>());
      }
      declared_shape = std::move(shape);
    }
  }
  std::vector<int64_t> shape;
  std::vector<const json*> flat;
  MLOS_RETURN_IF_ERROR(Flatten(*data, 0, shape, flat, t.name));
  if (dtype.empty()) dtype = Guess(flat);
  if (!IsKnownDtype(dtype)) return InvalidArgument("input '" + t.name + "': unknown dtype '" + dtype + "'");
  t.dtype = dtype;
  if (declared_shape) {
    const int64_t n = ElementCount(*declared_shape);
    if (n != static_cast<int64_t>(flat.size())) {
      return InvalidArgument("input '" + t.name + "': shape needs " + std::to_string(n) +
                             " elements, data has " + std::to_string(flat.size()));
    }
    t.shape = *declared_shape;
  } else {
    t.shape = shape;
  }
  for (const json* v : flat) MLOS_RETURN_IF_ERROR(Encode(*v, dtype, t));
  return t;
}

Result<Tensor> ReadTensorFile(const std::filesystem::path& path, std::string name,
                              std::string_view dtype_hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string ext = path.extension().string();
  if (ext == ".npy") {
    auto t = DecodeNpy(bytes, std::move(name));
    if (!t.ok()) return t.status().WithPrefix(path.string());
    return t;
  }
  if (ext == ".json") {
    auto t = DecodeJsonTensor(bytes, std::move(name), dtype_hint);
    if (!t.ok()) return t.status().WithPrefix(path.string());
    return t;
  }
  return InvalidArgument(path.string() + ": unknown tensor file type (use .npy or .json)");
}

Status WriteNpyFile(const std::filesystem::path& path, const Tensor& t) {
  MLOS_ASSIGN_OR_RETURN(std::string bytes, EncodeNpy(t));
  const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Internal("cannot write " + tmp.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Internal("cannot rename to " + path.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace mlos::client
