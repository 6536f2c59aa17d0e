#include "smi_error.h"

namespace mlos::onnx_plugin {
namespace {
smi_error g_out_of_memory{SMI_ERROR_RESOURCE_EXHAUSTED, "out of memory"};
}  // namespace

smi_error* MakeError(smi_error_code code, std::string message) noexcept {
  try {
    return new smi_error{code, std::move(message)};
  } catch (...) {
    return &g_out_of_memory;
  }
}

void FreeError(smi_error* error) noexcept {
  if (error != &g_out_of_memory) delete error;
}

const char* DtypeName(smi_dtype dtype) {
  switch (dtype) {
    case SMI_DTYPE_FLOAT32:
      return "float32";
    case SMI_DTYPE_FLOAT64:
      return "float64";
    case SMI_DTYPE_FLOAT16:
      return "float16";
    case SMI_DTYPE_BFLOAT16:
      return "bfloat16";
    case SMI_DTYPE_INT8:
      return "int8";
    case SMI_DTYPE_INT16:
      return "int16";
    case SMI_DTYPE_INT32:
      return "int32";
    case SMI_DTYPE_INT64:
      return "int64";
    case SMI_DTYPE_UINT8:
      return "uint8";
    case SMI_DTYPE_UINT16:
      return "uint16";
    case SMI_DTYPE_UINT32:
      return "uint32";
    case SMI_DTYPE_UINT64:
      return "uint64";
    case SMI_DTYPE_BOOL:
      return "bool";
    case SMI_DTYPE_STRING:
      return "string";
    default:
      return "invalid";
  }
}

std::string Quoted(const char* name) {
  return std::string("\"") + (name ? name : "") + "\"";
}

}  // namespace mlos::onnx_plugin
