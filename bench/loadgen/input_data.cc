#include "input_data.h"

#include <cctype>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mlos::bench {
namespace {

using nlohmann::json;

constexpr int64_t kMaxElements = int64_t{1} << 40;

[[noreturn]] void Throw(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

// One line: control characters (a parse error may quote the file) become spaces.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

// A JSON value as it reads in a message, cut short.
std::string Quote(const json& j) {
  std::string s = j.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return OneLine(s);
}

const char* TypeName(const json& j) {
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  return j.is_null() ? "null" : "a number";
}

std::string IndexText(const std::vector<size_t>& index) {
  std::string s = "data";
  for (size_t i : index) s += "[" + std::to_string(i) + "]";
  return s;
}

template <typename T>
void Put(std::vector<uint8_t>& bytes, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  bytes.insert(bytes.end(), b, b + sizeof(T));
}

// Appends the value `v` to `g`'s values; "", or why it cannot ("300 is out of INT8's range").
std::string Append(GivenTensor& g, const json& v) {
  const Dtype& t = *g.dtype;
  if (IsBytes(t)) {
    if (!v.is_string()) return Quote(v) + " is not a string (BYTES)";
    g.strings.push_back(v.get<std::string>());
    return "";
  }
  if (t.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL) {
    if (v.is_boolean()) {
      g.bytes.push_back(v.get<bool>() ? 1 : 0);
    } else if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
      g.bytes.push_back(static_cast<uint8_t>(v.get<int64_t>()));
    } else {
      return Quote(v) + " is not true or false (BOOL)";
    }
    return "";
  }
  if (IsFloat(t)) {
    if (!v.is_number()) return Quote(v) + " is not a number (" + t.kserve + ")";
    const double d = v.get<double>();
    if (t.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE) {
      Put(g.bytes, d);
      return "";
    }
    if (std::fabs(d) <= FLT_MAX) {
      const float f = static_cast<float>(d);
      if (t.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
        Put(g.bytes, f);
        return "";
      }
      const bool half = t.onnx == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
      const uint16_t h = half ? FloatToHalf(f) : FloatToBFloat16(f);
      if ((h & (half ? 0x7C00 : 0x7F80)) != (half ? 0x7C00 : 0x7F80)) {  // not rounded to inf
        Put(g.bytes, h);
        return "";
      }
    }
    return Quote(v) + " is out of " + t.kserve + "'s range";
  }
  // Integers: no fraction, within the type's range.
  if (!v.is_number_integer()) return Quote(v) + " is not an integer (" + t.kserve + ")";
  const bool is_signed = t.kserve[0] == 'I';
  const int bits = static_cast<int>(t.size) * 8;
  bool fits;
  uint64_t raw;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    const uint64_t max = is_signed ? (uint64_t{1} << (bits - 1)) - 1
                                   : bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
    fits = u <= max;
    raw = u;
  } else {
    const int64_t s = v.get<int64_t>();
    const int64_t min = !is_signed ? 0 : bits == 64 ? INT64_MIN : -(int64_t{1} << (bits - 1));
    fits = s >= min;  // negative here: the unsigned case above has the positives
    raw = static_cast<uint64_t>(s);
  }
  if (!fits) return Quote(v) + " is out of " + t.kserve + "'s range";
  uint8_t b[8];
  std::memcpy(b, &raw, 8);  // little endian: the low bytes are the value
  g.bytes.insert(g.bytes.end(), b, b + t.size);
  return "";
}

// Nested data: every level an array of the shape's length there, values at the last level.
void AppendNested(GivenTensor& g, const json& j, std::vector<size_t>& index) {
  const size_t depth = index.size();
  if (depth == g.shape.size()) {
    if (j.is_array()) {
      Throw(g.where, IndexText(index) + " is an array, but shape " + ShapeText(g.shape) +
                         " has " + std::to_string(g.shape.size()) + " dims");
    }
    const std::string err = Append(g, j);
    if (!err.empty()) Throw(g.where, IndexText(index) + ": " + err);
    return;
  }
  if (!j.is_array() || j.size() != static_cast<size_t>(g.shape[depth])) {
    Throw(g.where, IndexText(index) + " has " +
                       (j.is_array() ? std::to_string(j.size()) + " elements" : TypeName(j)) +
                       ", shape " + ShapeText(g.shape) + " wants " +
                       std::to_string(g.shape[depth]) + " at dim " + std::to_string(depth) +
                       " (or give the values flat)");
  }
  index.push_back(0);
  for (const json& e : j) {
    AppendNested(g, e, index);
    ++index.back();
  }
  index.pop_back();
}

GivenTensor ParseInput(const json& in, const std::string& file, size_t i) {
  GivenTensor g;
  g.where = "--input-data " + file + ": inputs[" + std::to_string(i) + "]";
  if (!in.is_object()) Throw(g.where, std::string("is ") + TypeName(in) + ", not an object");
  auto name = in.find("name");
  if (name == in.end() || !name->is_string() || name->get<std::string>().empty()) {
    Throw(g.where, "\"name\" must be a non-empty string");
  }
  g.name = name->get<std::string>();
  g.where += " ('" + g.name + "')";
  auto datatype = in.find("datatype");
  if (datatype == in.end() || !datatype->is_string()) {
    Throw(g.where, "\"datatype\" must be a string (" + KServeDatatypes() + ")");
  }
  g.dtype = DtypeOfKServe(datatype->get<std::string>());
  if (!g.dtype) {
    Throw(g.where, "\"datatype\" " + Quote(*datatype) + " is not one of " + KServeDatatypes());
  }
  auto shape = in.find("shape");
  if (shape == in.end() || !shape->is_array()) {
    Throw(g.where, "\"shape\" must be an array of dims ([] for a 0-d tensor)");
  }
  int64_t count = 1;
  for (size_t d = 0; d < shape->size(); ++d) {
    const json& dim = (*shape)[d];
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
      Throw(g.where, "shape[" + std::to_string(d) + "] is " + Quote(dim) +
                         ", dims must be integers >= 0");
    }
    g.shape.push_back(dim.get<int64_t>());
    if (g.shape.back() > 0 && count > kMaxElements / g.shape.back()) {
      Throw(g.where, "shape " + Quote(*shape) + " is too large");
    }
    count *= g.shape.back();
  }
  auto data = in.find("data");
  if (data == in.end()) {
    Throw(g.where, in.contains("parameters")
                       ? "no \"data\" (binary data and shared memory are not read from the file)"
                       : "no \"data\"");
  }
  if (!IsBytes(*g.dtype)) g.bytes.reserve(static_cast<size_t>(count) * g.dtype->size);
  const bool nested = data->is_array() && !data->empty() && (*data)[0].is_array();
  if (!data->is_array() && g.shape.empty()) {  // a bare value for a 0-d tensor
    const std::string err = Append(g, *data);
    if (!err.empty()) Throw(g.where, "data: " + err);
  } else if (!data->is_array()) {
    Throw(g.where, std::string("\"data\" is ") + TypeName(*data) + ", not an array");
  } else if (nested) {
    std::vector<size_t> index;
    AppendNested(g, *data, index);
  } else {
    if (data->size() != static_cast<size_t>(count)) {
      Throw(g.where, "\"data\" has " + std::to_string(data->size()) + " values, shape " +
                         ShapeText(g.shape) + " has " + std::to_string(count));
    }
    std::vector<size_t> index(1, 0);
    for (const json& v : *data) {
      if (v.is_array()) {
        Throw(g.where, IndexText(index) + " is an array, but data[0] is not (flat or nested, "
                                          "not both)");
      }
      const std::string err = Append(g, v);
      if (!err.empty()) Throw(g.where, IndexText(index) + ": " + err);
      ++index[0];
    }
  }
  return g;
}

}  // namespace

InputData LoadInputData(const std::string& path) {
  const std::string where = "--input-data " + path;
  std::ifstream f(path, std::ios::binary);
  if (!f) Throw(where, std::string("cannot read it: ") + std::strerror(errno));
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) Throw(where, std::string("cannot read it: ") + std::strerror(errno));
  json body;
  try {
    body = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    std::string msg = e.what();  // "[json.exception.parse_error.101] parse error at line ..."
    if (msg.starts_with("[json.exception.")) msg = msg.substr(msg.find("] ") + 2);
    Throw(where, "not valid JSON: " + OneLine(msg));
  }
  if (!body.is_object()) {
    Throw(where, std::string("the body is ") + TypeName(body) +
                     ", not an inference request object {\"inputs\": [...]}");
  }
  auto inputs = body.find("inputs");
  if (inputs == body.end() || !inputs->is_array()) {
    Throw(where, "\"inputs\" must be an array of {\"name\", \"shape\", \"datatype\", \"data\"}");
  }
  InputData out;
  out.path = path;
  for (size_t i = 0; i < inputs->size(); ++i) {
    GivenTensor g = ParseInput((*inputs)[i], path, i);
    for (const GivenTensor& prev : out.inputs) {
      if (prev.name == g.name) Throw(g.where, "input '" + g.name + "' is given twice");
    }
    out.inputs.push_back(std::move(g));
  }
  if (auto outputs = body.find("outputs"); outputs != body.end()) {
    if (!outputs->is_array()) Throw(where, "\"outputs\" must be an array of {\"name\"}");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const json& o = (*outputs)[i];
      const std::string at = where + ": outputs[" + std::to_string(i) + "]";
      auto name = o.is_object() ? o.find("name") : o.end();
      if (!o.is_object() || name == o.end() || !name->is_string() ||
          name->get<std::string>().empty()) {
        Throw(at, "must be an object with a non-empty \"name\"");
      }
      for (const std::string& prev : out.outputs) {
        if (prev == name->get<std::string>()) Throw(at, "output '" + prev + "' is named twice");
      }
      out.outputs.push_back(name->get<std::string>());
    }
  }
  return out;
}

ShapeFlag ParseShapeFlag(const std::string& value) {
  const size_t eq = value.rfind('=');
  if (eq == std::string::npos || eq == 0) {
    throw std::runtime_error("--shape expects NAME=d0,d1,... (NAME= for a 0-d tensor), got '" +
                             value + "'");
  }
  ShapeFlag s;
  s.name = value.substr(0, eq);
  const std::string dims = value.substr(eq + 1);
  for (size_t pos = 0; !dims.empty();) {  // "" is a 0-d tensor
    const size_t comma = dims.find(',', pos);
    const std::string d = dims.substr(pos, comma == std::string::npos ? comma : comma - pos);
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || !std::isdigit(static_cast<unsigned char>(d[0])) || *end != '\0' ||
        errno == ERANGE) {
      throw std::runtime_error("--shape " + value + ": dim '" + d +
                               "' is not an integer >= 0 (NAME=d0,d1,...)");
    }
    s.shape.push_back(n);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return s;
}

}  // namespace mlos::bench
