#include "model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace mlos::tflite_plugin {
namespace {

// Field slots of the schema's tables (the n-th field is slot n).
constexpr int kModelSubgraphs = 2, kModelBuffers = 4;
constexpr int kSubgraphTensors = 0, kSubgraphInputs = 1, kSubgraphOutputs = 2;
constexpr int kTensorShape = 0, kTensorType = 1, kTensorBuffer = 2, kTensorShapeSignature = 7;
constexpr int kBufferData = 0;

// Bytes per element of a schema TensorType (not TfLiteType: the numbering differs); 0 for
// strings, resources, variants and unknown types.
uint64_t SchemaTypeBytes(int8_t type) {
  switch (type) {
    case 0: return 4;   // FLOAT32
    case 1: return 2;   // FLOAT16
    case 2: return 4;   // INT32
    case 3: return 1;   // UINT8
    case 4: return 8;   // INT64
    case 6: return 1;   // BOOL
    case 7: return 2;   // INT16
    case 8: return 8;   // COMPLEX64
    case 9: return 1;   // INT8
    case 10: return 8;  // FLOAT64
    case 11: return 16; // COMPLEX128
    case 12: return 8;  // UINT64
    case 15: return 4;  // UINT32
    case 16: return 2;  // UINT16
    default: return 0;
  }
}

// Bounds-checked reads over a FlatBuffer. Positions are byte offsets into the buffer; the first
// failed check records an error, and every later read returns 0.
class FlatBuffer {
 public:
  explicit FlatBuffer(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  const std::string& error() const { return error_; }

  template <typename T>
  T Read(uint64_t pos, const char* what) {
    if (!error_.empty() || pos > bytes_.size() || bytes_.size() - pos < sizeof(T)) {
      Fail(what);
      return T{};
    }
    T value;
    std::memcpy(&value, bytes_.data() + pos, sizeof value);
    return value;
  }

  // The position a uoffset at `pos` points to.
  uint64_t Deref(uint64_t pos, const char* what) {
    const uint64_t target = pos + Read<uint32_t>(pos, what);
    if (target >= bytes_.size()) Fail(what);
    return error_.empty() ? target : 0;
  }

  // The position of field `slot` of the table at `table`, or 0 when the table lacks it.
  uint64_t Field(uint64_t table, int slot, const char* what) {
    const int64_t vtable = static_cast<int64_t>(table) - Read<int32_t>(table, what);
    if (vtable < 0) {
      Fail(what);
      return 0;
    }
    const uint16_t vtable_bytes = Read<uint16_t>(static_cast<uint64_t>(vtable), what);
    const uint64_t entry = 4 + 2 * static_cast<uint64_t>(slot);
    if (entry + 2 > vtable_bytes) return 0;
    const uint16_t offset = Read<uint16_t>(static_cast<uint64_t>(vtable) + entry, what);
    return offset == 0 || !error_.empty() ? 0 : table + offset;
  }

  struct Vector {
    uint64_t count = 0;
    uint64_t data = 0;  // position of element 0
  };
  // The vector a table field at `field` points to (an absent field gives an empty vector).
  Vector VectorAt(uint64_t field, uint64_t element_bytes, const char* what) {
    if (field == 0) return {};
    const uint64_t start = Deref(field, what);
    const uint64_t count = Read<uint32_t>(start, what);
    const uint64_t data = start + 4;
    if (!error_.empty() || data > bytes_.size() ||
        count > (bytes_.size() - data) / element_bytes) {
      Fail(what);
      return {};
    }
    return {count, data};
  }

  std::vector<int32_t> Ints(uint64_t field, const char* what) {
    Vector v = VectorAt(field, 4, what);
    std::vector<int32_t> out;
    for (uint64_t i = 0; i < v.count && error_.empty(); ++i) {
      out.push_back(Read<int32_t>(v.data + 4 * i, what));
    }
    return out;
  }

  uint64_t TableAt(const Vector& v, uint64_t index, const char* what) {
    return Deref(v.data + 4 * index, what);
  }

 private:
  void Fail(const char* what) {
    if (error_.empty()) error_ = std::string("malformed FlatBuffer: ") + what + " out of bounds";
  }

  std::span<const uint8_t> bytes_;
  std::string error_;
};

// shape_signature of the tensor at `tensor`, when it has one of the shape's rank.
std::vector<int32_t> SignatureOf(FlatBuffer& fb, uint64_t tensor) {
  std::vector<int32_t> shape = fb.Ints(fb.Field(tensor, kTensorShape, "tensor"), "tensor shape");
  std::vector<int32_t> signature = fb.Ints(fb.Field(tensor, kTensorShapeSignature, "tensor"),
                                           "tensor shape_signature");
  if (signature.size() != shape.size()) return {};
  return signature;
}

// Bytes of the tensor at its file shape (0 for types without a fixed element size).
uint64_t TensorBytes(FlatBuffer& fb, uint64_t tensor) {
  const uint64_t type_field = fb.Field(tensor, kTensorType, "tensor");
  const int8_t type = type_field ? fb.Read<int8_t>(type_field, "tensor type") : 0;  // FLOAT32
  uint64_t bytes = SchemaTypeBytes(type);
  for (int32_t d : fb.Ints(fb.Field(tensor, kTensorShape, "tensor"), "tensor shape")) {
    const uint64_t dim = d > 0 ? static_cast<uint64_t>(d) : 1;
    if (bytes > std::numeric_limits<uint64_t>::max() / dim) return 0;
    bytes *= dim;
  }
  return bytes;
}

}  // namespace

std::string ReadModelBytes(std::span<const uint8_t> bytes, ModelFileInfo* info) {
  if (bytes.empty()) return "the file is empty";
  if (bytes.size() < 8) {
    return "the file is too short to be a TFLite model (" + std::to_string(bytes.size()) +
           " bytes)";
  }
  if (std::memcmp(bytes.data() + 4, "TFL3", 4) != 0) {
    return "no TFL3 file identifier: not a TFLite model";
  }
  FlatBuffer fb(bytes);
  ModelFileInfo out;
  out.file_bytes = bytes.size();
  const uint64_t model = fb.Deref(0, "root table");
  FlatBuffer::Vector subgraphs =
      fb.VectorAt(fb.Field(model, kModelSubgraphs, "model"), 4, "model subgraphs");
  FlatBuffer::Vector buffers =
      fb.VectorAt(fb.Field(model, kModelBuffers, "model"), 4, "model buffers");
  if (!fb.error().empty()) return fb.error();
  if (subgraphs.count == 0) return "the model has no subgraphs";

  const uint64_t subgraph = fb.TableAt(subgraphs, 0, "subgraph 0");
  FlatBuffer::Vector tensors =
      fb.VectorAt(fb.Field(subgraph, kSubgraphTensors, "subgraph"), 4, "subgraph tensors");
  const std::vector<int32_t> inputs =
      fb.Ints(fb.Field(subgraph, kSubgraphInputs, "subgraph"), "subgraph inputs");
  const std::vector<int32_t> outputs =
      fb.Ints(fb.Field(subgraph, kSubgraphOutputs, "subgraph"), "subgraph outputs");
  if (!fb.error().empty()) return fb.error();

  const struct {
    const char* what;
    const std::vector<int32_t>& indices;
    std::vector<std::vector<int32_t>>& signatures;
  } io[] = {{"input", inputs, out.input_signatures}, {"output", outputs, out.output_signatures}};
  for (const auto& side : io) {
    for (size_t i = 0; i < side.indices.size(); ++i) {
      const int32_t index = side.indices[i];
      if (index < 0 || static_cast<uint64_t>(index) >= tensors.count) {
        return std::string(side.what) + " " + std::to_string(i) + " names tensor " +
               std::to_string(index) + " of " + std::to_string(tensors.count);
      }
      side.signatures.push_back(
          SignatureOf(fb, fb.TableAt(tensors, static_cast<uint64_t>(index), "tensor")));
    }
  }

  for (uint64_t i = 0; i < tensors.count && fb.error().empty(); ++i) {
    const uint64_t tensor = fb.TableAt(tensors, i, "tensor");
    const uint64_t buffer_field = fb.Field(tensor, kTensorBuffer, "tensor");
    const uint32_t buffer = buffer_field ? fb.Read<uint32_t>(buffer_field, "tensor buffer") : 0;
    bool constant = false;
    if (buffer != 0 && buffer < buffers.count) {
      const uint64_t b = fb.TableAt(buffers, buffer, "buffer");
      constant = fb.VectorAt(fb.Field(b, kBufferData, "buffer"), 1, "buffer data").count > 0;
    }
    if (constant) continue;
    const uint64_t bytes = TensorBytes(fb, tensor);
    out.activation_bytes = bytes > std::numeric_limits<uint64_t>::max() - out.activation_bytes
                               ? std::numeric_limits<uint64_t>::max()
                               : out.activation_bytes + bytes;
  }
  if (!fb.error().empty()) return fb.error();
  *info = std::move(out);
  return "";
}

std::string ReadModelFile(const std::string& path, ModelFileInfo* info) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open: ") + std::strerror(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return std::string("cannot stat: ") + std::strerror(err);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return ReadModelBytes({}, info);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return std::string("cannot map: ") + std::strerror(err);
  std::string error = ReadModelBytes({static_cast<const uint8_t*>(map), size}, info);
  ::munmap(map, size);
  return error;
}

}  // namespace mlos::tflite_plugin
