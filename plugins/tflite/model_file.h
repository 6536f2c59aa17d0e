// What the plugin reads from a .tflite file itself, beside the TensorFlow Lite library: the
// parts of the model the 2.9 C API does not expose (the shape_signature of IO tensors, the size
// of every tensor for the memory estimate), and why a file the library refused is not a model.
//
// The reader walks the FlatBuffer (tensorflow/lite/schema/schema.fbs, file identifier "TFL3")
// without the flatbuffers library: Model.subgraphs[0] {tensors, inputs, outputs} and
// Model.buffers (whether a tensor's buffer holds data). Every offset, vtable and vector is
// checked against the file before it is followed; a malformed file gives an error, never a read
// outside it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mlos::tflite_plugin {

struct ModelFileInfo {
  uint64_t file_bytes = 0;
  // shape_signature of subgraph 0's inputs / outputs, in the subgraph's order (the order of the
  // C API's input and output indices); empty when the tensor has none or it does not match the
  // tensor's rank (the tensor is then static).
  std::vector<std::vector<int32_t>> input_signatures, output_signatures;
  // Bytes of subgraph 0's tensors that hold no constant data, at the file's shapes: what an
  // interpreter's arena would take without sharing memory between tensors. String, resource and
  // variant tensors count 0.
  uint64_t activation_bytes = 0;
};

// Reads a whole model held in `bytes`. Returns "" and fills *info, or why the bytes are not a
// TFLite model: "the file is empty", "the file is too short to be a TFLite model (5 bytes)",
// "no TFL3 file identifier: not a TFLite model", "malformed FlatBuffer: <what> out of bounds",
// "the model has no subgraphs", "input 0 names tensor 9 of 3". Pure; any thread.
std::string ReadModelBytes(std::span<const uint8_t> bytes, ModelFileInfo* info);

// ReadModelBytes over the file at `path` (memory-mapped, read only, unmapped before returning);
// also "cannot open: <strerror>".
std::string ReadModelFile(const std::string& path, ModelFileInfo* info);

}  // namespace mlos::tflite_plugin
