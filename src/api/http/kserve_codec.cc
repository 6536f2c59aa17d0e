#include "api/http/kserve_codec.h"

#include "wire/bytes_codec.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "api/http/tensor_json.h"

namespace mlos::http {
namespace {

using nlohmann::json;

Status FieldError(const std::string& where, const std::string& what) {
  return InvalidArgument(where + ": " + what);
}

Result<std::optional<uint64_t>> BinarySize(const json& params, const std::string& where) {
  if (params.is_null()) return std::optional<uint64_t>();
  if (!params.is_object()) return FieldError(where + ".parameters", "must be an object");
  auto it = params.find("binary_data_size");
  if (it == params.end()) return std::optional<uint64_t>();
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return FieldError(where + ".parameters.binary_data_size", "must be a non-negative integer");
  }
  return std::optional<uint64_t>(it->get<uint64_t>());
}

Result<uint64_t> NonNegative(const json& v, const std::string& where) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return FieldError(where, "must be a non-negative integer");
  }
  return v.get<uint64_t>();
}

// parameters.shared_memory_{region,offset,byte_size}, when the region is given.
Result<std::optional<KServeShmRef>> ShmParams(const json& params, const std::string& where) {
  if (!params.is_object()) return std::optional<KServeShmRef>();
  auto region = params.find("shared_memory_region");
  if (region == params.end()) {
    if (params.contains("shared_memory_byte_size") || params.contains("shared_memory_offset")) {
      return FieldError(where + ".parameters.shared_memory_region", "missing");
    }
    return std::optional<KServeShmRef>();
  }
  if (!region->is_string() || region->get_ref<const std::string&>().empty()) {
    return FieldError(where + ".parameters.shared_memory_region", "must be a non-empty string");
  }
  KServeShmRef ref;
  ref.region = region->get<std::string>();
  auto size = params.find("shared_memory_byte_size");
  if (size == params.end()) {
    return FieldError(where + ".parameters.shared_memory_byte_size", "missing");
  }
  MLOS_ASSIGN_OR_RETURN(ref.byte_size,
                        NonNegative(*size, where + ".parameters.shared_memory_byte_size"));
  if (auto off = params.find("shared_memory_offset"); off != params.end()) {
    MLOS_ASSIGN_OR_RETURN(ref.offset,
                          NonNegative(*off, where + ".parameters.shared_memory_offset"));
  }
  return std::optional<KServeShmRef>(std::move(ref));
}

Status DecodeBinaryInput(core::Tensor& t, std::string_view bytes, int64_t count) {
  if (t.dtype == core::DataType::kString) return wire::DecodeBytesElements(bytes, t.name, count, t.shape, &t.strings);
  const uint64_t want = static_cast<uint64_t>(count) * core::DataTypeSize(t.dtype);
  if (bytes.size() != want) {
    return InvalidArgument("tensor '" + t.name + "': binary_data_size " +
                           std::to_string(bytes.size()) + " does not match shape " +
                           ShapeToString(t.shape) + " of " + core::DataTypeKServeName(t.dtype) +
                           " (" + std::to_string(want) + " bytes)");
  }
  const uint64_t align = core::DataTypeSize(t.dtype);
  if (align > 1 && reinterpret_cast<uintptr_t>(bytes.data()) % align != 0) {
    // Misaligned for its element type (the JSON header's length decides): copy.
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    t.data.assign(p, p + bytes.size());  // uint8_t to uint8_t: one memmove
    return Status::Ok();
  }
  t.external = bytes.data();
  t.external_size = bytes.size();
  return Status::Ok();
}

Result<core::Tensor> ParseInput(const json& in, size_t index, std::string_view binary,
                                size_t& binary_pos, std::optional<KServeShmRef>& shm) {
  std::string where = "inputs[" + std::to_string(index) + "]";
  if (!in.is_object()) return FieldError(where, "must be an object");
  core::Tensor t;
  auto name = in.find("name");
  if (name == in.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return FieldError(where + ".name", "missing or not a non-empty string");
  }
  t.name = name->get<std::string>();
  where = "input '" + t.name + "'";
  auto dt = in.find("datatype");
  if (dt == in.end() || !dt->is_string()) {
    return FieldError(where + ".datatype", "missing or not a string");
  }
  auto dtype = core::DataTypeFromKServeName(dt->get_ref<const std::string&>());
  if (!dtype) {
    return FieldError(where + ".datatype", "unknown datatype '" + dt->get<std::string>() + "'");
  }
  t.dtype = *dtype;
  auto shape = in.find("shape");
  if (shape == in.end() || !shape->is_array()) {
    return FieldError(where + ".shape", "missing or not an array");
  }
  t.shape.reserve(shape->size());
  for (const json& d : *shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return FieldError(where + ".shape", "dims must be non-negative integers");
    }
    t.shape.push_back(d.get<int64_t>());
  }
  const int64_t count = core::ElementCount(t.shape);
  if (count < 0) return FieldError(where + ".shape", "too many elements");
  auto params = in.find("parameters");
  MLOS_ASSIGN_OR_RETURN(std::optional<uint64_t> bin,
                        BinarySize(params == in.end() ? json() : *params, where));
  auto data = in.find("data");
  MLOS_ASSIGN_OR_RETURN(shm, ShmParams(params == in.end() ? json() : *params, where));
  if (shm) {
    if (data != in.end() || bin) {
      return FieldError(where, "has shared_memory_region and data or binary_data_size");
    }
    return t;
  }
  if (bin) {
    if (data != in.end()) return FieldError(where, "has both data and binary_data_size");
    if (binary.size() - binary_pos < *bin) {
      return FieldError(where + ".parameters.binary_data_size",
                        std::to_string(*bin) + " bytes, but only " +
                            std::to_string(binary.size() - binary_pos) +
                            " binary bytes remain in the body");
    }
    MLOS_RETURN_IF_ERROR(DecodeBinaryInput(t, binary.substr(binary_pos, *bin), count));
    binary_pos += *bin;
    return t;
  }
  if (data == in.end()) return FieldError(where + ".data", "missing");
  std::vector<int64_t> nested;
  MLOS_RETURN_IF_ERROR(DecodeJsonTensorData(*data, t, nested));
  const int64_t got = core::ElementCount(nested);
  if (got != count) {
    return FieldError(where + ".data", "has " + std::to_string(got) + " elements, shape " +
                                           ShapeToString(t.shape) + " needs " +
                                           std::to_string(count));
  }
  return t;
}

void WriteOneBinary(const core::Tensor& t, std::string& tail) {
  if (t.dtype == core::DataType::kString) {
    wire::AppendBytesElements(t.strings, tail);
    return;
  }
  tail.append(reinterpret_cast<const char*>(t.bytes()), t.byte_size());
}

uint64_t BinarySizeOf(const core::Tensor& t) {
  if (t.dtype != core::DataType::kString) return t.byte_size();
  uint64_t n = 0;
  for (const std::string& s : t.strings) n += 4 + s.size();
  return n;
}

}  // namespace

Result<KServeInferRequest> ParseKServeInferRequest(std::string_view body,
                                                   std::optional<uint64_t> header_length) {
  std::string_view header = body;
  std::string_view binary;
  if (header_length) {
    if (*header_length > body.size()) {
      return InvalidArgument("Inference-Header-Content-Length " + std::to_string(*header_length) +
                             " exceeds the body size " + std::to_string(body.size()));
    }
    header = body.substr(0, *header_length);
    binary = body.substr(*header_length);
  }
  json doc = json::parse(header.begin(), header.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the inference request");
  if (!doc.is_object()) return InvalidArgument("the inference request must be a JSON object");
  KServeInferRequest req;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_string()) return FieldError("id", "must be a string");
    req.id = id->get<std::string>();
  }
  if (auto p = doc.find("parameters"); p != doc.end()) {
    if (!p->is_object()) return FieldError("parameters", "must be an object");
    if (auto b = p->find("binary_data_output"); b != p->end()) {
      if (!b->is_boolean()) return FieldError("parameters.binary_data_output", "must be a boolean");
      req.binary_output_default = b->get<bool>();
    }
    MLOS_RETURN_IF_ERROR(api::ParseJsonParameters(*p, req.options));
  }
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array()) {
    return FieldError("inputs", "missing or not an array");
  }
  size_t binary_pos = 0;
  req.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    std::optional<KServeShmRef> shm;
    MLOS_ASSIGN_OR_RETURN(core::Tensor t, ParseInput((*inputs)[i], i, binary, binary_pos, shm));
    for (const core::Tensor& prev : req.inputs) {
      if (prev.name == t.name) return FieldError("input '" + t.name + "'", "given twice");
    }
    req.inputs.push_back(std::move(t));
    req.input_shm.push_back(std::move(shm));
  }
  if (binary_pos != binary.size()) {
    return InvalidArgument(std::to_string(binary.size() - binary_pos) +
                           " bytes of binary data follow the JSON header that no input claims");
  }
  if (auto outs = doc.find("outputs"); outs != doc.end()) {
    if (!outs->is_array()) return FieldError("outputs", "must be an array");
    for (size_t i = 0; i < outs->size(); ++i) {
      const json& o = (*outs)[i];
      const std::string where = "outputs[" + std::to_string(i) + "]";
      if (!o.is_object()) return FieldError(where, "must be an object");
      auto name = o.find("name");
      if (name == o.end() || !name->is_string()) {
        return FieldError(where + ".name", "missing or not a string");
      }
      KServeOutputSpec spec;
      spec.name = name->get<std::string>();
      if (auto p = o.find("parameters"); p != o.end()) {
        if (!p->is_object()) return FieldError(where + ".parameters", "must be an object");
        if (auto b = p->find("binary_data"); b != p->end()) {
          if (!b->is_boolean()) {
            return FieldError(where + ".parameters.binary_data", "must be a boolean");
          }
          spec.binary = b->get<bool>();
        }
        MLOS_ASSIGN_OR_RETURN(spec.shm, ShmParams(*p, where));
      }
      req.outputs.push_back(std::move(spec));
    }
  }
  return req;
}

uint64_t KServeBinaryOutputBytes(const KServeInferRequest& request,
                                 const core::InferResponse& response) {
  uint64_t n = 0;
  for (const core::Tensor& t : response.outputs) {
    bool binary = request.binary_output_default;
    for (const KServeOutputSpec& s : request.outputs) {
      if (s.name == t.name && s.binary) binary = *s.binary;
      if (s.name == t.name && s.shm) binary = false;
    }
    if (binary) n += BinarySizeOf(t);
  }
  return n;
}

void EncodeKServeInferResponse(const KServeInferRequest& request,
                               const core::InferResponse& response, std::string& out,
                               uint64_t* header_length, std::vector<std::string_view>* tail_views,
                               std::vector<std::string>* blobs) {
  if (tail_views && blobs) {
    blobs->clear();
    blobs->reserve(response.outputs.size());  // views into them stay valid
  }
  std::string tail;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("model_name");
  w.String(response.model_name);
  w.Key("model_version");
  w.String(response.model_version);
  if (!request.id.empty()) {
    w.Key("id");
    w.String(request.id);
  }
  w.Key("outputs");
  w.BeginArray();
  for (const core::Tensor& t : response.outputs) {
    bool binary = request.binary_output_default;
    const KServeShmRef* shm = nullptr;
    for (const KServeOutputSpec& s : request.outputs) {
      if (s.name == t.name && s.binary) binary = *s.binary;
      if (s.name == t.name && s.shm) shm = &*s.shm;
    }
    w.BeginObject();
    w.Key("name");
    w.String(t.name);
    w.Key("datatype");
    w.String(core::DataTypeKServeName(t.dtype));
    w.Key("shape");
    WriteShape(w, t.shape);
    if (shm) {
      // The bytes are in the region the request named; the answer carries neither data nor
      // parameters, as Triton's does: Triton's C++ HTTP client (perf_analyzer) refuses an
      // output whose parameters lack binary_data_size, and the protocol asks for neither.
    } else if (binary) {
      w.Key("parameters");
      w.BeginObject();
      w.Key("binary_data_size");
      w.UInt(BinarySizeOf(t));
      w.EndObject();
      if (tail_views && blobs) {
        if (t.dtype == core::DataType::kString) {
          wire::AppendBytesElements(t.strings, blobs->emplace_back());
          tail_views->push_back(blobs->back());
        } else {
          tail_views->emplace_back(reinterpret_cast<const char*>(t.bytes()), t.byte_size());
        }
      } else {
        WriteOneBinary(t, tail);
      }
    } else {
      w.Key("data");
      WriteTensorDataFlat(w, t);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  *header_length = 0;
  bool any_binary = false;
  for (const core::Tensor& t : response.outputs) {
    bool binary = request.binary_output_default;
    for (const KServeOutputSpec& s : request.outputs) {
      if (s.name == t.name && s.binary) binary = *s.binary;
      if (s.name == t.name && s.shm) binary = false;
    }
    any_binary |= binary;
  }
  if (any_binary) {
    *header_length = out.size();
    out += tail;
  }
}

}  // namespace mlos::http
