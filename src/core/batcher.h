// Dynamic batching: requests for one model that arrive while the model is busy are merged
// along dimension 0 into one plugin call, and the outputs are split back.
//
// No timer and no batcher thread: the caller that finds a free slot runs the batch itself
// (leader/followers). A request that arrives when the model is idle runs at once, alone and
// unchanged (zero copy, no added latency); under load the requests that queued while the
// running batches were busy form the next batch, up to max_batch_size rows. Up to
// max_concurrent_batches batches run at once (e.g. one per core with one intra-op thread each);
// when several slots are free, the queue is shared between them (balanced batches).
//
// A request joins the batch of the request ahead of it only when it is compatible: same input
// names, dtypes and dims after the first (numeric inputs only, every input with the same row
// count), and the same requested outputs. Otherwise it runs in a batch of its own, in order.
// Requests whose deadline passed while queued fail with kDeadlineExceeded and are not run.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "core/core.h"

namespace mlos::core {

// True when every input and output has rank >= 1 and a dynamic first dimension: the
// model accepts any number of rows, and its outputs have one row per input row.
bool BatchableSchema(const std::vector<TensorInfo>& inputs,
                     const std::vector<TensorInfo>& outputs);

struct BatchStats {
  uint64_t batches = 0;         // plugin calls made by the batcher
  uint64_t merged_requests = 0; // requests that ran in a batch of more than one request
};

class Batcher {
 public:
  // Runs one (possibly merged) request; the contract of LoadedModel::Infer.
  using RunFn = std::function<Status(const InferRequest& request, uint64_t request_id,
                                     InferResponse* response, uint64_t* wait_us)>;
  // Called after each batch with its number of requests and rows (for metrics).
  using BatchFn = std::function<void(size_t requests, int64_t rows)>;

  Batcher(BatchingOptions options, RunFn run, BatchFn on_batch = nullptr);
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Blocks until the request ran (alone or merged). *wait_us: time queued behind other batches.
  Status Infer(const InferRequest& request, uint64_t request_id, InferResponse* response,
               uint64_t* wait_us);

  BatchStats stats() const;
  const BatchingOptions& options() const { return options_; }
  size_t queued() const;  // requests waiting (not yet in a running batch)

 private:
  struct Item;
  // Takes the front of the queue and the compatible requests behind it (mu_ held).
  std::vector<Item*> TakeBatchLocked();
  void RunBatch(const std::vector<Item*>& batch);
  void WakeLeaderLocked();

  const BatchingOptions options_;
  const RunFn run_;
  const BatchFn on_batch_;
  mutable std::mutex mu_;
  std::deque<Item*> queue_;  // guarded by mu_
  int running_ = 0;          // batches in flight; guarded by mu_
  BatchStats stats_;         // guarded by mu_
};

}  // namespace mlos::core
