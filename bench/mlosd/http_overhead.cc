// mlos-bench-http: per-request latency of mlosd's HTTP paths against ONNX Runtime called
// directly on the same model in the same process run ("raw"). Closed loop, one connection
// (keep-alive), one request in flight: the difference of medians is the server's overhead.
//
//   mlos-bench-http --host 127.0.0.1 --port P --model local/mlp@1.0.0 --onnx mlp.onnx
//                   --input input --dim 16 --iters 5000 --warmup 500 --threads 1 [--token T]
// Prints one JSON object: {"raw": {...}, "http_json": {...}, "kserve_json": {...},
// "kserve_binary": {...}} with p50/p90/p99/max/mean in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "loadgen/http_client.h"

namespace {

namespace bench = mlos::bench;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string model = "local/mlp@1.0.0";
  std::string onnx;
  std::string input = "input";
  int dim = 16;
  int iters = 5000, warmup = 500, threads = 1;
  bool health_only = false;  // only the GET /health round trip (to measure any HTTP server)
  std::string auth_header;   // --token T: "Authorization: Bearer T\r\n" on every request
};

using bench::UrlEncode;

// One keep-alive connection (bench/loadgen/http_client.h); RoundTrip copies the body out.
class Conn {
 public:
  Conn(const std::string& host, int port) : conn_(host, port) {}
  int RoundTrip(const std::string& req, std::string* body) {
    int status = conn_.RoundTrip(req, &res_);
    if (body) body->assign(res_.body);
    return status;
  }

 private:
  bench::HttpConn conn_;
  bench::HttpResponse res_;
};

struct Stats {
  double p50, p90, p99, max, mean;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  double sum = 0;
  for (double x : v) sum += x;
  return {at(0.50), at(0.90), at(0.99), v.back(), sum / v.size()};
}

std::string Json(const Stats& s) {
  char b[256];
  std::snprintf(b, sizeof b,
                "{\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, "
                "\"mean_us\": %.1f}",
                s.p50, s.p90, s.p99, s.max, s.mean);
  return b;
}

template <typename F>
Stats Measure(const Args& a, F&& once) {
  for (int i = 0; i < a.warmup; ++i) once();
  std::vector<double> us;
  us.reserve(a.iters);
  for (int i = 0; i < a.iters; ++i) {
    auto t0 = Clock::now();
    once();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return Summarise(std::move(us));
}

std::string g_auth_header;  // Args::auth_header, on every request

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         g_auth_header + extra_headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = std::atoi(v.c_str());
    else if (k == "--model") a.model = v;
    else if (k == "--onnx") a.onnx = v;
    else if (k == "--input") a.input = v;
    else if (k == "--dim") a.dim = std::atoi(v.c_str());
    else if (k == "--iters") a.iters = std::atoi(v.c_str());
    else if (k == "--warmup") a.warmup = std::atoi(v.c_str());
    else if (k == "--threads") a.threads = std::atoi(v.c_str());
    else if (k == "--health-only") a.health_only = v == "1";
    else if (k == "--token") a.auth_header = "Authorization: Bearer " + v + "\r\n";
    else {
      std::fprintf(stderr, "mlos-bench-http: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  g_auth_header = a.auth_header;
  try {
    if (a.health_only) {
      Conn conn(a.host, a.port);
      std::string req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      Stats health = Measure(a, [&] { conn.RoundTrip(req, nullptr); });
      std::printf("{\"iters\": %d, \"health\": %s}\n", a.iters, Json(health).c_str());
      return 0;
    }
    std::vector<float> x(a.dim);
    for (int i = 0; i < a.dim; ++i) x[i] = 0.01f * static_cast<float>(i) - 0.05f;

    // Raw ONNX Runtime, same model, same thread settings as the daemon's plugin config.
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "bench");
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(a.threads);
    so.SetInterOpNumThreads(1);
    Ort::Session session(env, a.onnx.c_str(), so);
    Ort::AllocatorWithDefaultOptions alloc;
    std::vector<std::string> out_names;
    for (size_t i = 0; i < session.GetOutputCount(); ++i)
      out_names.push_back(session.GetOutputNameAllocated(i, alloc).get());
    std::vector<const char*> out_ptrs;
    for (auto& n : out_names) out_ptrs.push_back(n.c_str());
    const char* in_name = a.input.c_str();
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    int64_t shape[2] = {1, a.dim};
    Stats raw = Measure(a, [&] {
      Ort::Value in = Ort::Value::CreateTensor<float>(mem, x.data(), x.size(), shape, 2);
      auto outs = session.Run(Ort::RunOptions{nullptr}, &in_name, &in, 1, out_ptrs.data(),
                              out_ptrs.size());
      (void)outs;
    });

    Conn conn(a.host, a.port);
    std::string body;
    // The transport floor: GET /health on the same connection (no model, no JSON parsing).
    std::string req_health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    Stats health = Measure(a, [&] { conn.RoundTrip(req_health, nullptr); });
    // Original MLOS API: {"input": [flat floats]}.
    std::string arr = "[";
    for (int i = 0; i < a.dim; ++i) arr += (i ? "," : "") + std::to_string(x[i]);
    arr += "]";
    std::string req_json = Post("/models/" + UrlEncode(a.model) + "/inference",
                                "{\"" + a.input + "\": " + arr + "}");
    if (conn.RoundTrip(req_json, &body) != 200) {
      std::fprintf(stderr, "mlos-bench-http: /inference failed: %s\n", body.c_str());
      return 1;
    }
    Stats http_json = Measure(a, [&] { conn.RoundTrip(req_json, nullptr); });

    std::string name = a.model.substr(0, a.model.find('@'));
    std::string version = a.model.substr(a.model.find('@') + 1);
    std::string infer_path = "/v2/models/" + UrlEncode(name) + "/versions/" + UrlEncode(version) + "/infer";
    std::string kjson = "{\"inputs\":[{\"name\":\"" + a.input + "\",\"shape\":[1," +
                        std::to_string(a.dim) + "],\"datatype\":\"FP32\",\"data\":" + arr + "}]}";
    std::string req_kjson = Post(infer_path, kjson);
    if (conn.RoundTrip(req_kjson, &body) != 200) {
      std::fprintf(stderr, "mlos-bench-http: KServe JSON infer failed: %s\n", body.c_str());
      return 1;
    }
    Stats kserve_json = Measure(a, [&] { conn.RoundTrip(req_kjson, nullptr); });

    std::string header = "{\"inputs\":[{\"name\":\"" + a.input + "\",\"shape\":[1," +
                         std::to_string(a.dim) +
                         "],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":" +
                         std::to_string(a.dim * 4) +
                         "}}],\"parameters\":{\"binary_data_output\":true}}";
    std::string bin_body = header;
    bin_body.append(reinterpret_cast<const char*>(x.data()), x.size() * 4);
    std::string req_bin =
        "POST " + infer_path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/octet-stream\r\n" + a.auth_header +
        "Inference-Header-Content-Length: " +
        std::to_string(header.size()) + "\r\nContent-Length: " + std::to_string(bin_body.size()) +
        "\r\n\r\n" + bin_body;
    if (conn.RoundTrip(req_bin, &body) != 200) {
      std::fprintf(stderr, "mlos-bench-http: KServe binary infer failed: %s\n", body.c_str());
      return 1;
    }
    Stats kserve_bin = Measure(a, [&] { conn.RoundTrip(req_bin, nullptr); });

    std::printf("{\"iters\": %d, \"raw\": %s, \"health\": %s, \"http_json\": %s, "
                "\"kserve_json\": %s, \"kserve_binary\": %s}\n",
                a.iters, Json(raw).c_str(), Json(health).c_str(), Json(http_json).c_str(),
                Json(kserve_json).c_str(), Json(kserve_bin).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlos-bench-http: %s\n", e.what());
    return 1;
  }
  return 0;
}
