#include "axon/inspect/gguf.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

namespace mlos::axon {
namespace {

enum GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
static_assert(std::endian::native == std::endian::little, "GGUF files are read as little endian");

constexpr int kMaxArrayDepth = 4;
constexpr size_t kPrintedArrayItems = 8;

// Size in the file of a fixed-size GGUF value type; 0 for string/array/unknown.
uint64_t ScalarSize(uint32_t t) {
  switch (t) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
      return 8;
    default:
      return 0;
  }
}

// A decoded metadata value: the printable text, and numeric / string views where they apply.
struct Value {
  std::string text;
  std::optional<uint64_t> uint;  // non-negative integers (for arrays: the maximum element)
  std::optional<std::string> str;
  uint64_t array_len = 0;
  bool is_array = false;
};

std::string FormatDouble(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

// Sequential reader over the file; every read is bounds-checked against the file size.
class Reader {
 public:
  Reader(std::FILE* f, uint64_t size, std::string file)
      : f_(f), size_(size), file_(std::move(file)) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  Status Truncated(const std::string& what) const {
    return InvalidArgument(file_ + ": truncated at offset " + std::to_string(pos_) + ": " + what);
  }
  Status Bad(uint64_t at, const std::string& what) const {
    return InvalidArgument(file_ + ": at offset " + std::to_string(at) + ": " + what);
  }

  Status Read(void* out, uint64_t n, const char* what) {
    if (n > left())
      return Truncated(std::string("expected ") + std::to_string(n) + " bytes of " + what);
    if (n && std::fread(out, 1, n, f_) != n) return Truncated(std::string("read error in ") + what);
    pos_ += n;
    return Status::Ok();
  }

  Status Skip(uint64_t n, const char* what) {
    if (n > left())
      return Truncated(std::string("expected ") + std::to_string(n) + " bytes of " + what);
    if (std::fseek(f_, static_cast<long>(pos_ + n), SEEK_SET) != 0) return Truncated("seek failed");
    pos_ += n;
    return Status::Ok();
  }

  template <typename T>
  Status ReadLe(T* v, const char* what) {  // the host is little endian (static_assert above)
    return Read(v, sizeof(T), what);
  }

  // A GGUF string: uint64 length + bytes (not NUL-terminated).
  Status ReadString(std::string* s, const char* what) {
    uint64_t at = pos_;
    uint64_t len;
    MLOS_RETURN_IF_ERROR(ReadLe(&len, what));
    if (len > kGgufMaxStringBytes) {
      return Bad(at, std::string(what) + ": string length " + std::to_string(len) +
                         " exceeds the limit of " + std::to_string(kGgufMaxStringBytes));
    }
    if (len > left()) {
      return Truncated(std::string(what) + ": string of " + std::to_string(len) + " bytes");
    }
    s->resize(len);
    return Read(s->data(), len, what);
  }

 private:
  std::FILE* f_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string file_;
};

template <typename T>
Status ReadNumber(Reader& r, const char* what, Value* v) {
  T x;
  MLOS_RETURN_IF_ERROR(r.ReadLe(&x, what));
  if constexpr (std::is_floating_point_v<T>) {
    v->text = FormatDouble(x);
  } else {
    if (x >= 0) v->uint = static_cast<uint64_t>(x);
    v->text = std::to_string(x);
  }
  return Status::Ok();
}

Status ReadScalar(Reader& r, uint32_t type, Value* v) {
  switch (type) {
    case kU8:
      return ReadNumber<uint8_t>(r, "uint8", v);
    case kI8:
      return ReadNumber<int8_t>(r, "int8", v);
    case kU16:
      return ReadNumber<uint16_t>(r, "uint16", v);
    case kI16:
      return ReadNumber<int16_t>(r, "int16", v);
    case kU32:
      return ReadNumber<uint32_t>(r, "uint32", v);
    case kI32:
      return ReadNumber<int32_t>(r, "int32", v);
    case kU64:
      return ReadNumber<uint64_t>(r, "uint64", v);
    case kI64:
      return ReadNumber<int64_t>(r, "int64", v);
    case kF32:
      return ReadNumber<float>(r, "float32", v);
    case kF64:
      return ReadNumber<double>(r, "float64", v);
    case kBool: {
      uint8_t x;
      MLOS_RETURN_IF_ERROR(r.ReadLe(&x, "bool"));
      v->text = x ? "true" : "false";
      return Status::Ok();
    }
    case kString: {
      std::string s;
      MLOS_RETURN_IF_ERROR(r.ReadString(&s, "string value"));
      v->text = s;
      v->str = std::move(s);
      return Status::Ok();
    }
    default:
      return Internal("not a scalar type");
  }
}

Status ReadValue(Reader& r, uint32_t type, Value* v, int depth);

Status ReadArray(Reader& r, Value* v, int depth) {
  uint64_t at = r.pos();
  if (depth >= kMaxArrayDepth) return r.Bad(at, "arrays nested too deeply");
  uint32_t elem_type;
  uint64_t n;
  MLOS_RETURN_IF_ERROR(r.ReadLe(&elem_type, "array type"));
  MLOS_RETURN_IF_ERROR(r.ReadLe(&n, "array length"));
  if (elem_type > kF64) return r.Bad(at, "unknown array element type " + std::to_string(elem_type));
  if (n > kGgufMaxArrayElements) {
    return r.Bad(at, "array length " + std::to_string(n) + " exceeds the limit of " +
                         std::to_string(kGgufMaxArrayElements));
  }
  // Every element takes at least one byte (strings: 8), so a count beyond what is left of the
  // file is a lie, caught before looping over it.
  uint64_t min_elem = elem_type == kString ? 8 : std::max<uint64_t>(ScalarSize(elem_type), 1);
  if (n > r.left() / min_elem) {
    return r.Truncated("array of " + std::to_string(n) + " elements does not fit in the file");
  }
  v->is_array = true;
  v->array_len = n;
  std::string text = "[";
  uint64_t fixed = ScalarSize(elem_type);
  for (uint64_t i = 0; i < n; ++i) {
    if (i >= kPrintedArrayItems && fixed) {  // the rest of a numeric array: only its maximum
      if (elem_type == kF32 || elem_type == kF64 || elem_type == kBool) {
        MLOS_RETURN_IF_ERROR(r.Skip((n - i) * fixed, "array"));
        break;
      }
    }
    Value e;
    MLOS_RETURN_IF_ERROR(ReadValue(r, elem_type, &e, depth + 1));
    if (e.uint && (!v->uint || *e.uint > *v->uint)) v->uint = e.uint;
    if (i < kPrintedArrayItems) {
      if (i) text += ", ";
      text += elem_type == kString ? "\"" + e.text + "\"" : e.text;
    }
  }
  if (n > kPrintedArrayItems) text += ", ... (" + std::to_string(n) + " items)";
  text += "]";
  v->text = std::move(text);
  return Status::Ok();
}

Status ReadValue(Reader& r, uint32_t type, Value* v, int depth) {
  if (type == kArray) return ReadArray(r, v, depth);
  if (type > kF64) return r.Bad(r.pos(), "unknown value type " + std::to_string(type));
  return ReadScalar(r, type, v);
}

uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t out;
  return __builtin_mul_overflow(a, b, &out) ? UINT64_MAX : out;
}

struct TypeTraits {
  const char* name;
  uint64_t block;
  uint64_t bytes;
};

// ggml_type values and their (block size, bytes per block), as in ggml and gguf-py.
const TypeTraits* Traits(uint32_t t) {
  static const TypeTraits kTraits[] = {
      {"F32", 1, 4},        {"F16", 1, 2},       {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
      {nullptr, 0, 0},      {nullptr, 0, 0},     {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
      {"Q8_0", 32, 34},     {"Q8_1", 32, 36},    {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
      {"Q4_K", 256, 144},   {"Q5_K", 256, 176},  {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
      {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
      {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
      {"I8", 1, 1},         {"I16", 1, 2},       {"I32", 1, 4},        {"I64", 1, 8},
      {"F64", 1, 8},        {"IQ1_M", 256, 56},  {"BF16", 1, 2},       {nullptr, 0, 0},
      {nullptr, 0, 0},      {nullptr, 0, 0},     {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
      {nullptr, 0, 0},      {nullptr, 0, 0},     {nullptr, 0, 0},      {"MXFP4", 32, 17},
  };
  if (t >= sizeof kTraits / sizeof kTraits[0] || kTraits[t].name == nullptr) return nullptr;
  return &kTraits[t];
}

std::optional<uint64_t> Uint(const std::map<std::string, Value>& kv, const std::string& key) {
  auto it = kv.find(key);
  return it == kv.end() ? std::nullopt : it->second.uint;
}

std::string Str(const std::map<std::string, Value>& kv, const std::string& key) {
  auto it = kv.find(key);
  return it == kv.end() || !it->second.str ? std::string() : *it->second.str;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::string GgmlTypeName(uint32_t ggml_type) {
  const TypeTraits* t = Traits(ggml_type);
  return t ? t->name : "";
}

bool GgmlTypeBlock(uint32_t ggml_type, uint64_t* block_elements, uint64_t* block_bytes) {
  const TypeTraits* t = Traits(ggml_type);
  if (!t) return false;
  *block_elements = t->block;
  *block_bytes = t->bytes;
  return true;
}

std::string GgufFileTypeName(uint32_t file_type) {
  static const char* const kNames[] = {
      "F32",    "F16",    "Q4_0",  "Q4_1",    "Q4_1_SOME_F16", nullptr,  nullptr,     "Q8_0",
      "Q5_0",   "Q5_1",   "Q2_K",  "Q3_K_S",  "Q3_K_M",        "Q3_K_L", "Q4_K_S",    "Q4_K_M",
      "Q5_K_S", "Q5_K_M", "Q6_K",  "IQ2_XXS", "IQ2_XS",        "Q2_K_S", "IQ3_XS",    "IQ3_XXS",
      "IQ1_S",  "IQ4_NL", "IQ3_S", "IQ3_M",   "IQ2_S",         "IQ2_M",  "IQ4_XS",    "IQ1_M",
      "BF16",   nullptr,  nullptr, nullptr,   "TQ1_0",         "TQ2_0",  "MXFP4_MOE",
  };
  if (file_type < sizeof kNames / sizeof kNames[0] && kNames[file_type]) return kNames[file_type];
  return "FTYPE_" + std::to_string(file_type);
}

Result<GgufInfo> InspectGguf(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(file + ": no such file");
  if (!std::filesystem::is_regular_file(path, ec)) {
    return InvalidArgument(file + ": not a GGUF file: not a regular file");
  }
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Internal(file + ": cannot stat: " + ec.message());
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(file.c_str(), "rb"));
  if (!f) {
    return Status(errno == EACCES ? StatusCode::kPermissionDenied : StatusCode::kInternal,
                  file + ": cannot open: " + std::strerror(errno));
  }
  Reader r(f.get(), size, file);

  char magic[4];
  if (size < 4 || !r.Read(magic, 4, "magic").ok() || std::memcmp(magic, "GGUF", 4) != 0) {
    return InvalidArgument(file + ": not a GGUF file: bad magic");
  }
  GgufInfo info;
  info.file_size = size;
  MLOS_RETURN_IF_ERROR(r.ReadLe(&info.version, "version"));
  if (info.version != 2 && info.version != 3) {
    return InvalidArgument(file + ": unsupported GGUF version " + std::to_string(info.version) +
                           " (2 and 3 are supported)");
  }
  uint64_t n_tensors, n_kv;
  MLOS_RETURN_IF_ERROR(r.ReadLe(&n_tensors, "tensor count"));
  MLOS_RETURN_IF_ERROR(r.ReadLe(&n_kv, "metadata count"));
  // A KV takes at least 8 + 4 + 1 bytes and a tensor info at least 8 + 4 + 4 + 8.
  if (n_kv > r.left() / 13)
    return r.Bad(16, "metadata count " + std::to_string(n_kv) + " exceeds the file");
  if (n_tensors > r.left() / 24) {
    return r.Bad(8, "tensor count " + std::to_string(n_tensors) + " exceeds the file");
  }

  std::map<std::string, Value> kv;
  uint64_t metadata_bytes = 0;
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t at = r.pos();
    std::string key;
    MLOS_RETURN_IF_ERROR(r.ReadString(&key, "metadata key"));
    uint32_t type;
    MLOS_RETURN_IF_ERROR(r.ReadLe(&type, "value type"));
    Value v;
    Status st = ReadValue(r, type, &v, 0);
    if (!st.ok()) return Status(st.code(), st.message() + " (in key '" + key + "')");
    if (kv.count(key)) return r.Bad(at, "duplicate metadata key '" + key + "'");
    metadata_bytes += key.size() + v.text.size();
    if (metadata_bytes > kGgufMaxMetadataBytes) {
      return r.Bad(at, "metadata exceeds " + std::to_string(kGgufMaxMetadataBytes) + " bytes");
    }
    info.metadata[key] = v.text;
    kv.emplace(std::move(key), std::move(v));
  }

  info.alignment = Uint(kv, "general.alignment").value_or(32);
  if (info.alignment == 0 || (info.alignment & (info.alignment - 1)) != 0 ||
      info.alignment > (1u << 20)) {
    return InvalidArgument(file + ": general.alignment " + std::to_string(info.alignment) +
                           " is not a power of two up to 1 MiB");
  }
  info.architecture = Str(kv, "general.architecture");
  info.name = Str(kv, "general.name");
  const std::string& a = info.architecture;
  info.context_length = Uint(kv, a + ".context_length").value_or(0);
  info.embedding_length = Uint(kv, a + ".embedding_length").value_or(0);
  info.block_count = Uint(kv, a + ".block_count").value_or(0);
  info.head_count = Uint(kv, a + ".attention.head_count").value_or(0);
  info.head_count_kv = Uint(kv, a + ".attention.head_count_kv").value_or(0);
  if (auto pt = Uint(kv, a + ".pooling_type"); pt && *pt <= INT32_MAX) {
    info.pooling_type = static_cast<int64_t>(*pt);
  }
  info.parameter_count = Uint(kv, "general.parameter_count").value_or(0);
  info.chat_template = Str(kv, "tokenizer.chat_template");
  if (auto ft = Uint(kv, "general.file_type"); ft && *ft <= UINT32_MAX) {
    info.has_file_type = true;
    info.file_type = static_cast<uint32_t>(*ft);
    info.file_type_name = GgufFileTypeName(info.file_type);
  }
  info.quantization_version = static_cast<uint32_t>(
      std::min<uint64_t>(Uint(kv, "general.quantization_version").value_or(0), UINT32_MAX));
  info.tokenizer_model = Str(kv, "tokenizer.ggml.model");
  if (auto it = kv.find("tokenizer.ggml.tokens"); it != kv.end() && it->second.is_array) {
    info.vocab_size = it->second.array_len;
  }

  info.tensor_count = n_tensors;
  info.tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    uint64_t at = r.pos();
    GgufTensorInfo t;
    MLOS_RETURN_IF_ERROR(r.ReadString(&t.name, "tensor name"));
    uint32_t n_dims;
    MLOS_RETURN_IF_ERROR(r.ReadLe(&n_dims, "tensor dimension count"));
    if (n_dims > kGgufMaxDims) {
      return r.Bad(at, "tensor '" + t.name + "' has " + std::to_string(n_dims) +
                           " dimensions (at most " + std::to_string(kGgufMaxDims) + ")");
    }
    t.dims.resize(n_dims);
    uint64_t numel = 1;
    for (auto& d : t.dims) {
      MLOS_RETURN_IF_ERROR(r.ReadLe(&d, "tensor dimension"));
      numel = SatMul(numel, d);
    }
    MLOS_RETURN_IF_ERROR(r.ReadLe(&t.ggml_type, "tensor type"));
    MLOS_RETURN_IF_ERROR(r.ReadLe(&t.offset, "tensor offset"));
    uint64_t block, block_bytes;
    if (GgmlTypeBlock(t.ggml_type, &block, &block_bytes)) {
      uint64_t ne0 = t.dims.empty() ? 1 : t.dims[0];
      if (ne0 % block != 0) {
        return r.Bad(at, "tensor '" + t.name + "': row of " + std::to_string(ne0) +
                             " elements is not a multiple of the " + GgmlTypeName(t.ggml_type) +
                             " block size " + std::to_string(block));
      }
      t.bytes = SatMul(numel / block, block_bytes);
    } else {
      info.all_tensor_types_known = false;
    }
    if (t.offset % info.alignment != 0) {
      return r.Bad(at, "tensor '" + t.name + "': offset " + std::to_string(t.offset) +
                           " is not aligned to " + std::to_string(info.alignment));
    }
    info.tensors.push_back(std::move(t));
  }

  uint64_t pos = r.pos();
  info.data_offset = (pos + info.alignment - 1) / info.alignment * info.alignment;
  uint64_t data_size = size >= info.data_offset ? size - info.data_offset : 0;
  if (n_tensors > 0 && size < info.data_offset) {
    return InvalidArgument(file + ": truncated at offset " + std::to_string(size) +
                           ": the tensor data section starts at " +
                           std::to_string(info.data_offset));
  }
  uint64_t total = 0;
  for (const auto& t : info.tensors) {
    if (t.offset > data_size || t.bytes > data_size - t.offset) {
      return InvalidArgument(file + ": truncated at offset " + std::to_string(size) + ": tensor '" +
                             t.name + "' needs bytes " +
                             std::to_string(info.data_offset + t.offset) + ".." +
                             std::to_string(info.data_offset + t.offset + t.bytes));
    }
    total += t.bytes;  // no overflow: each is within the file
  }
  info.total_tensor_bytes = info.all_tensor_types_known ? total : data_size;
  return info;
}

}  // namespace mlos::axon
