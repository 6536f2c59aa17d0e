#include "axon/describe.h"

#include <algorithm>
#include <cmath>
#include <system_error>

#include "axon/inspect/estimate.h"
#include "axon/inspect/gguf.h"
#include "axon/inspect/onnx_io.h"

namespace fs = std::filesystem;

namespace mlos::axon {
namespace {

}  // namespace

void DescribeModel(const fs::path& dir, mpf::Manifest* m, std::vector<std::string>* notes) {
  uint64_t total_bytes = 0;
  for (const auto& f : m->format.files) total_bytes += f.size;
  m->requirements.storage_min_gb = BytesToGiBRoundedUp(total_bytes);
  if (m->format.execution_files.empty()) return;
  const auto& exec = m->format.execution_files.front();
  fs::path path = dir / exec.path;
  uint64_t memory = 0;
  if (exec.format == "onnx") {
    auto info = InspectOnnx(path);
    if (!info.ok()) {
      notes->push_back("could not read the ONNX graph of " + exec.path + ": " +
                       info.status().message());
      return;
    }
    m->io = OnnxIo(*info);
    if (m->framework.version.empty() && !info->opsets.empty()) {
      for (const auto& o : info->opsets)
        if (o.domain.empty() || o.domain == "ai.onnx")
          m->framework.version = "opset " + std::to_string(o.version);
    }
    if (m->metadata.description.empty()) m->metadata.description = info->doc_string;
    memory = EstimateOnnxMemoryBytes(*info);
  } else if (exec.format == "gguf") {
    auto info = InspectGguf(path);
    if (!info.ok()) {
      notes->push_back("could not read the GGUF metadata of " + exec.path + ": " +
                       info.status().message());
      return;
    }
    // An LLM takes token ids and yields logits; the plugin owns tokenisation.
    m->io.inputs = {{"prompt", "string", {-1}, "text prompt (tokenised by the plugin)", {}}};
    m->io.outputs = {{"text", "string", {-1}, "generated text", {}}};
    m->framework.name = "gguf";
    if (!info->architecture.empty()) m->framework.version = info->architecture;
    if (!info->file_type_name.empty() &&
        std::find(m->metadata.tags.begin(), m->metadata.tags.end(), info->file_type_name) ==
            m->metadata.tags.end())
      m->metadata.tags.push_back(info->file_type_name);
    memory = EstimateGgufMemoryBytes(*info);
  } else {
    std::error_code ec;
    memory = EstimateFileMemoryBytes(fs::file_size(path, ec));
  }
  m->requirements.memory_min_gb = BytesToGiBRoundedUp(memory);
  m->requirements.memory_recommended_gb = BytesToGiBRoundedUp(memory + memory / 2);
}

}  // namespace mlos::axon
