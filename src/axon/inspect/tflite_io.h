// TensorFlow Lite model inspection: the IO schema and metadata of a .tflite file, read from its
// FlatBuffer without the flatbuffers library or the TFLite runtime.
//
// Used by the installer to fill a manifest's spec.io and spec.requirements. What is read
// (tensorflow/lite/schema/schema.fbs, file identifier "TFL3"):
//   Model.version, Model.description, Model.buffers (sizes only: inline data vectors and, for
//   models over 2 GiB, the external offset/size pairs), Model.metadata "min_runtime_version",
//   and of subgraph 0 (the main graph) the tensors named by SubGraph.inputs / .outputs: name,
//   type, shape and shape_signature.
//
// The reader is a pure function over a byte span and is hardened for untrusted files: every
// offset, vtable and vector length is checked against the span (64-bit arithmetic, no
// overflow) before it is followed, nothing recurses, and a truncated or malicious file gives
// InvalidArgument, never a crash or a read outside the span.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::axon {

struct TfliteTensorInfo {
  // name; dtype (an mpf dtype name); shape: shape_signature when the tensor has one of the
  // shape's rank (-1 marks a dynamic dimension), else shape. An empty shape is a scalar.
  mpf::TensorSpec spec;
  int32_t tensor_index = 0;  // index into subgraph 0's tensors
  bool has_shape_signature = false;
};

struct TfliteInfo {
  uint32_t schema_version = 0;      // Model.version (the runtime reads 3)
  std::string description;          // Model.description ("MLIR Converted." and the like)
  std::string min_runtime_version;  // metadata "min_runtime_version", e.g. "2.3.0", or ""
  uint64_t subgraph_count = 0;
  uint64_t tensor_count = 0;                      // tensors of subgraph 0
  std::vector<TfliteTensorInfo> inputs, outputs;  // subgraph 0's, in order
  uint64_t buffer_count = 0;
  uint64_t buffer_bytes = 0;  // weights: every buffer's inline data plus external data
  uint64_t file_size = 0;
};

// Reads a whole .tflite file held in `bytes`. Errors (all InvalidArgument, one line):
// "not a TFLite model (file identifier ...)", "truncated or corrupt TFLite file: <where>",
// "<where>: unsupported element type COMPLEX64" (COMPLEX64/128, RESOURCE, VARIANT, INT4 and
// unknown types, naming the tensor), "no subgraphs", a tensor index out of range, two inputs (or
// two outputs) with one name, a dimension below -1. An unnamed input or output is called
// "input_<k>" / "output_<k>" (its position), as mlosd's tflite plugin calls it.
Result<TfliteInfo> InspectTfliteBytes(std::span<const uint8_t> bytes);

// InspectTfliteBytes over the file at `path` (memory-mapped, read only: the file must not shrink
// while it is read, as with the installer's staged, immutable blobs); errors are prefixed with
// the path. NotFound when the file does not exist.
Result<TfliteInfo> InspectTflite(const std::filesystem::path& path);

// The mpf dtype name of a TFLite TensorType value, or "" when MLOS has none.
std::string TfliteTypeToDtype(int32_t type);

// The schema name of a TFLite TensorType value ("FLOAT32", "COMPLEX64", ...), or "TYPE_<n>".
std::string TfliteTypeName(int32_t type);

// spec.io for a manifest: the TensorSpecs of info.inputs and info.outputs.
mpf::Io TfliteIo(const TfliteInfo& info);

}  // namespace mlos::axon
