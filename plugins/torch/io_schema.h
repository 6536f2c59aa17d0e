// A TorchScript model's IO schema, which the file itself does not carry: read from the
// manifest's spec.io, and the checks of an infer request against it. No libtorch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mlos/smi.h"

namespace mlos::torch_plugin {

// One input or output as the manifest declares it.
struct IoSpec {
  std::string name;
  smi_dtype dtype = SMI_DTYPE_INVALID;
  std::vector<int64_t> dims;  // -1 = dynamic; empty = a scalar
};

struct IoSchema {
  std::vector<IoSpec> inputs, outputs;  // in manifest order: forward's arguments, its results
  std::unordered_map<std::string, size_t> input_index, output_index;
};

// The dtypes libtorch has among SMI's: float32 float64 float16 bfloat16 int8 int16 int32 int64
// uint8 bool (not uint16, uint32, uint64 or string).
bool TorchHasDtype(smi_dtype dtype);

// Reads spec.io.inputs / spec.io.outputs of the manifest JSON (entries {name, dtype, shape};
// shape absent = a scalar). Errors, naming the field or tensor: INVALID_ARGUMENT for no
// manifest, no or empty spec.io.inputs / outputs (TorchScript has no typed signature, so the
// manifest must give one: the message says how, with axon install --input / --output), an
// entry without a name, a repeated name, an unknown dtype, a shape that is not a list of
// integers >= -1 or has more than 16 dims; UNSUPPORTED for a dtype libtorch does not have
// (`input "x": dtype uint16 is not supported by libtorch`). NULL on success (*out filled).
smi_error* ReadIoSchema(const char* manifest_json, IoSchema* out);

// The schema tensors model_input / model_output return (names point into `specs`).
std::vector<smi_tensor> SchemaTensors(const std::vector<IoSpec>& specs);

// Matches the request's inputs to the schema, as the ONNX plugin does (INVALID_ARGUMENT
// `unknown input "x"`, `duplicate input "x"`, `missing input "x"`, `input "x": expected float32,
// got int64`, `input "x": expected rank 2, got 1`, `input "x": dim 1 must be 4, got 3`,
// `input "x": dim 0 is negative (-1)`, byte_size / NULL data). On success by_schema[k] is the
// request's tensor for schema input k.
smi_error* MatchInputs(const IoSchema& schema, const smi_infer_request& request,
                       std::vector<const smi_tensor*>& by_schema);

// The schema indices of the outputs the request wants, in its order (all, in schema order, when
// output_count is 0). NOT_FOUND `unknown output "y"`; INVALID_ARGUMENT `duplicate output "y"`,
// `output_names is NULL`.
smi_error* WantedOutputs(const IoSchema& schema, const smi_infer_request& request,
                         std::vector<size_t>& wanted);

}  // namespace mlos::torch_plugin
