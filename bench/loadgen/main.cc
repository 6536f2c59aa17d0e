// mlos-bench: the project's load generator. Sends the same inputs (generated at random, or read
// from a KServe v2 JSON request body as Triton's perf_analyzer does) to one target (ONNX Runtime
// in process, mlosd or any KServe v2 server over HTTP JSON / binary, gRPC, or mlosd's IPC socket
// with tensors inline or in shared memory), closed loop (C workers back to back) or open loop
// (requests scheduled at t0 + i/R, latency counted from the scheduled time so client-side
// queueing is included), and prints one JSON line. See kUsage and bench/loadgen/README.md.
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "input_data.h"
#include "stats.h"
#include "transports.h"
#include "workload.h"

namespace {

using Clock = std::chrono::steady_clock;
using mlos::bench::BenchOptions;

constexpr const char* kUsage =
    "usage: mlos-bench --target raw|http-json|http-binary|grpc|ipc-inline|ipc-shm [--url URL]\n"
    "  --onnx PATH [--model NAME] [--input-data FILE] [--shape NAME=d0,d1,...]...\n"
    "  [--batch N] [--int-max K] [--mode closed|open] [--concurrency C] [--rate R]\n"
    "  [--duration S] [--warmup S] [--requests N] [--raw-threads T] [--label TEXT]\n"
    "  [--priority N] [--timeout-ms N] [--header 'Name: value']...\n"
    "\n"
    "Every request sends the same inputs. The model's inputs and outputs are read from --onnx\n"
    "(also for the server targets, where --model names it on the server).\n"
    "  --input-data FILE  a KServe v2 JSON inference request body whose inputs every\n"
    "                     request sends, on every target, e.g. {\"inputs\": [{\"name\": \"x\",\n"
    "                     \"shape\": [1,3], \"datatype\": \"FP32\", \"data\": [1,2,3]}],\n"
    "                     \"outputs\": [{\"name\": \"y\"}]}. data flat or nested; shape []\n"
    "                     for a 0-d tensor; datatypes BOOL, UINT8..64, INT8..64, FP16,\n"
    "                     FP32, FP64, BF16, BYTES (strings), each the model's own.\n"
    "                     \"outputs\" (optional) limits the outputs asked for. Inputs the\n"
    "                     file leaves out are generated as below.\n"
    "  --shape NAME=d0,d1,...  random values of this shape for input NAME (repeatable); it sets\n"
    "                     the model's dynamic dims, must keep its fixed ones; NAME= is a 0-d\n"
    "                     tensor.\n"
    "  --batch N          a generated input's dynamic first dim (default 1); a dynamic dim after\n"
    "                     the first needs --shape or --input-data.\n"
    "  --int-max K        generated integers are in [0, K) (default 100); floats in [-1, 1).\n"
    "  --mode closed      C workers back to back (--concurrency, default 1) for --duration S\n"
    "                     (default 5) or --requests N, after --warmup S (default 1).\n"
    "  --mode open        requests at --rate R per second, --concurrency workers (default 64).\n"
    "  --raw-threads T    ONNX Runtime intra-op threads for --target raw (default 1).\n"
    "  --priority N       HTTP targets: X-MLOS-Priority: N on every request (1 = highest).\n"
    "  --timeout-ms N     HTTP targets: X-MLOS-Timeout-Ms: N (the request's deadline).\n"
    "  --header 'K: V'    HTTP targets: one more header line on every request (repeatable).\n"
    "Exit status: 0 done, 1 a request or the setup failed, 2 bad arguments or input data.\n";

[[noreturn]] void Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "mlos-bench: %s\n", msg.c_str());
  std::exit(code);
}

double Number(const std::string& key, const std::string& v, double lo) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(d) || d < lo) {
    Fail(2, key + " expects a number >= " + std::to_string(static_cast<long long>(lo)) + ", got '" +
                v + "'");
  }
  return d;
}

int64_t Integer(const std::string& key, const std::string& v, int64_t lo) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo) {
    Fail(2, key + " expects an integer >= " + std::to_string(lo) + ", got '" + v + "'");
  }
  return n;
}

// --header "Name: value" -> "Name: value\r\n"; a name of token characters, a value without
// line breaks.
std::string HeaderLine(const std::string& v) {
  const size_t colon = v.find(':');
  const std::string name = v.substr(0, colon);
  const bool name_ok =
      colon != std::string::npos && !name.empty() &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
      });
  if (!name_ok || v.find_first_of("\r\n") != std::string::npos)
    Fail(2, "--header expects 'Name: value' on one line, got '" + v + "'");
  std::string value = v.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
  return name + ": " + value + "\r\n";
}

struct Args {
  BenchOptions bench;
  std::string input_data;                      // --input-data FILE
  std::vector<mlos::bench::ShapeFlag> shapes;  // --shape, in order
};

Args ParseArgs(int argc, char** argv) {
  Args args;
  BenchOptions& o = args.bench;
  bool rate_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc)
      Fail(2, k.starts_with("--") ? k + " needs a value" : "unexpected argument '" + k + "'");
    const std::string v = argv[++i];
    if (k == "--target")
      o.target = v;
    else if (k == "--url")
      o.url = v;
    else if (k == "--onnx")
      o.onnx = v;
    else if (k == "--model")
      o.model = v;
    else if (k == "--input-data")
      args.input_data = v;
    else if (k == "--shape") {
      try {
        args.shapes.push_back(mlos::bench::ParseShapeFlag(v));
      } catch (const std::exception& e) {
        Fail(2, e.what());
      }
    } else if (k == "--label")
      o.label = v;
    else if (k == "--mode")
      o.mode = v;
    else if (k == "--batch")
      o.batch = Integer(k, v, 1);
    else if (k == "--int-max")
      o.int_max = Integer(k, v, 1);
    else if (k == "--concurrency")
      o.concurrency = static_cast<int>(Integer(k, v, 1));
    else if (k == "--rate")
      o.rate = Number(k, v, 0), rate_set = true;
    else if (k == "--duration")
      o.duration = Number(k, v, 0);
    else if (k == "--warmup")
      o.warmup = Number(k, v, 0);
    else if (k == "--requests")
      o.requests = static_cast<uint64_t>(Integer(k, v, 1));
    else if (k == "--raw-threads")
      o.raw_threads = static_cast<int>(Integer(k, v, 1));
    else if (k == "--priority")
      o.http_headers += "X-MLOS-Priority: " + std::to_string(Integer(k, v, 1)) + "\r\n";
    else if (k == "--timeout-ms")
      o.http_headers += "X-MLOS-Timeout-Ms: " + std::to_string(Integer(k, v, 1)) + "\r\n";
    else if (k == "--header")
      o.http_headers += HeaderLine(v);
    else
      Fail(2, "unknown option '" + k + "' (see --help)");
  }
  static const char* kTargets[] = {"raw",  "http-json",  "http-binary",
                                   "grpc", "ipc-inline", "ipc-shm"};
  if (o.target.empty())
    Fail(2, "--target is required (raw|http-json|http-binary|grpc|ipc-inline|ipc-shm)");
  if (std::none_of(std::begin(kTargets), std::end(kTargets),
                   [&](const char* t) { return o.target == t; })) {
    Fail(2,
         "unknown --target '" + o.target + "' (raw|http-json|http-binary|grpc|ipc-inline|ipc-shm)");
  }
  if (o.onnx.empty()) Fail(2, "--onnx PATH is required");
  if (o.target != "raw") {
    if (o.url.empty()) Fail(2, "--url is required for --target " + o.target);
    if (o.model.empty()) Fail(2, "--model is required for --target " + o.target);
  }
  if (!o.http_headers.empty() && !o.target.starts_with("http-"))
    Fail(2, "--priority, --timeout-ms and --header are for the http targets");
  if (o.mode != "closed" && o.mode != "open")
    Fail(2, "--mode must be closed or open, got '" + o.mode + "'");
  if (o.mode == "open") {
    if (!rate_set || o.rate <= 0) Fail(2, "--mode open needs --rate R > 0");
    if (o.requests) Fail(2, "--requests is for --mode closed");
    if (o.duration <= 0) Fail(2, "--mode open needs --duration > 0");
  } else {
    if (o.rate > 0) Fail(2, "--rate is for --mode open");
    if (!o.requests && o.duration <= 0) Fail(2, "--duration must be > 0 (or give --requests)");
  }
  if (o.concurrency == 0) o.concurrency = o.mode == "open" ? 64 : 1;
  return args;
}

struct WorkerResult {
  std::vector<uint32_t> latency_us;
  uint64_t errors = 0;
  std::string first_error;
  Clock::time_point last_done{};
};

uint32_t Micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>((us + 500) / 1000, 0, UINT32_MAX));
}

struct Schedule {
  Clock::time_point t0, measure_start, end;
  Clock::duration interval{};  // open loop
};

void Record(WorkerResult& r, bool ok, const std::string& err, Clock::time_point from,
            Clock::time_point done) {
  if (ok) {
    r.latency_us.push_back(Micros(done - from));
  } else {
    if (r.first_error.empty()) r.first_error = err;
    ++r.errors;
  }
  r.last_done = std::max(r.last_done, done);
}

void ClosedLoop(mlos::bench::Transport& t, const Schedule& s, uint64_t requests,
                std::atomic<uint64_t>& issued, WorkerResult& r) {
  std::string err;
  for (;;) {
    const auto start = Clock::now();
    const bool measured = start >= s.measure_start;
    if (requests == 0 && start >= s.end) break;
    if (measured && requests && issued.fetch_add(1, std::memory_order_relaxed) >= requests) break;
    const bool ok = t.Infer(&err);
    const auto done = Clock::now();
    if (measured) Record(r, ok, err, start, done);
  }
}

void OpenLoop(mlos::bench::Transport& t, const Schedule& s, std::atomic<uint64_t>& next,
              WorkerResult& r) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake on time (default slack: 50 µs)
  std::string err;
  for (;;) {
    const uint64_t i = next.fetch_add(1, std::memory_order_relaxed);
    const auto at = s.t0 + s.interval * static_cast<int64_t>(i);
    if (at >= s.end || Clock::now() >= s.end) break;  // the window is over (late slots dropped)
    std::this_thread::sleep_until(at);
    const bool ok = t.Infer(&err);
    const auto done = Clock::now();
    if (at >= s.measure_start) Record(r, ok, err, at, done);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  const BenchOptions& o = args.bench;
  mlos::bench::InputData input_data;
  if (!args.input_data.empty()) {
    try {
      input_data = mlos::bench::LoadInputData(args.input_data);
    } catch (const std::exception& e) {
      Fail(2, e.what());
    }
  }
  try {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "mlos-bench");
    Ort::SessionOptions so;
    const bool raw = o.target == "raw";
    so.SetIntraOpNumThreads(raw ? o.raw_threads : 1);
    so.SetInterOpNumThreads(1);
    so.SetExecutionMode(ORT_SEQUENTIAL);
    if (!raw) so.SetGraphOptimizationLevel(ORT_DISABLE_ALL);  // only its metadata is read
    std::unique_ptr<Ort::Session> session;
    try {
      session = std::make_unique<Ort::Session>(env, o.onnx.c_str(), so);
    } catch (const Ort::Exception& e) {
      Fail(2, "--onnx " + o.onnx + ": " + e.what());
    }
    mlos::bench::WorkloadOptions wo;
    wo.batch = o.batch;
    wo.int_max = o.int_max;
    wo.with_json = o.target == "http-json";
    wo.shapes = args.shapes;
    wo.data = args.input_data.empty() ? nullptr : &input_data;
    mlos::bench::Workload w;
    try {
      w = mlos::bench::MakeWorkload(*session, wo);
    } catch (const std::runtime_error& e) {
      Fail(2, e.what());
    }
    auto factory = mlos::bench::TransportFactory::Create(o, *session, w);
    std::vector<std::unique_ptr<mlos::bench::Transport>> transports;
    for (int i = 0; i < o.concurrency; ++i) transports.push_back(factory->New(i));
    std::string err;
    if (!transports[0]->Infer(&err)) Fail(1, "the first request failed: " + err);

    Schedule s;
    s.t0 = Clock::now();
    s.measure_start =
        s.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
    s.end = o.requests ? Clock::time_point::max()
                       : s.measure_start + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(o.duration));
    if (o.mode == "open") {
      s.interval =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
      if (s.interval.count() <= 0) Fail(2, "--rate is too high");
    }
    std::atomic<uint64_t> counter{0};
    std::vector<WorkerResult> results(o.concurrency);
    for (auto& r : results) r.latency_us.reserve(1 << 16);
    std::vector<std::thread> threads;
    for (int i = 0; i < o.concurrency; ++i) {
      threads.emplace_back([&, i] {
        if (o.mode == "open")
          OpenLoop(*transports[i], s, counter, results[i]);
        else
          ClosedLoop(*transports[i], s, o.requests, counter, results[i]);
      });
    }
    for (auto& t : threads) t.join();
    transports.clear();

    WorkerResult all;
    for (auto& r : results) {
      all.latency_us.insert(all.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
      all.errors += r.errors;
      if (all.first_error.empty()) all.first_error = r.first_error;
      all.last_done = std::max(all.last_done, r.last_done);
    }
    const uint64_t ok = all.latency_us.size();
    auto last = all.last_done;
    if (!o.requests) last = std::max(last, s.end);
    const double duration =
        std::max(0.0, std::chrono::duration<double>(last - s.measure_start).count());
    auto lat = mlos::bench::Summarise(all.latency_us);
    uint64_t dropped = 0;
    if (o.mode == "open") {  // slots scheduled in the window that were never sent
      const auto slots = [&](Clock::time_point t) {
        return static_cast<uint64_t>((t - s.t0 + s.interval - Clock::duration(1)) / s.interval);
      };
      const uint64_t expected = slots(s.end) - slots(s.measure_start);
      dropped = expected > ok + all.errors ? expected - ok - all.errors : 0;
    }
    char num[256];
    std::string out = "{\"label\":" + mlos::bench::JsonString(o.label) +
                      ",\"target\":" + mlos::bench::JsonString(o.target) +
                      ",\"model\":" + mlos::bench::JsonString(o.model.empty() ? o.onnx : o.model) +
                      ",\"mode\":" + mlos::bench::JsonString(o.mode);
    std::snprintf(
        num, sizeof num,
        ",\"concurrency\":%d,\"rate\":%g,\"batch\":%lld,\"requests\":%llu,\"errors\":%llu",
        o.concurrency, o.mode == "open" ? o.rate : 0.0, static_cast<long long>(o.batch),
        static_cast<unsigned long long>(ok), static_cast<unsigned long long>(all.errors));
    out += num;
    out += ",\"first_error\":" + mlos::bench::JsonString(all.first_error);
    std::snprintf(num, sizeof num, ",\"duration_s\":%.3f,\"throughput_rps\":%.1f", duration,
                  duration > 0 ? static_cast<double>(ok) / duration : 0.0);
    out += num;
    out += ",\"latency_us\":" + mlos::bench::LatencyJson(lat);
    std::snprintf(num, sizeof num, ",\"dropped\":%llu}", static_cast<unsigned long long>(dropped));
    out += num;
    std::printf("%s\n", out.c_str());
    if (ok == 0 && all.errors == 0) {
      std::fprintf(stderr,
                   "mlos-bench: warning: no request completed in the measured window "
                   "(a longer --duration is needed)\n");
    }
  } catch (const Ort::Exception& e) {
    Fail(1, std::string("ONNX Runtime: ") + e.what());
  } catch (const std::exception& e) {
    Fail(1, e.what());
  }
  return 0;
}
