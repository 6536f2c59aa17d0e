// mlos-bench-resources: the load behind bench/mlosd/resources.sh (the resource manager's
// benchmark). KServe v2 binary requests over keep-alive HTTP/1.1 connections (one per worker,
// bench/loadgen/http_client.h), inputs generated from each model's .onnx as mlos-bench does
// (bench/loadgen/workload.h), optional X-MLOS-Priority / X-MLOS-Timeout-Ms headers. Three
// modes, each printing one JSON line on stdout:
//
//   mix --url U --duration S [--warmup S] --stream SPEC [--stream SPEC]...
//     Closed-loop streams running at once, each measured over the same window (requests
//     started in [t0 + warmup, t0 + warmup + duration)). SPEC is key=value pairs joined by
//     commas: label, model, onnx (required), concurrency (1), priority (0 = no header),
//     timeout_ms (0 = no header), batch (1), int_max (100).
//
//   zipf --url U --onnx SIG --models ID,ID,... [--zipf-s 1.1] [--concurrency 4]
//        [--duration 30] [--seed 1] [--int-max 100] [--rss-pid PID] [--rss-interval-ms 50]
//        [--rss-out FILE]
//     Each request goes to one of the N models, the k-th (k = 1..N) with probability
//     proportional to 1/k^s; every model takes SIG's inputs. With --rss-pid, a thread reads
//     VmRSS from /proc/PID/status every interval for the whole run (samples to --rss-out as
//     "ms_since_start rss_bytes" lines).
//
//   overload --url U --model ID --onnx P [--batch 1] [--int-max 100] [--factor 2]
//            [--timeout-mult 5 | --timeout-ms T] [--duration 10] [--warmup 1]
//            [--concurrency 128] [--capacity-concurrency 4] [--capacity-duration 3]
//     1. service time: closed loop, one request at a time, 2 s; its p50.
//     2. capacity: closed loop at --capacity-concurrency for --capacity-duration; requests/s.
//     3. open loop at --factor x capacity (requests at t0 + i/rate, --concurrency workers),
//        each with X-MLOS-Timeout-Ms: T (default: --timeout-mult x the service time, rounded
//        up to a ms). Answers: 200 within T of the send ("met"), 200 later ("late"), 429
//        ("refused", with their latency), anything else ("failed").
//
// Latency is measured from the moment a request is written to the answer's last byte.
// Exit status: 0 done (whatever the server answered), 1 setup failed, 2 bad arguments.
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "http_client.h"
#include "http_request.h"
#include "stats.h"
#include "workload.h"

namespace {

namespace bench = mlos::bench;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "mlos-bench-resources: %s\n", msg.c_str());
  std::exit(code);
}

double Number(const std::string& key, const std::string& v, double lo) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(d) || d < lo)
    Fail(2, key + " expects a number >= " + std::to_string(lo) + ", got '" + v + "'");
  return d;
}

int Int(const std::string& key, const std::string& v, int lo) {
  return static_cast<int>(Number(key, v, lo));
}

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

uint32_t Micros(Clock::duration d) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>((ns + 500) / 1000, 0, UINT32_MAX));
}

// ---- requests ---------------------------------------------------------------------------------

// One model's prepared request: the bytes to send and the outputs to expect.
struct Request {
  std::string model;
  std::string bytes;
  std::vector<std::string> outputs;
};

struct RequestSpec {
  std::string model, onnx;
  int64_t batch = 1, int_max = 100;
  int priority = 0;    // 0: no X-MLOS-Priority header
  int timeout_ms = 0;  // 0: no X-MLOS-Timeout-Ms header
};

// Reads `spec.onnx` (metadata only) and encodes the request; exits 2 on a bad model file.
Request MakeRequest(const bench::HttpUrl& url, const RequestSpec& spec) {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "mlos-bench-resources");
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(1);
  so.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
  std::unique_ptr<Ort::Session> session;
  try {
    session = std::make_unique<Ort::Session>(env, spec.onnx.c_str(), so);
  } catch (const Ort::Exception& e) {
    Fail(2, "--onnx " + spec.onnx + ": " + e.what());
  }
  bench::WorkloadOptions wo;
  wo.batch = spec.batch;
  wo.int_max = spec.int_max;
  bench::Workload w;
  try {
    w = bench::MakeWorkload(*session, wo);
  } catch (const std::runtime_error& e) {
    Fail(2, e.what());
  }
  bench::HttpInferOptions options;
  if (spec.priority > 0)
    options.extra_headers += "X-MLOS-Priority: " + std::to_string(spec.priority) + "\r\n";
  if (spec.timeout_ms > 0)
    options.extra_headers += "X-MLOS-Timeout-Ms: " + std::to_string(spec.timeout_ms) + "\r\n";
  return {spec.model, bench::EncodeHttpInferRequest(url, spec.model, w, options), w.outputs};
}

// One answer. status: the HTTP status, 0 for a transport error, 1 for a 200 that lacks an
// output.
struct Sample {
  uint32_t latency_us = 0;
  int16_t status = 0;
  uint16_t index = 0;  // which request (zipf: the model's rank - 1)
  Clock::time_point sent{};
};

// A worker's connection that reconnects after a transport error.
class Client {
 public:
  explicit Client(const bench::HttpUrl& url) : url_(url) {}

  Sample Send(const Request& r, uint16_t index, std::string* first_error) {
    Sample s;
    s.index = index;
    s.sent = Clock::now();
    try {
      if (!conn_) conn_ = std::make_unique<bench::HttpConn>(url_.host, url_.port);
      conn_->RoundTrip(r.bytes, &res_);
      s.status = static_cast<int16_t>(res_.status);
      if (res_.status == 200 || (res_.status != 429 && first_error->empty())) {
        std::string err = bench::CheckHttpInferResponse(res_, true, r.outputs);
        if (!err.empty()) {
          if (res_.status == 200) s.status = 1;
          if (first_error->empty()) *first_error = r.model + ": " + err;
        }
      }
    } catch (const std::exception& e) {
      conn_.reset();
      if (first_error->empty()) *first_error = r.model + ": " + e.what();
      s.status = 0;
    }
    s.latency_us = Micros(Clock::now() - s.sent);
    return s;
  }

 private:
  bench::HttpUrl url_;
  std::unique_ptr<bench::HttpConn> conn_;
  bench::HttpResponse res_;
};

struct WorkerLog {
  std::vector<Sample> samples;
  std::string first_error;
};

// ---- JSON -------------------------------------------------------------------------------------

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string LatencyOf(std::vector<uint32_t> us) {
  return bench::LatencyJson(bench::Summarise(us));
}

// {"200":n,"429":m,...}; "0" = transport errors, "1" = a 200 without every output.
std::string StatusCounts(const std::vector<Sample>& samples) {
  std::map<int, uint64_t> n;
  for (const Sample& s : samples) ++n[s.status];
  std::string out = "{";
  for (const auto& [k, v] : n)
    out += (out.size() > 1 ? ",\"" : "\"") + std::to_string(k) + "\":" + std::to_string(v);
  return out + "}";
}

std::string FirstError(const std::vector<WorkerLog>& logs) {
  for (const WorkerLog& l : logs)
    if (!l.first_error.empty()) return l.first_error;
  return "";
}

std::vector<Sample> Merge(const std::vector<WorkerLog>& logs) {
  std::vector<Sample> all;
  for (const WorkerLog& l : logs) all.insert(all.end(), l.samples.begin(), l.samples.end());
  return all;
}

// ---- closed loop ------------------------------------------------------------------------------

// `concurrency` workers, each sending `pick(worker, rng)`'s request back to back from t0 until
// `end`; samples of requests sent in [from, end) are kept.
template <typename Pick>
std::vector<WorkerLog> ClosedLoop(const bench::HttpUrl& url, const std::vector<Request>& reqs,
                                  int concurrency, Clock::time_point from, Clock::time_point end,
                                  uint64_t seed, Pick pick) {
  std::vector<WorkerLog> logs(concurrency);
  std::vector<std::thread> threads;
  for (int i = 0; i < concurrency; ++i) {
    threads.emplace_back([&, i] {
      Client client(url);
      std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(i));
      for (;;) {
        if (Clock::now() >= end) break;
        const uint16_t k = pick(rng);
        Sample s = client.Send(reqs[k], k, &logs[i].first_error);
        if (s.sent >= from) logs[i].samples.push_back(s);
        if (s.status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  for (auto& t : threads) t.join();
  return logs;
}

std::vector<uint32_t> OkLatencies(const std::vector<Sample>& samples) {
  std::vector<uint32_t> v;
  for (const Sample& s : samples)
    if (s.status == 200) v.push_back(s.latency_us);
  return v;
}

uint64_t NotOk(const std::vector<Sample>& samples) {
  return static_cast<uint64_t>(std::count_if(samples.begin(), samples.end(),
                                             [](const Sample& s) { return s.status != 200; }));
}

// ---- options ----------------------------------------------------------------------------------

using Options = std::multimap<std::string, std::string>;

Options ParseOptions(int argc, char** argv, int from) {
  Options o;
  for (int i = from; i < argc; i += 2) {
    const std::string k = argv[i];
    if (!k.starts_with("--") || i + 1 >= argc)
      Fail(2, k.starts_with("--") ? k + " needs a value" : "unexpected argument '" + k + "'");
    o.emplace(k, argv[i + 1]);
  }
  return o;
}

std::string Get(const Options& o, const std::string& k, const std::string& def = "") {
  auto it = o.find(k);
  return it == o.end() ? def : it->second;
}

std::string Need(const Options& o, const std::string& k) {
  auto it = o.find(k);
  if (it == o.end()) Fail(2, k + " is required");
  return it->second;
}

void CheckKnown(const Options& o, std::initializer_list<const char*> known) {
  for (const auto& [k, v] : o) {
    if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; }))
      Fail(2, "unknown option '" + k + "' for this mode");
  }
}

bench::HttpUrl Url(const Options& o) {
  const std::string u = Need(o, "--url");
  auto url = bench::ParseHttpUrl(u);
  if (!url || !u.starts_with("http://")) Fail(2, "--url must be http://HOST:PORT, got '" + u + "'");
  return *url;
}

// ---- mix --------------------------------------------------------------------------------------

struct Stream {
  std::string label;
  RequestSpec spec;
  int concurrency = 1;
};

Stream ParseStream(const std::string& text) {
  Stream s;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) Fail(2, "--stream: '" + item + "' is not key=value");
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    if (k == "label") s.label = v;
    else if (k == "model") s.spec.model = v;
    else if (k == "onnx") s.spec.onnx = v;
    else if (k == "concurrency") s.concurrency = Int("--stream concurrency", v, 1);
    else if (k == "priority") s.spec.priority = Int("--stream priority", v, 0);
    else if (k == "timeout_ms") s.spec.timeout_ms = Int("--stream timeout_ms", v, 0);
    else if (k == "batch") s.spec.batch = Int("--stream batch", v, 1);
    else if (k == "int_max") s.spec.int_max = Int("--stream int_max", v, 1);
    else Fail(2, "--stream: unknown key '" + k + "'");
  }
  if (s.spec.model.empty() || s.spec.onnx.empty()) Fail(2, "--stream needs model= and onnx=");
  if (s.label.empty()) s.label = s.spec.model;
  return s;
}

int Mix(const Options& o) {
  CheckKnown(o, {"--url", "--duration", "--warmup", "--stream"});
  const auto url = Url(o);
  const double duration = Number("--duration", Get(o, "--duration", "10"), 0.1);
  const double warmup = Number("--warmup", Get(o, "--warmup", "1"), 0);
  std::vector<Stream> streams;
  for (auto [it, end] = o.equal_range("--stream"); it != end; ++it)
    streams.push_back(ParseStream(it->second));
  if (streams.empty()) Fail(2, "mix needs at least one --stream");
  std::vector<std::vector<Request>> reqs;
  for (const Stream& s : streams) reqs.push_back({MakeRequest(url, s.spec)});

  const auto t0 = Clock::now();
  const auto from = t0 + Seconds(warmup), end = from + Seconds(duration);
  std::vector<std::vector<WorkerLog>> logs(streams.size());
  std::vector<std::thread> runners;
  for (size_t i = 0; i < streams.size(); ++i) {
    runners.emplace_back([&, i] {
      logs[i] = ClosedLoop(url, reqs[i], streams[i].concurrency, from, end, i + 1,
                           [](std::mt19937_64&) -> uint16_t { return 0; });
    });
  }
  for (auto& t : runners) t.join();

  std::string out = "{\"mode\":\"mix\",\"duration_s\":" + Fmt("%.3f", duration) + ",\"streams\":[";
  for (size_t i = 0; i < streams.size(); ++i) {
    const Stream& s = streams[i];
    const auto all = Merge(logs[i]);
    const auto ok = OkLatencies(all);
    out += (i ? "," : "") + std::string("{\"label\":") + bench::JsonString(s.label) +
           ",\"model\":" + bench::JsonString(s.spec.model) +
           ",\"batch\":" + std::to_string(s.spec.batch) +
           ",\"concurrency\":" + std::to_string(s.concurrency) +
           ",\"priority\":" + std::to_string(s.spec.priority) +
           ",\"requests\":" + std::to_string(all.size()) +
           ",\"errors\":" + std::to_string(NotOk(all)) + ",\"status\":" + StatusCounts(all) +
           ",\"first_error\":" + bench::JsonString(FirstError(logs[i])) +
           ",\"throughput_rps\":" + Fmt("%.1f", ok.size() / duration) +
           ",\"latency_us\":" + LatencyOf(ok) + "}";
  }
  std::printf("%s]}\n", out.c_str());
  return 0;
}

// ---- zipf -------------------------------------------------------------------------------------

// Samples VmRSS of `pid` every `interval` until stopped.
class RssSampler {
 public:
  RssSampler(int pid, std::chrono::milliseconds interval) {
    if (pid <= 0) return;
    path_ = "/proc/" + std::to_string(pid) + "/status";
    if (Read() == 0) Fail(2, "--rss-pid " + std::to_string(pid) + ": cannot read " + path_);
    thread_ = std::thread([this, interval] {
      const auto t0 = Clock::now();
      for (auto next = t0; !stop_.load(); next += interval) {
        samples_.push_back({std::chrono::duration<double, std::milli>(Clock::now() - t0).count(),
                            Read()});
        std::this_thread::sleep_until(next + interval);
      }
    });
  }
  ~RssSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<std::pair<double, uint64_t>>& samples() const { return samples_; }

 private:
  uint64_t Read() const {  // bytes; 0 when unreadable (the process is gone)
    std::ifstream f(path_);
    std::string line;
    while (std::getline(f, line)) {
      if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    }
    return 0;
  }
  std::string path_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::pair<double, uint64_t>> samples_;  // (ms since start, bytes)
};

int Zipf(const Options& o) {
  CheckKnown(o, {"--url", "--onnx", "--models", "--zipf-s", "--concurrency", "--duration",
                 "--seed", "--int-max", "--rss-pid", "--rss-interval-ms", "--rss-out"});
  const auto url = Url(o);
  const double s = Number("--zipf-s", Get(o, "--zipf-s", "1.1"), 0);
  const int concurrency = Int("--concurrency", Get(o, "--concurrency", "4"), 1);
  const double duration = Number("--duration", Get(o, "--duration", "30"), 0.1);
  const int seed = Int("--seed", Get(o, "--seed", "1"), 0);
  std::vector<std::string> models;
  {
    std::stringstream ss(Need(o, "--models"));
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty()) models.push_back(m);
  }
  if (models.empty() || models.size() > 1000) Fail(2, "--models needs 1 to 1000 ids");
  RequestSpec spec;
  spec.onnx = Need(o, "--onnx");
  spec.int_max = Int("--int-max", Get(o, "--int-max", "100"), 1);
  std::vector<Request> reqs;
  for (const std::string& m : models) {
    spec.model = m;
    reqs.push_back(MakeRequest(url, spec));
  }
  std::vector<double> cdf;
  double sum = 0;
  for (size_t k = 1; k <= models.size(); ++k) cdf.push_back(sum += 1.0 / std::pow(k, s));
  for (double& c : cdf) c /= sum;

  const int rss_ms = Int("--rss-interval-ms", Get(o, "--rss-interval-ms", "50"), 1);
  RssSampler rss(Int("--rss-pid", Get(o, "--rss-pid", "0"), 0),
                 std::chrono::milliseconds(rss_ms));
  const auto t0 = Clock::now();
  auto logs = ClosedLoop(url, reqs, concurrency, t0, t0 + Seconds(duration), seed,
                         [&](std::mt19937_64& rng) -> uint16_t {
                           const double u = std::uniform_real_distribution<double>(0, 1)(rng);
                           const auto it = std::lower_bound(cdf.begin(), cdf.end(), u);
                           return static_cast<uint16_t>(
                               std::min<size_t>(it - cdf.begin(), cdf.size() - 1));
                         });
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  rss.Stop();

  const auto all = Merge(logs);
  std::string out = "{\"mode\":\"zipf\",\"models\":" + std::to_string(models.size()) +
                    ",\"zipf_s\":" + Fmt("%g", s) + ",\"concurrency\":" +
                    std::to_string(concurrency) + ",\"duration_s\":" + Fmt("%.3f", elapsed) +
                    ",\"requests\":" + std::to_string(all.size()) +
                    ",\"errors\":" + std::to_string(NotOk(all)) +
                    ",\"status\":" + StatusCounts(all) +
                    ",\"first_error\":" + bench::JsonString(FirstError(logs)) +
                    ",\"throughput_rps\":" + Fmt("%.1f", OkLatencies(all).size() / elapsed) +
                    ",\"latency_us\":" + LatencyOf(OkLatencies(all)) + ",\"per_model\":[";
  for (size_t k = 0; k < models.size(); ++k) {
    std::vector<Sample> mine;
    for (const Sample& x : all)
      if (x.index == k) mine.push_back(x);
    out += (k ? "," : "") + std::string("{\"model\":") + bench::JsonString(models[k]) +
           ",\"requests\":" + std::to_string(mine.size()) +
           ",\"errors\":" + std::to_string(NotOk(mine)) +
           ",\"latency_us\":" + LatencyOf(OkLatencies(mine)) + "}";
  }
  out += "]";
  const auto& rs = rss.samples();
  if (!rs.empty()) {
    uint64_t max = 0;
    double mean = 0;
    for (const auto& [t, b] : rs) max = std::max(max, b), mean += static_cast<double>(b);
    out += ",\"rss\":{\"samples\":" + std::to_string(rs.size()) +
           ",\"max_bytes\":" + std::to_string(max) +
           ",\"mean_bytes\":" + Fmt("%.0f", mean / static_cast<double>(rs.size())) + "}";
    if (const std::string path = Get(o, "--rss-out"); !path.empty()) {
      std::ofstream f(path);
      for (const auto& [t, b] : rs) f << Fmt("%.1f", t) << ' ' << b << '\n';
      if (!f) Fail(1, "--rss-out " + path + ": cannot write it");
    }
  }
  std::printf("%s}\n", out.c_str());
  return 0;
}

// ---- overload ---------------------------------------------------------------------------------

int Overload(const Options& o) {
  CheckKnown(o, {"--url", "--model", "--onnx", "--batch", "--int-max", "--factor",
                 "--timeout-mult", "--timeout-ms", "--duration", "--warmup", "--concurrency",
                 "--capacity-concurrency", "--capacity-duration", "--priority"});
  const auto url = Url(o);
  RequestSpec spec;
  spec.model = Need(o, "--model");
  spec.onnx = Need(o, "--onnx");
  spec.priority = Int("--priority", Get(o, "--priority", "0"), 0);
  spec.batch = Int("--batch", Get(o, "--batch", "1"), 1);
  spec.int_max = Int("--int-max", Get(o, "--int-max", "100"), 1);
  const double factor = Number("--factor", Get(o, "--factor", "2"), 0.01);
  const double mult = Number("--timeout-mult", Get(o, "--timeout-mult", "5"), 0.01);
  const double duration = Number("--duration", Get(o, "--duration", "10"), 0.1);
  const double warmup = Number("--warmup", Get(o, "--warmup", "1"), 0);
  const int workers = Int("--concurrency", Get(o, "--concurrency", "128"), 1);
  const int cap_c = Int("--capacity-concurrency", Get(o, "--capacity-concurrency", "4"), 1);
  const double cap_d = Number("--capacity-duration", Get(o, "--capacity-duration", "3"), 0.1);
  const auto zero = [](std::mt19937_64&) -> uint16_t { return 0; };

  // 1-2. Service time and capacity, without a deadline.
  const std::vector<Request> plain = {MakeRequest(url, spec)};
  auto t0 = Clock::now();
  const auto service =
      Merge(ClosedLoop(url, plain, 1, t0 + Seconds(0.5), t0 + Seconds(2.5), 1, zero));
  std::vector<uint32_t> service_ok = OkLatencies(service);
  if (service_ok.size() < 10)
    Fail(1, "the service-time run failed (" + StatusCounts(service) + ")");
  const auto service_lat = bench::Summarise(service_ok);
  t0 = Clock::now();
  const auto cap = Merge(ClosedLoop(url, plain, cap_c, t0 + Seconds(0.5),
                                    t0 + Seconds(0.5 + cap_d), 2, zero));
  const double capacity = static_cast<double>(OkLatencies(cap).size()) / cap_d;
  if (capacity <= 0) Fail(1, "the capacity run failed (" + StatusCounts(cap) + ")");

  // 3. Open loop at factor x capacity, a deadline on each request.
  spec.timeout_ms = Get(o, "--timeout-ms").empty()
                        ? std::max(1, static_cast<int>(std::ceil(mult * service_lat.p50 / 1000.0)))
                        : Int("--timeout-ms", Get(o, "--timeout-ms"), 1);
  const std::vector<Request> timed = {MakeRequest(url, spec)};
  const double rate = factor * capacity;
  const auto interval = Seconds(1.0 / rate);
  std::atomic<uint64_t> next{0};
  std::vector<WorkerLog> logs(workers);
  std::vector<uint64_t> late_sends(workers, 0);
  t0 = Clock::now() + std::chrono::milliseconds(20);
  const auto from = t0 + Seconds(warmup), end = from + Seconds(duration);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&, i] {
      ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      Client client(url);
      for (;;) {
        const auto at = t0 + interval * static_cast<int64_t>(next.fetch_add(1));
        if (at >= end) break;
        std::this_thread::sleep_until(at);
        Sample s = client.Send(timed[0], 0, &logs[i].first_error);
        if (at < from) continue;
        logs[i].samples.push_back(s);
        if (s.sent - at > std::chrono::milliseconds(1)) ++late_sends[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto all = Merge(logs);
  const uint32_t deadline_us = static_cast<uint32_t>(spec.timeout_ms) * 1000;
  std::vector<uint32_t> met, late, refused, accepted;
  uint64_t failed = 0;
  for (const Sample& s : all) {
    if (s.status == 429) {
      refused.push_back(s.latency_us);
    } else if (s.status == 200) {
      accepted.push_back(s.latency_us);
      (s.latency_us <= deadline_us ? met : late).push_back(s.latency_us);
    } else {
      ++failed;
    }
  }
  uint64_t late_total = 0;
  for (uint64_t n : late_sends) late_total += n;
  const uint64_t accepted_n = accepted.size() + failed;  // a failure after acceptance missed it
  std::string out =
      "{\"mode\":\"overload\",\"model\":" + bench::JsonString(spec.model) +
      ",\"batch\":" + std::to_string(spec.batch) +
      ",\"service_latency_us\":" + bench::LatencyJson(service_lat) +
      ",\"capacity_concurrency\":" + std::to_string(cap_c) +
      ",\"capacity_rps\":" + Fmt("%.1f", capacity) + ",\"factor\":" + Fmt("%g", factor) +
      ",\"rate\":" + Fmt("%.1f", rate) + ",\"timeout_ms\":" + std::to_string(spec.timeout_ms) +
      ",\"duration_s\":" + Fmt("%.3f", duration) + ",\"workers\":" + std::to_string(workers) +
      ",\"sent\":" + std::to_string(all.size()) +
      ",\"late_sends\":" + std::to_string(late_total) +
      ",\"status\":" + StatusCounts(all) + ",\"met\":" + std::to_string(met.size()) +
      ",\"late\":" + std::to_string(late.size()) +
      ",\"refused\":" + std::to_string(refused.size()) +
      ",\"failed\":" + std::to_string(failed) +
      ",\"met_fraction_of_accepted\":" +
      Fmt("%.5f", accepted_n ? static_cast<double>(met.size()) / accepted_n : 0.0) +
      ",\"goodput_rps\":" + Fmt("%.1f", met.size() / duration) +
      ",\"first_error\":" + bench::JsonString(FirstError(logs)) +
      ",\"accepted_latency_us\":" + LatencyOf(accepted) +
      ",\"refused_latency_us\":" + LatencyOf(refused) + "}";
  std::printf("%s\n", out.c_str());
  return 0;
}

constexpr const char* kUsage =
    "usage: mlos-bench-resources mix|zipf|overload --url http://HOST:PORT [options]\n"
    "  mix --duration S --warmup S --stream label=L,model=ID,onnx=P[,concurrency=C]\n"
    "      [,priority=N][,timeout_ms=T][,batch=B][,int_max=K] (repeatable)\n"
    "  zipf --onnx SIG --models ID,ID,... [--zipf-s 1.1] [--concurrency 4] [--duration 30]\n"
    "      [--seed 1] [--int-max 100] [--rss-pid PID] [--rss-interval-ms 50] [--rss-out FILE]\n"
    "  overload --model ID --onnx P [--batch 1] [--int-max 100] [--factor 2] [--priority N]\n"
    "      [--timeout-mult 5 | --timeout-ms T] [--duration 10] [--warmup 1] [--concurrency 128]\n"
    "      [--capacity-concurrency 4] [--capacity-duration 3]\n"
    "See the comment at the top of bench/mlosd/resources_bench.cc.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string mode = argv[1];
  const Options o = ParseOptions(argc, argv, 2);
  try {
    if (mode == "mix") return Mix(o);
    if (mode == "zipf") return Zipf(o);
    if (mode == "overload") return Overload(o);
  } catch (const std::exception& e) {
    Fail(1, e.what());
  }
  Fail(2, "unknown mode '" + mode + "' (mix, zipf, overload)");
}
