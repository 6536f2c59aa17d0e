#include "axon/inspect/gguf_llm.h"

#include <map>
#include <set>

namespace mlos::axon {
namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t out;
  return __builtin_add_overflow(a, b, &out) ? UINT64_MAX : out;
}

uint64_t Elements(const GgufTensorInfo& t) {
  uint64_t n = 1;
  for (uint64_t d : t.dims) {
    if (__builtin_mul_overflow(n, d, &n)) return UINT64_MAX;
  }
  return n;
}

// llama.cpp's LLAMA_POOLING_TYPE_{MEAN, CLS, LAST}.
bool IsEmbeddingPooling(int64_t pooling_type) {
  return pooling_type == 1 || pooling_type == 2 || pooling_type == 3;
}

}  // namespace

bool IsEmbeddingArchitecture(const std::string& architecture) {
  static const std::set<std::string> kEncoders = {"bert",         "nomic-bert",   "nomic-bert-moe",
                                                  "jina-bert-v2", "jina-bert-v3", "modern-bert",
                                                  "neo-bert"};
  return kEncoders.count(architecture) > 0;
}

uint64_t GgufTensorElements(const GgufInfo& info) {
  uint64_t total = 0;
  for (const GgufTensorInfo& t : info.tensors) total = SatAdd(total, Elements(t));
  return total;
}

std::string GgufQuantization(const GgufInfo& info) {
  if (info.has_file_type && info.file_type_name.rfind("FTYPE_", 0) != 0) {
    return info.file_type_name;
  }
  std::map<uint32_t, uint64_t> weights, all;
  for (const GgufTensorInfo& t : info.tensors) {
    if (GgmlTypeName(t.ggml_type).empty()) continue;
    all[t.ggml_type] = SatAdd(all[t.ggml_type], Elements(t));
    if (t.dims.size() >= 2) weights[t.ggml_type] = SatAdd(weights[t.ggml_type], Elements(t));
  }
  const std::map<uint32_t, uint64_t>& counts = weights.empty() ? all : weights;
  uint32_t best = 0;
  uint64_t most = 0;
  bool found = false;
  for (const auto& [type, n] : counts) {  // ascending type: ties go to the lower type number
    if (!found || n > most) {
      best = type;
      most = n;
      found = true;
    }
  }
  return found ? GgmlTypeName(best) : std::string();
}

mpf::Llm LlmFromGguf(const GgufInfo& info) {
  mpf::Llm l;
  l.architecture = info.architecture;
  l.context_length = info.context_length;
  l.embedding_length = info.embedding_length;
  l.parameter_count = info.parameter_count ? info.parameter_count : GgufTensorElements(info);
  l.quantization = GgufQuantization(info);
  l.chat_template = info.chat_template;
  l.embedding = IsEmbeddingArchitecture(info.architecture) || IsEmbeddingPooling(info.pooling_type);
  return l;
}

mpf::Io LlmIo(const mpf::Llm& llm) {
  mpf::Io io;
  if (llm.embedding) {
    const int64_t n_embd = llm.embedding_length > 0 && llm.embedding_length <= INT64_MAX
                               ? static_cast<int64_t>(llm.embedding_length)
                               : -1;
    io.inputs = {{"text", "string", {-1}, "texts to embed (tokenised by the plugin)", {}}};
    io.outputs = {{"embedding", "float32", {-1, n_embd}, "one pooled embedding per text", {}}};
  } else {
    io.inputs = {{"prompt", "string", {-1}, "text prompt (tokenised by the plugin)", {}}};
    io.outputs = {{"text", "string", {-1}, "generated text", {}}};
  }
  return io;
}

}  // namespace mlos::axon
