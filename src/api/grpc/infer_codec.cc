#include "api/grpc/infer_codec.h"

#include <cstdint>
#include <cstring>

#include "wire/bytes_codec.h"
#include "wire/dtype.h"

namespace mlos::grpcapi {
namespace {

using core::DataType;
using wire::ShapeToString;
using ParamMap = google::protobuf::Map<std::string, inference::InferParameter>;

Status FieldError(const std::string& where, const std::string& what) {
  return InvalidArgument(where + ": " + what);
}

Result<uint64_t> UIntParam(const inference::InferParameter& p, const std::string& where) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      if (p.int64_param() >= 0) return static_cast<uint64_t>(p.int64_param());
      break;
    case inference::InferParameter::kUint64Param:
      return p.uint64_param();
    default:
      break;
  }
  return FieldError(where, "must be a non-negative integer");
}

// The shared_memory_* parameters, when present.
Result<std::optional<ShmRef>> ShmParams(const ParamMap& params, const std::string& where) {
  auto region = params.find("shared_memory_region");
  if (region == params.end()) {
    if (params.count("shared_memory_offset") || params.count("shared_memory_byte_size")) {
      return FieldError(where + ".parameters.shared_memory_region", "missing");
    }
    return std::optional<ShmRef>();
  }
  if (region->second.parameter_choice_case() != inference::InferParameter::kStringParam ||
      region->second.string_param().empty()) {
    return FieldError(where + ".parameters.shared_memory_region", "must be a non-empty string");
  }
  ShmRef ref;
  ref.region = region->second.string_param();
  if (auto o = params.find("shared_memory_offset"); o != params.end()) {
    MLOS_ASSIGN_OR_RETURN(ref.offset,
                          UIntParam(o->second, where + ".parameters.shared_memory_offset"));
  }
  auto size = params.find("shared_memory_byte_size");
  if (size == params.end()) {
    return FieldError(where + ".parameters.shared_memory_byte_size", "missing");
  }
  MLOS_ASSIGN_OR_RETURN(ref.byte_size,
                        UIntParam(size->second, where + ".parameters.shared_memory_byte_size"));
  return std::optional<ShmRef>(std::move(ref));
}

// The request-level parameters api::ParseRequestParameter knows (priority, timeout,
// keep_alive); the others (binary_data_output, ...) are not this function's.
Status RequestParams(const ParamMap& params, api::RequestOptions& out) {
  if (params.empty()) return Status::Ok();
  for (const char* name : {"priority", "timeout", "keep_alive"}) {
    auto it = params.find(name);
    if (it == params.end()) continue;
    const inference::InferParameter& p = it->second;
    api::ParameterValue v;
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kInt64Param:
        v = api::ParameterValue::Int(p.int64_param());
        break;
      case inference::InferParameter::kUint64Param:
        v = api::ParameterValue::Int(
            p.uint64_param() > static_cast<uint64_t>(INT64_MAX)
                ? INT64_MAX
                : static_cast<int64_t>(p.uint64_param()));
        break;
      case inference::InferParameter::kDoubleParam:
        v = api::ParameterValue::Double(p.double_param());
        break;
      case inference::InferParameter::kStringParam:
        v = api::ParameterValue::String(p.string_param());
        break;
      case inference::InferParameter::kBoolParam:
        v = api::ParameterValue::Bool(p.bool_param());
        break;
      default:
        break;
    }
    MLOS_RETURN_IF_ERROR(api::ParseRequestParameter(name, v, out).status());
  }
  return Status::Ok();
}

// Raw bytes of a numeric tensor: referenced when aligned for the element type, else copied.
Status UseRawBytes(core::Tensor& t, const uint8_t* data, uint64_t size, int64_t count,
                   const char* what) {
  if (t.dtype == DataType::kString) {
    return wire::DecodeBytesElements(std::string_view(reinterpret_cast<const char*>(data), size),
                                     t.name, count, t.shape, &t.strings);
  }
  const uint64_t want = static_cast<uint64_t>(count) * core::DataTypeSize(t.dtype);
  if (size != want) {
    return InvalidArgument("tensor '" + t.name + "': " + what + " " + std::to_string(size) +
                           " does not match shape " + ShapeToString(t.shape) + " of " +
                           core::DataTypeKServeName(t.dtype) + " (" + std::to_string(want) +
                           " bytes)");
  }
  const uint64_t align = core::DataTypeSize(t.dtype);
  if (align > 1 && reinterpret_cast<uintptr_t>(data) % align != 0) {
    t.data.assign(data, data + size);
    return Status::Ok();
  }
  t.external = size ? data : nullptr;
  t.external_size = size;
  if (!t.external) t.data.clear();
  return Status::Ok();
}

template <typename Out, typename Field>
void CopyElements(core::Tensor& t, const Field& field) {
  t.data.resize(static_cast<size_t>(field.size()) * sizeof(Out));
  Out* dst = reinterpret_cast<Out*>(t.data.data());
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Out>(field.Get(i));
}

Status DecodeContents(core::Tensor& t, const inference::InferTensorContents& c, int64_t count,
                      const std::string& where) {
  int64_t got = 0;
  switch (t.dtype) {
    case DataType::kFloat32:
      got = c.fp32_contents_size();
      t.data.resize(static_cast<size_t>(got) * 4);
      if (got) std::memcpy(t.data.data(), c.fp32_contents().data(), t.data.size());
      break;
    case DataType::kFloat64:
      got = c.fp64_contents_size();
      t.data.resize(static_cast<size_t>(got) * 8);
      if (got) std::memcpy(t.data.data(), c.fp64_contents().data(), t.data.size());
      break;
    case DataType::kInt8:
      got = c.int_contents_size();
      CopyElements<int8_t>(t, c.int_contents());
      break;
    case DataType::kInt16:
      got = c.int_contents_size();
      CopyElements<int16_t>(t, c.int_contents());
      break;
    case DataType::kInt32:
      got = c.int_contents_size();
      CopyElements<int32_t>(t, c.int_contents());
      break;
    case DataType::kInt64:
      got = c.int64_contents_size();
      CopyElements<int64_t>(t, c.int64_contents());
      break;
    case DataType::kUInt8:
      got = c.uint_contents_size();
      CopyElements<uint8_t>(t, c.uint_contents());
      break;
    case DataType::kUInt16:
      got = c.uint_contents_size();
      CopyElements<uint16_t>(t, c.uint_contents());
      break;
    case DataType::kUInt32:
      got = c.uint_contents_size();
      CopyElements<uint32_t>(t, c.uint_contents());
      break;
    case DataType::kUInt64:
      got = c.uint64_contents_size();
      CopyElements<uint64_t>(t, c.uint64_contents());
      break;
    case DataType::kBool:
      got = c.bool_contents_size();
      CopyElements<uint8_t>(t, c.bool_contents());
      break;
    case DataType::kString:
      got = c.bytes_contents_size();
      t.strings.assign(c.bytes_contents().begin(), c.bytes_contents().end());
      break;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return FieldError(where, std::string(core::DataTypeKServeName(t.dtype)) +
                                   " data must be given in raw_input_contents");
    case DataType::kInvalid:
      return FieldError(where + ".datatype", "invalid");
  }
  if (got != count) {
    return FieldError(where + ".contents", "has " + std::to_string(got) + " elements, shape " +
                                               ShapeToString(t.shape) + " needs " +
                                               std::to_string(count));
  }
  return Status::Ok();
}

bool HasContents(const inference::InferTensorContents& c) {
  return c.bool_contents_size() || c.int_contents_size() || c.int64_contents_size() ||
         c.uint_contents_size() || c.uint64_contents_size() || c.fp32_contents_size() ||
         c.fp64_contents_size() || c.bytes_contents_size();
}

bool Typeable(DataType t) {
  return t != DataType::kFloat16 && t != DataType::kBFloat16;
}

void AppendRaw(const core::Tensor& t, std::string* out) {
  if (t.dtype == DataType::kString) {
    wire::AppendBytesElements(t.strings, *out);
    return;
  }
  out->assign(reinterpret_cast<const char*>(t.bytes()), t.byte_size());
}

template <typename T, typename Field>
void AddElements(const core::Tensor& t, Field* field) {
  const size_t n = t.byte_size() / sizeof(T);
  field->Reserve(static_cast<int>(n));
  const uint8_t* p = t.bytes();
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    field->AddAlreadyReserved(v);
  }
}

void FillContents(const core::Tensor& t, inference::InferTensorContents* c) {
  switch (t.dtype) {
    case DataType::kFloat32:
      AddElements<float>(t, c->mutable_fp32_contents());
      break;
    case DataType::kFloat64:
      AddElements<double>(t, c->mutable_fp64_contents());
      break;
    case DataType::kInt8: {
      for (uint64_t i = 0; i < t.byte_size(); ++i) {
        c->add_int_contents(static_cast<int8_t>(t.bytes()[i]));
      }
      break;
    }
    case DataType::kInt16: {
      const size_t n = t.byte_size() / 2;
      for (size_t i = 0; i < n; ++i) {
        int16_t v;
        std::memcpy(&v, t.bytes() + i * 2, 2);
        c->add_int_contents(v);
      }
      break;
    }
    case DataType::kInt32:
      AddElements<int32_t>(t, c->mutable_int_contents());
      break;
    case DataType::kInt64:
      AddElements<int64_t>(t, c->mutable_int64_contents());
      break;
    case DataType::kUInt8:
    case DataType::kBool:
      for (uint64_t i = 0; i < t.byte_size(); ++i) {
        if (t.dtype == DataType::kBool) {
          c->add_bool_contents(t.bytes()[i] != 0);
        } else {
          c->add_uint_contents(t.bytes()[i]);
        }
      }
      break;
    case DataType::kUInt16: {
      const size_t n = t.byte_size() / 2;
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, t.bytes() + i * 2, 2);
        c->add_uint_contents(v);
      }
      break;
    }
    case DataType::kUInt32:
      AddElements<uint32_t>(t, c->mutable_uint_contents());
      break;
    case DataType::kUInt64:
      AddElements<uint64_t>(t, c->mutable_uint64_contents());
      break;
    case DataType::kString:
      for (const std::string& s : t.strings) c->add_bytes_contents(s);
      break;
    default:
      break;
  }
}

void SetShmParams(const ShmRef& ref, ParamMap* params) {
  (*params)["shared_memory_region"].set_string_param(ref.region);
  (*params)["shared_memory_offset"].set_int64_param(static_cast<int64_t>(ref.offset));
  (*params)["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(ref.byte_size));
}

// Whether the model wrote `t` into one of the raw wire form's buffers.
bool InBuffers(const ParsedInfer& parsed, const core::Tensor& t) {
  if (!t.external || t.dtype == DataType::kString) return false;
  for (const Buffer& b : parsed.buffers) {
    if (b.data() == t.external && b.size() == t.external_size) return true;
  }
  return false;
}

// The raw string `t` was written into (ownership passes to the caller), or null.
std::string* TakeRaw(ParsedInfer& parsed, const core::Tensor& t) {
  if (!t.external) return nullptr;
  for (std::unique_ptr<std::string>& r : parsed.raw) {
    if (r && r->data() == t.external && r->size() == t.external_size) return r.release();
  }
  return nullptr;
}

}  // namespace

std::string ModelIdOf(const std::string& name, const std::string& version) {
  return version.empty() ? name : name + "@" + version;
}

Status ParseModelInferRequest(const inference::ModelInferRequest& req, ParsedInfer& out,
                              const std::vector<std::string_view>* raw_contents) {
  if (req.model_name().empty()) return InvalidArgument("model name is empty");
  service::InferCall& call = out.call;
  call.model = req.model_name();
  call.version = req.model_version();
  MLOS_RETURN_IF_ERROR(RequestParams(req.parameters(), out.options));
  const int raw_count = raw_contents ? static_cast<int>(raw_contents->size())
                                     : req.raw_input_contents_size();
  int raw_index = 0;
  bool any_shm_input = false;
  std::vector<std::optional<ShmRef>> input_shm;
  call.inputs.reserve(static_cast<size_t>(req.inputs_size()));
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    if (in.name().empty()) {
      return FieldError("inputs[" + std::to_string(i) + "].name", "missing or empty");
    }
    const std::string where = "input '" + in.name() + "'";
    core::Tensor t;
    t.name = in.name();
    auto dtype = core::DataTypeFromKServeName(in.datatype());
    if (!dtype) {
      return FieldError(where + ".datatype", "unknown datatype '" + in.datatype() + "'");
    }
    t.dtype = *dtype;
    t.shape.reserve(static_cast<size_t>(in.shape_size()));
    for (int64_t d : in.shape()) {
      if (d < 0) return FieldError(where + ".shape", "dims must be non-negative integers");
      t.shape.push_back(d);
    }
    const int64_t count = core::ElementCount(t.shape);
    if (count < 0) return FieldError(where + ".shape", "too many elements");
    for (const core::Tensor& prev : call.inputs) {
      if (prev.name == t.name) return FieldError(where, "given twice");
    }
    MLOS_ASSIGN_OR_RETURN(std::optional<ShmRef> ref, ShmParams(in.parameters(), where));
    const bool contents = HasContents(in.contents());
    if (ref) {
      if (contents) return FieldError(where, "has both contents and shared_memory_region");
      any_shm_input = true;
    } else if (raw_count > 0) {
      if (contents) return FieldError(where, "has both contents and raw_input_contents");
      if (raw_index >= raw_count) {
        return InvalidArgument("raw_input_contents has " + std::to_string(raw_count) +
                               " entries, fewer than the inputs that need one");
      }
      const std::string_view raw = raw_contents
                                       ? (*raw_contents)[static_cast<size_t>(raw_index)]
                                       : std::string_view(req.raw_input_contents(raw_index));
      ++raw_index;
      MLOS_RETURN_IF_ERROR(UseRawBytes(t, reinterpret_cast<const uint8_t*>(raw.data()), raw.size(),
                                       count, "raw_input_contents size"));
    } else {
      MLOS_RETURN_IF_ERROR(DecodeContents(t, in.contents(), count, where));
    }
    input_shm.push_back(std::move(ref));
    call.inputs.push_back(std::move(t));
  }
  if (raw_index != raw_count) {
    return InvalidArgument("raw_input_contents has " + std::to_string(raw_count) + " entries for " +
                           std::to_string(raw_index) + " inputs");
  }
  if (any_shm_input) call.input_shm = std::move(input_shm);
  out.outputs.reserve(static_cast<size_t>(req.outputs_size()));
  call.outputs.reserve(static_cast<size_t>(req.outputs_size()));
  for (int i = 0; i < req.outputs_size(); ++i) {
    const auto& o = req.outputs(i);
    const std::string where = "outputs[" + std::to_string(i) + "]";
    if (o.name().empty()) return FieldError(where + ".name", "missing or empty");
    OutputSpec spec;
    spec.name = o.name();
    if (auto b = o.parameters().find("binary_data"); b != o.parameters().end()) {
      if (b->second.parameter_choice_case() != inference::InferParameter::kBoolParam) {
        return FieldError(where + ".parameters.binary_data", "must be a boolean");
      }
      spec.binary = b->second.bool_param();
    }
    MLOS_ASSIGN_OR_RETURN(spec.shm, ShmParams(o.parameters(), "output '" + o.name() + "'"));
    call.outputs.push_back({spec.name, spec.shm});
    out.outputs.push_back(std::move(spec));
  }
  call.string_outputs_to_shm = true;
  bool typed = false;  // an output asked for typed contents (binary_data=false)
  for (const OutputSpec& s : out.outputs) typed |= s.binary && !*s.binary;
  if (!typed && raw_contents) {
    // The raw wire form: the model writes each inline output into a pooled buffer the answer
    // is sent from (EncodeModelInferResponsePieces).
    call.inline_allocator = [buffers = &out.buffers](const std::string&,
                                                     uint64_t byte_size) -> void* {
      return buffers->emplace_back(byte_size).data();
    };
  } else if (!typed) {
    // The model writes each inline output into the string that becomes its
    // raw_output_contents entry (EncodeModelInferResponse moves it into the response).
    call.inline_allocator = [raw = &out.raw](const std::string&, uint64_t byte_size) -> void* {
      raw->push_back(std::make_unique<std::string>(byte_size, '\0'));
      return raw->back()->data();
    };
  }
  return Status::Ok();
}

void EncodeModelInferResponse(const inference::ModelInferRequest& req, ParsedInfer& parsed,
                              const service::InferResult& result,
                              inference::ModelInferResponse* out) {
  const core::InferResponse& response = result.response;
  out->set_model_name(response.model_name);
  out->set_model_version(response.model_version);
  if (!req.id().empty()) out->set_id(req.id());
  bool typed = false;
  for (const OutputSpec& s : parsed.outputs) typed |= s.binary && !*s.binary;
  if (typed) {
    for (const core::Tensor& t : response.outputs) typed &= Typeable(t.dtype);
  }
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const core::Tensor& t = response.outputs[i];
    auto* o = out->add_outputs();
    o->set_name(t.name);
    o->set_datatype(core::DataTypeKServeName(t.dtype));
    o->mutable_shape()->Add(t.shape.begin(), t.shape.end());
    if (i < result.output_shm.size() && result.output_shm[i]) {
      SetShmParams(*result.output_shm[i], o->mutable_parameters());
      if (!typed) out->add_raw_output_contents();  // keeps raw entries aligned with outputs
      continue;
    }
    if (typed) {
      FillContents(t, o->mutable_contents());
    } else if (std::string* raw = TakeRaw(parsed, t)) {
      out->mutable_raw_output_contents()->AddAllocated(raw);
    } else if (InBuffers(parsed, t)) {
      // The raw wire form sends it from the buffer (EncodeModelInferResponsePieces): an empty
      // entry holds its place.
      out->add_raw_output_contents();
    } else {
      AppendRaw(t, out->add_raw_output_contents());
    }
  }
}

void EncodeModelInferResponsePieces(const inference::ModelInferRequest& req, ParsedInfer& parsed,
                                    const service::InferResult& result,
                                    inference::ModelInferResponse* out,
                                    std::vector<std::string_view>* pieces,
                                    std::vector<std::string>* blobs) {
  EncodeModelInferResponse(req, parsed, result, out);
  // Whatever went into raw_output_contents comes back out as pieces: the entries the model
  // wrote into parsed.buffers as views of them, the others (strings, copies) kept in blobs.
  blobs->clear();
  blobs->reserve(static_cast<size_t>(out->raw_output_contents_size()));
  pieces->clear();
  const core::InferResponse& response = result.response;
  auto* raw = out->mutable_raw_output_contents();
  for (int i = 0; i < raw->size(); ++i) {
    const core::Tensor* t =
        static_cast<size_t>(i) < response.outputs.size() ? &response.outputs[i] : nullptr;
    const bool shm = static_cast<size_t>(i) < result.output_shm.size() && result.output_shm[i];
    if (t && !shm && InBuffers(parsed, *t)) {
      pieces->emplace_back(static_cast<const char*>(t->external), t->external_size);
    } else {
      pieces->push_back(blobs->emplace_back(std::move(*raw->Mutable(i))));
    }
  }
  raw->Clear();
}

}  // namespace mlos::grpcapi
