// Helpers for the LLM HTTP tests: mlosd with the llama plugin serving the GGUF fixtures
// (tiny-llama.gguf as local/tiny-llama@1.0.0, tiny-bert.gguf as local/tiny-bert@1.0.0, both with
// spec.llm in their manifests), chunked-body decoding, SSE / NDJSON splitting, and the
// generations-in-progress gauge from /metrics.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mlosd_harness.h"

namespace mlostest {

inline const fs::path kTinyLlamaGguf = kFixtures / "tiny-llama.gguf";
inline const fs::path kTinyBertGguf = kFixtures / "tiny-bert.gguf";
inline const std::string kLlama = "local/tiny-llama";
inline const std::string kBert = "local/tiny-bert";

// Why the LLM tests cannot run here ("" when they can).
inline std::string LlmPrerequisites() {
  for (const fs::path& p : {kMlosd, kPlugins / "libmlos_llama.so", kTinyLlamaGguf, kTinyBertGguf}) {
    if (!fs::exists(p)) return "missing " + p.string();
  }
  return "";
}

// A GGUF package with its spec.llm (what axon writes from the GGUF metadata).
inline fs::path WriteGgufPackage(const fs::path& root, const std::string& name,
                                 const fs::path& gguf, const std::string& llm_yaml) {
  Package p;
  p.ns = "local";
  p.name = name;
  p.framework = "gguf";
  p.execution_format = "gguf";
  p.file_name = "model.gguf";
  p.file_contents = ReadFileBytes(gguf);
  const fs::path dir = WritePackage(root, p);
  std::ofstream(dir / "manifest.yaml", std::ios::app) << "  llm:\n" << llm_yaml;
  return dir;
}

// The daemon with both fixtures registered and loaded. `threads` per model: the test machines
// are small and shared. With `auth`, security.auth is required and the admin token (the state
// dir's admin.token) registers and loads.
class LlmDaemon {
 public:
  explicit LlmDaemon(const fs::path& root, bool auth = false) : root_(root), auth_(auth) {}

  ::testing::AssertionResult Start() {
    const fs::path config = root_ / "mlosd.yaml";
    std::ofstream(config) << "plugins:\n  llama:\n    parallel: 2\n    ctx_per_slot: 512\n"
                             "    batch: 64\n    threads: 1\n"
                          << (auth_ ? "security:\n  auth: required\n" : "");
    daemon_ = std::make_unique<Daemon>(root_ / "state",
                                       std::vector<std::string>{"--config", config.string()});
    if (auto r = daemon_->Start(); !r) return r;
    std::vector<std::pair<std::string, std::string>> headers;
    if (auth_) {
      admin_token_ = ReadFileBytes(root_ / "state" / "admin.token");
      while (!admin_token_.empty() && std::isspace(static_cast<unsigned char>(admin_token_.back()))) {
        admin_token_.pop_back();
      }
      headers.push_back({"Authorization", "Bearer " + admin_token_});
    }
    const fs::path llama = WriteGgufPackage(
        root_ / "pkgs", "tiny-llama", kTinyLlamaGguf,
        "    architecture: llama\n    context_length: 512\n    embedding_length: 64\n"
        "    parameter_count: 2300000\n    quantization: F16\n"
        "    chat_template: \"{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}\"\n"
        "    embedding: false\n");
    const fs::path bert = WriteGgufPackage(
        root_ / "pkgs", "tiny-bert", kTinyBertGguf,
        "    architecture: bert\n    context_length: 512\n    embedding_length: 32\n"
        "    quantization: F32\n    embedding: true\n");
    for (const auto& [id, dir] :
         {std::pair{kLlama + "@1.0.0", llama}, std::pair{kBert + "@1.0.0", bert}}) {
      json body = {{"model_id", id}, {"execution_format", "gguf"}, {"framework", "gguf"},
                   {"path", dir.string()}};
      Reply reg = daemon_->Post("/models/register", body.dump(), headers);
      if (reg.status != 200) {
        return ::testing::AssertionFailure() << "register " << id << ": " << reg.status << " "
                                             << reg.body << "\n" << daemon_->Log();
      }
      Reply load = daemon_->Post("/models/" + Encode(id) + "/load", "", headers);
      if (load.status != 200) {
        return ::testing::AssertionFailure() << "load " << id << ": " << load.status << " "
                                             << load.body << "\n" << daemon_->Log();
      }
    }
    return ::testing::AssertionSuccess();
  }

  Daemon& daemon() { return *daemon_; }
  const std::string& admin_token() const { return admin_token_; }
  uint16_t port() const { return daemon_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(daemon_->port()); }

 private:
  fs::path root_;
  bool auth_ = false;
  std::string admin_token_;
  std::unique_ptr<Daemon> daemon_;
};

// The body of a chunked HTTP/1.1 response; `complete` says the terminating chunk was there.
inline std::string Dechunk(const Reply& r, bool* complete = nullptr) {
  if (complete) *complete = false;
  auto it = r.headers.find("transfer-encoding");
  if (it == r.headers.end() || it->second.find("chunked") == std::string::npos) return r.body;
  std::string out;
  size_t pos = 0;
  while (pos < r.body.size()) {
    const size_t eol = r.body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t len = std::stoul(r.body.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) {
      if (complete) *complete = r.body.compare(eol, 4, "\r\n\r\n") == 0;
      break;
    }
    out.append(r.body, eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return out;
}

// The payloads of `data: ...` events, in order ("[DONE]" included as is).
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
  }
  return out;
}

inline std::vector<json> NdjsonLines(const std::string& body) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string::npos) eol = body.size();
    if (eol > pos) out.push_back(json::parse(body.substr(pos, eol - pos), nullptr, false));
    pos = eol + 1;
  }
  return out;
}

// The value of `metric{model="id"}` in /metrics; -1 when absent.
inline double MetricValue(Daemon& d, const std::string& metric, const std::string& model_id) {
  const std::string text = d.Get("/metrics").body;
  const std::string key = metric + "{model=\"" + model_id + "\"}";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size() + 1));
}

// Polls until no generation of `model_id` is in progress (up to `timeout`); the last value.
inline double WaitGenerationsIdle(Daemon& d, const std::string& model_id,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  double v = MetricValue(d, "mlos_generations_active", model_id);
  while (v > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    v = MetricValue(d, "mlos_generations_active", model_id);
  }
  return v;
}

}  // namespace mlostest
