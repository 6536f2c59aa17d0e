// Dynamic batching: merging, splitting, limits, compatibility, deadlines and errors, driven by
// a run function that doubles its float input row by row (so each caller can check it got its
// own rows back) and that can be held to let requests queue.
#include "core/batcher.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace mlos::core {
namespace {

Tensor Floats(std::string name, std::vector<int64_t> shape, const std::vector<float>& v) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DataType::kFloat32;
  t.shape = std::move(shape);
  t.data.resize(v.size() * sizeof(float));
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

std::vector<float> AsFloats(const Tensor& t) {
  std::vector<float> v(t.byte_size() / sizeof(float));
  std::memcpy(v.data(), t.bytes(), v.size() * sizeof(float));
  return v;
}

// A model: output "y" = 2 * input "x" (any shape), or a misbehaving one. Calls can be held.
class FakeModel {
 public:
  Status Run(const InferRequest& r, InferResponse* resp) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      calls_.push_back(r.inputs.empty() ? 0 : r.inputs[0].shape[0]);
      first_ptrs_.push_back(r.inputs.empty() ? nullptr : r.inputs[0].bytes());
      ++running_;
      max_running_ = std::max(max_running_, running_);
      cv_.wait(lock, [&] { return !held_; });
      --running_;
    }
    if (fail_) return Internal("model exploded");
    for (const Tensor& in : r.inputs) {
      Tensor out = in;
      out.name = in.name == "x" ? "y" : in.name + "_out";
      out.external = nullptr;
      out.data.assign(in.bytes(), in.bytes() + in.byte_size());
      auto* f = reinterpret_cast<float*>(out.data.data());
      for (size_t i = 0; i < out.data.size() / sizeof(float); ++i) f[i] *= 2;
      if (wrong_rows_) out.shape[0] = 1;
      resp->outputs.push_back(std::move(out));
    }
    return Status::Ok();
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  std::vector<int64_t> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<const uint8_t*> first_ptrs() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_ptrs_;
  }
  int max_running() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }
  int running() {
    std::lock_guard<std::mutex> lock(mu_);
    return running_;
  }
  bool fail_ = false;
  bool wrong_rows_ = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int running_ = 0, max_running_ = 0;
  std::vector<int64_t> calls_;
  std::vector<const uint8_t*> first_ptrs_;
};

class BatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Batcher> Make(int max_batch, int concurrent = 1) {
    return std::make_unique<Batcher>(
        BatchingOptions{max_batch, concurrent},
        [this](const InferRequest& r, uint64_t, InferResponse* resp, uint64_t* w) {
          *w = 0;
          return model_.Run(r, resp);
        },
        [this](size_t requests, int64_t rows) {
          std::lock_guard<std::mutex> lock(mu_);
          batches_.emplace_back(requests, rows);
        });
  }

  struct Call {
    InferRequest request;
    InferResponse response;
    Status status;
  };

  // Starts `n` requests in threads; request i has `rows` rows of value i*100 + row.
  std::vector<std::future<void>> Submit(Batcher& b, std::vector<Call>& calls, int rows = 1,
                                        int64_t width = 3) {
    std::vector<std::future<void>> fs;
    for (size_t i = 0; i < calls.size(); ++i) {
      std::vector<float> v;
      for (int r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < width; ++c) v.push_back(static_cast<float>(i * 100 + r));
      }
      calls[i].request.model = "m";
      calls[i].request.inputs.push_back(Floats("x", {rows, width}, v));
    }
    for (size_t i = 0; i < calls.size(); ++i) {
      fs.push_back(std::async(std::launch::async, [&b, &c = calls[i]] {
        uint64_t w = 0;
        c.status = b.Infer(c.request, 1, &c.response, &w);
      }));
      // Keep queue order deterministic: wait until this one is queued or running.
      WaitFor([&] { return model_.calls().size() + b.queued() >= i + 1; });
    }
    return fs;
  }

  template <typename F>
  static void WaitFor(F f) {
    for (int i = 0; i < 5000 && !f(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void ExpectOwnRows(const Call& c, size_t i, int rows = 1, int64_t width = 3) {
    ASSERT_TRUE(c.status.ok()) << c.status.message();
    ASSERT_EQ(c.response.outputs.size(), 1u);
    const Tensor& y = c.response.outputs[0];
    EXPECT_EQ(y.name, "y");
    EXPECT_EQ(y.shape, (std::vector<int64_t>{rows, width}));
    std::vector<float> want;
    for (int r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < width; ++k) want.push_back(2.0f * static_cast<float>(i * 100 + r));
    }
    EXPECT_EQ(AsFloats(y), want) << "request " << i;
  }

  FakeModel model_;
  std::mutex mu_;
  std::vector<std::pair<size_t, int64_t>> batches_;
};

TEST_F(BatcherTest, AnIdleModelRunsTheRequestAloneWithoutCopies) {
  auto b = Make(8);
  std::vector<Call> calls(1);
  for (auto& f : Submit(*b, calls)) f.get();
  ExpectOwnRows(calls[0], 0);
  ASSERT_EQ(model_.calls(), (std::vector<int64_t>{1}));
  EXPECT_EQ(model_.first_ptrs()[0], calls[0].request.inputs[0].bytes());  // the caller's buffer
}

TEST_F(BatcherTest, RequestsQueuedWhileBusyRunAsOneBatchAndGetTheirOwnRows) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(6);
  auto fs = Submit(*b, calls);
  WaitFor([&] { return b->queued() == 5; });
  ASSERT_EQ(b->queued(), 5u);
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{1, 5}));
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i);
  EXPECT_EQ(b->stats().batches, 2u);
  EXPECT_EQ(b->stats().merged_requests, 5u);
  ASSERT_EQ(batches_.size(), 2u);
  EXPECT_EQ(batches_[1], (std::pair<size_t, int64_t>{5, 5}));
}

TEST_F(BatcherTest, BatchesNeverExceedMaxBatchSizeRows) {
  auto b = Make(4);
  model_.Hold();
  std::vector<Call> calls(7);  // 2-row requests: 1 running, then 2+2 | 2+2 | 2+2
  auto fs = Submit(*b, calls, /*rows=*/2);
  WaitFor([&] { return b->queued() == 6; });
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{2, 4, 4, 4}));
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i, 2);
}

TEST_F(BatcherTest, IncompatibleRequestsRunSeparatelyInOrder) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(4);
  // request 2 has width 5: it cannot join 1, and 3 cannot join it.
  std::vector<std::future<void>> fs;
  for (size_t i = 0; i < calls.size(); ++i) {
    const int64_t width = i == 2 ? 5 : 3;
    calls[i].request.inputs.push_back(
        Floats("x", {1, width}, std::vector<float>(width, static_cast<float>(i * 100))));
    fs.push_back(std::async(std::launch::async, [&b, &c = calls[i]] {
      uint64_t w = 0;
      c.status = b->Infer(c.request, 1, &c.response, &w);
    }));
    WaitFor([&] { return model_.calls().size() + b->queued() == i + 1; });
  }
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{1, 1, 1, 1}));
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i, 1, i == 2 ? 5 : 3);
}

TEST_F(BatcherTest, StringInputsAndOversizedRequestsRunAlone) {
  auto b = Make(2);
  model_.Hold();
  std::vector<Call> calls(3);
  auto fs = Submit(*b, calls, /*rows=*/3);  // 3 rows > max 2: each alone
  WaitFor([&] { return b->queued() == 2; });
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{3, 3, 3}));
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i, 3);
}

TEST_F(BatcherTest, UpToMaxConcurrentBatchesRunAtOnce) {
  auto b = Make(8, /*concurrent=*/2);
  model_.Hold();
  std::vector<Call> calls(5);
  auto fs = Submit(*b, calls);
  // Two run at once (each alone, the model was idle), three queue behind them.
  WaitFor([&] { return model_.running() == 2 && b->queued() == 3; });
  EXPECT_EQ(model_.running(), 2);
  EXPECT_EQ(b->queued(), 3u);
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.max_running(), 2);
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i);
}

TEST_F(BatcherTest, WithBatchesOfOneItOnlyLimitsCallsAtOnceInOrder) {
  auto b = Make(1, /*concurrent=*/2);
  model_.Hold();
  std::vector<Call> calls(5);
  auto fs = Submit(*b, calls);
  WaitFor([&] { return model_.running() == 2 && b->queued() == 3; });
  EXPECT_EQ(b->queued(), 3u);
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.max_running(), 2);
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{1, 1, 1, 1, 1}));
  for (size_t i = 0; i < calls.size(); ++i) ExpectOwnRows(calls[i], i);
}

TEST_F(BatcherTest, OutputsGoToEachRequestsAllocator) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(3);
  std::vector<std::vector<float>> buffers(3, std::vector<float>(3, -1));
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].request.output_allocator = [&buffers, i](const std::string&, DataType,
                                                      const std::vector<int64_t>& shape,
                                                      uint64_t bytes) -> void* {
      EXPECT_EQ(shape, (std::vector<int64_t>{1, 3}));
      EXPECT_EQ(bytes, 12u);
      return buffers[i].data();
    };
  }
  auto fs = Submit(*b, calls);
  WaitFor([&] { return b->queued() == 2; });
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{1, 2}));
  for (size_t i = 1; i < calls.size(); ++i) {
    ASSERT_TRUE(calls[i].status.ok());
    EXPECT_EQ(calls[i].response.outputs[0].external, buffers[i].data());
    EXPECT_EQ(buffers[i], std::vector<float>(3, 2.0f * static_cast<float>(i * 100)));
  }
}

TEST_F(BatcherTest, ARequestWhoseDeadlinePassedInTheQueueIsNotRun) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(3);
  calls[1].request.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  auto fs = Submit(*b, calls);
  WaitFor([&] { return b->queued() == 2; });
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(calls[1].status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(model_.calls(), (std::vector<int64_t>{1, 1}));  // request 2 ran alone
  ExpectOwnRows(calls[2], 2);
}

TEST_F(BatcherTest, AFailedBatchFailsEveryRequestInIt) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(3);
  auto fs = Submit(*b, calls);
  WaitFor([&] { return b->queued() == 2; });
  model_.fail_ = true;
  model_.Release();
  for (auto& f : fs) f.get();
  for (const Call& c : calls) {
    EXPECT_EQ(c.status.code(), StatusCode::kInternal);
    EXPECT_EQ(c.status.message(), "model exploded");
  }
}

TEST_F(BatcherTest, OutputsWithoutOneRowPerInputRowAreAnError) {
  auto b = Make(8);
  model_.Hold();
  std::vector<Call> calls(3);
  auto fs = Submit(*b, calls);
  WaitFor([&] { return b->queued() == 2; });
  model_.wrong_rows_ = true;
  model_.Release();
  for (auto& f : fs) f.get();
  EXPECT_EQ(calls[1].status.code(), StatusCode::kInternal);
  EXPECT_NE(calls[1].status.message().find("cannot be batched"), std::string::npos)
      << calls[1].status.message();
}

TEST(BatchableSchemaTest, NeedsADynamicFirstDimEverywhere) {
  auto info = [](std::vector<int64_t> shape, DataType t = DataType::kFloat32) {
    return TensorInfo{"t", t, std::move(shape)};
  };
  EXPECT_TRUE(BatchableSchema({info({-1, 16})}, {info({-1, 4}), info({-1})}));
  EXPECT_FALSE(BatchableSchema({info({1, 16})}, {info({-1, 4})}));
  EXPECT_FALSE(BatchableSchema({info({-1, 16})}, {info({4})}));
  EXPECT_FALSE(BatchableSchema({info({})}, {info({-1})}));
  EXPECT_FALSE(BatchableSchema({info({-1}, DataType::kString)}, {info({-1})}));
  EXPECT_FALSE(BatchableSchema({}, {}));
}

}  // namespace
}  // namespace mlos::core
