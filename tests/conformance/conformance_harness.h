// Helpers for the protocol conformance suite: the real daemon with its HTTP, gRPC and IPC
// listeners, a KServe v2 JSON inference path (the SDK speaks only the binary extension over
// HTTP), and a shared-memory (memfd) wrapper around the SDK's Infer for the IPC-shm path.
#pragma once

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/internal.h"  // CodeForHttp: the SDK's own HTTP status mapping
#include "mlos/client.h"
#include "../integration/mlosd_harness.h"

namespace conformance {

namespace fs = std::filesystem;
using mlos::Result;
using mlos::Status;
using mlos::StatusCode;
using mlos::client::InferRequest;
using mlos::client::InferResult;
using mlos::client::Tensor;

// mlosd with --http, --grpc and --ipc (mlostest::Daemon reads the ports and the socket path
// from its stdout).
class FullDaemon {
 public:
  ::testing::AssertionResult Start(const fs::path& dir, const fs::path& config) {
    fs::create_directories(dir / "state");
    daemon_ = std::make_unique<mlostest::Daemon>(
        dir / "state", std::vector<std::string>{"--grpc", "127.0.0.1:0", "--ipc",
                                                (dir / "mlosd.sock").string(), "--config",
                                                config.string(), "--model-root",
                                                // packages are written beside `dir`
                                                dir.parent_path().string()});
    ::testing::AssertionResult started = daemon_->Start();
    if (!started) return started;
    if (daemon_->grpc_port() == 0 || daemon_->ipc_path().empty()) {
      return ::testing::AssertionFailure() << "no gRPC or IPC listener line; log:\n"
                                           << daemon_->Log();
    }
    return started;
  }
  void Stop() { daemon_.reset(); }
  std::string Log() const { return daemon_ ? daemon_->Log() : ""; }
  uint16_t http_port() const { return daemon_->http_port(); }
  uint16_t grpc_port() const { return daemon_->grpc_port(); }
  const std::string& ipc_path() const { return daemon_->ipc_path(); }

 private:
  std::unique_ptr<mlostest::Daemon> daemon_;
};

// ---- half / bfloat16 <-> float (exact for representable values) ----

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}

inline uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (abs < 0x38800000u) {
    const float a = std::bit_cast<float>(abs);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t h = (((abs >> 23) - 112u) << 10) | ((abs >> 13) & 0x3ffu);
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float BFloat16ToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}
inline uint16_t FloatToBFloat16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

// ---- KServe v2 JSON inference (no binary extension) ----

inline std::string KServeName(const std::string& d) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"bool", "BOOL"},     {"uint8", "UINT8"},   {"uint16", "UINT16"}, {"uint32", "UINT32"},
      {"uint64", "UINT64"}, {"int8", "INT8"},     {"int16", "INT16"},   {"int32", "INT32"},
      {"int64", "INT64"},   {"float16", "FP16"},  {"float32", "FP32"},  {"float64", "FP64"},
      {"bfloat16", "BF16"}, {"string", "BYTES"}};
  for (const auto& [a, b] : kMap) {
    if (d == a) return b;
  }
  return d;
}
inline std::string DtypeName(const std::string& k) {
  for (const char* d : {"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                        "int64", "float16", "float32", "float64", "bfloat16", "string"}) {
    if (KServeName(d) == k) return d;
  }
  return k;
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Appends the flat JSON array of a tensor's elements to `out` (hand-written so that a 64 MB
// float tensor does not become a JSON DOM on the client side).
inline void AppendJsonData(const Tensor& t, std::string& out) {
  out += '[';
  char buf[64];
  const uint64_t size = mlos::client::DtypeSize(t.dtype);
  const size_t n = t.dtype == "string" ? t.strings.size() : (size ? t.data.size() / size : 0);
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    const uint8_t* p = t.data.data() + i * size;
    const std::string& d = t.dtype;
    if (d == "string") {
      out += nlohmann::json(t.strings[i]).dump();
      continue;
    } else if (d == "float32") {
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(Load<float>(p)));
    } else if (d == "float64") {
      std::snprintf(buf, sizeof buf, "%.17g", Load<double>(p));
    } else if (d == "float16") {
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(HalfToFloat(Load<uint16_t>(p))));
    } else if (d == "bfloat16") {
      std::snprintf(buf, sizeof buf, "%.9g",
                    static_cast<double>(BFloat16ToFloat(Load<uint16_t>(p))));
    } else if (d == "bool") {
      std::snprintf(buf, sizeof buf, "%s", p[0] ? "true" : "false");
    } else if (d == "int8") {
      std::snprintf(buf, sizeof buf, "%d", Load<int8_t>(p));
    } else if (d == "int16") {
      std::snprintf(buf, sizeof buf, "%d", Load<int16_t>(p));
    } else if (d == "int32") {
      std::snprintf(buf, sizeof buf, "%d", Load<int32_t>(p));
    } else if (d == "int64") {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(Load<int64_t>(p)));
    } else if (d == "uint8") {
      std::snprintf(buf, sizeof buf, "%u", Load<uint8_t>(p));
    } else if (d == "uint16") {
      std::snprintf(buf, sizeof buf, "%u", Load<uint16_t>(p));
    } else if (d == "uint32") {
      std::snprintf(buf, sizeof buf, "%u", Load<uint32_t>(p));
    } else if (d == "uint64") {
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(Load<uint64_t>(p)));
    }
    // "-0" would parse back as the integer 0: spell a negative zero as a float.
    if (std::strcmp(buf, "-0") == 0) std::snprintf(buf, sizeof buf, "-0.0");
    out += buf;
  }
  out += ']';
}

template <typename T>
void Append(Tensor& t, T v) {
  const size_t at = t.data.size();
  t.data.resize(at + sizeof v);
  std::memcpy(t.data.data() + at, &v, sizeof v);
}

inline Status DecodeJsonData(const nlohmann::json& data, Tensor& t) {
  if (!data.is_array()) return mlos::Internal("output '" + t.name + "': data is not an array");
  const std::string& d = t.dtype;
  t.data.reserve(data.size() * mlos::client::DtypeSize(d));
  for (const nlohmann::json& v : data) {
    if (d == "string") {
      if (!v.is_string()) return mlos::Internal("output '" + t.name + "': non-string element");
      t.strings.push_back(v.get<std::string>());
      continue;
    }
    if (d == "bool") {
      if (!v.is_boolean()) return mlos::Internal("output '" + t.name + "': non-bool element");
      Append<uint8_t>(t, v.get<bool>() ? 1 : 0);
      continue;
    }
    if (!v.is_number()) return mlos::Internal("output '" + t.name + "': non-number element");
    if (d == "float32") Append<float>(t, static_cast<float>(v.get<double>()));
    else if (d == "float64") Append<double>(t, v.get<double>());
    else if (d == "float16") Append<uint16_t>(t, FloatToHalf(static_cast<float>(v.get<double>())));
    else if (d == "bfloat16")
      Append<uint16_t>(t, FloatToBFloat16(static_cast<float>(v.get<double>())));
    else if (d == "int8") Append<int8_t>(t, static_cast<int8_t>(v.get<int64_t>()));
    else if (d == "int16") Append<int16_t>(t, static_cast<int16_t>(v.get<int64_t>()));
    else if (d == "int32") Append<int32_t>(t, static_cast<int32_t>(v.get<int64_t>()));
    else if (d == "int64") Append<int64_t>(t, v.get<int64_t>());
    else if (d == "uint8") Append<uint8_t>(t, static_cast<uint8_t>(v.get<uint64_t>()));
    else if (d == "uint16") Append<uint16_t>(t, static_cast<uint16_t>(v.get<uint64_t>()));
    else if (d == "uint32") Append<uint32_t>(t, static_cast<uint32_t>(v.get<uint64_t>()));
    else if (d == "uint64") Append<uint64_t>(t, v.get<uint64_t>());
    else return mlos::Internal("output '" + t.name + "': dtype " + d);
  }
  return Status::Ok();
}


inline size_t CurlBody(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// POST /v2/models/{model}[/versions/{v}]/infer with a pure JSON body; outputs come back as
// JSON "data" (binary_data_output is never asked for).
inline Result<InferResult> JsonInfer(uint16_t port, const InferRequest& req) {
  std::string body = "{";
  if (!req.id.empty()) body += "\"id\":" + nlohmann::json(req.id).dump() + ",";
  body += "\"inputs\":[";
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    const Tensor& t = req.inputs[i];
    if (i) body += ',';
    body += "{\"name\":" + nlohmann::json(t.name).dump() + ",\"datatype\":\"" +
            KServeName(t.dtype) + "\",\"shape\":" + nlohmann::json(t.shape).dump() + ",\"data\":";
    AppendJsonData(t, body);
    body += '}';
  }
  body += "]";
  if (!req.outputs.empty()) {
    nlohmann::json outs = nlohmann::json::array();
    for (const auto& o : req.outputs) outs.push_back({{"name", o.name}});
    body += ",\"outputs\":" + outs.dump();
  }
  body += "}";
  std::string path = "/v2/models/" + mlostest::Encode(req.model);
  if (!req.version.empty()) path += "/versions/" + mlostest::Encode(req.version);
  path += "/infer";
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;

  CURL* h = curl_easy_init();
  if (!h) return mlos::Internal("curl_easy_init failed");
  std::string reply;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 600000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CurlBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK) return mlos::Unavailable(std::string("curl: ") + curl_easy_strerror(rc));

  nlohmann::json j = nlohmann::json::parse(reply, nullptr, false);
  if (status < 200 || status >= 300) {
    std::string message = j.is_object() && j.contains("error") && j["error"].is_string()
                              ? j["error"].get<std::string>()
                              : "HTTP " + std::to_string(status) + ": " + reply.substr(0, 200);
    return Status(mlos::client::internal::CodeForHttp(status, message), message);
  }
  if (!j.is_object() || !j.contains("outputs") || !j["outputs"].is_array()) {
    return mlos::Internal("malformed JSON infer response: " + reply.substr(0, 200));
  }
  InferResult result;
  result.model_name = j.value("model_name", "");
  result.model_version = j.value("model_version", "");
  result.id = j.value("id", "");
  for (const nlohmann::json& o : j["outputs"]) {
    Tensor t;
    t.name = o.value("name", "");
    t.dtype = DtypeName(o.value("datatype", ""));
    t.shape = o.value("shape", std::vector<int64_t>{});
    if (o.contains("parameters") && o["parameters"].contains("binary_data_size")) {
      return mlos::Internal("output '" + t.name + "' came back binary on the JSON path");
    }
    if (!o.contains("data")) return mlos::Internal("output '" + t.name + "' has no data");
    MLOS_RETURN_IF_ERROR(DecodeJsonData(o["data"], t));
    result.outputs.push_back(std::move(t));
  }
  return result;
}

// ---- IPC-shm: every numeric input and output in one registered memfd region ----

inline uint64_t Align(uint64_t v) { return (v + 63) & ~uint64_t{63}; }

// `all_outputs`: the model's output names, used when the request asks for every output (the
// shm path has to name each output to place it). `inline_outputs`: outputs that stay inline
// (strings: the IPC protocol carries BYTES tensors inline only).
inline Result<InferResult> ShmInfer(mlos::client::Client& client, InferRequest req,
                                    const std::vector<std::string>& all_outputs,
                                    const std::set<std::string>& inline_outputs) {
  static std::atomic<uint64_t> counter{0};
  const std::string region = "conf-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter.fetch_add(1));
  uint64_t max_input = 0, total = 0;
  for (const Tensor& t : req.inputs) {
    if (t.dtype == "string") continue;
    max_input = std::max<uint64_t>(max_input, t.data.size());
    total += Align(t.data.size());
  }
  if (req.outputs.empty()) {
    for (const std::string& n : all_outputs) req.outputs.push_back({n, {}});
  }
  const uint64_t cap = Align(std::max<uint64_t>(max_input, 64));
  total += cap * req.outputs.size();
  total = std::max<uint64_t>(total, 64);
  MLOS_ASSIGN_OR_RETURN(auto mem, mlos::client::SharedMemory::CreateMemfd(region, total));
  uint64_t off = 0;
  for (Tensor& t : req.inputs) {
    if (t.dtype == "string") continue;  // BYTES travel inline on IPC
    MLOS_RETURN_IF_ERROR(mem->Write(off, t.data.data(), t.data.size()));
    t.shm = {region, off, t.data.size()};
    off += Align(t.data.size());
    t.data.clear();
  }
  std::set<std::string> placed;
  for (auto& o : req.outputs) {
    if (inline_outputs.count(o.name)) continue;
    o.shm = {region, off, cap};
    placed.insert(o.name);
    off += cap;
  }
  MLOS_RETURN_IF_ERROR(client.RegisterSharedMemory(region, *mem, 0, total));
  auto r = client.Infer(req);
  Status unreg = client.UnregisterSharedMemory(region);
  if (!r.ok()) return r.status();
  if (!unreg.ok()) return unreg;
  for (Tensor& t : r->outputs) {
    if (!placed.count(t.name)) continue;
    if (!t.shm.used()) {
      return mlos::Internal("output '" + t.name + "' did not come back in shared memory");
    }
    if (t.shm.region != region || t.shm.byte_size > cap) {
      return mlos::Internal("output '" + t.name + "': unexpected shm reference");
    }
    MLOS_ASSIGN_OR_RETURN(t.data, mem->Read(t.shm.offset, t.shm.byte_size));
    t.shm = {};
  }
  return r;
}

}  // namespace conformance
