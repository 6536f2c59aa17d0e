// Fills a manifest's model-derived sections (IO schema, memory requirement, framework details)
// by inspecting the model files themselves (ONNX graph, GGUF metadata).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mpf/manifest.h"

namespace mlos::axon {

// `dir` holds the files of m.format.files; m.format.execution_format / execution_files are set.
// Sets m.io, m.requirements (memory and storage), m.framework.version where known, and for a GGUF
// file m.llm (LlmFromGguf; a split set is read shard by shard) with the IO schema of a generator
// (prompt -> text) or an embedding model (text -> embedding). Problems that do not prevent
// installing (an unreadable ONNX graph) are appended to notes.
void DescribeModel(const std::filesystem::path& dir, mpf::Manifest* m,
                   std::vector<std::string>* notes);

}  // namespace mlos::axon
