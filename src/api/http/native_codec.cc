#include "api/http/native_codec.h"

#include <map>

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "api/http/tensor_json.h"

namespace mlos::http {
namespace {

using nlohmann::json;

}  // namespace

namespace {

bool SchemaHas(const std::vector<core::TensorInfo>& schema, std::string_view name) {
  for (const auto& i : schema) {
    if (i.name == name) return true;
  }
  return false;
}

// The optional "input_shapes": {"x": [1, 3, 48, 192]} member: explicit shapes for flat arrays.
Result<std::map<std::string, std::vector<int64_t>>> ParseInputShapes(const json& doc) {
  std::map<std::string, std::vector<int64_t>> shapes;
  if (!doc.is_object()) return InvalidArgument("field 'input_shapes' must be an object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string where = "field 'input_shapes." + it.key() + "'";
    if (!it->is_array()) return InvalidArgument(where + " must be an array of dims");
    std::vector<int64_t>& shape = shapes[it.key()];
    for (const json& d : *it) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return InvalidArgument(where + " must hold non-negative integers");
      }
      shape.push_back(d.get<int64_t>());
    }
  }
  return shapes;
}

}  // namespace

Result<std::vector<core::Tensor>> ParseNamedInputs(std::string_view body,
                                                   const std::vector<core::TensorInfo>& schema,
                                                   api::RequestOptions* options) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("malformed JSON in the inference request");
  if (!doc.is_object()) {
    return InvalidArgument("the inference request must be a JSON object mapping input names "
                           "to arrays");
  }
  // "input_shapes" and "inputs" are request fields unless the model has inputs of those names.
  std::map<std::string, std::vector<int64_t>> given_shapes;
  if (auto s = doc.find("input_shapes"); s != doc.end() && !SchemaHas(schema, "input_shapes")) {
    MLOS_ASSIGN_OR_RETURN(given_shapes, ParseInputShapes(*s));
    doc.erase(s);
  }
  if (auto p = doc.find("parameters"); p != doc.end() && !SchemaHas(schema, "parameters")) {
    api::RequestOptions parsed;
    MLOS_RETURN_IF_ERROR(api::ParseJsonParameters(*p, parsed));
    if (options) *options = parsed;
    doc.erase(p);
  }
  const json* named = &doc;
  if (doc.size() == 1 && doc.begin().key() == "inputs" && doc.begin()->is_object() &&
      !SchemaHas(schema, "inputs")) {
    named = &*doc.begin();
  }
  if (named->empty()) return InvalidArgument("the inference request names no inputs");
  for (const auto& [name, shape] : given_shapes) {
    if (!named->contains(name)) {
      return InvalidArgument("field 'input_shapes." + name + "': no input '" + name +
                             "' in the request");
    }
  }
  std::vector<core::Tensor> out;
  out.reserve(named->size());
  for (auto it = named->begin(); it != named->end(); ++it) {
    const core::TensorInfo* info = nullptr;
    for (const auto& i : schema) {
      if (i.name == it.key()) info = &i;
    }
    if (!info && !schema.empty()) {
      std::string known;
      for (const auto& i : schema) known += (known.empty() ? "" : ", ") + i.name;
      return InvalidArgument("unknown input '" + it.key() + "' (the model's inputs: " + known +
                             ")");
    }
    core::Tensor t;
    t.name = it.key();
    t.dtype = info ? info->dtype : GuessJsonDataType(*it);
    std::vector<int64_t> nested;
    MLOS_RETURN_IF_ERROR(DecodeJsonTensorData(*it, t, nested));
    const int64_t count = nested.empty() ? 1 : core::ElementCount(nested);
    if (auto given = given_shapes.find(t.name); given != given_shapes.end()) {
      // An explicit shape: the elements must fill it exactly (the core checks it against the
      // model's schema).
      const int64_t want = core::ElementCount(given->second);
      if (want != count) {
        return InvalidArgument("input '" + t.name + "' has " + std::to_string(count) +
                               " elements; input_shapes gives " +
                               ShapeToString(given->second) + " (" + std::to_string(want) +
                               " elements)");
      }
      t.shape = given->second;
    } else if (info && nested.size() == 1 && info->shape.size() != 1) {
      // A flat array: the schema gives the shape.
      MLOS_ASSIGN_OR_RETURN(t.shape, InferFlatShape(info->shape, nested[0], t.name));
    } else if (info && nested.empty() && info->shape.size() > 0) {
      // A bare scalar for a tensor input: shape it like a one-element flat array.
      MLOS_ASSIGN_OR_RETURN(t.shape, InferFlatShape(info->shape, 1, t.name));
    } else {
      t.shape = std::move(nested);
    }
    out.push_back(std::move(t));
  }
  return out;
}

void EncodeInferenceResponse(const core::InferResponse& response, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("status");
  w.String("success");
  w.Key("model_id");
  w.String(response.model_id);
  w.Key("model_version");
  w.String(response.model_version);
  w.Key("inference_time_us");
  w.UInt(response.inference_time_us);
  w.Key("queue_time_us");
  w.UInt(response.queue_time_us);
  w.Key("outputs");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    WriteTensorDataFlat(w, t);
  }
  w.EndObject();
  w.Key("output_shapes");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    WriteShape(w, t.shape);
  }
  w.EndObject();
  w.Key("output_dtypes");
  w.BeginObject();
  for (const core::Tensor& t : response.outputs) {
    w.Key(t.name);
    w.String(core::DataTypeName(t.dtype));
  }
  w.EndObject();
  w.EndObject();
}

}  // namespace mlos::http
