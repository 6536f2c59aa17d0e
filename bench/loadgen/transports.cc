#include "transports.h"

#include <stdexcept>

#include "http_client.h"
#include "http_request.h"

namespace mlos::bench {
namespace {

// ---- raw: ONNX Runtime in process -------------------------------------------------------------

class RawTransport final : public Transport {
 public:
  RawTransport(Ort::Session& session, const Workload& w)
      : session_(session), want_(w.outputs.size()) {
    auto mem = Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault);
    for (const InputTensor& t : w.inputs) {
      if (t.is_string()) {  // ONNX Runtime copies strings into a tensor of its own
        Ort::AllocatorWithDefaultOptions alloc;
        values_.push_back(Ort::Value::CreateTensor(alloc, t.shape.data(), t.shape.size(),
                                                   ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING));
        std::vector<const char*> elements;
        for (const std::string& e : t.strings) elements.push_back(e.c_str());
        if (!elements.empty()) values_.back().FillStringTensor(elements.data(), elements.size());
      } else {
        // ONNX Runtime does not write its inputs: the workers share the prepared bytes.
        values_.push_back(Ort::Value::CreateTensor(mem, const_cast<uint8_t*>(t.bytes.data()),
                                                   t.bytes.size(), t.shape.data(),
                                                   t.shape.size(), t.onnx_type));
      }
      in_names_.push_back(t.name.c_str());
    }
    for (const std::string& o : w.outputs) out_names_.push_back(o.c_str());
  }

  bool Infer(std::string* error) override {
    try {
      auto outs = session_.Run(run_options_, in_names_.data(), values_.data(), values_.size(),
                               out_names_.data(), out_names_.size());
      if (outs.size() != want_) {
        *error = "ONNX Runtime returned " + std::to_string(outs.size()) + " outputs";
        return false;
      }
      return true;
    } catch (const Ort::Exception& e) {
      *error = e.what();
      return false;
    }
  }

 private:
  Ort::Session& session_;
  size_t want_;
  Ort::RunOptions run_options_;
  std::vector<Ort::Value> values_;
  std::vector<const char*> in_names_, out_names_;
};

class RawFactory final : public TransportFactory {
 public:
  RawFactory(Ort::Session& session, const Workload& w) : session_(session), w_(w) {}
  std::unique_ptr<Transport> New(int) override {
    return std::make_unique<RawTransport>(session_, w_);
  }

 private:
  Ort::Session& session_;
  const Workload& w_;
};

// ---- HTTP: KServe v2 JSON and binary tensor extension ----------------------------------------

class HttpTransport final : public Transport {
 public:
  HttpTransport(const HttpUrl& url, const std::string& request, const Workload& w, bool binary)
      : conn_(url.host, url.port), request_(request), want_(w.outputs), binary_(binary) {}

  bool Infer(std::string* error) override {
    try {
      conn_.RoundTrip(request_, &res_);
      *error = CheckHttpInferResponse(res_, binary_, want_);
      return error->empty();
    } catch (const std::exception& e) {
      *error = e.what();
      return false;
    }
  }

 private:
  HttpConn conn_;
  const std::string& request_;
  const std::vector<std::string>& want_;
  bool binary_;
  HttpResponse res_;
};

class HttpFactory final : public TransportFactory {
 public:
  HttpFactory(const BenchOptions& o, const Workload& w, bool binary) : w_(w), binary_(binary) {
    auto url = ParseHttpUrl(o.url);
    if (!url || !o.url.starts_with("http://")) {
      throw std::runtime_error("--url must be http://HOST:PORT for --target " + o.target +
                               ", got '" + o.url + "'");
    }
    url_ = *url;
    HttpInferOptions options;
    options.binary = binary;
    options.extra_headers = o.http_headers;
    request_ = EncodeHttpInferRequest(url_, o.model, w, options);
  }

  std::unique_ptr<Transport> New(int) override {
    return std::make_unique<HttpTransport>(url_, request_, w_, binary_);
  }

 private:
  const Workload& w_;
  bool binary_;
  HttpUrl url_;
  std::string request_;  // the whole request, sent as is by every worker
};

}  // namespace

std::unique_ptr<TransportFactory> TransportFactory::Create(const BenchOptions& o,
                                                           Ort::Session& session,
                                                           const Workload& w) {
  if (o.target == "raw") return std::make_unique<RawFactory>(session, w);
  if (o.target == "http-json") return std::make_unique<HttpFactory>(o, w, false);
  if (o.target == "http-binary") return std::make_unique<HttpFactory>(o, w, true);
  if (o.target == "grpc") return NewGrpcFactory(o, w);
  if (o.target == "ipc-inline") return NewIpcFactory(o, w, false);
  if (o.target == "ipc-shm") return NewIpcFactory(o, w, true);
  throw std::runtime_error("unknown --target '" + o.target + "'");
}

}  // namespace mlos::bench
