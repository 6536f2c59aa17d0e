// Fills a manifest's model-derived sections (IO schema, memory requirement, framework details)
// by inspecting the model files themselves (ONNX graph, GGUF metadata, TFLite flatbuffer).
// TorchScript files carry no typed signature: their IO comes from the installer (--input /
// --output, or an io.yaml sidecar; see inspect/sidecar_io.h), not from here.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mpf/manifest.h"

namespace mlos::axon {

// `dir` holds the files of m.format.files; m.format.execution_format / execution_files are set.
// Sets m.io, m.requirements (memory and storage), m.framework.version where known, and for a GGUF
// file m.llm (LlmFromGguf; a split set is read shard by shard) with the IO schema of a generator
// (prompt -> text) or an embedding model (text -> embedding). For a TFLite file: the IO of
// subgraph 0 (shape_signature's -1 for dynamic dimensions), framework.version = the model's
// min_runtime_version metadata (else "schema <n>"), the description when the manifest has none,
// memory from the file size (EstimateFileMemoryBytes). Problems that do not prevent installing
// (an unreadable ONNX graph or TFLite flatbuffer) are appended to notes.
void DescribeModel(const std::filesystem::path& dir, mpf::Manifest* m,
                   std::vector<std::string>* notes);

}  // namespace mlos::axon
