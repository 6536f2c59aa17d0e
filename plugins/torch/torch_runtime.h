// What the plugin needs of libtorch outside a model: its version, the process-wide thread
// settings, and its exceptions turned into short SMI errors.
#pragma once

#include <exception>
#include <string>

#include "mlos/smi.h"
#include "torch_config.h"

namespace mlos::torch_plugin {

// "libtorch 1.13.0" (the headers' TORCH_VERSION). Static string; any thread.
const char* FrameworkName();

// Applies config's thread counts to libtorch, which keeps them per process: intra_op_threads > 0
// calls at::set_num_threads (the pool every later inference thread uses); inter_op_threads > 0
// calls at::set_num_interop_threads, which libtorch accepts once per process and only before
// inter-op work has started (a second plugin_init asking for the count already in force is
// fine). Returns "" on success, else the message naming the key. Called by plugin_init only.
std::string ApplyThreadSettings(const TorchConfig& config);

// The message of a libtorch exception, kept short: c10::Error's text without its C++ backtrace;
// for an error raised inside TorchScript code (the interpreter's std::runtime_error, which opens
// with the TorchScript call stack), the error line(s) after that stack. At most 4 lines.
std::string ShortTorchMessage(const std::exception& e);

// GuardOptions::translate: rethrows the current exception and turns libtorch's into errors:
// INTERNAL "torch: <ShortTorchMessage>" for c10::Error and errors raised inside TorchScript
// code, RESOURCE_EXHAUSTED for libtorch's out-of-memory errors; NULL for anything else.
smi_error* FromTorchException();

}  // namespace mlos::torch_plugin
