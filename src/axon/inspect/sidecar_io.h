// IO schemas given by hand: `axon install --input/--output name:dtype:shape` and the io.yaml
// sidecar beside a model file. TorchScript files carry no typed signature, so one of the two is
// how a TorchScript install gets its spec.io; for other formats the flags replace what the
// model file says, tensor by tensor.
//
// Sidecar file (same form as a manifest's spec.io), "<model-file-stem>.io.yaml" or "io.yaml" in
// the model file's directory:
//
//   inputs:
//     - {name: x, dtype: float32, shape: [-1, 3, 224, 224]}
//   outputs:
//     - {name: logits, dtype: float32, shape: [-1, 1000]}
//     - {name: count, dtype: int64, shape: []}        # [] = a scalar
//
// dtype is an mpf dtype name (float32 float64 float16 bfloat16 int8 int16 int32 int64 uint8
// uint16 uint32 uint64 bool string); shape entries are -1 (dynamic) or >= 0. An entry may carry
// a description. Unknown keys are errors (a typo must not silently drop a tensor).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::axon {

// Tensors given by hand, for inputs and outputs; an empty list means "not given".
struct IoOverride {
  std::vector<mpf::TensorSpec> inputs, outputs;
};

// Parses a shape: "-1,3,224,224" or "[-1, 3, 224, 224]"; "scalar", "[]" or "" is rank 0.
Result<std::vector<int64_t>> ParseShapeText(std::string_view text);

// Parses one --input/--output value "name:dtype:shape". The name may itself contain ':'
// ("serving_default_x:0:float32:1,4"): dtype and shape are the last two fields. Errors are one
// line naming `flag` and the value: `--input "x:float33:1": unknown dtype "float33" (...)`.
Result<mpf::TensorSpec> ParseTensorFlag(std::string_view flag, std::string_view value);

// Parses every value of one flag; a name given twice is an error.
Result<std::vector<mpf::TensorSpec>> ParseTensorFlags(std::string_view flag,
                                                      const std::vector<std::string>& values);

// Parses sidecar YAML text; `file` names it in errors ("<file>: inputs[1].dtype: unknown dtype
// \"f32\""). A sidecar with neither inputs nor outputs is an error.
Result<IoOverride> ParseIoSidecar(const std::string& yaml, const std::string& file);

// Reads and parses the sidecar at `path`; `display` names it in errors.
Result<IoOverride> LoadIoSidecar(const std::filesystem::path& path, const std::string& display);

// The sidecar paths that belong to the model file `model_path` (relative, '/'-separated), most
// specific first: "<dir>/<stem>.io.yaml", then "<dir>/io.yaml" ("m.pt" -> "m.io.yaml", "io.yaml").
std::vector<std::string> IoSidecarPaths(const std::string& model_path);

// True for a file name that is a sidecar ("io.yaml" or "*.io.yaml", any case).
bool IsIoSidecarName(const std::string& path);

// Applies `given` over `io`: a given tensor replaces the one of the same name, and one the model
// does not have is appended, unless `model_io_is_complete` (ONNX and TFLite, whose IO was read
// from the model): then naming a tensor the model lacks is InvalidArgument
// ("--input \"y\": model.onnx has no input \"y\" (its inputs: x)"). `model` names the file.
Status ApplyIoOverride(const IoOverride& given, bool model_io_is_complete, const std::string& model,
                       mpf::Io* io);

}  // namespace mlos::axon
