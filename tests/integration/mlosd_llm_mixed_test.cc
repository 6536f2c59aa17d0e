// One mlosd serving an ONNX model and GGUF models side by side, installed the way a user does it
// (`axon install <file>` -> `axon register`): axon's spec.llm from the GGUF metadata, KServe v2
// infer on the embedding model (BYTES text -> FP32, the same vectors as /v1/embeddings), an
// ONNX model refused for generation while it keeps serving, the LLM's weights and KV cache in
// its memory, and the LLM in a sandboxed worker generating the same greedy text as in-process.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>

#include "llm_http_harness.h"

namespace mlostest {
namespace {

class MlosdLlmMixedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = LlmPrerequisites(); !why.empty()) GTEST_SKIP() << why;
    if (!fs::exists(kFixtures / "demo_celsius.onnx") || !fs::exists(kPlugins / "libmlos_onnx.so")) {
      GTEST_SKIP() << "no ONNX plugin or fixture";
    }
  }

  // Starts mlosd with `extra_yaml` appended to its config, installs the three models with axon
  // and registers them.
  void Start(const std::string& extra_yaml = "") {
    const fs::path config = tmp_.path() / "mlosd.yaml";
    std::ofstream(config) << "plugins:\n  llama:\n    parallel: 2\n    ctx_per_slot: 512\n"
                             "    batch: 64\n    threads: 1\n"
                          << extra_yaml;
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state",
                                       std::vector<std::string>{"--config", config.string()});
    ASSERT_TRUE(daemon_->Start());
    env_ = "AXON_HOME=" + (tmp_.path() / "axon").string() +
           " MLOS_CORE_ENDPOINT=http://127.0.0.1:" + std::to_string(daemon_->port()) + " ";
    fs::create_directories(tmp_.path() / "celsius");
    fs::copy_file(kFixtures / "demo_celsius.onnx", tmp_.path() / "celsius" / "model.onnx");
    for (const auto& [source, id] :
         {std::pair{kTinyLlamaGguf.string(), std::string("local/tiny-llama@1.0.0")},
          std::pair{kTinyBertGguf.string(), std::string("local/tiny-bert@1.0.0")},
          std::pair{(tmp_.path() / "celsius").string(), std::string("demo/celsius@1.0.0")}}) {
      int rc = 0;
      std::string out = Axon("install " + source + " --name " + id, &rc);
      ASSERT_EQ(rc, 0) << out;
      out = Axon("register " + id, &rc);
      ASSERT_EQ(rc, 0) << out << daemon_->Log();
    }
  }
  std::string Axon(const std::string& args, int* rc) {
    return Sh("env " + env_ + std::string(MLOS_BINARY_DIR) + "/bin/axon " + args, rc);
  }
  Reply Post(const std::string& path, const json& body) {
    return daemon_->Post(path, body.dump());
  }
  std::string Greedy() {
    Reply r = Post("/v1/completions", {{"model", "local/tiny-llama"},
                                       {"prompt", "Once upon a time"},
                                       {"max_tokens", 16},
                                       {"temperature", 0}});
    EXPECT_EQ(r.status, 200) << r.body << daemon_->Log();
    const json j = r.Json();
    EXPECT_EQ(j["usage"]["completion_tokens"], 16) << r.body;
    return j["choices"][0]["text"].get<std::string>();
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  std::string env_;
};

TEST_F(MlosdLlmMixedTest, OnnxAndGgufModelsServeSideBySide) {
  Start();
  // axon read the GGUF metadata into spec.llm.
  Reply show = Post("/api/show", {{"model", "local/tiny-llama"}});
  ASSERT_EQ(show.status, 200) << show.body;
  const json s = show.Json();
  EXPECT_EQ(s["details"]["format"], "gguf") << show.body;
  EXPECT_EQ(s["model_info"]["general.architecture"], "llama") << show.body;
  EXPECT_EQ(s["model_info"]["llama.context_length"], 512) << show.body;
  EXPECT_NE(s["template"].get<std::string>().find("im_start"), std::string::npos) << show.body;

  // KServe v2 infer on the embedding model: BYTES in, FP32 [n, 32] out, the vectors of
  // /v1/embeddings.
  Reply v2 = Post("/v2/models/local%2Ftiny-bert/infer",
                  {{"inputs",
                    {{{"name", "text"},
                      {"datatype", "BYTES"},
                      {"shape", {2}},
                      {"data", {"hello world", "goodbye"}}}}}});
  ASSERT_EQ(v2.status, 200) << v2.body << daemon_->Log();
  const json out = v2.Json()["outputs"][0];
  EXPECT_EQ(out["name"], "embedding");
  EXPECT_EQ(out["datatype"], "FP32");
  EXPECT_EQ(out["shape"], json({2, 32}));
  Reply oa = Post("/v1/embeddings", {{"model", "local/tiny-bert"}, {"input", {"hello world", "goodbye"}}});
  ASSERT_EQ(oa.status, 200) << oa.body;
  const json rows = oa.Json()["data"];
  for (size_t i = 0; i < 2; ++i) {
    double norm = 0;
    for (size_t k = 0; k < 32; ++k) {
      const double x = out["data"][i * 32 + k].get<double>();
      norm += x * x;
      EXPECT_NEAR(x, rows[i]["embedding"][k].get<double>(), 1e-6) << i << "," << k;
    }
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-3);
  }

  // The ONNX model cannot generate (a clear 400), and keeps serving inferences.
  Reply gen = Post("/v1/chat/completions",
                   {{"model", "demo/celsius"},
                    {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(gen.status, 400) << gen.body;
  EXPECT_NE(gen.body.find("does not generate text"), std::string::npos) << gen.body;
  Reply celsius = Post("/models/demo%2Fcelsius%401.0.0/inference", {{"celsius", {100}}});
  ASSERT_EQ(celsius.status, 200) << celsius.body;
  EXPECT_EQ(celsius.Json()["outputs"]["fahrenheit"], json({212.0})) << celsius.body;

  // The LLM generates; its memory counts the mapped weights and the KV cache.
  EXPECT_FALSE(Greedy().empty());
  Reply st = daemon_->Get("/models/local%2Ftiny-llama%401.0.0");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_GT(st.Json()["memory_bytes"].get<uint64_t>(), fs::file_size(kTinyLlamaGguf)) << st.body;
}

TEST_F(MlosdLlmMixedTest, ASandboxedLlmGeneratesWhatAnInProcessOneDoes) {
  Start();
  const std::string in_process = Greedy();
  ASSERT_EQ(daemon_->Stop(SIGTERM), 0);
  daemon_.reset();
  // The same state and cache, the LLM now in a worker.
  const fs::path config = tmp_.path() / "mlosd.yaml";
  std::ofstream(config, std::ios::app) << "isolation:\n  models: {\"local/tiny-llama\": process}\n";
  daemon_ = std::make_unique<Daemon>(tmp_.path() / "state",
                                     std::vector<std::string>{"--config", config.string()});
  ASSERT_TRUE(daemon_->Start());
  Reply st = daemon_->Get("/models/local%2Ftiny-llama%401.0.0");
  if (st.body.find("\"isolation\":\"process\"") == std::string::npos) {
    GTEST_SKIP() << "no sandbox on this machine: " << st.body;
  }
  EXPECT_EQ(Greedy(), in_process);
  // Streaming and an abort through the worker: the slot is free again.
  Reply sse = Post("/v1/completions", {{"model", "local/tiny-llama"},
                                       {"prompt", "Hello"},
                                       {"max_tokens", 8},
                                       {"temperature", 0},
                                       {"stream", true}});
  ASSERT_EQ(sse.status, 200) << sse.body;
  const auto events = SseData(Dechunk(sse));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  st = daemon_->Get("/models/local%2Ftiny-llama%401.0.0");
  EXPECT_GT(st.Json()["worker_pid"].get<int64_t>(), 0) << st.body;
  EXPECT_LE(WaitGenerationsIdle(*daemon_, "local/tiny-llama@1.0.0"), 0);
}

}  // namespace
}  // namespace mlostest
