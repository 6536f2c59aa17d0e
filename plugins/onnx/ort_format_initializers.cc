#include "ort_format_initializers.h"

#include <cstring>
#include <limits>

namespace mlos::onnx_plugin {
namespace {

// Field ids in ONNX Runtime's schema (onnxruntime/core/flatbuffers/schema/ort.fbs); flatbuffer
// schemas only append fields, so these ids hold for every ORT-format version.
constexpr uint16_t kSessionModel = 1;       // InferenceSession.model
constexpr uint16_t kModelGraph = 7;         // Model.graph
constexpr uint16_t kGraphInitializers = 0;  // Graph.initializers
constexpr uint16_t kTensorName = 0;         // Tensor.name
constexpr uint16_t kTensorDims = 2;         // Tensor.dims
constexpr uint16_t kTensorDataType = 3;     // Tensor.data_type
constexpr uint16_t kTensorRawData = 4;      // Tensor.raw_data

// A bounds-checked view of flatbuffer bytes. Positions are offsets from the start; 0 means
// "absent" (nothing the reader follows can live at offset 0, which holds the root offset).
class FlatBufferView {
 public:
  FlatBufferView(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool InBounds(size_t offset, size_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

  template <typename T>
  bool Read(size_t offset, T* out) const {
    if (!InBounds(offset, sizeof(T))) return false;
    std::memcpy(out, data_ + offset, sizeof(T));
    return true;
  }

  // The position of field `id` of the table at `table`; 0 when absent or out of bounds.
  size_t Field(size_t table, uint16_t id) const {
    int32_t to_vtable = 0;
    if (table == 0 || !Read(table, &to_vtable)) return 0;
    const int64_t vtable = static_cast<int64_t>(table) - to_vtable;
    uint16_t vtable_size = 0, table_size = 0, field = 0;
    if (vtable < 0 || !Read(static_cast<size_t>(vtable), &vtable_size) ||
        !Read(static_cast<size_t>(vtable) + 2, &table_size)) {
      return 0;
    }
    const size_t entry = 4 + 2 * static_cast<size_t>(id);
    if (entry + 2 > vtable_size || !Read(static_cast<size_t>(vtable) + entry, &field)) return 0;
    if (field == 0 || field >= table_size || !InBounds(table + field, 4)) return 0;
    return table + field;
  }

  // Follows the offset stored at `pos` (to a table, vector or string); 0 when absent or out of
  // bounds.
  size_t Deref(size_t pos) const {
    uint32_t offset = 0;
    if (pos == 0 || !Read(pos, &offset)) return 0;
    const size_t target = pos + offset;
    return offset != 0 && InBounds(target, 4) ? target : 0;
  }

  // The element count of the vector at `vec` when its elements fit in the bytes.
  bool VectorLength(size_t vec, size_t element_size, uint32_t* count) const {
    return vec != 0 && Read(vec, count) &&
           InBounds(vec + 4, static_cast<size_t>(*count) * element_size);
  }

  const uint8_t* At(size_t offset) const { return data_ + offset; }

 private:
  const uint8_t* data_;
  size_t size_;
};

// Bytes per element of the types a shared initializer may have; 0 for the rest.
size_t ElementSize(int32_t type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return 8;
    default:
      return 0;
  }
}

// Reads the Tensor table at `tensor`; false when it cannot be shared (see the header).
bool ReadTensor(const FlatBufferView& fb, size_t tensor, OrtFormatInitializer* out) {
  const size_t name = fb.Deref(fb.Field(tensor, kTensorName));
  uint32_t name_length = 0;
  if (!fb.VectorLength(name, 1, &name_length) || name_length == 0) return false;
  int32_t type = 0;
  const size_t type_pos = fb.Field(tensor, kTensorDataType);
  if (type_pos == 0 || !fb.Read(type_pos, &type)) return false;
  const size_t element_size = ElementSize(type);
  if (element_size == 0) return false;

  std::vector<int64_t> dims;
  uint64_t count = 1;
  const size_t dims_vec = fb.Deref(fb.Field(tensor, kTensorDims));
  uint32_t rank = 0;
  if (dims_vec != 0 && !fb.VectorLength(dims_vec, sizeof(int64_t), &rank)) return false;
  for (uint32_t i = 0; i < rank; ++i) {
    int64_t d = 0;
    fb.Read(dims_vec + 4 + sizeof(int64_t) * i, &d);
    if (d < 0) return false;
    const auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && count > std::numeric_limits<uint64_t>::max() / ud) return false;
    count *= ud;
    dims.push_back(d);
  }
  const size_t raw = fb.Deref(fb.Field(tensor, kTensorRawData));
  uint32_t raw_size = 0;
  if (!fb.VectorLength(raw, 1, &raw_size) || raw_size == 0) return false;
  if (count > std::numeric_limits<uint64_t>::max() / element_size ||
      count * element_size != raw_size) {
    return false;
  }
  out->name.assign(reinterpret_cast<const char*>(fb.At(name + 4)), name_length);
  out->type = static_cast<ONNXTensorElementDataType>(type);
  out->dims = std::move(dims);
  out->data = fb.At(raw + 4);
  out->byte_size = raw_size;
  return true;
}

}  // namespace

bool ReadOrtFormatInitializers(const uint8_t* bytes, size_t size,
                               std::vector<OrtFormatInitializer>* out) {
  const FlatBufferView fb(bytes, size);
  uint32_t root_offset = 0;
  if (size < 8 || std::memcmp(bytes + 4, "ORTM", 4) != 0 || !fb.Read(0, &root_offset)) {
    return false;
  }
  // The root offset sits at position 0, which Deref treats as "absent": read it by hand.
  const size_t root = root_offset != 0 && fb.InBounds(root_offset, 4) ? root_offset : 0;
  const size_t model = fb.Deref(fb.Field(root, kSessionModel));
  const size_t graph = fb.Deref(fb.Field(model, kModelGraph));
  if (graph == 0) return false;
  const size_t initializers = fb.Deref(fb.Field(graph, kGraphInitializers));
  if (initializers == 0) return true;  // a graph without initializers
  uint32_t count = 0;
  if (!fb.VectorLength(initializers, sizeof(uint32_t), &count)) return false;
  std::vector<OrtFormatInitializer> found;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t tensor = fb.Deref(initializers + 4 + sizeof(uint32_t) * i);
    OrtFormatInitializer initializer;
    if (tensor != 0 && ReadTensor(fb, tensor, &initializer)) {
      found.push_back(std::move(initializer));
    }
  }
  for (OrtFormatInitializer& i : found) out->push_back(std::move(i));
  return true;
}

}  // namespace mlos::onnx_plugin
