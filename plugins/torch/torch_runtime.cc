#include "torch_runtime.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <stdexcept>
#include <string_view>

#include "mlos/smi_plugin.h"

namespace mlos::torch_plugin {
namespace {

using smi::MakeError;

// How the TorchScript interpreter opens the message of an error raised while running code.
constexpr std::string_view kInterpreterPrefix =
    "The following operation failed in the TorchScript interpreter.";

// Whether `line` opens an exception's text, e.g. "RuntimeError: ..." or "builtins.ValueError: ".
bool IsErrorLine(std::string_view line) {
  const size_t colon = line.find(": ");
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.';
    if (!word) return false;
  }
  return name.ends_with("Error") || name.ends_with("Exception");
}

// The text from the last line that opens an exception (the interpreter writes the call stack
// first, then "<Class>: <message>"); the whole text when there is none.
std::string_view AfterCallStack(std::string_view text) {
  size_t start = 0, found = std::string_view::npos;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (IsErrorLine(text.substr(start, end - start))) found = start;
    start = end + 1;
  }
  return found == std::string_view::npos ? text : text.substr(found);
}

// At most `max_lines` non-empty lines of `text`, trimmed, joined by "\n".
std::string FirstLines(std::string_view text, int max_lines) {
  std::string out;
  int lines = 0;
  size_t start = 0;
  while (start < text.size() && lines < max_lines) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) {
      if (!out.empty()) out += '\n';
      out += line;
      ++lines;
    }
    start = end + 1;
  }
  return out;
}

bool IsOutOfMemory(std::string_view message) {
  return message.find("DefaultCPUAllocator: not enough memory") != std::string_view::npos ||
         message.find("DefaultCPUAllocator: can't allocate memory") != std::string_view::npos;
}

}  // namespace

const char* FrameworkName() { return "libtorch " TORCH_VERSION; }

std::string ApplyThreadSettings(const TorchConfig& config) {
  // The inter-op count first: when it is refused, nothing has changed.
  if (config.inter_op_threads > 0) {
    try {
      at::set_num_interop_threads(config.inter_op_threads);
    } catch (const c10::Error&) {
      const int current = at::get_num_interop_threads();
      if (current != config.inter_op_threads) {
        return "inter_op_threads: libtorch's inter-op thread count is already fixed at " +
               std::to_string(current) +
               " in this process (it is set once, before any inter-op work)";
      }
    }
  }
  if (config.intra_op_threads > 0) at::set_num_threads(config.intra_op_threads);
  return "";
}

std::string ShortTorchMessage(const std::exception& e) {
  if (const auto* error = dynamic_cast<const c10::Error*>(&e)) {
    return FirstLines(error->what_without_backtrace(), 4);
  }
  std::string_view text = e.what();
  if (text.starts_with(kInterpreterPrefix)) text = AfterCallStack(text);
  return FirstLines(text, 4);
}

smi_error* FromTorchException() {
  try {
    throw;
  } catch (const c10::Error& e) {
    const std::string message = ShortTorchMessage(e);
    return MakeError(IsOutOfMemory(message) ? SMI_ERROR_RESOURCE_EXHAUSTED : SMI_ERROR_INTERNAL,
                     "torch: " + message);
  } catch (const std::runtime_error& e) {
    if (!std::string_view(e.what()).starts_with(kInterpreterPrefix)) return nullptr;
    const std::string message = ShortTorchMessage(e);
    return MakeError(IsOutOfMemory(message) ? SMI_ERROR_RESOURCE_EXHAUSTED : SMI_ERROR_INTERNAL,
                     "torch: " + message);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace mlos::torch_plugin
