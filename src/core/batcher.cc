#include "core/batcher.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace mlos::core {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t MicrosSince(Clock::time_point t0, Clock::time_point t1) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
  return us > 0 ? static_cast<uint64_t>(us) : 0;
}

// The request's row count when it can be merged with others; -1 when it must run alone.
int64_t MergeableRows(const InferRequest& r, int max_batch_size) {
  if (r.inputs.empty()) return -1;
  int64_t rows = -1;
  for (const Tensor& t : r.inputs) {
    if (t.dtype == DataType::kString || t.shape.empty() || t.shape[0] < 1) return -1;
    if (rows >= 0 && t.shape[0] != rows) return -1;
    rows = t.shape[0];
  }
  return rows <= max_batch_size ? rows : -1;
}

bool Compatible(const InferRequest& a, const InferRequest& b) {
  if (a.inputs.size() != b.inputs.size() || a.outputs != b.outputs) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor& x = a.inputs[i];
    const Tensor& y = b.inputs[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape.size() != y.shape.size()) return false;
    for (size_t d = 1; d < x.shape.size(); ++d) {
      if (x.shape[d] != y.shape[d]) return false;
    }
  }
  return true;
}

}  // namespace

struct Batcher::Item {
  const InferRequest* request = nullptr;
  uint64_t request_id = 0;
  InferResponse* response = nullptr;
  int64_t rows = -1;  // -1: runs alone
  Clock::time_point enqueued;
  uint64_t wait_us = 0;
  Status status;
  bool done = false;
  std::condition_variable cv;
};

bool BatchableSchema(const std::vector<TensorInfo>& inputs,
                     const std::vector<TensorInfo>& outputs) {
  if (inputs.empty() || outputs.empty()) return false;
  auto dynamic_rows = [](const TensorInfo& t) { return !t.shape.empty() && t.shape[0] < 0; };
  for (const TensorInfo& t : inputs) {
    if (!dynamic_rows(t) || t.dtype == DataType::kString) return false;
  }
  for (const TensorInfo& t : outputs) {
    if (!dynamic_rows(t)) return false;
  }
  return true;
}

Batcher::Batcher(BatchingOptions options, RunFn run, BatchFn on_batch)
    : options_(options), run_(std::move(run)), on_batch_(std::move(on_batch)) {}

BatchStats Batcher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t Batcher::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

Status Batcher::Infer(const InferRequest& request, uint64_t request_id, InferResponse* response,
                      uint64_t* wait_us) {
  Item self;
  self.request = &request;
  self.request_id = request_id;
  self.response = response;
  self.rows = MergeableRows(request, options_.max_batch_size);
  self.enqueued = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&self);
  for (;;) {
    if (self.done) break;
    if (running_ < std::max(1, options_.max_concurrent_batches) && queue_.front() == &self) {
      std::vector<Item*> batch = TakeBatchLocked();
      if (batch.empty()) {  // our own deadline passed: self.done is set
        WakeLeaderLocked();
        continue;
      }
      ++running_;
      WakeLeaderLocked();  // another slot may be free for the requests behind this batch
      lock.unlock();
      RunBatch(batch);
      lock.lock();
      --running_;
      ++stats_.batches;
      if (batch.size() > 1) stats_.merged_requests += batch.size();
      for (Item* it : batch) {
        it->done = true;
        if (it != &self) it->cv.notify_one();
      }
      WakeLeaderLocked();
      break;
    }
    self.cv.wait(lock);
  }
  *wait_us = self.wait_us;
  return self.status;
}

void Batcher::WakeLeaderLocked() {
  if (!queue_.empty() && running_ < std::max(1, options_.max_concurrent_batches)) {
    queue_.front()->cv.notify_one();
  }
}

std::vector<Batcher::Item*> Batcher::TakeBatchLocked() {
  std::vector<Item*> batch;
  const Clock::time_point now = Clock::now();
  int64_t rows = 0;
  // With several free slots, share the queue between them rather than putting it all in one
  // batch: on CPU a bigger batch is rarely cheaper per row, and an idle slot is an idle core.
  int64_t limit = options_.max_batch_size;
  const int free_slots = std::max(1, options_.max_concurrent_batches) - running_;
  if (free_slots > 1) {
    int64_t queued_rows = 0;
    for (const Item* it : queue_) queued_rows += it->rows < 0 ? 1 : it->rows;
    limit = std::min<int64_t>(limit, std::max<int64_t>(1, (queued_rows + free_slots - 1) / free_slots));
  }
  while (!queue_.empty()) {
    Item* it = queue_.front();
    const auto& deadline = it->request->deadline;
    if (deadline && now >= *deadline) {
      queue_.pop_front();
      it->status = Status(StatusCode::kDeadlineExceeded, "deadline exceeded while queued for a batch");
      it->done = true;
      it->cv.notify_one();
      if (batch.empty()) return batch;  // the leader's own request expired; it returns
      continue;
    }
    if (!batch.empty()) {
      const Item* first = batch.front();
      if (first->rows < 0 || it->rows < 0 || rows + it->rows > limit ||
          !Compatible(*first->request, *it->request)) {
        break;
      }
    }
    queue_.pop_front();
    it->wait_us = MicrosSince(it->enqueued, now);
    rows += it->rows;
    batch.push_back(it);
    if (it->rows < 0) break;
  }
  return batch;
}

void Batcher::RunBatch(const std::vector<Item*>& batch) {
  const Item& first = *batch.front();
  if (batch.size() == 1) {
    uint64_t w = 0;
    Item& only = *batch.front();
    only.status = run_(*only.request, only.request_id, only.response, &w);
    only.wait_us += w;
    if (on_batch_) on_batch_(1, only.rows < 0 ? 0 : only.rows);
    return;
  }
  auto fail_all = [&](const Status& st) {
    for (Item* it : batch) it->status = st;
  };
  int64_t total = 0;
  for (const Item* it : batch) total += it->rows;

  // One request whose inputs are the concatenation of every request's, in queue order.
  InferRequest merged;
  merged.model = first.request->model;
  merged.version = first.request->version;
  merged.outputs = first.request->outputs;
  merged.principal = first.request->principal;
  merged.protocol = first.request->protocol;
  merged.request_id = first.request_id;
  for (const Item* it : batch) {
    const InferRequest& r = *it->request;
    if (r.priority > 0 && (merged.priority == 0 || r.priority < merged.priority)) {
      merged.priority = r.priority;
    }
    if (r.deadline && (!merged.deadline || *r.deadline < *merged.deadline)) {
      merged.deadline = r.deadline;
    }
  }
  merged.inputs.reserve(first.request->inputs.size());
  for (size_t i = 0; i < first.request->inputs.size(); ++i) {
    const Tensor& proto = first.request->inputs[i];
    Tensor t;
    t.name = proto.name;
    t.dtype = proto.dtype;
    t.shape = proto.shape;
    t.shape[0] = total;
    uint64_t bytes = 0;
    for (const Item* it : batch) bytes += it->request->inputs[i].byte_size();
    t.data.resize(bytes);
    uint8_t* p = t.data.data();
    for (const Item* it : batch) {
      const Tensor& src = it->request->inputs[i];
      if (src.byte_size() > 0) std::memcpy(p, src.bytes(), src.byte_size());
      p += src.byte_size();
    }
    merged.inputs.push_back(std::move(t));
  }

  InferResponse out;
  uint64_t w = 0;
  Status st = run_(merged, first.request_id, &out, &w);
  if (on_batch_) on_batch_(batch.size(), total);
  if (!st.ok()) return fail_all(st);
  for (Item* it : batch) it->wait_us += w;

  // Split every output by rows, in the same order.
  for (const Tensor& o : out.outputs) {
    if (o.shape.empty() || o.shape[0] != total) {
      return fail_all(Internal("output \"" + o.name + "\" has " +
                               (o.shape.empty() ? std::string("no rows")
                                                : std::to_string(o.shape[0]) + " rows") +
                               " for a batch of " + std::to_string(total) +
                               " rows; this model cannot be batched (disable batching)"));
    }
  }
  for (Item* it : batch) it->response->outputs.reserve(out.outputs.size());
  for (const Tensor& o : out.outputs) {
    const int64_t count = ElementCount(o.shape);
    const int64_t per_row = total > 0 ? count / total : 0;
    const uint64_t elem = DataTypeSize(o.dtype);
    int64_t row = 0;
    for (Item* it : batch) {
      Tensor t;
      t.name = o.name;
      t.dtype = o.dtype;
      t.shape = o.shape;
      t.shape[0] = it->rows;
      const int64_t begin = row * per_row, end = (row + it->rows) * per_row;
      row += it->rows;
      if (!it->status.ok()) continue;
      if (o.dtype == DataType::kString) {
        t.strings.assign(o.strings.begin() + begin, o.strings.begin() + end);
      } else {
        const uint64_t bytes = static_cast<uint64_t>(end - begin) * elem;
        const uint8_t* src = o.bytes() + static_cast<uint64_t>(begin) * elem;
        if (it->request->output_allocator) {
          void* p = it->request->output_allocator(t.name, t.dtype, t.shape, bytes);
          if (!p) {
            it->status = ResourceExhausted("output allocator refused output \"" + t.name +
                                           "\" (" + std::to_string(bytes) + " bytes)");
            continue;
          }
          if (bytes > 0) std::memcpy(p, src, bytes);
          t.external = p;
          t.external_size = bytes;
        } else {
          t.data.assign(src, src + bytes);
        }
      }
      it->response->outputs.push_back(std::move(t));
    }
  }
}

}  // namespace mlos::core
