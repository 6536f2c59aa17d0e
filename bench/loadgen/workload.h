// The load generator's workload: the model's inputs and outputs read from the .onnx file with
// ONNX Runtime, and one set of input tensors generated once (every request sends the same).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

namespace mlos::bench {

struct InputTensor {
  std::string name;
  ONNXTensorElementDataType onnx_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::string dtype;           // the SDK's name: "float32", "int64", "bool", ...
  std::string kserve;          // the KServe v2 datatype: "FP32", "INT64", "BOOL", ...
  std::vector<int64_t> shape;  // dynamic dims replaced by --batch
  std::vector<uint8_t> bytes;  // row-major, little endian
  std::string json;            // the flat JSON array of the values (when asked for)
};

struct Workload {
  std::vector<InputTensor> inputs;
  std::vector<std::string> outputs;  // every output of the model, in order
};

// Reads the inputs and outputs of `session` and generates the input values: floats uniform in
// [-1, 1), integers uniform in [0, int_max) (capped to the type's range), bools at random.
// `with_json` also renders each input as a JSON array. Throws std::runtime_error for a model
// whose inputs this tool cannot generate (strings, maps, sequences).
Workload MakeWorkload(Ort::Session& session, int64_t batch, int64_t int_max, bool with_json);

// A JSON string literal (quotes included) for `s`.
std::string JsonString(const std::string& s);

}  // namespace mlos::bench
