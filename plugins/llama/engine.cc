#include "engine.h"

#include <algorithm>
#include <utility>

#include "mlos/smi_plugin.h"

namespace mlos::llama_plugin {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "stop";
}

// One request, shared by its caller (who waits on `cv`) and the engine.
struct Engine::Job {
  // Set before the job is queued; read-only afterwards.
  std::vector<llama_token> prompt;
  GenerateParams params;
  uint64_t request_id = 0;

  std::atomic<bool> cancel{false};  // the caller or Cancel asks the engine to stop it

  // Engine -> caller, guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> chunks;
  bool done = false;
  smi_error_code error_code = SMI_ERROR_INTERNAL;
  std::string error_message;  // non-empty: failed
  GenerateResult result;

  void Push(std::string chunk) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.push_back(std::move(chunk));
    cv.notify_one();
  }
  void End(const GenerateResult& r, smi_error_code code = SMI_ERROR_INTERNAL,
           std::string message = "") {
    std::lock_guard<std::mutex> lock(mu);
    result = r;
    error_code = code;
    error_message = std::move(message);
    done = true;
    cv.notify_one();
  }
};

// A sequence of the context. `cache` mirrors the tokens in its KV cache (positions 0..n-1), kept
// after a request ends so a later prompt with the same prefix reuses them.
struct Engine::Slot {
  enum class State { kFree, kPrompt, kGenerate };

  llama_seq_id id = 0;
  State state = State::kFree;
  std::shared_ptr<Job> job;
  std::vector<llama_token> cache;
  llama_sampler* sampler = nullptr;
  TextStream stream;
  llama_token pending = 0;    // sampled, to be decoded in the next batch
  int64_t generated = 0;
  int32_t logits_index = -1;  // this batch's output row for the slot, -1 = none
  GenerateResult result;

  void Release() {
    if (sampler != nullptr) llama_sampler_free(sampler);
    sampler = nullptr;
    job.reset();
    state = State::kFree;
    logits_index = -1;
  }
};

namespace {

std::string TokenPiece(const llama_vocab* vocab, llama_token token) {
  std::string piece(64, '\0');
  int32_t n = llama_token_to_piece(vocab, token, piece.data(), static_cast<int32_t>(piece.size()),
                                   /*lstrip=*/0, /*special=*/false);
  if (n < 0) {
    piece.assign(static_cast<size_t>(-n), '\0');
    n = llama_token_to_piece(vocab, token, piece.data(), -n, 0, false);
  }
  piece.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return piece;
}

size_t CommonPrefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

void BatchAdd(llama_batch& batch, llama_token token, llama_pos pos, llama_seq_id seq,
              bool logits) {
  const int32_t i = batch.n_tokens++;
  batch.token[i] = token;
  batch.pos[i] = pos;
  batch.n_seq_id[i] = 1;
  batch.seq_id[i][0] = seq;
  batch.logits[i] = logits ? 1 : 0;
}

}  // namespace

Engine::Engine(llama_context* ctx, const llama_model* model, EngineOptions options)
    : ctx_(ctx), model_(model), vocab_(llama_model_get_vocab(model)), options_(std::move(options)) {
  slots_.resize(static_cast<size_t>(options_.parallel));
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].id = static_cast<llama_seq_id>(i);
  thread_ = std::thread([this] { Run(); });
}

Engine::~Engine() { Stop(); }

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Engine::HasFreeSlot() const { return active_.load() < options_.parallel; }
bool Engine::AnyActive() const { return active_.load() > 0; }

void Engine::Cancel(uint64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    auto [first, last] = jobs_.equal_range(request_id);
    for (auto it = first; it != last; ++it) it->second->cancel.store(true);
  }
  cv_.notify_all();
}

smi_error* Engine::Generate(std::vector<llama_token> prompt, const GenerateParams& params,
                            uint64_t request_id, const ChunkFn& on_chunk,
                            GenerateResult* result) {
  auto job = std::make_shared<Job>();
  job->prompt = std::move(prompt);
  job->params = params;
  job->request_id = request_id;
  std::multimap<uint64_t, std::shared_ptr<Job>>::iterator registered;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    registered = jobs_.emplace(request_id, job);
  }
  struct Unregister {
    Engine* self;
    std::multimap<uint64_t, std::shared_ptr<Job>>::iterator it;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(self->jobs_mu_);
      self->jobs_.erase(it);
    }
  } unregister{this, registered};

  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return smi::MakeError(SMI_ERROR_UNAVAILABLE,
                            "model " + options_.model_id + " is unloading");
    }
    waiting_.push_back(job);
  }
  cv_.notify_all();

  // Chunks are handed over here, on the caller's thread, so a slow client never stalls the
  // engine; after a refusal the rest is dropped while the engine frees the slot.
  bool listening = true;
  int64_t delivered = 0;
  for (;;) {
    std::vector<std::string> chunks;
    bool done = false;
    {
      std::unique_lock<std::mutex> lock(job->mu);
      job->cv.wait(lock, [&] { return !job->chunks.empty() || job->done; });
      chunks.swap(job->chunks);
      done = job->done;
    }
    for (const std::string& chunk : chunks) {
      if (!listening) break;
      ++delivered;
      if (!on_chunk(chunk)) {
        listening = false;
        job->cancel.store(true);
        cv_.notify_all();
      }
    }
    if (done) break;
  }
  if (!job->error_message.empty()) return smi::MakeError(job->error_code, job->error_message);
  *result = job->result;
  if (!listening) {
    // The engine may have run a few tokens ahead of this caller; those were never delivered.
    result->finish = FinishReason::kCancelled;
    result->completion_tokens = std::min(result->completion_tokens, delivered);
  }
  return nullptr;
}

void Engine::Run() {
  llama_batch batch = llama_batch_init(options_.batch, /*embd=*/0, /*n_seq_max=*/1);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || (!waiting_.empty() && HasFreeSlot()) || AnyActive();
      });
      if (stopping_) break;
      while (!waiting_.empty() && HasFreeSlot()) {
        std::shared_ptr<Job> job = std::move(waiting_.front());
        waiting_.pop_front();
        Admit(job);
      }
    }
    for (Slot& slot : slots_) {
      if (slot.state != Slot::State::kFree && slot.job->cancel.load()) {
        Finish(slot, "", FinishReason::kCancelled);
      }
    }
    if (AnyActive()) Step(batch);
  }

  const std::string message = "model " + options_.model_id + " is unloading";
  for (Slot& slot : slots_) {
    if (slot.state != Slot::State::kFree) FailSlot(slot, SMI_ERROR_UNAVAILABLE, message);
  }
  std::deque<std::shared_ptr<Job>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting.swap(waiting_);
  }
  for (const auto& job : waiting) job->End({}, SMI_ERROR_UNAVAILABLE, message);
  llama_batch_free(batch);
}

void Engine::Admit(const std::shared_ptr<Job>& job) {
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(job->prompt.size());
  if (job->cancel.load()) {
    result.finish = FinishReason::kCancelled;
    job->End(result);
    return;
  }
  if (job->params.max_tokens == 0) {
    result.finish = FinishReason::kLength;
    job->End(result);
    return;
  }

  // The lowest free slot, unless another free slot's cache shares a prefix with the prompt
  // that is kMinReuse tokens longer: generating slots with consecutive ids decode in one
  // ubatch (see Step), so keeping the busy slots packed at the low ids is worth more than
  // reusing a few cached tokens (every prompt shares its BOS with every used slot).
  constexpr size_t kMinReuse = 16;
  Slot* lowest = nullptr;
  size_t lowest_prefix = 0;
  Slot* best = nullptr;
  size_t best_prefix = 0;
  for (Slot& slot : slots_) {
    if (slot.state != Slot::State::kFree) continue;
    const size_t prefix = CommonPrefix(slot.cache, job->prompt);
    if (lowest == nullptr) {
      lowest = &slot;
      lowest_prefix = prefix;
    }
    if (best == nullptr || prefix > best_prefix) {
      best = &slot;
      best_prefix = prefix;
    }
  }
  if (best_prefix < lowest_prefix + kMinReuse) {
    best = lowest;
    best_prefix = lowest_prefix;
  }
  Slot& slot = *best;

  // Keep the common prefix; at least the last prompt token is decoded again for its logits.
  size_t keep = std::min(best_prefix, job->prompt.size() - 1);
  llama_memory_t mem = llama_get_memory(ctx_);
  if (!llama_memory_seq_rm(mem, slot.id, static_cast<llama_pos>(keep), -1)) {
    llama_memory_seq_rm(mem, slot.id, -1, -1);  // this memory cannot cut a sequence: start over
    keep = 0;
  }
  slot.cache.resize(keep);

  slot.job = job;
  slot.state = Slot::State::kPrompt;
  slot.sampler = MakeSamplerChain(job->params, options_.ctx_per_slot,
                                  llama_vocab_n_tokens(vocab_));
  for (llama_token t : job->prompt) llama_sampler_accept(slot.sampler, t);  // penalty history
  slot.stream = TextStream(job->params.stop);
  slot.generated = 0;
  slot.logits_index = -1;
  result.cached_tokens = static_cast<int64_t>(keep);
  slot.result = result;
  active_.fetch_add(1);
}

bool Engine::Step(llama_batch& batch) {
  batch.n_tokens = 0;
  const int32_t capacity = options_.batch;
  const size_t n = slots_.size();

  // What goes in: every generating slot's next token first (rotating the start, so a batch
  // smaller than the slot count stays fair), then prompt chunks of new slots in the room left.
  // take_[i] = tokens of slot i in this batch.
  take_.assign(n, 0);
  int32_t room = capacity;
  for (size_t k = 0; k < n && room > 0; ++k) {
    const size_t i = (rotate_ + k) % n;
    if (slots_[i].state != Slot::State::kGenerate) continue;
    take_[i] = 1;
    --room;
  }
  rotate_ = (rotate_ + 1) % n;
  for (size_t i = 0; i < n && room > 0; ++i) {
    const Slot& slot = slots_[i];
    if (slot.state != Slot::State::kPrompt) continue;
    const size_t left = slot.job->prompt.size() - slot.cache.size();
    take_[i] = static_cast<int32_t>(std::min(left, static_cast<size_t>(room)));
    room -= take_[i];
  }

  // The batch in sequence order, each slot's tokens together: with one KV stream per sequence
  // llama.cpp splits a batch into ubatches of consecutive sequence ids with the same number of
  // tokens each (split_equal, sequential), so this order makes every generating token (and the
  // first token of each prompt chunk) one ubatch, then one ubatch per run of prompt chunks,
  // instead of several small ubatches that each run the whole model.
  for (size_t i = 0; i < n; ++i) {
    if (take_[i] == 0) continue;
    Slot& slot = slots_[i];
    if (slot.state == Slot::State::kGenerate) {
      BatchAdd(batch, slot.pending, static_cast<llama_pos>(slot.cache.size()), slot.id, true);
      slot.cache.push_back(slot.pending);
      slot.logits_index = batch.n_tokens - 1;
      continue;
    }
    const std::vector<llama_token>& prompt = slot.job->prompt;
    for (int32_t t = 0; t < take_[i]; ++t) {
      const size_t pos = slot.cache.size();
      const bool last = pos + 1 == prompt.size();
      BatchAdd(batch, prompt[pos], static_cast<llama_pos>(pos), slot.id, last);
      slot.cache.push_back(prompt[pos]);
      if (last) slot.logits_index = batch.n_tokens - 1;
    }
  }
  if (batch.n_tokens == 0) return true;

  const int32_t rc = llama_decode(ctx_, batch);
  if (rc != 0) {
    const std::string message = "llama_decode failed (" + std::to_string(rc) + ") for model " +
                                options_.model_id;
    for (Slot& slot : slots_) {
      if (slot.state == Slot::State::kFree) continue;
      FailSlot(slot, rc == 1 ? SMI_ERROR_RESOURCE_EXHAUSTED : SMI_ERROR_INTERNAL, message);
    }
    return false;
  }

  for (Slot& slot : slots_) {
    if (slot.state == Slot::State::kFree || slot.logits_index < 0) continue;
    const llama_token token = llama_sampler_sample(slot.sampler, ctx_, slot.logits_index);
    slot.logits_index = -1;
    OnToken(slot, token);
  }
  return true;
}

void Engine::OnToken(Slot& slot, llama_token token) {
  slot.state = Slot::State::kGenerate;
  ++slot.generated;
  if (llama_vocab_is_eog(vocab_, token)) {  // end of generation: its text is not emitted
    Finish(slot, slot.stream.Flush(), FinishReason::kStop);
    return;
  }
  bool stopped = false;
  std::string text = slot.stream.Push(TokenPiece(vocab_, token), &stopped);
  if (stopped) {
    Finish(slot, std::move(text), FinishReason::kStop);
    return;
  }
  const int64_t max_tokens = slot.job->params.max_tokens;
  // The token would be decoded at position cache.size(): the slot must have room for it.
  const bool full = slot.cache.size() >= static_cast<size_t>(options_.ctx_per_slot);
  if ((max_tokens >= 0 && slot.generated >= max_tokens) || full) {
    Finish(slot, text + slot.stream.Flush(), FinishReason::kLength);
    return;
  }
  slot.pending = token;
  slot.job->Push(std::move(text));
}

void Engine::Finish(Slot& slot, std::string last_chunk, FinishReason reason) {
  GenerateResult result = slot.result;
  result.completion_tokens = slot.generated;
  result.finish = reason;
  // The final token's chunk (one chunk per generated token); none for a cancelled request.
  if (reason != FinishReason::kCancelled) slot.job->Push(std::move(last_chunk));
  slot.job->End(result);
  slot.Release();
  active_.fetch_sub(1);
}

void Engine::FailSlot(Slot& slot, smi_error_code code, const std::string& message) {
  slot.job->End(slot.result, code, message);
  // What the failed step left in the cache is unknown: forget the sequence.
  llama_memory_seq_rm(llama_get_memory(ctx_), slot.id, -1, -1);
  slot.cache.clear();
  slot.Release();
  active_.fetch_sub(1);
}

}  // namespace mlos::llama_plugin
