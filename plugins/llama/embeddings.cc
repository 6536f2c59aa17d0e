#include "embeddings.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mlos::llama_plugin {

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text) {
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                             static_cast<int32_t>(tokens.size()), /*add_special=*/true,
                             /*parse_special=*/true);
  if (n < 0) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), true, true);
  }
  tokens.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return tokens;
}

Embedder::Embedder(llama_context* ctx, const llama_model* model, int parallel, int ctx_per_slot)
    : ctx_(ctx),
      vocab_(llama_model_get_vocab(model)),
      parallel_(parallel),
      ctx_per_slot_(ctx_per_slot) {
  n_embd_ = llama_model_n_embd_out(model);
  if (n_embd_ <= 0) n_embd_ = llama_model_n_embd(model);
}

std::string Embedder::Embed(const std::vector<std::string>& texts, float* out, bool* invalid) {
  *invalid = false;
  std::vector<std::vector<llama_token>> tokens;
  tokens.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    tokens.push_back(Tokenize(vocab_, texts[i]));
    if (tokens.back().empty()) {  // a vocabulary without BOS/CLS and an empty text
      *invalid = true;
      return "input \"text\": element " + std::to_string(i) + " has no tokens";
    }
    if (tokens.back().size() > static_cast<size_t>(ctx_per_slot_)) {
      *invalid = true;
      return "input \"text\": element " + std::to_string(i) + " is " +
             std::to_string(tokens.back().size()) + " tokens; the context holds " +
             std::to_string(ctx_per_slot_);
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  const int32_t capacity = static_cast<int32_t>(llama_n_batch(ctx_));
  llama_batch batch = llama_batch_init(capacity, 0, 1);
  std::string error;
  size_t next = 0;
  while (next < tokens.size() && error.empty()) {
    // As many texts as fit: at most `parallel` sequences and n_batch tokens per decode.
    batch.n_tokens = 0;
    size_t first = next;
    while (next < tokens.size() && static_cast<int>(next - first) < parallel_ &&
           batch.n_tokens + static_cast<int32_t>(tokens[next].size()) <= capacity) {
      const llama_seq_id seq = static_cast<llama_seq_id>(next - first);
      for (size_t p = 0; p < tokens[next].size(); ++p) {
        const int32_t k = batch.n_tokens++;
        batch.token[k] = tokens[next][p];
        batch.pos[k] = static_cast<llama_pos>(p);
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = seq;
        batch.logits[k] = 1;
      }
      ++next;
    }
    if (llama_memory_t mem = llama_get_memory(ctx_)) llama_memory_clear(mem, true);
    const int32_t rc = llama_decode(ctx_, batch);
    if (rc != 0) {
      error = "llama_decode failed (" + std::to_string(rc) + ") computing embeddings";
      break;
    }
    for (size_t i = first; i < next; ++i) {
      const float* row = llama_get_embeddings_seq(ctx_, static_cast<llama_seq_id>(i - first));
      if (row == nullptr) {
        error = "llama.cpp returned no pooled embedding";
        break;
      }
      double sum = 0;
      for (int32_t d = 0; d < n_embd_; ++d) sum += static_cast<double>(row[d]) * row[d];
      const double norm = std::sqrt(sum);
      float* dst = out + i * static_cast<size_t>(n_embd_);
      for (int32_t d = 0; d < n_embd_; ++d) {
        dst[d] = norm > 0 ? static_cast<float>(row[d] / norm) : 0.0f;
      }
    }
  }
  llama_batch_free(batch);
  return error;
}

}  // namespace mlos::llama_plugin
