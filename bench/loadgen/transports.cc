#include "transports.h"

#include <stdexcept>

#include "http_client.h"

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

// The server's error message from a non-200 body ({"error": "..."}), else the body itself.
std::string ErrorFromBody(int status, std::string_view body) {
  std::string msg;
  size_t p = body.find("\"error\"");
  if (p != std::string_view::npos) p = body.find('"', body.find(':', p + 7));
  if (p != std::string_view::npos) {
    for (size_t i = p + 1; i < body.size() && body[i] != '"'; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      msg += body[i];
    }
  } else {
    msg = std::string(body.substr(0, 300));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  }
  return "HTTP " + std::to_string(status) + (msg.empty() ? "" : ": " + msg);
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(const HttpUrl& url, const std::string& request, const Workload& w, bool binary)
      : conn_(url.host, url.port), request_(request), want_(w.outputs), binary_(binary) {}

  bool Infer(std::string* error) override {
    try {
      int status = conn_.RoundTrip(request_, &res_);
      if (status != 200) {
        *error = ErrorFromBody(status, res_.body);
        return false;
      }
      std::string_view json = res_.body;
      if (binary_) {
        if (auto h = res_.Header("inference-header-content-length")) {
          size_t n = std::strtoull(std::string(*h).c_str(), nullptr, 10);
          if (n > json.size()) {
            *error = "Inference-Header-Content-Length exceeds the response body";
            return false;
          }
          json = json.substr(0, n);
        }
      }
      *error = CheckJsonOutputs(json, want_);
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
    const std::string path = url_.prefix + "/v2/models/" + UrlEncode(o.model) + "/infer";
    std::string body = "{\"inputs\":[";
    std::string tail;
    for (size_t i = 0; i < w.inputs.size(); ++i) {
      const InputTensor& t = w.inputs[i];
      body += (i ? ",{" : "{") + std::string("\"name\":") + JsonString(t.name) +
              ",\"datatype\":\"" + t.kserve + "\",\"shape\":" + ShapeText(t.shape);
      if (binary) {
        body += ",\"parameters\":{\"binary_data_size\":" + std::to_string(t.bytes.size()) + "}}";
      } else {
        body += ",\"data\":";
        body += t.json;
        body += '}';
      }
    }
    body += "]";
    if (w.outputs_named) {
      body += ",\"outputs\":[";
      for (size_t i = 0; i < w.outputs.size(); ++i) {
        body += (i ? ",{\"name\":" : "{\"name\":") + JsonString(w.outputs[i]) + "}";
      }
      body += "]";
    }
    if (binary) body += ",\"parameters\":{\"binary_data_output\":true}";
    body += "}";
    size_t total = body.size();
    for (const InputTensor& t : w.inputs) total += binary ? t.bytes.size() : 0;
    const bool v6 = url_.host.find(':') != std::string::npos;
    request_ = "POST " + path + " HTTP/1.1\r\nHost: " + (v6 ? "[" + url_.host + "]" : url_.host) +
               ":" + std::to_string(url_.port) + "\r\n";
    if (binary) {
      request_ += "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
                  std::to_string(body.size()) + "\r\n";
    } else {
      request_ += "Content-Type: application/json\r\n";
    }
    request_ += "Content-Length: " + std::to_string(total) + "\r\n\r\n";
    request_.reserve(request_.size() + total);
    request_ += body;
    if (binary) {
      for (const InputTensor& t : w.inputs) {
        request_.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
      }
    }
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

std::string CheckJsonOutputs(std::string_view json, const std::vector<std::string>& want) {
  size_t pos = json.find("\"outputs\"");
  if (pos == std::string_view::npos) return "the response has no \"outputs\"";
  std::vector<bool> seen(want.size(), false);
  size_t missing = want.size();
  while (missing > 0) {
    pos = json.find("\"name\"", pos);
    if (pos == std::string_view::npos) break;
    pos += 6;
    while (pos < json.size() && (json[pos] == ' ' || json[pos] == '\n' || json[pos] == ':' ||
                                 json[pos] == '\t' || json[pos] == '\r')) {
      ++pos;
    }
    if (pos >= json.size() || json[pos] != '"') continue;
    const size_t end = json.find('"', pos + 1);
    if (end == std::string_view::npos) break;
    std::string_view name = json.substr(pos + 1, end - pos - 1);
    for (size_t i = 0; i < want.size(); ++i) {
      if (!seen[i] && want[i] == name) {
        seen[i] = true;
        --missing;
      }
    }
    pos = end + 1;
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (!seen[i]) return "output '" + want[i] + "' missing from the response";
  }
  return "";
}

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
