// The ONNX plugin's SMI error object and small shared helpers (no exception crosses the ABI:
// code inside the plugin may throw; the exported functions turn everything into smi_error).
#pragma once

#include <string>

#include "mlos/smi.h"

struct smi_error {
  smi_error_code code;
  std::string message;
};

namespace mlos::onnx_plugin {

// Never throws: when the error itself cannot be allocated, returns a static out-of-memory
// error that ErrorFree leaves alone.
smi_error* MakeError(smi_error_code code, std::string message) noexcept;
void FreeError(smi_error* error) noexcept;

// "float32" ... "string" (the MPF manifest names); "invalid" otherwise.
const char* DtypeName(smi_dtype dtype);

// `"name"` (quoted), "" for NULL.
std::string Quoted(const char* name);

}  // namespace mlos::onnx_plugin
