// Example: one inference over any transport.
//
//   mlos_example_infer URL MODEL INPUT_NAME BATCH FEATURES
//   mlos_example_infer grpc://127.0.0.1:8081 test/mlp@1.0.0 input 2 16
//
// Sends a float32 [BATCH, FEATURES] tensor of 0.1, 0.2, ... and prints every output.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mlos/client.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s URL MODEL INPUT_NAME BATCH FEATURES\n", argv[0]);
    return 2;
  }
  const int64_t batch = std::atoll(argv[4]), features = std::atoll(argv[5]);
  auto client = mlos::client::Client::Connect(argv[1]);
  if (!client.ok()) {
    std::fprintf(stderr, "connect: %s\n", client.status().message().c_str());
    return 1;
  }
  std::vector<float> values(static_cast<size_t>(batch * features));
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i + 1);

  mlos::client::InferRequest request;
  request.model = argv[2];
  request.inputs.push_back(
      mlos::client::Tensor::From<float>(argv[3], "float32", {batch, features}, values));
  auto result = (*client)->Infer(request);
  if (!result.ok()) {
    std::fprintf(stderr, "infer: %s\n", result.status().message().c_str());
    return 1;
  }
  std::printf("model %s version %s\n", result->model_name.c_str(), result->model_version.c_str());
  for (const mlos::client::Tensor& t : result->outputs) {
    std::printf("%s %s [", t.name.c_str(), t.dtype.c_str());
    for (size_t i = 0; i < t.shape.size(); ++i) {
      std::printf("%s%lld", i ? ", " : "", static_cast<long long>(t.shape[i]));
    }
    std::printf("]");
    if (t.dtype == "float32") {
      for (float v : t.As<float>()) std::printf(" %g", v);
    }
    std::printf("\n");
  }
  return 0;
}
