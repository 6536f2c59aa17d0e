#include "wire/dtype.h"

#include <limits>
#include <string>

namespace mlos::wire {

const std::vector<DtypeInfo>& Dtypes() {
  static const std::vector<DtypeInfo> kDtypes = {
      {SMI_DTYPE_FLOAT32, "float32", "FP32", 4},   {SMI_DTYPE_FLOAT64, "float64", "FP64", 8},
      {SMI_DTYPE_FLOAT16, "float16", "FP16", 2},   {SMI_DTYPE_BFLOAT16, "bfloat16", "BF16", 2},
      {SMI_DTYPE_INT8, "int8", "INT8", 1},         {SMI_DTYPE_INT16, "int16", "INT16", 2},
      {SMI_DTYPE_INT32, "int32", "INT32", 4},      {SMI_DTYPE_INT64, "int64", "INT64", 8},
      {SMI_DTYPE_UINT8, "uint8", "UINT8", 1},      {SMI_DTYPE_UINT16, "uint16", "UINT16", 2},
      {SMI_DTYPE_UINT32, "uint32", "UINT32", 4},   {SMI_DTYPE_UINT64, "uint64", "UINT64", 8},
      {SMI_DTYPE_BOOL, "bool", "BOOL", 1},         {SMI_DTYPE_STRING, "string", "BYTES", 0},
  };
  return kDtypes;
}

const DtypeInfo* DtypeById(int id) {
  for (const DtypeInfo& d : Dtypes()) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

const DtypeInfo* DtypeByName(std::string_view name) {
  for (const DtypeInfo& d : Dtypes()) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* DtypeByKServeName(std::string_view kserve) {
  for (const DtypeInfo& d : Dtypes()) {
    if (kserve == d.kserve) return &d;
  }
  return nullptr;
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

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

}  // namespace mlos::wire
