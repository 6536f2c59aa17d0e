// mlos-bench-isolation: the cost of process isolation, measured side by side on one mlosd that
// serves the same model twice, once in process (--model) and once in a sandboxed worker
// (--model-p), over IPC with shared memory and HTTP binary (mlos-bench's transports:
// bench/loadgen/transports.h). The two are measured in alternating rounds (in-process first in
// even rounds, process first in odd ones), every target in every round, so that drift of the
// machine hits both; bench/mlosd/isolation.sh runs it and writes docs/benchmarks-isolation.md.
//
//   mlos-bench-isolation --phase latency|throughput --onnx PATH --model ID --model-p ID
//       [--unix unix:///SOCK] [--http http://HOST:PORT]   (the targets: ipc-shm, http-binary)
//       [--batch N] [--int-max K] [--rounds R]
//       latency:    [--requests N] [--warmup-requests W] [--raw 1]   (concurrency 1)
//       throughput: [--concurrency C] [--seconds S] [--warmup S]
//       [--pid NAME=PID]...   on-CPU time and context switches of these processes (all their
//                             threads: /proc/PID/task/*/{schedstat,status}) per measurement
//
// latency: N requests back to back after W unmeasured ones, per round, target and variant;
// --raw 1 adds ONNX Runtime called in this process on the same inputs (1 intra-op thread).
// throughput: C workers, each with its own connection (kept across rounds), back to back for
// S seconds after a warmup; requests/s = completed / S.
// Prints one JSON object: {"phase", "rounds": [{round, target, variant, ...}, ...]}.
#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <onnxruntime_cxx_api.h>

#include "transports.h"
#include "workload.h"

namespace {

using Clock = std::chrono::steady_clock;
using mlos::bench::BenchOptions;
using mlos::bench::Transport;
using mlos::bench::TransportFactory;

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "mlos-bench-isolation: %s\n", msg.c_str());
  std::exit(1);
}

struct Args {
  std::string phase, onnx, model, model_p, unix_url, http_url;
  int64_t batch = 1, int_max = 100;
  int rounds = 7;
  int requests = 3000, warmup_requests = 300;
  bool raw = false;
  int concurrency = 16;
  double seconds = 2, warmup = 0.5;
  std::vector<std::pair<std::string, int>> pids;
};

// ---- what the server processes spend ------------------------------------------------------------

struct ProcUsage {
  uint64_t cpu_ns = 0;     // on-CPU time of every thread (schedstat)
  uint64_t switches = 0;   // voluntary + involuntary context switches of every thread
};

ProcUsage ReadUsage(int pid) {
  ProcUsage u;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return u;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string t = dir + "/" + e->d_name;
    std::ifstream ss(t + "/schedstat");
    uint64_t ns = 0;
    if (ss >> ns) u.cpu_ns += ns;
    std::ifstream st(t + "/status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        u.switches += std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10);
      }
    }
  }
  ::closedir(d);
  return u;
}

uint64_t SelfCpuNs() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_usec) * 1000;
  };
  return ns(r.ru_utime) + ns(r.ru_stime);
}

class UsageWindow {
 public:
  explicit UsageWindow(const std::vector<std::pair<std::string, int>>& pids) : pids_(pids) {
    for (auto& [name, pid] : pids_) before_.push_back(ReadUsage(pid));
    self_ = SelfCpuNs();
  }
  // ,"cpu_us_per_req":{"mlosd":..,"client":..},"switches_per_req":{...}
  std::string Json(uint64_t requests) const {
    const double n = static_cast<double>(std::max<uint64_t>(requests, 1));
    std::string cpu = "{", sw = "{";
    char b[128];
    for (size_t i = 0; i < pids_.size(); ++i) {
      ProcUsage now = ReadUsage(pids_[i].second);
      std::snprintf(b, sizeof b, "%s\"%s\":%.2f", i ? "," : "", pids_[i].first.c_str(),
                    static_cast<double>(now.cpu_ns - before_[i].cpu_ns) / 1000.0 / n);
      cpu += b;
      std::snprintf(b, sizeof b, "%s\"%s\":%.2f", i ? "," : "", pids_[i].first.c_str(),
                    static_cast<double>(now.switches - before_[i].switches) / n);
      sw += b;
    }
    std::snprintf(b, sizeof b, "%s\"client\":%.2f}", pids_.empty() ? "" : ",",
                  static_cast<double>(SelfCpuNs() - self_) / 1000.0 / n);
    cpu += b;
    sw += "}";
    return ",\"cpu_us_per_req\":" + cpu + ",\"switches_per_req\":" + sw;
  }

 private:
  const std::vector<std::pair<std::string, int>>& pids_;
  std::vector<ProcUsage> before_;
  uint64_t self_ = 0;
};

// ---- latency percentiles (0.1 µs resolution) ----------------------------------------------------

struct Summary {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};

Summary Summarise(std::vector<double>& us) {
  Summary s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {  // nearest rank, as mlos-bench
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::clamp<size_t>(rank, 1, us.size()) - 1];
  };
  s.p50 = at(0.5);
  s.p90 = at(0.9);
  s.p99 = at(0.99);
  double sum = 0;
  for (double v : us) sum += v;
  s.mean = sum / static_cast<double>(us.size());
  return s;
}

std::string SummaryJson(const Summary& s) {
  char b[160];
  std::snprintf(b, sizeof b, "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f",
                s.p50, s.p90, s.p99, s.mean);
  return b;
}

void InferOrDie(Transport& t, const std::string& what) {
  std::string err;
  if (!t.Infer(&err)) Fail(what + ": " + err);
}

// ---- one variant: a model on a target -----------------------------------------------------------

struct Variant {
  std::string target, name;  // name: in_process | process | raw
  std::unique_ptr<TransportFactory> factory;
  std::vector<std::unique_ptr<Transport>> transports;
};

std::unique_ptr<TransportFactory> Factory(const Args& a, Ort::Session& session,
                                          const mlos::bench::Workload& w,
                                          const std::string& target, const std::string& model) {
  BenchOptions o;
  o.target = target;
  o.url = target == "http-binary" ? a.http_url : a.unix_url;
  o.onnx = a.onnx;
  o.model = model;
  o.batch = a.batch;
  o.int_max = a.int_max;
  try {
    return TransportFactory::Create(o, session, w);
  } catch (const std::exception& e) {
    Fail(target + " " + model + ": " + e.what());
  }
}

std::string Latency(Variant& v, const Args& a, int round) {
  Transport& t = *v.transports.at(0);
  const std::string what = v.target + " " + v.name;
  for (int i = 0; i < a.warmup_requests; ++i) InferOrDie(t, what);
  std::vector<double> us;
  us.reserve(a.requests);
  UsageWindow usage(a.pids);
  for (int i = 0; i < a.requests; ++i) {
    const auto t0 = Clock::now();
    InferOrDie(t, what);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const std::string u = usage.Json(us.size());
  Summary s = Summarise(us);
  char b[128];
  std::snprintf(b, sizeof b, "{\"round\":%d,\"target\":\"%s\",\"variant\":\"%s\",\"requests\":%zu,",
                round, v.target.c_str(), v.name.c_str(), us.size());
  return b + SummaryJson(s) + u + "}";
}

std::string Throughput(Variant& v, const Args& a, int round) {
  const std::string what = v.target + " " + v.name;
  const auto t0 = Clock::now();
  const auto measure_from = t0 + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(a.warmup));
  const auto end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(a.seconds));
  std::vector<std::vector<double>> lat(v.transports.size());
  std::atomic<bool> failed{false};
  std::string first_error;
  std::unique_ptr<UsageWindow> usage;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < v.transports.size(); ++i) {
    threads.emplace_back([&, i] {
      Transport& t = *v.transports[i];
      std::string err;
      lat[i].reserve(1 << 14);
      for (;;) {
        const auto s = Clock::now();
        if (s >= end) break;
        const bool ok = t.Infer(&err);
        const auto d = Clock::now();
        if (!ok) {
          if (!failed.exchange(true)) first_error = err;
          break;
        }
        if (s >= measure_from) lat[i].push_back(std::chrono::duration<double, std::micro>(d - s).count());
      }
    });
  }
  // The usage window opens when the measured window does (after the warmup).
  std::this_thread::sleep_until(measure_from);
  usage = std::make_unique<UsageWindow>(a.pids);
  for (auto& t : threads) t.join();
  if (failed) Fail(what + ": " + first_error);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  // Requests started in the window and done, over the window (the last ones end a little
  // after it: they are counted, the window is not stretched, as mlos-bench does).
  const double rps = static_cast<double>(all.size()) / a.seconds;
  const std::string u = usage->Json(all.size());
  Summary s = Summarise(all);
  char b[192];
  std::snprintf(b, sizeof b,
                "{\"round\":%d,\"target\":\"%s\",\"variant\":\"%s\",\"concurrency\":%zu,"
                "\"requests\":%zu,\"seconds\":%.2f,\"rps\":%.1f,",
                round, v.target.c_str(), v.name.c_str(), v.transports.size(), all.size(),
                a.seconds, rps);
  return b + SummaryJson(s) + u + "}";
}

double Num(const std::string& k, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !std::isfinite(d) || d < 0) Fail(k + " expects a number >= 0, got '" + v + "'");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) Fail(k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--phase") a.phase = v;
    else if (k == "--onnx") a.onnx = v;
    else if (k == "--model") a.model = v;
    else if (k == "--model-p") a.model_p = v;
    else if (k == "--unix") a.unix_url = v;
    else if (k == "--http") a.http_url = v;
    else if (k == "--batch") a.batch = static_cast<int64_t>(Num(k, v));
    else if (k == "--int-max") a.int_max = static_cast<int64_t>(Num(k, v));
    else if (k == "--rounds") a.rounds = static_cast<int>(Num(k, v));
    else if (k == "--requests") a.requests = static_cast<int>(Num(k, v));
    else if (k == "--warmup-requests") a.warmup_requests = static_cast<int>(Num(k, v));
    else if (k == "--raw") a.raw = v == "1";
    else if (k == "--concurrency") a.concurrency = static_cast<int>(Num(k, v));
    else if (k == "--seconds") a.seconds = Num(k, v);
    else if (k == "--warmup") a.warmup = Num(k, v);
    else if (k == "--pid") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) Fail("--pid expects NAME=PID, got '" + v + "'");
      a.pids.emplace_back(v.substr(0, eq), std::atoi(v.c_str() + eq + 1));
    } else {
      Fail("unknown option '" + k + "'");
    }
  }
  if (a.phase != "latency" && a.phase != "throughput") Fail("--phase latency|throughput is required");
  if (a.onnx.empty() || a.model.empty() || a.model_p.empty())
    Fail("--onnx, --model and --model-p are required");
  if (a.unix_url.empty() && a.http_url.empty()) Fail("give --unix and/or --http");
  if (a.rounds < 1 || a.requests < 1 || a.concurrency < 1 || a.seconds <= 0)
    Fail("--rounds, --requests, --concurrency and --seconds must be > 0");

  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "mlos-bench-isolation");
  Ort::SessionOptions meta_options;  // only the model's inputs and outputs are read from it
  meta_options.SetIntraOpNumThreads(1);
  meta_options.SetInterOpNumThreads(1);
  meta_options.SetGraphOptimizationLevel(ORT_DISABLE_ALL);
  Ort::Session meta(env, a.onnx.c_str(), meta_options);
  mlos::bench::WorkloadOptions wo;
  wo.batch = a.batch;
  wo.int_max = a.int_max;
  mlos::bench::Workload w;
  try {
    w = mlos::bench::MakeWorkload(meta, wo);
  } catch (const std::exception& e) {
    Fail(e.what());
  }

  // Variants per target: in_process, process (and raw once, for latency).
  const int per = a.phase == "latency" ? 1 : a.concurrency;
  std::vector<std::string> targets;
  if (!a.unix_url.empty()) targets.push_back("ipc-shm");
  if (!a.http_url.empty()) targets.push_back("http-binary");
  std::vector<std::vector<Variant>> pairs;  // [target][0 = in_process, 1 = process]
  int index = 0;
  for (const std::string& t : targets) {
    std::vector<Variant> pair(2);
    for (int k = 0; k < 2; ++k) {
      Variant& v = pair[k];
      v.target = t;
      v.name = k == 0 ? "in_process" : "process";
      v.factory = Factory(a, meta, w, t, k == 0 ? a.model : a.model_p);
      try {
        for (int i = 0; i < per; ++i) v.transports.push_back(v.factory->New(index++));
      } catch (const std::exception& e) {
        Fail(t + " " + v.name + ": " + e.what());
      }
      InferOrDie(*v.transports[0], t + " " + v.name);
    }
    pairs.push_back(std::move(pair));
  }
  std::unique_ptr<Ort::Session> raw_session;
  Variant raw;
  if (a.raw && a.phase == "latency") {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    so.SetInterOpNumThreads(1);
    so.SetExecutionMode(ORT_SEQUENTIAL);
    raw_session = std::make_unique<Ort::Session>(env, a.onnx.c_str(), so);
    raw.target = "raw";
    raw.name = "raw";
    BenchOptions o;
    o.target = "raw";
    o.onnx = a.onnx;
    raw.factory = TransportFactory::Create(o, *raw_session, w);
    raw.transports.push_back(raw.factory->New(0));
  }

  std::string out = "{\"phase\":\"" + a.phase + "\",\"rounds\":[";
  bool first = true;
  auto add = [&](const std::string& r) {
    out += (first ? "" : ",") + r;
    first = false;
    std::fprintf(stderr, "%s\n", r.c_str());
  };
  for (int r = 0; r < a.rounds; ++r) {
    if (raw.factory) add(Latency(raw, a, r));
    for (auto& pair : pairs) {
      for (int k = 0; k < 2; ++k) {
        Variant& v = pair[(r % 2 == 0) ? k : 1 - k];  // ABBA: in_process first in even rounds
        add(a.phase == "latency" ? Latency(v, a, r) : Throughput(v, a, r));
      }
    }
  }
  out += "]}";
  std::printf("%s\n", out.c_str());
  return 0;
}
