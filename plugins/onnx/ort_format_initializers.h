// Reads the top-level initializers of an ORT-format model (the flatbuffer ONNX Runtime writes
// with session.save_model_format=ORT) in place: names, types and dims are copied, the data is
// pointed to, never copied. The plugin adds them to sessions as shared initializers so that
// sessions of one mapped file share the weights and their prepacked forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <onnxruntime_c_api.h>

namespace mlos::onnx_plugin {

struct OrtFormatInitializer {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;
  const void* data = nullptr;  // into the model bytes
  size_t byte_size = 0;        // = element count x element size, > 0
};

// Appends the initializers of `bytes` (the whole ORT-format file) to *out. Every offset followed
// is bounds-checked against `size`, so any bytes are safe to pass. Returns false, with *out
// unchanged, when the bytes do not start as an ORT-format model ("ORTM" identifier, root table,
// model, graph). Initializers that cannot be shared are left out, not reported: strings, element
// types without a fixed size (4-bit, float8, complex), empty tensors and data whose size does
// not match the dims. Pure; any thread.
bool ReadOrtFormatInitializers(const uint8_t* bytes, size_t size,
                               std::vector<OrtFormatInitializer>* out);

}  // namespace mlos::onnx_plugin
