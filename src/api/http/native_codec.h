// Codec for the original MLOS HTTP API (the one Axon speaks): register payloads, named-array
// inference bodies shaped by the model's IO schema, and the JSON answers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/core.h"

namespace mlos::http {

// POST /models/register body -> RegisterRequest. model_id and path (alias model_path) are
// required; every field, when present, must be a string. Errors name the field.
Result<core::RegisterRequest> ParseRegisterRequest(std::string_view body);

// POST /models/{id}/inference body: a JSON object mapping input names to arrays (also accepted:
// {"inputs": {...}}). Nested arrays give the shape; a flat array is shaped by the schema
// (InferFlatShape). Elements are converted to the schema's dtype (guessed from the JSON for an
// input the schema does not list, when the schema is empty). Unknown input names, when the
// schema lists inputs, are errors.
Result<std::vector<core::Tensor>> ParseNamedInputs(std::string_view body,
                                                   const std::vector<core::TensorInfo>& schema);

// {"status":"success","model_id","model_version","inference_time_us","queue_time_us",
//  "outputs":{name:[flat]},"output_shapes":{name:[dims]},"output_dtypes":{name:"float32"}}
void EncodeInferenceResponse(const core::InferResponse& response, std::string& out);

// One model as JSON (GET /models/{id}, list entries, lifecycle answers).
void EncodeModelStatus(const core::ModelStatus& m, std::string& out);
void EncodeModelList(const std::vector<core::ModelStatus>& models, std::string& out);
void EncodePlugins(const std::vector<core::PluginStatus>& plugins, std::string& out);
void EncodeStats(const core::CoreStats& stats, std::string& out);

}  // namespace mlos::http
