// Continuous batching for one generation model: one engine thread owns the llama_context and
// serves `parallel` slots (slot i = sequence id i). Callers block in Generate on their own queue;
// between decode steps the engine admits waiting requests into free slots, builds one batch with
// every active slot's next token plus prompt chunks (at most n_batch tokens), decodes, samples
// each slot with its own sampler chain and hands the text to the callers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <llama.h>

#include "mlos/smi.h"
#include "sampling.h"
#include "text_stream.h"

namespace mlos::llama_plugin {

enum class FinishReason { kStop, kLength, kCancelled };
const char* FinishReasonName(FinishReason reason);

struct GenerateResult {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens whose KV cache a slot already held
  FinishReason finish = FinishReason::kStop;
};

struct EngineOptions {
  int parallel = 1;      // slots; the context was made with n_seq_max = parallel
  int ctx_per_slot = 0;  // tokens one slot may hold (prompt + generated)
  int batch = 512;       // tokens per llama_decode; the context's n_batch
  std::string model_id;  // for messages
};

// Receives one chunk per generated token on the caller's thread; false stops the generation.
using ChunkFn = std::function<bool(const std::string& text)>;

class Engine {
 public:
  // Starts the engine thread. `ctx` and `model` must outlive the engine (Stop first).
  Engine(llama_context* ctx, const llama_model* model, EngineOptions options);
  ~Engine();  // Stop()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stops the thread: waiting and running requests end with SMI_ERROR_UNAVAILABLE. Idempotent.
  void Stop();

  // Runs one generation of `prompt` (1 .. ctx_per_slot - 1 tokens; the caller checks). Blocks
  // until it ends; `on_chunk` runs on this thread, once per generated token (the text is empty
  // while held back: an incomplete character or a possible stop string). Returns NULL with
  // *result filled (finish kCancelled when on_chunk returned false or Cancel was called; after
  // on_chunk returned false, completion_tokens counts the chunks it was given), or an
  // error (UNAVAILABLE when the engine stops, INTERNAL when llama_decode fails). Any thread.
  smi_error* Generate(std::vector<llama_token> prompt, const GenerateParams& params,
                      uint64_t request_id, const ChunkFn& on_chunk, GenerateResult* result);

  // Asks every running or waiting generation with this id to stop at the next step. Any thread.
  void Cancel(uint64_t request_id);

  int ctx_per_slot() const { return options_.ctx_per_slot; }

 private:
  struct Job;
  struct Slot;

  void Run();
  void Admit(const std::shared_ptr<Job>& job);
  bool Step(llama_batch& batch);
  void OnToken(Slot& slot, llama_token token);
  void Finish(Slot& slot, std::string last_chunk, FinishReason reason);
  void FailSlot(Slot& slot, smi_error_code code, const std::string& message);
  bool HasFreeSlot() const;
  bool AnyActive() const;

  llama_context* const ctx_;
  const llama_model* const model_;
  const llama_vocab* const vocab_;
  const EngineOptions options_;

  std::vector<Slot> slots_;  // engine thread only
  size_t rotate_ = 0;        // first generating slot of the next batch (fairness when full)
  std::vector<int32_t> take_;  // Step: tokens of each slot in the batch being built

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> waiting_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::atomic<int> active_{0};  // occupied slots; read by the wait predicate under mu_

  std::mutex jobs_mu_;
  std::multimap<uint64_t, std::shared_ptr<Job>> jobs_;  // by request id, for Cancel

  std::thread thread_;
};

}  // namespace mlos::llama_plugin
