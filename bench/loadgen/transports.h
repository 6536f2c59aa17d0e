// mlos-bench's transports: one object per worker, each with its own connection, sending the
// workload's request and checking that the response has every output of the model.
//   raw          ONNX Runtime in process (one Ort::Session shared by the workers)
//   http-json    KServe v2 JSON over a keep-alive HTTP/1.1 connection (http_client.h)
//   http-binary  KServe v2 binary tensor extension, same connection type
//   grpc         KServe v2 GRPCInferenceService (generated stub, one channel and TCP
//                connection per worker)
//   ipc-inline   the SDK over unix://, tensors in the frames
//   ipc-shm      the SDK over unix://, inputs and outputs in a memfd region per worker
#pragma once

#include <memory>
#include <string>

#include <onnxruntime_cxx_api.h>

#include "workload.h"

namespace mlos::bench {

struct BenchOptions {
  std::string target;
  std::string url;
  std::string onnx;
  std::string model;
  std::string label;
  std::string mode = "closed";
  int64_t batch = 1;
  int64_t int_max = 100;
  int concurrency = 0;  // 0: the mode's default
  double rate = 0;
  double duration = 5;
  double warmup = 1;
  uint64_t requests = 0;  // closed loop: stop after this many measured requests (0: --duration)
  int raw_threads = 1;
  // HTTP targets: extra header lines sent with every request, each "Name: value\r\n"
  // (--priority, --timeout-ms, --header).
  std::string http_headers;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // One request. False, with a readable reason in `error`, when it failed or the response
  // lacks an output of the model.
  virtual bool Infer(std::string* error) = 0;
};

// What the workers share, prepared once: the encoded request, the ONNX Runtime session.
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // Throws std::runtime_error with a readable reason (bad URL, server unreachable, the first
  // request failing where the setup needs one). `session` must outlive the factory.
  static std::unique_ptr<TransportFactory> Create(const BenchOptions& options,
                                                  Ort::Session& session, const Workload& workload);
  // A transport for worker `index`, connected; throws std::runtime_error.
  virtual std::unique_ptr<Transport> New(int index) = 0;
};

// Factories defined in transports_rpc.cc.
std::unique_ptr<TransportFactory> NewGrpcFactory(const BenchOptions& options,
                                                 const Workload& workload);
std::unique_ptr<TransportFactory> NewIpcFactory(const BenchOptions& options,
                                                const Workload& workload, bool shm);

}  // namespace mlos::bench
