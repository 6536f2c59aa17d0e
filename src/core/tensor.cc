#include "core/tensor.h"

#include <limits>

namespace mlos::core {
namespace {

struct Names {
  DataType type;
  const char* name;
  const char* kserve;
};

constexpr Names kNames[] = {
    {DataType::kFloat32, "float32", "FP32"},   {DataType::kFloat64, "float64", "FP64"},
    {DataType::kFloat16, "float16", "FP16"},   {DataType::kBFloat16, "bfloat16", "BF16"},
    {DataType::kInt8, "int8", "INT8"},         {DataType::kInt16, "int16", "INT16"},
    {DataType::kInt32, "int32", "INT32"},      {DataType::kInt64, "int64", "INT64"},
    {DataType::kUInt8, "uint8", "UINT8"},      {DataType::kUInt16, "uint16", "UINT16"},
    {DataType::kUInt32, "uint32", "UINT32"},   {DataType::kUInt64, "uint64", "UINT64"},
    {DataType::kBool, "bool", "BOOL"},         {DataType::kString, "string", "BYTES"},
};

}  // namespace

const char* DataTypeName(DataType t) {
  for (const Names& n : kNames) {
    if (n.type == t) return n.name;
  }
  return "invalid";
}

std::optional<DataType> DataTypeFromName(std::string_view name) {
  for (const Names& n : kNames) {
    if (name == n.name) return n.type;
  }
  return std::nullopt;
}

const char* DataTypeKServeName(DataType t) {
  for (const Names& n : kNames) {
    if (n.type == t) return n.kserve;
  }
  return "INVALID";
}

std::optional<DataType> DataTypeFromKServeName(std::string_view name) {
  for (const Names& n : kNames) {
    if (name == n.kserve) return n.type;
  }
  return std::nullopt;
}

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

}  // namespace mlos::core
