#include "axon/describe.h"

#include <algorithm>
#include <cmath>
#include <system_error>

#include "axon/inspect/estimate.h"
#include "axon/hub/gguf_files.h"
#include "axon/inspect/gguf.h"
#include "axon/inspect/gguf_llm.h"
#include "axon/inspect/onnx_io.h"
#include "axon/inspect/tflite_io.h"

namespace fs = std::filesystem;

namespace mlos::axon {
namespace {

// The GGUF metadata of `exec` (a path in `dir`). For the first shard of a split set, the other
// shards listed in `files` add their tensors, so the parameter count and the memory estimate
// cover the whole model.
Result<GgufInfo> InspectGgufSet(const fs::path& dir, const std::string& exec,
                                const std::vector<mpf::FileEntry>& files) {
  MLOS_ASSIGN_OR_RETURN(GgufInfo info, InspectGguf(dir / exec));
  const GgufSplitName split = ParseGgufSplitName(exec);
  if (split.index != 1) return info;
  for (const mpf::FileEntry& f : files) {
    const GgufSplitName other = ParseGgufSplitName(f.path);
    if (other.key != split.key || other.index <= 1) continue;
    MLOS_ASSIGN_OR_RETURN(GgufInfo shard, InspectGguf(dir / f.path));
    info.tensor_count += shard.tensor_count;
    info.total_tensor_bytes += shard.total_tensor_bytes;
    info.all_tensor_types_known = info.all_tensor_types_known && shard.all_tensor_types_known;
    for (GgufTensorInfo& t : shard.tensors) info.tensors.push_back(std::move(t));
  }
  return info;
}

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
    auto info = InspectGgufSet(dir, exec.path, m->format.files);
    if (!info.ok()) {
      notes->push_back("could not read the GGUF metadata of " + exec.path + ": " +
                       info.status().message());
      return;
    }
    // The plugin owns tokenisation: text in, text (or an embedding) out.
    m->llm = LlmFromGguf(*info);
    m->io = LlmIo(*m->llm);
    m->framework.name = "gguf";
    if (!info->architecture.empty()) m->framework.version = info->architecture;
    const std::string& quant = m->llm->quantization;
    if (!quant.empty() &&
        std::find(m->metadata.tags.begin(), m->metadata.tags.end(), quant) == m->metadata.tags.end())
      m->metadata.tags.push_back(quant);
    if (m->llm->architecture.empty()) {
      notes->push_back(exec.path + ": no general.architecture in the GGUF metadata");
      m->llm.reset();  // spec.llm requires one; the plugin will refuse the file anyway
    } else if (!m->llm->embedding && m->llm->chat_template.empty()) {
      notes->push_back(exec.path + ": no tokenizer.chat_template; chat requests will use the "
                       "plugin's default template");
    }
    memory = EstimateGgufMemoryBytes(*info);
  } else if (exec.format == "tflite") {
    std::error_code ec;
    memory = EstimateFileMemoryBytes(fs::file_size(path, ec));
    auto info = InspectTflite(path);
    if (!info.ok()) {
      notes->push_back("could not read the TFLite model " + exec.path + ": " +
                       info.status().message());
    } else {
      m->io = TfliteIo(*info);
      if (m->framework.version.empty())
        m->framework.version = !info->min_runtime_version.empty()
                                   ? info->min_runtime_version
                                   : "schema " + std::to_string(info->schema_version);
      if (m->metadata.description.empty()) m->metadata.description = info->description;
      // The weights are in the file; the interpreter's arena comes on top of them.
      memory = EstimateFileMemoryBytes(std::max(info->file_size, info->buffer_bytes));
    }
  } else {
    std::error_code ec;
    memory = EstimateFileMemoryBytes(fs::file_size(path, ec));
  }
  m->requirements.memory_min_gb = BytesToGiBRoundedUp(memory);
  m->requirements.memory_recommended_gb = BytesToGiBRoundedUp(memory + memory / 2);
}

}  // namespace mlos::axon
