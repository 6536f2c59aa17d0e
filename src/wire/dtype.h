// The one dtype table shared by the server and the SDK: the SMI value (smi.h), the MPF manifest
// name ("float32"), the KServe v2 name ("FP32") and the element size of every tensor type.
// Depends on nothing but smi.h and the standard library. Thread-safe (constant data).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlos/smi.h"

namespace mlos::wire {

struct DtypeInfo {
  smi_dtype id;        // SMI_DTYPE_*; also core::DataType's value
  const char* name;    // manifest / SDK name: "float32", ..., "bool", "string"
  const char* kserve;  // KServe v2 datatype: "FP32", ..., "BOOL", "BYTES"
  uint8_t size;        // bytes per element; 0 for "string" (variable length)
};

// Every known dtype, in SMI order.
const std::vector<DtypeInfo>& Dtypes();
// nullptr when unknown (SMI_DTYPE_INVALID included).
const DtypeInfo* DtypeById(int id);
const DtypeInfo* DtypeByName(std::string_view name);
const DtypeInfo* DtypeByKServeName(std::string_view kserve);

// Element count of a shape (1 for a scalar); -1 when a dim is negative or the count overflows
// int64.
int64_t ElementCount(const std::vector<int64_t>& shape);

// "[1, 3, 224, 224]" ("[]" for a scalar), as every error message spells shapes.
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace mlos::wire
