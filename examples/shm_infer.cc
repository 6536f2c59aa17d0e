// Example: zero-copy inference over IPC with a sealed memfd region. The input is written into
// the region, the output is written by mlosd into the same region; no tensor bytes cross the
// socket.
//
//   mlos_example_shm_infer unix:///run/mlosd.sock MODEL INPUT_NAME OUTPUT_NAME BATCH FEATURES OUT_FEATURES
//   mlos_example_shm_infer unix:///tmp/mlosd.sock test/mlp@1.0.0 input probs 2 16 4
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

#include "mlos/client.h"

namespace client = mlos::client;

int Fail(const char* what, const mlos::Status& st) {
  std::fprintf(stderr, "%s: %s\n", what, st.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: %s unix:///path.sock MODEL INPUT OUTPUT BATCH FEATURES OUT_FEATURES\n",
                 argv[0]);
    return 2;
  }
  const int64_t batch = std::atoll(argv[5]), features = std::atoll(argv[6]),
                out_features = std::atoll(argv[7]);
  const uint64_t in_bytes = static_cast<uint64_t>(batch * features) * 4;
  const uint64_t out_bytes = static_cast<uint64_t>(batch * out_features) * 4;
  const uint64_t out_offset = (in_bytes + 63) / 64 * 64;

  auto c = client::Client::Connect(argv[1]);
  if (!c.ok()) return Fail("connect", c.status());
  // memfd over IPC; a POSIX shm object (CreateSystem) works over http:// and grpc:// as well.
  auto shm = (*c)->endpoint().scheme == client::Endpoint::Scheme::kUnix
                 ? client::SharedMemory::CreateMemfd("example", out_offset + out_bytes)
                 : client::SharedMemory::CreateSystem("/mlos-example-" + std::to_string(getpid()),
                                                      out_offset + out_bytes);
  if (!shm.ok()) return Fail("shared memory", shm.status());
  mlos::Status st = (*c)->RegisterSharedMemory("example", **shm, 0, (*shm)->size());
  if (!st.ok()) return Fail("register region", st);

  float* in = reinterpret_cast<float*>((*shm)->data());
  for (int64_t i = 0; i < batch * features; ++i) in[i] = 0.1f * static_cast<float>(i + 1);

  client::InferRequest req;
  req.model = argv[2];
  client::Tensor input;
  input.name = argv[3];
  input.dtype = "float32";
  input.shape = {batch, features};
  input.shm = {"example", 0, in_bytes};
  req.inputs.push_back(input);
  req.outputs.push_back({argv[4], {"example", out_offset, out_bytes}});
  auto r = (*c)->Infer(req);
  if (!r.ok()) return Fail("infer", r.status());

  const float* out = reinterpret_cast<const float*>((*shm)->data() + out_offset);
  std::printf("%s:", argv[4]);
  for (int64_t i = 0; i < batch * out_features; ++i) std::printf(" %g", out[i]);
  std::printf("\n");
  return (*c)->UnregisterSharedMemory("example").ok() ? 0 : 1;
}
