// Codec for the original MLOS HTTP API's inference (the one Axon speaks): named-array bodies
// shaped by the model's IO schema, and the JSON answer. (Management documents are in
// api/common/model_json.h.)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/common/request_options.h"
#include "common/status.h"
#include "core/core.h"

namespace mlos::http {


// POST /models/{id}/inference body: a JSON object mapping input names to arrays (also accepted:
// {"inputs": {...}}). Nested arrays give the shape; a flat array is shaped by the schema
// (InferFlatShape), or by the request's optional "input_shapes": {"x": [1, 3, 48, 192]}.
// Elements are converted to the schema's dtype (guessed from the JSON for an
// input the schema does not list, when the schema is empty). Unknown input names, when the
// schema lists inputs, are errors. The optional "parameters" member takes priority, timeout and
// keep_alive as the KServe request's parameters do (api::ParseJsonParameters), into *options
// when given (checked either way). "input_shapes", "inputs" and "parameters" are request
// fields unless the model has an input of that name.
Result<std::vector<core::Tensor>> ParseNamedInputs(std::string_view body,
                                                   const std::vector<core::TensorInfo>& schema,
                                                   api::RequestOptions* options = nullptr);

// {"status":"success","model_id","model_version","inference_time_us","queue_time_us",
//  "outputs":{name:[flat]},"output_shapes":{name:[dims]},"output_dtypes":{name:"float32"}}
void EncodeInferenceResponse(const core::InferResponse& response, std::string& out);


}  // namespace mlos::http
