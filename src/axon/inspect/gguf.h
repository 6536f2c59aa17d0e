// GGUF model inspection: header, metadata and tensor table of a .gguf file (llama.cpp's format).
//
// Reads GGUF versions 2 and 3 (little endian) without reading tensor data: only the header
// region is read, so a 40 GB file costs a few MB of I/O. Every length in the file is checked
// before it is used: strings are capped at 1 MiB, arrays at 10M elements and at what the rest
// of the file can hold, counts at the file size, all metadata at 64 MiB, tensors at 8
// dimensions, and each tensor must lie inside the file. A malformed file yields an error naming
// the byte offset, never a crash or a huge allocation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace mlos::axon {

inline constexpr uint64_t kGgufMaxStringBytes = 1 << 20;
inline constexpr uint64_t kGgufMaxArrayElements = 10'000'000;
inline constexpr uint32_t kGgufMaxDims = 8;
inline constexpr uint64_t kGgufMaxMetadataBytes = 64ull << 20;  // keys + printable values

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first (the innermost, contiguous dimension)
  uint32_t ggml_type = 0;      // ggml_type value, e.g. 0 = F32, 12 = Q4_K
  uint64_t offset = 0;         // from the start of the data section
  uint64_t bytes = 0;          // 0 when ggml_type is unknown to GgmlTypeName
};

struct GgufInfo {
  uint32_t version = 0;  // 2 or 3
  uint64_t file_size = 0;
  uint64_t alignment = 32;   // general.alignment, default 32
  uint64_t data_offset = 0;  // where the tensor data section starts

  // Well-known metadata; empty / 0 when absent.
  std::string architecture;       // general.architecture, e.g. "llama"
  std::string name;               // general.name
  uint64_t context_length = 0;    // {arch}.context_length
  uint64_t embedding_length = 0;  // {arch}.embedding_length
  uint64_t block_count = 0;       // {arch}.block_count
  uint64_t head_count = 0;        // {arch}.attention.head_count (max, if per-layer array)
  uint64_t head_count_kv = 0;     // {arch}.attention.head_count_kv (max, if per-layer array)
  int64_t pooling_type = -1;      // {arch}.pooling_type (0 none, 1 mean, 2 cls, 3 last, 4 rank);
                                  // -1 when absent or negative (unspecified)
  uint64_t parameter_count = 0;   // general.parameter_count (0 when absent)
  std::string chat_template;      // tokenizer.chat_template ("" when absent; at most 1 MiB)
  bool has_file_type = false;
  uint32_t file_type = 0;             // general.file_type (llama_ftype)
  std::string file_type_name;         // e.g. "Q4_K_M" (see GgufFileTypeName); "" when absent
  uint32_t quantization_version = 0;  // general.quantization_version
  std::string tokenizer_model;        // tokenizer.ggml.model, e.g. "llama", "gpt2"
  uint64_t vocab_size = 0;            // length of tokenizer.ggml.tokens

  uint64_t tensor_count = 0;
  // Sum of the tensors' sizes from their ggml types. When some type is unknown
  // (all_tensor_types_known = false) it is the size of the data section instead.
  uint64_t total_tensor_bytes = 0;
  bool all_tensor_types_known = true;
  std::vector<GgufTensorInfo> tensors;

  // Every metadata key with a printable value: numbers in decimal, bools as true/false,
  // strings as they are, arrays as "[a, b, c, ... (N items)]" (first 8 items) .
  std::map<std::string, std::string> metadata;
};

// Reads `path`. Errors: NotFound; InvalidArgument ("<file>: not a GGUF file: bad magic",
// "<file>: unsupported GGUF version 1", "<file>: at offset N: string length ... exceeds ...",
// "<file>: truncated at offset N: ...").
Result<GgufInfo> InspectGguf(const std::filesystem::path& path);

// Name of a ggml_type ("F32", "Q4_K", ...), or "" if unknown.
std::string GgmlTypeName(uint32_t ggml_type);

// Block size (elements) and bytes per block of a ggml_type; false if unknown.
bool GgmlTypeBlock(uint32_t ggml_type, uint64_t* block_elements, uint64_t* block_bytes);

// Short name of a general.file_type value (llama_ftype without "LLAMA_FTYPE_MOSTLY_"):
// 0 -> "F32", 1 -> "F16", 15 -> "Q4_K_M", 32 -> "BF16", ...; "FTYPE_<n>" if unknown.
std::string GgufFileTypeName(uint32_t file_type);

}  // namespace mlos::axon
