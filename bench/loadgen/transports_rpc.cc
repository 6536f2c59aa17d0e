// mlos-bench's gRPC (generated KServe stub) and IPC (client SDK) transports.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>

#include "mlos/client.h"
#include "transports.h"

#if MLOS_BENCH_GRPC
#include <grpcpp/grpcpp.h>

#include "grpc_service.grpc.pb.h"
#endif

namespace mlos::bench {
namespace {

using mlos::client::Client;

std::string Missing(const std::vector<std::string>& want, auto&& has) {
  for (const std::string& n : want) {
    if (!has(n)) return "output '" + n + "' missing from the response";
  }
  return "";
}

#if MLOS_BENCH_GRPC
// ---- gRPC: the request is built once; each worker has its own channel (and TCP connection) --

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(const std::string& target, const inference::ModelInferRequest& request,
                const std::vector<std::string>& want,
                std::chrono::system_clock::time_point connect_by)
      : request_(request), want_(want) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    // Connected before the first request. Debian 12's gRPC (1.51) reads errno after other calls
    // once connect() returned EINPROGRESS (fixed upstream in grpc/grpc#35064), so now and then a
    // connection that was only in progress fails ("failed to connect ... No such file or
    // directory") and the calls given to this channel fail during its 1 s reconnect backoff: the
    // soak saw ~115 such errors in a few of its windows. A worker that starts connected measures
    // the server; a server that is not there still fails the first request (every worker waits
    // until the same time, 20 s after the start).
    channel->WaitForConnected(connect_by);
    stub_ = inference::GRPCInferenceService::NewStub(channel);
  }

  bool Infer(std::string* error) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    response_.Clear();
    grpc::Status s = stub_->ModelInfer(&ctx, request_, &response_);
    if (!s.ok()) {
      *error =
          "gRPC " + std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message();
      return false;
    }
    *error = Missing(want_, [&](const std::string& n) {
      for (const auto& o : response_.outputs()) {
        if (o.name() == n) return true;
      }
      return false;
    });
    return error->empty();
  }

 private:
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  const inference::ModelInferRequest& request_;
  const std::vector<std::string>& want_;
  inference::ModelInferResponse response_;  // reused: its buffers keep their capacity
};

class GrpcFactory final : public TransportFactory {
 public:
  GrpcFactory(const BenchOptions& o, const Workload& w) : w_(w) {
    auto ep = mlos::client::ParseUrl(o.url);
    if (!o.url.starts_with("grpc://") || !ep.ok()) {
      throw std::runtime_error("--url must be grpc://HOST:PORT for --target grpc, got '" + o.url +
                               "'");
    }
    const bool v6 = ep->host.find(':') != std::string::npos;
    target_ = (v6 ? "[" + ep->host + "]" : ep->host) + ":" + std::to_string(ep->port);
    const size_t at = o.model.rfind('@');
    request_.set_model_name(o.model.substr(0, at));
    if (at != std::string::npos) request_.set_model_version(o.model.substr(at + 1));
    for (const InputTensor& t : w.inputs) {
      auto* in = request_.add_inputs();
      in->set_name(t.name);
      in->set_datatype(t.kserve);
      in->mutable_shape()->Add(t.shape.begin(), t.shape.end());
      request_.add_raw_input_contents()->assign(reinterpret_cast<const char*>(t.bytes.data()),
                                                t.bytes.size());  // BYTES: KServe's encoding
    }
    if (w.outputs_named) {
      for (const std::string& n : w.outputs) request_.add_outputs()->set_name(n);
    }
  }
  std::unique_ptr<Transport> New(int) override {
    return std::make_unique<GrpcTransport>(target_, request_, w_.outputs, connect_by_);
  }

 private:
  const Workload& w_;
  std::string target_;
  inference::ModelInferRequest request_;
  const std::chrono::system_clock::time_point connect_by_ =
      std::chrono::system_clock::now() + std::chrono::seconds(20);
};
#endif

// ---- IPC: the SDK over unix:// -----------------------------------------------------------------

// `t` as an SDK tensor; its values in the frame (a string tensor's always) when `inline_data`.
client::Tensor SdkTensor(const InputTensor& t, bool inline_data) {
  client::Tensor x;
  x.name = t.name;
  x.dtype = t.dtype;
  x.shape = t.shape;
  if (t.is_string())
    x.strings = t.strings;
  else if (inline_data)
    x.data = t.bytes;
  return x;
}

std::unique_ptr<Client> ConnectOrThrow(const std::string& url) {
  auto c = Client::Connect(url);
  if (!c.ok()) throw std::runtime_error(c.status().ToString());
  return std::move(c).value();
}

std::string CheckResult(const Result<client::InferResult>& r,
                        const std::vector<std::string>& want) {
  if (!r.ok()) return r.status().ToString();
  return Missing(want, [&](const std::string& n) { return r->Find(n) != nullptr; });
}

class IpcTransport final : public Transport {
 public:
  IpcTransport(std::unique_ptr<Client> c, const client::InferRequest& req,
               const std::vector<std::string>& want)
      : client_(std::move(c)), req_(req), want_(want) {}
  bool Infer(std::string* error) override {
    *error = CheckResult(client_->Infer(req_), want_);
    return error->empty();
  }

 private:
  std::unique_ptr<Client> client_;
  const client::InferRequest& req_;
  const std::vector<std::string>& want_;
};

// Inputs and outputs in one memfd region of the worker's own, registered once; requests carry
// only (region, offset, size) references. String tensors, which mlosd takes only inline, travel
// in the frames (`out_bytes` has no entry for a string output).
class IpcShmTransport final : public Transport {
 public:
  IpcShmTransport(std::unique_ptr<Client> c, const Workload& w, const std::string& model,
                  const std::map<std::string, uint64_t>& out_bytes, int index)
      : client_(std::move(c)), want_(w.outputs) {
    region_ = "mlos-bench-" + std::to_string(::getpid()) + "-" + std::to_string(index);
    auto align = [](uint64_t n) { return (n + 63) & ~uint64_t{63}; };
    uint64_t size = 0;
    std::vector<uint64_t> in_off, out_off;
    for (const InputTensor& t : w.inputs) {
      in_off.push_back(size);
      if (!t.is_string()) size = align(size + t.bytes.size());
    }
    for (const std::string& o : w.outputs) {
      out_off.push_back(size);
      if (auto it = out_bytes.find(o); it != out_bytes.end()) size = align(size + it->second);
    }
    auto mem = client::SharedMemory::CreateMemfd(region_, std::max<uint64_t>(size, 64));
    if (!mem.ok()) throw std::runtime_error("memfd: " + mem.status().ToString());
    mem_ = std::move(mem).value();
    req_.model = model;
    for (size_t i = 0; i < w.inputs.size(); ++i) {
      const InputTensor& t = w.inputs[i];
      client::Tensor x = SdkTensor(t, false);
      if (!t.is_string()) {
        std::memcpy(mem_->data() + in_off[i], t.bytes.data(), t.bytes.size());
        x.shm = {region_, in_off[i], t.bytes.size()};
      }
      req_.inputs.push_back(std::move(x));
    }
    for (size_t i = 0; i < w.outputs.size(); ++i) {
      auto it = out_bytes.find(w.outputs[i]);
      if (it == out_bytes.end())
        req_.outputs.push_back({w.outputs[i], {}});
      else
        req_.outputs.push_back({w.outputs[i], {region_, out_off[i], it->second}});
    }
    Status st = client_->RegisterSharedMemory(region_, *mem_, 0, mem_->size());
    if (!st.ok()) throw std::runtime_error("registering shared memory: " + st.ToString());
  }
  ~IpcShmTransport() override { (void)client_->UnregisterSharedMemory(region_); }

  bool Infer(std::string* error) override {
    *error = CheckResult(client_->Infer(req_), want_);
    return error->empty();
  }

 private:
  std::unique_ptr<Client> client_;
  const std::vector<std::string>& want_;
  std::string region_;
  std::unique_ptr<client::SharedMemory> mem_;
  client::InferRequest req_;
};

class IpcFactory final : public TransportFactory {
 public:
  IpcFactory(const BenchOptions& o, const Workload& w, bool shm)
      : url_(o.url), model_(o.model), w_(w), shm_(shm) {
    if (!o.url.starts_with("unix://")) {
      throw std::runtime_error("--url must be unix:///PATH for --target " + o.target + ", got '" +
                               o.url + "'");
    }
    req_.model = o.model;
    for (const InputTensor& t : w.inputs) req_.inputs.push_back(SdkTensor(t, true));
    if (w.outputs_named) {
      for (const std::string& n : w.outputs) req_.outputs.push_back({n, {}});
    }
    if (shm) {  // one inline request tells the output sizes (the shared-memory windows)
      auto c = ConnectOrThrow(url_);
      auto r = c->Infer(req_);
      if (!r.ok()) throw std::runtime_error("the first request failed: " + r.status().ToString());
      for (const std::string& n : w.outputs) {
        const client::Tensor* t = r->Find(n);
        if (!t) throw std::runtime_error("output '" + n + "' missing from the response");
        if (t->dtype != "string") out_bytes_[n] = t->data.size();  // strings come back inline
      }
    }
  }
  std::unique_ptr<Transport> New(int index) override {
    auto c = ConnectOrThrow(url_);
    if (shm_) return std::make_unique<IpcShmTransport>(std::move(c), w_, model_, out_bytes_, index);
    return std::make_unique<IpcTransport>(std::move(c), req_, w_.outputs);
  }

 private:
  std::string url_, model_;
  const Workload& w_;
  bool shm_;
  client::InferRequest req_;
  std::map<std::string, uint64_t> out_bytes_;
};

}  // namespace

std::unique_ptr<TransportFactory> NewGrpcFactory(const BenchOptions& o, const Workload& w) {
#if MLOS_BENCH_GRPC
  return std::make_unique<GrpcFactory>(o, w);
#else
  (void)o;
  (void)w;
  throw std::runtime_error("this build of mlos-bench has no gRPC support");
#endif
}

std::unique_ptr<TransportFactory> NewIpcFactory(const BenchOptions& o, const Workload& w,
                                                bool shm) {
  return std::make_unique<IpcFactory>(o, w, shm);
}

}  // namespace mlos::bench
