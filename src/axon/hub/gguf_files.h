// GGUF file names in a repository: quantisation tags, split sets (-00001-of-00003.gguf), and the
// choice of one quantisation to install. Pure functions of the listing (table-tested).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "axon/hub/hub.h"
#include "common/status.h"

namespace mlos::axon {

// The quantisations installed when --quant is not given, best first; without any of them the
// smallest variant is installed.
inline constexpr std::array<const char*, 4> kDefaultGgufQuants = {"Q4_K_M", "Q4_K_S", "Q5_K_M",
                                                                  "Q8_0"};

// The quantisation tag in a GGUF file name, upper-cased: "llama-7b.Q4_K_M.gguf" -> "Q4_K_M",
// "qwen2-0.5b-instruct-q8_0-00001-of-00002.gguf" -> "Q8_0", "model-f16.gguf" -> "F16",
// "x.IQ4_XS.gguf" -> "IQ4_XS"; "" when the name carries none. The tag is the last token of the
// form I?Q<digits>(_<alnum>)*, F16, BF16, F32, TQ1_0/TQ2_0 or MXFP4* that starts after '-', '.',
// '_' or the start of the name and ends before '-', '.' or the end.
std::string GgufQuantTag(const std::string& path);

// True when `quant` occurs in the file name as a whole token, case-insensitively: preceded by
// the start of the name or a non-alphanumeric character, followed by '-', '.' or the end ("Q4_K"
// does not match "Q4_K_M", "Q4_0" does not match "IQ4_0"). The split suffix is ignored.
bool GgufQuantMatches(const std::string& path, const std::string& quant);

// Where a file stands in a split set: "m-Q4_K_M-00002-of-00003.gguf" -> {"m-Q4_K_M.gguf", 2, 3};
// a file that is not split -> {path, 0, 0}.
struct GgufSplitName {
  std::string key;   // the set's name: the path without the -NNNNN-of-NNNNN part
  int index = 0;     // 1-based shard number; 0 when not split
  int count = 0;     // shards in the set; 0 when not split
};
GgufSplitName ParseGgufSplitName(const std::string& path);

// One installable GGUF variant: a single file, or every shard of a split set in shard order.
struct GgufVariant {
  std::string key;                 // GgufSplitName::key
  std::string quant;               // GgufQuantTag(key); "" when untagged
  std::vector<RemoteFile> files;   // shard order; files.front() is what llama.cpp opens
  uint64_t bytes = 0;              // total size (UINT64_MAX when a size is unknown)
  bool complete = true;            // false: a split set with missing or duplicate shards
  std::string problem;             // why it is incomplete
};

// Groups the .gguf files of a listing into variants (sorted by key). Multimodal projectors
// ("mmproj" in the name) are left out unless nothing else is there.
std::vector<GgufVariant> GroupGgufVariants(const std::vector<RemoteFile>& files);

// Chooses the variant to install. With `quant`, the variants whose name carries that tag (the
// first by name when several do); without, the first of kDefaultGgufQuants present, else the
// smallest. Errors: NotFound listing the available quantisations when `quant` matches nothing;
// FailedPrecondition naming the missing shards when the chosen split set is incomplete.
Result<GgufVariant> ChooseGgufVariant(const std::vector<RemoteFile>& files,
                                      const std::string& quant);

}  // namespace mlos::axon
