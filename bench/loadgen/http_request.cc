#include "http_request.h"

#include <cstdlib>

namespace mlos::bench {

std::string EncodeHttpInferRequest(const HttpUrl& url, const std::string& model,
                                   const Workload& w, const HttpInferOptions& options) {
  const bool binary = options.binary;
  const std::string path = url.prefix + "/v2/models/" + UrlEncode(model) + "/infer";
  std::string body = "{\"inputs\":[";
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
  const bool v6 = url.host.find(':') != std::string::npos;
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: " +
                        (v6 ? "[" + url.host + "]" : url.host) + ":" +
                        std::to_string(url.port) + "\r\n";
  if (binary) {
    request += "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: " +
               std::to_string(body.size()) + "\r\n";
  } else {
    request += "Content-Type: application/json\r\n";
  }
  request += options.extra_headers;
  request += "Content-Length: " + std::to_string(total) + "\r\n\r\n";
  request.reserve(request.size() + total);
  request += body;
  if (binary) {
    for (const InputTensor& t : w.inputs) {
      request.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    }
  }
  return request;
}

std::string CheckHttpInferResponse(const HttpResponse& res, bool binary,
                                   const std::vector<std::string>& want) {
  if (res.status != 200) return ErrorFromBody(res.status, res.body);
  std::string_view json = res.body;
  if (binary) {
    if (auto h = res.Header("inference-header-content-length")) {
      size_t n = std::strtoull(std::string(*h).c_str(), nullptr, 10);
      if (n > json.size()) return "Inference-Header-Content-Length exceeds the response body";
      json = json.substr(0, n);
    }
  }
  return CheckJsonOutputs(json, want);
}

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

}  // namespace mlos::bench
