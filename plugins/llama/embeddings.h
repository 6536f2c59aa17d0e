// Embeddings for embedding models (BERT family, or any model whose GGUF names a pooling type):
// texts batched into sequences of one llama_decode, pooled by llama.cpp, L2-normalised.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <llama.h>

namespace mlos::llama_plugin {

class Embedder {
 public:
  // `ctx` was made with embeddings on, a pooling type, n_seq_max = parallel and
  // n_batch = n_ubatch >= ctx_per_slot. It must outlive the embedder.
  Embedder(llama_context* ctx, const llama_model* model, int parallel, int ctx_per_slot);

  int32_t n_embd() const { return n_embd_; }

  // One row of n_embd floats per text into `out` (texts.size() * n_embd values), each of norm 1
  // (a zero vector stays zero). Returns "" on success, else an error message; *invalid is set
  // when the input is at fault (a text longer than a slot: `input "text": element 2 is 600
  // tokens; the context holds 512`). Serialised: one embedding call at a time per model.
  std::string Embed(const std::vector<std::string>& texts, float* out, bool* invalid);

 private:
  llama_context* const ctx_;
  const llama_vocab* const vocab_;
  const int parallel_;
  const int ctx_per_slot_;
  int32_t n_embd_ = 0;
  std::mutex mu_;  // the context is not thread-safe
};

// The tokens of `text` (add_special and parse_special on, as llama-server does). Any thread.
std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text);

}  // namespace mlos::llama_plugin
