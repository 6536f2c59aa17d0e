// The real mlosd over HTTP: health and routing, registration, the original MLOS inference API,
// and every bad-input row answered with the right status and message while the daemon keeps
// serving and nothing changes.
#include "mlosd_harness.h"

namespace mlostest {
namespace {

class MlosdHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) {
      GTEST_SKIP() << why;
    }
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state");
    ASSERT_TRUE(daemon_->Start());
  }
  void TearDown() override {
    if (daemon_ && daemon_->port()) {
      EXPECT_EQ(daemon_->Stop(SIGTERM), 0) << daemon_->Log();
    }
  }
  fs::path Write(const Package& p) { return WritePackage(tmp_.path() / "pkgs", p); }
  Reply Register(const Package& p) { return daemon_->Post("/models/register", RegisterBody(p, Write(p))); }
  size_t ModelCount() { return daemon_->Get("/models").Json()["models"].size(); }
  void ExpectServing() {
    Reply h = daemon_->Get("/health");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.Json()["status"], "healthy");
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(MlosdHttpTest, HealthStatsPluginsAndRouting) {
  ExpectServing();
  Reply stats = daemon_->Get("/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_TRUE(stats.Json().contains("uptime_s"));
  Reply plugins = daemon_->Get("/plugins");
  ASSERT_EQ(plugins.status, 200);
  std::string names;
  const json pj = plugins.Json();
  for (const auto& p : pj["plugins"]) names += p["name"].get<std::string>() + " ";
  EXPECT_NE(names.find("onnx"), std::string::npos) << plugins.body;
  EXPECT_NE(names.find("testing"), std::string::npos) << plugins.body;

  Reply nf = daemon_->Get("/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_FALSE(nf.Error().empty());
  Reply bad_method = daemon_->Post("/health");
  EXPECT_EQ(bad_method.status, 405);
  EXPECT_EQ(bad_method.headers["allow"], "GET");
  Reply v2 = daemon_->Get("/v2");
  EXPECT_EQ(v2.Json()["name"], "mlos");
  EXPECT_EQ(daemon_->Get("/v2/health/live").status, 200);
  EXPECT_EQ(daemon_->Get("/v2/health/ready").status, 200);
}

TEST_F(MlosdHttpTest, KeepAliveServesManyRequestsOnOneConnection) {
  int fd = Connect(daemon_->port());
  ASSERT_GE(fd, 0);
  std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string all;
  for (int i = 0; i < 3; ++i) all += req;
  all += "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, all));
  std::string raw;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t count = 0;
  for (size_t at = raw.find("HTTP/1.1 200"); at != std::string::npos;
       at = raw.find("HTTP/1.1 200", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 4u) << raw;
}

TEST_F(MlosdHttpTest, RegisterAndOriginalInference) {
  Package c = CelsiusPackage();
  Reply reg = Register(c);
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(reg.Json()["model_id"], c.Id());
  // Idempotent re-registration of the same id and path.
  EXPECT_EQ(Register(c).status, 200);

  Reply got = daemon_->Get("/models/" + Encode(c.Id()));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["id"], c.Id());
  EXPECT_EQ(ModelCount(), 1u);

  Reply load = daemon_->Post("/models/" + Encode(c.Id()) + "/load");
  ASSERT_EQ(load.status, 200) << load.body;
  EXPECT_EQ(load.Json()["state"], "READY");

  Reply inf = daemon_->Post("/models/" + Encode("test/celsius@latest") + "/inference",
                            R"({"celsius":[0, 100, -40]})");
  ASSERT_EQ(inf.status, 200) << inf.body;
  json j = inf.Json();
  EXPECT_EQ(j["status"], "success");
  EXPECT_EQ(j["model_id"], c.Id());
  EXPECT_EQ(j["model_version"], "1.0.0");
  EXPECT_TRUE(j.contains("inference_time_us"));
  EXPECT_TRUE(j.contains("queue_time_us"));
  EXPECT_EQ(j["outputs"]["fahrenheit"], json::parse("[32.0, 212.0, -40.0]"));
  EXPECT_EQ(j["output_shapes"]["fahrenheit"], json::parse("[3]"));
  EXPECT_EQ(j["output_dtypes"]["fahrenheit"], "float32");

  // The mlp: a flat array of 32 is shaped [2, 16] by the schema; lazily loaded.
  Package m = MlpPackage();
  ASSERT_EQ(Register(m).status, 200);
  std::string flat = "[";
  for (int i = 0; i < 32; ++i) flat += (i ? "," : "") + std::to_string(i * 0.1);
  flat += "]";
  Reply mi = daemon_->Post("/models/" + Encode(m.Id()) + "/inference", R"({"input":)" + flat + "}");
  ASSERT_EQ(mi.status, 200) << mi.body;
  EXPECT_EQ(mi.Json()["output_shapes"]["logits"], json::parse("[2,4]"));
  EXPECT_EQ(mi.Json()["outputs"]["probs"].size(), 8u);
  // Unencoded multi-segment ids work too.
  EXPECT_EQ(daemon_->Post("/models/test/mlp@1.0.0/inference", R"({"input":)" + flat + "}").status,
            200);

  Reply unload = daemon_->Post("/models/" + Encode(c.Id()) + "/unload");
  EXPECT_EQ(unload.status, 200) << unload.body;
  Reply del = Http(daemon_->port(), "DELETE", "/models/" + Encode(m.Id()));
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(daemon_->Get("/models/" + Encode(m.Id())).status, 404);
}

TEST_F(MlosdHttpTest, BadInputsGetClearErrorsAndChangeNothing) {
  Package m = MlpPackage();
  ASSERT_EQ(Register(m).status, 200);
  const std::string inf = "/models/" + Encode(m.Id()) + "/inference";
  const std::string kinf = "/v2/models/" + Encode("test/mlp") + "/infer";
  std::string row16 = "[";
  for (int i = 0; i < 16; ++i) row16 += (i ? "," : "") + std::to_string(i);
  row16 += "]";
  std::string row15 = "[";
  for (int i = 0; i < 15; ++i) row15 += (i ? "," : "") + std::to_string(i);
  row15 += "]";

  Package bad_sum = CelsiusPackage();
  bad_sum.name = "badsum";
  bad_sum.corrupt_checksum = true;
  Package coreml = CelsiusPackage();
  coreml.name = "cml";
  coreml.execution_format = "coreml";
  Package cycle = TestingPackage("selfish", R"({"behavior":"identity"})");
  cycle.deps_yaml = "      - test/selfish@1.0.0\n";
  Package traversal = CelsiusPackage();
  traversal.name = "trav";
  traversal.extra_file = "../../etc/passwd";

  struct Row {
    std::string what, method, path, body;
    int status;
    std::string needle;  // expected in the error message
  };
  const std::vector<Row> rows = {
      {"malformed JSON", "POST", inf, R"({"input": [1, 2)", 400, "malformed JSON"},
      {"body not an object", "POST", inf, "[1,2]", 400, "JSON object"},
      {"unknown model", "POST", "/models/" + Encode("test/nope@1") + "/inference",
       R"({"input":[1]})", 404, "test/nope"},
      {"unknown model (kserve)", "POST", "/v2/models/" + Encode("test/nope") + "/infer",
       R"({"inputs":[]})", 404, "test/nope"},
      {"wrong dtype", "POST", inf, R"({"input":["a","b"]})", 400, "input"},
      {"wrong dtype (kserve)", "POST", kinf,
       R"({"inputs":[{"name":"input","shape":[1,16],"datatype":"INT64","data":)" + row16 + "}]}",
       400, "input"},
      {"wrong rank", "POST", inf, R"({"input":[[)" + row16 + "]]}", 400, "input"},
      {"wrong fixed dim", "POST", inf, R"({"input":[)" + row15 + "]}", 400, "input"},
      {"wrong fixed dim (flat)", "POST", inf, R"({"input":)" + row15 + "}", 400, "input"},
      {"missing input", "POST", kinf, R"({"inputs":[]})", 400, "input"},
      {"unknown input", "POST", inf, R"({"nope":[1]})", 400, "nope"},
      {"traversal in id", "POST", "/models/" + Encode("../../etc@1") + "/inference", "{}", 400,
       ".."},
      {"traversal in raw path", "POST", "/models/a/../b/inference", "{}", 400, ".."},
      {"NUL in id", "GET", "/models/a%00b", "", 400, "NUL"},
      {"bad percent escape", "GET", "/models/a%zz", "", 400, "percent"},
      {"traversal in register id", "POST", "/models/register",
       R"({"model_id":"../x@1","path":"/tmp"})", 400, ".."},
      {"register missing path", "POST", "/models/register", R"({"model_id":"a/b@1"})", 400,
       "path"},
      {"register wrong type", "POST", "/models/register",
       R"({"model_id":"a/b@1","path":7})", 400, "path"},
      {"bad checksum", "POST", "/models/register", RegisterBody(bad_sum, Write(bad_sum)), 400,
       "sha256"},
      {"unsupported format", "POST", "/models/register", RegisterBody(coreml, Write(coreml)), 400,
       "coreml"},
      {"dependency cycle", "POST", "/models/register", RegisterBody(cycle, Write(cycle)), 409,
       "cycle"},
      {"traversal in manifest file", "POST", "/models/register",
       RegisterBody(traversal, Write(traversal)), 400, ".."},
      {"unknown route", "GET", "/v3/x", "", 404, "no route"},
      {"wrong method", "PUT", "/models", "", 405, "method"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Reply got = Http(daemon_->port(), r.method, r.path, r.body);
    EXPECT_EQ(got.status, r.status) << got.body;
    EXPECT_NE(got.Error().find(r.needle), std::string::npos) << got.Error();
    EXPECT_EQ(got.headers["content-type"], "application/json");
    ExpectServing();
  }
  // Nothing was registered by the failures; the good model still answers.
  EXPECT_EQ(ModelCount(), 1u);
  EXPECT_EQ(daemon_->Post(inf, R"({"input":)" + row16 + "}").status, 200);

  // Malformed HTTP itself.
  Reply garbage = RawRequest(daemon_->port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.status, 400);
  Reply bad_ihcl = Http(daemon_->port(), "POST", kinf, "{}",
                        {{"Inference-Header-Content-Length", "abc"}});
  EXPECT_EQ(bad_ihcl.status, 400);
  ExpectServing();
}

TEST_F(MlosdHttpTest, OversizedBodyIs413) {
  TempDir cfg_dir;
  const fs::path cfg = cfg_dir.path() / "mlosd.yaml";
  std::ofstream(cfg) << "http:\n  max_body_bytes: 4096\n  threads: 2\n";
  Daemon small(tmp_.path() / "state-small", {"--config", cfg.string()});
  ASSERT_TRUE(small.Start());
  Reply big = small.Post("/models/" + Encode("a/b@1") + "/inference",
                         R"({"input":[)" + std::string(8000, '1') + "]}");
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_NE(big.Error().find("4096"), std::string::npos);
  EXPECT_EQ(small.Get("/health").status, 200);
  EXPECT_EQ(small.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace mlostest
