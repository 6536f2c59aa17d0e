// ONNX model inspection: the IO schema and metadata of a .onnx file, read from the file itself.
//
// Used by the installer to fill a manifest's spec.io and spec.requirements without running the
// model. The file is streamed through protobuf's CodedInputStream: initializer payloads
// (raw_data and the typed *_data fields) are skipped, only their sizes are counted, so memory
// stays small even for a 2 GB model. External data files are never opened.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::axon {

// One graph input or output.
struct OnnxTensorInfo {
  // name, dtype (an mpf dtype name), shape: dim_value -> its value, dim_param or an unset
  // dimension -> -1, a 0-d tensor -> empty. A value without any shape (unknown rank) gets
  // shape {-1} and rank_known = false: the manifest cannot say "any rank", and {-1} is the
  // closest it has. description = the value's doc_string.
  mpf::TensorSpec spec;
  bool rank_known = true;
  // Per dimension of spec.shape: the symbolic name (dim_param, e.g. "batch") or "".
  std::vector<std::string> dim_params;
};

struct OnnxOpset {
  std::string domain;  // "" = the default ONNX domain ("ai.onnx")
  int64_t version = 0;
};

struct OnnxModelInfo {
  std::vector<OnnxTensorInfo> inputs;   // graph inputs that are not initializers, in order
  std::vector<OnnxTensorInfo> outputs;  // graph outputs, in order
  std::vector<OnnxOpset> opsets;
  int64_t ir_version = 0;
  std::string producer_name, producer_version, domain;
  int64_t model_version = 0;
  std::string graph_name;
  std::string doc_string;  // the model's doc_string, or else the graph's
  std::vector<std::pair<std::string, std::string>> metadata_props;
  uint64_t file_size = 0;
  // Bytes of all weights: dense and sparse initializers of the main graph (inline or external;
  // external ones by their "length" entry, else by dims x element size) plus the tensors of
  // its Constant nodes.
  uint64_t initializer_bytes = 0;
  uint64_t initializer_count = 0;
  bool uses_external_data = false;  // some initializer has data_location = EXTERNAL
};

// Reads `path`. Errors: NotFound (no such file), InvalidArgument ("<file>: not a valid ONNX
// model: ..." for a file that is not a ModelProto or has no graph / ir_version;
// "<file>: input 'x': unsupported element type COMPLEX64" for IO types outside the mpf set,
// or a sequence/map/optional-typed input/output), ResourceExhausted (over protobuf's 2 GiB).
Result<OnnxModelInfo> InspectOnnx(const std::filesystem::path& path);

// The mpf dtype name of an ONNX TensorProto.DataType value, or "" when it has none
// (UNDEFINED, COMPLEX64/128, FLOAT8*, INT4, ...).
std::string OnnxElemTypeToDtype(int32_t elem_type);

// Bytes per element of an ONNX element type; 0 for STRING and unknown types.
uint64_t OnnxElemTypeSize(int32_t elem_type);

// spec.io for a manifest: the TensorSpecs of info.inputs and info.outputs.
mpf::Io OnnxIo(const OnnxModelInfo& info);

}  // namespace mlos::axon
