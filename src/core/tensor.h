// Tensors as the core sees them: parsed from any wire format by the front-ends, handed to
// plugins as smi_tensor views, and returned with outputs the host allocated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlos/smi.h"

namespace mlos::core {

// Same values as smi_dtype.
enum class DataType : int {
  kInvalid = SMI_DTYPE_INVALID,
  kFloat32 = SMI_DTYPE_FLOAT32,
  kFloat64 = SMI_DTYPE_FLOAT64,
  kFloat16 = SMI_DTYPE_FLOAT16,
  kBFloat16 = SMI_DTYPE_BFLOAT16,
  kInt8 = SMI_DTYPE_INT8,
  kInt16 = SMI_DTYPE_INT16,
  kInt32 = SMI_DTYPE_INT32,
  kInt64 = SMI_DTYPE_INT64,
  kUInt8 = SMI_DTYPE_UINT8,
  kUInt16 = SMI_DTYPE_UINT16,
  kUInt32 = SMI_DTYPE_UINT32,
  kUInt64 = SMI_DTYPE_UINT64,
  kBool = SMI_DTYPE_BOOL,
  kString = SMI_DTYPE_STRING,
};

// "float32", "int64", ... (the MPF manifest names).
const char* DataTypeName(DataType t);
std::optional<DataType> DataTypeFromName(std::string_view name);
// KServe v2 names: "FP32", "FP16", "BF16", "INT8", ..., "UINT64", "BOOL", "BYTES".
const char* DataTypeKServeName(DataType t);
std::optional<DataType> DataTypeFromKServeName(std::string_view name);
// Bytes per element; 0 for kString/kInvalid.
inline uint64_t DataTypeSize(DataType t) { return smi_dtype_size(static_cast<smi_dtype>(t)); }

// Element count of a shape (1 for a scalar); -1 if any dim is negative; saturates on overflow
// to UINT64_MAX-free -1 as well.
int64_t ElementCount(const std::vector<int64_t>& shape);

// A named tensor. Numeric data lives in `data` (row-major, little endian), or, for tensors in
// memory the core does not own (a shared-memory region), in `external` (then `data` is empty;
// the owner keeps it alive for the request). Strings live in `strings`.
struct Tensor {
  std::string name;
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  std::vector<std::string> strings;
  const void* external = nullptr;
  uint64_t external_size = 0;

  const uint8_t* bytes() const {
    return external ? static_cast<const uint8_t*>(external) : data.data();
  }
  uint64_t byte_size() const { return external ? external_size : data.size(); }
};

// The IO schema of a model (from the plugin; falls back to the manifest).
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;  // -1 = dynamic; empty = scalar
};

}  // namespace mlos::core
