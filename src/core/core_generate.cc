// The generation path (LLM plugins): resolve -> admit -> (lazy) load -> the plugin's
// model_generate on the calling thread. No scheduler slot and no batcher: a generation holds
// its model for seconds and the plugin batches concurrent generations itself (continuous
// batching), so it is only counted in flight, which keeps unloads and evictions away from it.
#include <chrono>

#include "core/core_impl.h"

namespace mlos::core {

Result<GenerateResponse> CoreImpl::Generate(GenerateRequest request) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  requests_.fetch_add(1);
  auto fail = [&](Status st) -> Result<GenerateResponse> {
    errors_.fetch_add(1);
    return st;
  };
  if (request.model.empty()) return fail(InvalidArgument("model: required"));
  // AcquireForInfer reads only the routing fields of an InferRequest.
  InferRequest route;
  route.model = request.model;
  route.version = request.version;
  route.deadline = request.deadline;
  route.keep_alive = request.keep_alive;
  route.admit = std::move(request.admit);
  std::string id;
  std::shared_ptr<LoadedModel> model;
  if (Status st = AcquireForInfer(route, &id, &model, nullptr); !st.ok()) return fail(st);
  InFlight hold(std::move(model));
  if (!hold->generates()) {
    return fail(InvalidArgument("model " + id + " does not generate text (its plugin " +
                                hold->plugin()->name + " has no generate)"));
  }
  if (request.deadline && Clock::now() >= *request.deadline) {
    return fail(Status(StatusCode::kDeadlineExceeded,
                       "deadline exceeded before model " + id + " ran"));
  }
  if (request.request_id == 0) request.request_id = next_request_id_.fetch_add(1);
  GenerateResponse response;
  response.model_id = id;
  response.model_name = id.substr(0, id.find('@'));
  response.model_version = id.substr(id.find('@') + 1);
  response.queue_time_us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
  request.model = id;
  Status st = hold->Generate(request, request.request_id, &response);
  if (!st.ok()) return fail(st.WithPrefix("model " + id));
  return response;
}

}  // namespace mlos::core
