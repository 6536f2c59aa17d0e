// The load generator's workload: the model's inputs and outputs read from the .onnx file with
// ONNX Runtime, and one set of input tensors prepared once (every request sends the same):
// taken from --input-data, or generated at random in the model's shape (dynamic dims from
// --shape, or --batch for a dynamic first dim).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "dtype.h"
#include "input_data.h"

namespace mlos::bench {

struct InputTensor {
  std::string name;
  ONNXTensorElementDataType onnx_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::string dtype;                 // the SDK's name: "float32", "int64", "bool", "string", ...
  std::string kserve;                // the KServe v2 datatype: "FP32", "INT64", "BOOL", "BYTES"
  std::vector<int64_t> shape;        // every dim known
  std::vector<uint8_t> bytes;        // row-major, little endian (BYTES: KServe's encoding)
  std::vector<std::string> strings;  // BYTES: the elements
  std::string json;                  // the flat JSON array of the values (when asked for)

  bool is_string() const { return onnx_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING; }
};

struct Workload {
  std::vector<InputTensor> inputs;
  std::vector<std::string> outputs;  // the outputs to ask for and check, in order
  bool outputs_named = false;  // --input-data named `outputs`: requests name them (else: all)
};

struct WorkloadOptions {
  int64_t batch = 1;      // a generated input's dynamic first dim
  int64_t int_max = 100;  // generated integers are in [0, int_max)
  bool with_json = false;          // also render each input as a JSON array (InputTensor::json)
  std::vector<ShapeFlag> shapes;   // --shape: generated inputs of these shapes
  const InputData* data = nullptr;  // --input-data: these inputs as given (may be null)
};

// Reads the inputs and outputs of `session` and prepares every input: the file's tensor when
// `data` has it (its datatype must be the model's, its shape fit the model's dims), else random
// values in the --shape or model shape: floats uniform in [-1, 1), integers uniform in
// [0, int_max) (capped to the type's range), bools at random. Throws std::runtime_error with one
// line naming the flag, input and problem: an unknown input or output name, a shape of the wrong
// rank or against a fixed dim, a datatype other than the model's, a dynamic dim other than the
// first without --shape, a string input without --input-data, a non-tensor input.
Workload MakeWorkload(Ort::Session& session, const WorkloadOptions& options);

}  // namespace mlos::bench
