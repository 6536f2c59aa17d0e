#include "axon/inspect/tflite_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

namespace mlos::axon {
namespace {

static_assert(std::endian::native == std::endian::little,
              "FlatBuffers are little endian and are read with memcpy");

// Field indices in schema.fbs (a field's vtable slot is 4 + 2 * index).
namespace model_field {
constexpr int kVersion = 0, kSubgraphs = 2, kDescription = 3, kBuffers = 4, kMetadata = 6;
}
namespace subgraph_field {
constexpr int kTensors = 0, kInputs = 1, kOutputs = 2;
}
namespace tensor_field {
constexpr int kShape = 0, kType = 1, kName = 3, kShapeSignature = 7;
}
namespace buffer_field {
constexpr int kData = 0, kOffset = 1, kSize = 2;
}
namespace metadata_field {
constexpr int kName = 0, kBuffer = 1;
}

struct TypeEntry {
  const char* schema_name;
  const char* dtype;  // "" = no mpf dtype
};
// TensorType in schema.fbs, by value.
constexpr std::array<TypeEntry, 18> kTypes = {{{"FLOAT32", "float32"},
                                               {"FLOAT16", "float16"},
                                               {"INT32", "int32"},
                                               {"UINT8", "uint8"},
                                               {"INT64", "int64"},
                                               {"STRING", "string"},
                                               {"BOOL", "bool"},
                                               {"INT16", "int16"},
                                               {"COMPLEX64", ""},
                                               {"INT8", "int8"},
                                               {"FLOAT64", "float64"},
                                               {"COMPLEX128", ""},
                                               {"UINT64", "uint64"},
                                               {"RESOURCE", ""},
                                               {"VARIANT", ""},
                                               {"UINT32", "uint32"},
                                               {"UINT16", "uint16"},
                                               {"INT4", ""}}};

// A table: its position, its vtable's position and the vtable's size in bytes.
struct Table {
  uint64_t pos = 0;
  uint64_t vtable = 0;
  uint16_t vtable_size = 0;
};

// A vector: the position of its first element and its length (0 when absent).
struct Vec {
  uint64_t data = 0;
  uint32_t length = 0;
  bool present = false;
};

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

// Bounds-checked FlatBuffer access over one byte span. Every method checks before it reads;
// positions are 64-bit so that position + length never wraps.
class FlatReader {
 public:
  explicit FlatReader(std::span<const uint8_t> bytes) : b_(bytes) {}

  uint64_t size() const { return b_.size(); }

  bool Has(uint64_t pos, uint64_t n) const { return pos <= b_.size() && n <= b_.size() - pos; }

  template <typename T>
  bool Get(uint64_t pos, T* out) const {
    if (!Has(pos, sizeof(T))) return false;
    std::memcpy(out, b_.data() + pos, sizeof(T));
    return true;
  }

  Status Corrupt(const std::string& where, const std::string& what) const {
    return InvalidArgument("truncated or corrupt TFLite file: " + where + ": " + what +
                           " (the file has " + std::to_string(b_.size()) + " bytes)");
  }

  // The table at `pos`: its vtable (at pos - soffset) and both sizes must lie in the span.
  Result<Table> TableAt(uint64_t pos, const std::string& where) const {
    int32_t soffset = 0;
    if (!Get(pos, &soffset))
      return Corrupt(where, "table at offset " + std::to_string(pos) + " is outside the file");
    const int64_t vtable = static_cast<int64_t>(pos) - static_cast<int64_t>(soffset);
    uint16_t vtable_size = 0, table_size = 0;
    if (vtable < 0 || !Get(static_cast<uint64_t>(vtable), &vtable_size) ||
        !Get(static_cast<uint64_t>(vtable) + 2, &table_size))
      return Corrupt(where, "vtable at offset " + std::to_string(vtable) + " is outside the file");
    if (vtable_size < 4 || vtable_size % 2 != 0 || !Has(static_cast<uint64_t>(vtable), vtable_size))
      return Corrupt(where, "bad vtable (" + std::to_string(vtable_size) + " bytes at offset " +
                                std::to_string(vtable) + ")");
    if (table_size < 4 || !Has(pos, table_size))
      return Corrupt(where, "table of " + std::to_string(table_size) + " bytes at offset " +
                                std::to_string(pos) + " runs past the end");
    return Table{pos, static_cast<uint64_t>(vtable), vtable_size};
  }

  // Absolute position of field `index` of `t`, or 0 when the field is absent.
  uint64_t Field(const Table& t, int index) const {
    const uint64_t slot = 4 + 2 * static_cast<uint64_t>(index);
    if (slot + 2 > t.vtable_size) return 0;
    uint16_t offset = 0;
    Get(t.vtable + slot, &offset);  // inside the vtable, checked by TableAt
    return offset == 0 ? 0 : t.pos + offset;
  }

  template <typename T>
  Result<T> Scalar(const Table& t, int index, T default_value, const std::string& where) const {
    const uint64_t at = Field(t, index);
    if (at == 0) return default_value;
    T v{};
    if (!Get(at, &v))
      return Corrupt(where, "field at offset " + std::to_string(at) + " is outside the file");
    return v;
  }

  // Follows the uoffset stored at `slot` to the object it points at.
  Result<uint64_t> Follow(uint64_t slot, const std::string& where) const {
    uint32_t offset = 0;
    if (!Get(slot, &offset))
      return Corrupt(where, "offset at " + std::to_string(slot) + " is outside the file");
    const uint64_t target = slot + offset;
    if (target >= b_.size())
      return Corrupt(where, "points to offset " + std::to_string(target) + ", outside the file");
    return target;
  }

  // A vector of `elem_size`-byte elements at `pos` (its 32-bit length first).
  Result<Vec> VectorAt(uint64_t pos, uint64_t elem_size, const std::string& where) const {
    uint32_t length = 0;
    if (!Get(pos, &length))
      return Corrupt(where,
                     "vector length at offset " + std::to_string(pos) + " is outside the file");
    if (!Has(pos + 4, static_cast<uint64_t>(length) * elem_size))
      return Corrupt(where, "vector of " + std::to_string(length) + " elements at offset " +
                                std::to_string(pos) + " runs past the end");
    return Vec{pos + 4, length, true};
  }

  // Field `index` of `t` as a vector; an absent field is an empty vector with present = false.
  Result<Vec> Vector(const Table& t, int index, uint64_t elem_size,
                     const std::string& where) const {
    const uint64_t at = Field(t, index);
    if (at == 0) return Vec{};
    MLOS_ASSIGN_OR_RETURN(uint64_t target, Follow(at, where));
    return VectorAt(target, elem_size, where);
  }

  // Field `index` of `t` as a string ("" when absent); the terminating NUL must be there.
  Result<std::string> String(const Table& t, int index, const std::string& where) const {
    MLOS_ASSIGN_OR_RETURN(Vec v, Vector(t, index, 1, where));
    if (!v.present) return std::string();
    uint8_t terminator = 1;
    if (!Get(v.data + v.length, &terminator) || terminator != 0)
      return Corrupt(where, "string of " + std::to_string(v.length) + " bytes is not terminated");
    return std::string(reinterpret_cast<const char*>(b_.data() + v.data), v.length);
  }

  // Element `i` of a vector of tables.
  Result<Table> Element(const Vec& v, uint32_t i, const std::string& where) const {
    MLOS_ASSIGN_OR_RETURN(uint64_t target, Follow(v.data + 4 * static_cast<uint64_t>(i), where));
    return TableAt(target, where);
  }

  // Element `i` of a vector of scalars; VectorAt checked the whole vector.
  template <typename T>
  T Item(const Vec& v, uint32_t i) const {
    T out{};
    Get(v.data + sizeof(T) * static_cast<uint64_t>(i), &out);
    return out;
  }

  const uint8_t* At(uint64_t pos) const { return b_.data() + pos; }

 private:
  std::span<const uint8_t> b_;
};

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

// Sums the buffers' data: inline vectors, and for models over 2 GiB the external (offset, size)
// ranges, which must lie inside the file.
Status ReadBuffers(const FlatReader& r, const Vec& buffers, TfliteInfo* info) {
  info->buffer_count = buffers.length;
  for (uint32_t i = 0; i < buffers.length; ++i) {
    const std::string where = "buffers[" + std::to_string(i) + "]";
    MLOS_ASSIGN_OR_RETURN(Table b, r.Element(buffers, i, where));
    MLOS_ASSIGN_OR_RETURN(Vec data, r.Vector(b, buffer_field::kData, 1, where + ".data"));
    MLOS_ASSIGN_OR_RETURN(uint64_t offset,
                          r.Scalar<uint64_t>(b, buffer_field::kOffset, 0, where + ".offset"));
    MLOS_ASSIGN_OR_RETURN(uint64_t size,
                          r.Scalar<uint64_t>(b, buffer_field::kSize, 0, where + ".size"));
    info->buffer_bytes = SaturatingAdd(info->buffer_bytes, data.length);
    if (offset > 1) {  // the schema: external data "is only valid if > 1"
      if (!r.Has(offset, size))
        return r.Corrupt(where, "external data of " + std::to_string(size) + " bytes at offset " +
                                    std::to_string(offset) + " is outside the file");
      info->buffer_bytes = SaturatingAdd(info->buffer_bytes, size);
    }
  }
  return Status::Ok();
}

// The "min_runtime_version" metadata entry, when it is there and readable; a metadata entry
// that points at a missing buffer is skipped (the runtime does not need it either).
Status ReadMinRuntimeVersion(const FlatReader& r, const Vec& metadata, const Vec& buffers,
                             TfliteInfo* info) {
  for (uint32_t i = 0; i < metadata.length; ++i) {
    const std::string where = "metadata[" + std::to_string(i) + "]";
    MLOS_ASSIGN_OR_RETURN(Table md, r.Element(metadata, i, where));
    MLOS_ASSIGN_OR_RETURN(std::string name, r.String(md, metadata_field::kName, where + ".name"));
    if (name != "min_runtime_version") continue;
    MLOS_ASSIGN_OR_RETURN(uint32_t index,
                          r.Scalar<uint32_t>(md, metadata_field::kBuffer, 0, where + ".buffer"));
    if (index >= buffers.length) continue;
    const std::string bwhere = "buffers[" + std::to_string(index) + "]";
    MLOS_ASSIGN_OR_RETURN(Table b, r.Element(buffers, index, bwhere));
    MLOS_ASSIGN_OR_RETURN(Vec data, r.Vector(b, buffer_field::kData, 1, bwhere + ".data"));
    std::string version;
    for (uint32_t k = 0; k < data.length && k < 32; ++k) {
      const char c = static_cast<char>(*r.At(data.data + k));
      if (c == '\0') break;
      if (c < 0x21 || c > 0x7e) {  // not a version string: ignore it
        version.clear();
        break;
      }
      version += c;
    }
    info->min_runtime_version = version;
    return Status::Ok();
  }
  return Status::Ok();
}

// One subgraph input or output: tensors[index] of subgraph 0.
Result<TfliteTensorInfo> ReadIoTensor(const FlatReader& r, const Vec& tensors, const Vec& list,
                                      uint32_t k, const char* role) {
  const std::string slot = std::string(role) + " " + std::to_string(k);
  const int32_t index = r.Item<int32_t>(list, k);
  if (index < 0 || static_cast<uint64_t>(index) >= tensors.length)
    return InvalidArgument("TFLite subgraph 0: " + slot + " refers to tensor " +
                           std::to_string(index) + ", but the subgraph has " +
                           std::to_string(tensors.length) + " tensors");
  const std::string where = "subgraphs[0].tensors[" + std::to_string(index) + "] (" + slot + ")";
  MLOS_ASSIGN_OR_RETURN(Table t, r.Element(tensors, static_cast<uint32_t>(index), where));
  MLOS_ASSIGN_OR_RETURN(Vec shape, r.Vector(t, tensor_field::kShape, 4, where + ".shape"));
  MLOS_ASSIGN_OR_RETURN(int8_t type, r.Scalar<int8_t>(t, tensor_field::kType, 0, where + ".type"));
  MLOS_ASSIGN_OR_RETURN(std::string name, r.String(t, tensor_field::kName, where + ".name"));
  MLOS_ASSIGN_OR_RETURN(Vec signature,
                        r.Vector(t, tensor_field::kShapeSignature, 4, where + ".shape_signature"));
  TfliteTensorInfo out;
  out.tensor_index = index;
  // An unnamed tensor is called as mlosd's tflite plugin calls it: "input_0", "output_1"...
  out.spec.name = name.empty() ? std::string(role) + "_" + std::to_string(k) : name;
  name = out.spec.name;
  const std::string label =
      std::string(role) + " " + Quote(name) + " (tensor " + std::to_string(index) + ")";
  out.spec.dtype = TfliteTypeToDtype(type);
  if (out.spec.dtype.empty())
    return InvalidArgument("TFLite " + label + ": unsupported element type " +
                           TfliteTypeName(type));
  // shape_signature carries the dynamic dimensions (-1); one whose rank differs from the shape's
  // (an empty one beside a shape, say) is ignored, as the tflite plugin ignores it.
  out.has_shape_signature = signature.present && signature.length == shape.length;
  const Vec& dims = out.has_shape_signature ? signature : shape;
  for (uint32_t d = 0; d < dims.length; ++d) {
    const int32_t v = r.Item<int32_t>(dims, d);
    if (v < -1)
      return InvalidArgument("TFLite " + label + ": dimension " + std::to_string(d) + " is " +
                             std::to_string(v) + " (expected -1 for dynamic, or >= 0)");
    out.spec.shape.push_back(v);
  }
  return out;
}

// Every tensor of subgraph 0's inputs or outputs; two of them with one name is an error (the
// manifest and the plugin address tensors by name).
Status ReadIoList(const FlatReader& r, const Vec& tensors, const Vec& list, const char* role,
                  std::vector<TfliteTensorInfo>* out) {
  for (uint32_t k = 0; k < list.length; ++k) {
    MLOS_ASSIGN_OR_RETURN(TfliteTensorInfo t, ReadIoTensor(r, tensors, list, k, role));
    for (size_t j = 0; j < out->size(); ++j)
      if ((*out)[j].spec.name == t.spec.name)
        return InvalidArgument("TFLite subgraph 0: " + std::string(role) + "s " +
                               std::to_string(j) + " and " + std::to_string(k) +
                               " are both named " + Quote(t.spec.name));
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

}  // namespace

std::string TfliteTypeToDtype(int32_t type) {
  if (type < 0 || static_cast<size_t>(type) >= kTypes.size()) return "";
  return kTypes[static_cast<size_t>(type)].dtype;
}

std::string TfliteTypeName(int32_t type) {
  if (type < 0 || static_cast<size_t>(type) >= kTypes.size()) return "TYPE_" + std::to_string(type);
  return kTypes[static_cast<size_t>(type)].schema_name;
}

Result<TfliteInfo> InspectTfliteBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8)
    return InvalidArgument("not a TFLite model: " + std::to_string(bytes.size()) +
                           " bytes is too short for a FlatBuffer with a file identifier");
  if (std::memcmp(bytes.data() + 4, "TFL3", 4) != 0) {
    std::string id;
    for (size_t i = 4; i < 8; ++i) {
      const char c = static_cast<char>(bytes[i]);
      if (c >= 0x20 && c < 0x7f) {
        id += c;
      } else {
        static const char* kHex = "0123456789abcdef";
        id += std::string("\\x") + kHex[bytes[i] >> 4] + kHex[bytes[i] & 15];
      }
    }
    return InvalidArgument("not a TFLite model: file identifier \"" + id +
                           "\" at bytes 4..8, expected \"TFL3\"");
  }
  const FlatReader r(bytes);
  TfliteInfo info;
  info.file_size = bytes.size();

  MLOS_ASSIGN_OR_RETURN(uint64_t root, r.Follow(0, "root"));
  MLOS_ASSIGN_OR_RETURN(Table model, r.TableAt(root, "model"));
  MLOS_ASSIGN_OR_RETURN(info.schema_version,
                        r.Scalar<uint32_t>(model, model_field::kVersion, 0, "model.version"));
  MLOS_ASSIGN_OR_RETURN(info.description,
                        r.String(model, model_field::kDescription, "model.description"));
  MLOS_ASSIGN_OR_RETURN(Vec buffers, r.Vector(model, model_field::kBuffers, 4, "model.buffers"));
  MLOS_RETURN_IF_ERROR(ReadBuffers(r, buffers, &info));
  MLOS_ASSIGN_OR_RETURN(Vec metadata, r.Vector(model, model_field::kMetadata, 4, "model.metadata"));
  MLOS_RETURN_IF_ERROR(ReadMinRuntimeVersion(r, metadata, buffers, &info));

  MLOS_ASSIGN_OR_RETURN(Vec subgraphs,
                        r.Vector(model, model_field::kSubgraphs, 4, "model.subgraphs"));
  info.subgraph_count = subgraphs.length;
  if (subgraphs.length == 0) return InvalidArgument("TFLite model has no subgraphs");
  MLOS_ASSIGN_OR_RETURN(Table graph, r.Element(subgraphs, 0, "subgraphs[0]"));
  MLOS_ASSIGN_OR_RETURN(Vec tensors,
                        r.Vector(graph, subgraph_field::kTensors, 4, "subgraphs[0].tensors"));
  MLOS_ASSIGN_OR_RETURN(Vec inputs,
                        r.Vector(graph, subgraph_field::kInputs, 4, "subgraphs[0].inputs"));
  MLOS_ASSIGN_OR_RETURN(Vec outputs,
                        r.Vector(graph, subgraph_field::kOutputs, 4, "subgraphs[0].outputs"));
  info.tensor_count = tensors.length;
  MLOS_RETURN_IF_ERROR(ReadIoList(r, tensors, inputs, "input", &info.inputs));
  MLOS_RETURN_IF_ERROR(ReadIoList(r, tensors, outputs, "output", &info.outputs));
  return info;
}

Result<TfliteInfo> InspectTflite(const std::filesystem::path& path) {
  const std::string file = path.string();
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound(file + ": no such file");
    return Status(err == EACCES ? StatusCode::kPermissionDenied : StatusCode::kInternal,
                  file + ": cannot open: " + std::system_category().message(err));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Internal(file + ": cannot stat: " + std::system_category().message(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(file + ": not a TFLite model: not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return InspectTfliteBytes({}).status().WithPrefix(file);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED)
    return Internal(file + ": cannot map: " + std::system_category().message(map_errno));
  auto info = InspectTfliteBytes({static_cast<const uint8_t*>(map), size});
  ::munmap(map, size);
  if (!info.ok()) return info.status().WithPrefix(file);
  return info;
}

mpf::Io TfliteIo(const TfliteInfo& info) {
  mpf::Io io;
  for (const auto& t : info.inputs) io.inputs.push_back(t.spec);
  for (const auto& t : info.outputs) io.outputs.push_back(t.spec);
  return io;
}

}  // namespace mlos::axon
