// The Hugging Face adapter against tests/hubs/fake_hf_hub.py: resolve pins the commit, downloads
// verify sha256 / git blob ids, errors are one clear line, auth never leaves the hub's host.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "../hubs/hubtest.h"
#include "axon/hub/hf.h"
#include "axon/hub/hub.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kMain = "1111111111111111111111111111111111111111";
const char* kV1 = "2222222222222222222222222222222222222222";
const char* kToken = "hf_test_token";

ModelRef Ref(const std::string& name, const std::string& version = "") {
  ModelRef r;
  r.ns = "hf";
  r.name = name;
  r.version = version.empty() ? "latest" : version;
  r.version_given = !version.empty();
  return r;
}

class HfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir(fs::temp_directory_path(), "mlos-hf-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    onnx_ = hubtest::TestBytes(200000, 5);
    const fs::path repos = dir_ / "repos";
    hubtest::WriteHfRepo(repos, "org/model", kMain,
                         {{"config.json", "{\"model_type\": \"bert\"}\n"},
                          {"onnx/model.onnx", onnx_},
                          {"tokenizer.json", "{\"version\": \"1.0\"}"}});
    hubtest::WriteHfRepo(repos, "org/model", kV1, {{"config.json", "{\"old\": true}\n"}}, {"v1"});
    hubtest::WriteTestFile(repos / "org/model/info.json",
                           R"({"cardData": {"license": "apache-2.0"}, "tags": ["onnx", "bert"],
                               "pipeline_tag": "fill-mask", "library_name": "transformers",
                               "downloads": 42})");
    hubtest::WriteHfRepo(repos, "org/gated", kMain, {{"model.onnx", onnx_}});
    hubtest::WriteTestFile(repos / "org/gated/.gated", "manual");
    auto s = hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_hf_hub.py"),
                                         "--repos", repos.string(), "--token", kToken});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  HubConfig Config(const std::string& token = "") {
    HubConfig c;
    c.hf_endpoint = server_.url() + "/";  // the adapter strips the trailing '/'
    c.hf_token = token;
    c.max_retries = 2;
    return c;
  }
  void Control(const std::string& j) {
    ASSERT_TRUE(hubtest::PostJson(server_.url() + "/_control", j).ok());
  }
  json Log() {
    auto body = hubtest::HttpGetBody(server_.url() + "/_control/log");
    return body.ok() ? json::parse(*body) : json::array();
  }
  const RemoteFile* Find(const ResolvedModel& m, const std::string& path) {
    for (const auto& f : m.files)
      if (f.path == path) return &f;
    return nullptr;
  }
  std::string ReadAll(const fs::path& p) {
    auto r = ReadFile(p);
    return r.ok() ? *r : std::string("<unreadable>");
  }

  fs::path dir_;
  std::string onnx_;
  hubtest::FakeServer server_;
};

TEST_F(HfTest, ResolvePinsTheCommit) {
  auto hf = MakeHfAdapter(Config());
  EXPECT_EQ(hf->Name(), "hf");
  auto m = hf->Resolve(Ref("org/model"), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version, "main");
  EXPECT_EQ(m->commit, kMain);
  EXPECT_EQ(m->source, std::string("hf://org/model@") + kMain);
  ASSERT_EQ(m->files.size(), 3u);
  const RemoteFile* onnx = Find(*m, "onnx/model.onnx");
  ASSERT_NE(onnx, nullptr);
  EXPECT_EQ(onnx->size, onnx_.size());
  EXPECT_TRUE(onnx->size_known);
  EXPECT_EQ(onnx->sha256, Sha256Hex(onnx_));
  EXPECT_TRUE(onnx->git_oid.empty());
  EXPECT_EQ(onnx->url, server_.url() + "/org/model/resolve/" + kMain + "/onnx/model.onnx");
  const RemoteFile* cfg = Find(*m, "config.json");
  ASSERT_NE(cfg, nullptr);
  EXPECT_TRUE(cfg->sha256.empty());
  EXPECT_EQ(cfg->git_oid.size(), 40u);
  EXPECT_EQ(m->meta.license, "apache-2.0");
  EXPECT_EQ(m->meta.pipeline_tag, "fill-mask");
  EXPECT_EQ(m->meta.library_name, "transformers");
  EXPECT_EQ(m->meta.tags, (std::vector<std::string>{"onnx", "bert"}));
  json log = Log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0]["path"], "/api/models/org/model/revision/main?blobs=true");
}

TEST_F(HfTest, RevisionFromOptionsOrVersion) {
  auto hf = MakeHfAdapter(Config());
  InstallOptions opts;
  opts.revision = "v1";
  auto m = hf->Resolve(Ref("org/model"), opts);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->commit, kV1);
  EXPECT_EQ(m->version, "v1");
  ASSERT_EQ(m->files.size(), 1u);

  m = hf->Resolve(Ref("org/model", "v1"), {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->commit, kV1);
  m = hf->Resolve(Ref("org/model", kMain), {});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->commit, kMain);
  EXPECT_EQ(m->version, kMain);
}

TEST_F(HfTest, DownloadsVerifyAndSendTheToken) {
  auto hf = MakeHfAdapter(Config(kToken));
  auto m = hf->Resolve(Ref("org/model"), {});
  ASSERT_TRUE(m.ok());
  for (const auto& f : m->files) {
    auto out = dir_ / ("dl-" + std::to_string(&f - m->files.data()));
    Status st = hf->Download(*m, f, out, nullptr);
    ASSERT_TRUE(st.ok()) << f.path << ": " << st.ToString();
    EXPECT_EQ(ReadAll(out), ReadAll(dir_ / "repos/org/model" / kMain / f.path));
  }
  for (const auto& e : Log()) EXPECT_EQ(e["authorization"], std::string("Bearer ") + kToken);
}

TEST_F(HfTest, GitBlobMismatchIsDataLoss) {
  auto hf = MakeHfAdapter(Config());
  auto m = hf->Resolve(Ref("org/model"), {});
  ASSERT_TRUE(m.ok());
  RemoteFile cfg = *Find(*m, "config.json");
  cfg.git_oid = std::string(40, '0');
  auto out = dir_ / "cfg.partial";
  Status st = hf->Download(*m, cfg, out, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("config.json"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(HfTest, CutDownloadResumesThroughTheAdapter) {
  Control(R"({"cut": {"path": "onnx/model.onnx", "after": 70000, "times": 1}})");
  auto hf = MakeHfAdapter(Config());
  auto m = hf->Resolve(Ref("org/model"), {});
  ASSERT_TRUE(m.ok());
  auto out = dir_ / "model.partial";
  ASSERT_TRUE(hf->Download(*m, *Find(*m, "onnx/model.onnx"), out, nullptr).ok());
  EXPECT_EQ(ReadAll(out), onnx_);
  bool ranged = false;
  for (const auto& e : Log()) ranged = ranged || e["range"] == "bytes=70000-";
  EXPECT_TRUE(ranged) << Log().dump();
}

TEST_F(HfTest, TokenIsDroppedOnRedirectToAnotherHost) {
  Control(R"({"redirect": "cross"})");
  auto hf = MakeHfAdapter(Config(kToken));
  auto m = hf->Resolve(Ref("org/gated"), {});
  ASSERT_TRUE(m.ok());
  auto out = dir_ / "gated.partial";
  Status st = hf->Download(*m, m->files.at(0), out, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  int cdn = 0;
  for (const auto& e : Log()) {
    if (e["path"].get<std::string>().rfind("/_cdn/", 0) == 0) {
      ++cdn;
      EXPECT_EQ(e["authorization"], "");
    } else {
      EXPECT_EQ(e["authorization"], std::string("Bearer ") + kToken);
    }
  }
  EXPECT_EQ(cdn, 1);
}

TEST_F(HfTest, OneLineErrors) {
  auto hf = MakeHfAdapter(Config());
  auto m = hf->Resolve(Ref("org/missing"), {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.status().message().rfind(
                "hf/org/missing: repository not found (or private/gated: set HF_TOKEN)", 0),
            0u)
      << m.status().message();

  InstallOptions opts;
  opts.revision = "nope";
  m = hf->Resolve(Ref("org/model"), opts);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.status().message().rfind("hf/org/model: revision \"nope\" not found", 0), 0u)
      << m.status().message();
  EXPECT_NE(m.status().message().find("Invalid rev id"), std::string::npos);  // X-Error-Message

  m = hf->Resolve(Ref("org/model"), {});
  ASSERT_TRUE(m.ok());
  RemoteFile ghost = m->files.at(0);
  ghost.path = "ghost.bin";
  ghost.url = server_.url() + "/org/model/resolve/" + kMain + "/ghost.bin";
  Status st = hf->Download(*m, ghost, dir_ / "ghost.partial", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message().rfind(std::string("hf/org/model: file \"ghost.bin\" not found at revision ") +
                                   kMain, 0),
            0u)
      << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

TEST_F(HfTest, GatedRepoNeedsTheToken) {
  auto hf = MakeHfAdapter(Config());
  auto m = hf->Resolve(Ref("org/gated"), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();  // model info is public
  ASSERT_FALSE(m->notes.empty());
  Status st = hf->Download(*m, m->files.at(0), dir_ / "g.partial", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_EQ(st.message().rfind(
                "hf/org/gated is gated: accept its conditions on the hub and set HF_TOKEN", 0),
            0u)
      << st.message();

  auto wrong = MakeHfAdapter(Config("hf_wrong"));
  m = wrong->Resolve(Ref("org/gated"), {});
  ASSERT_TRUE(m.ok());
  st = wrong->Download(*m, m->files.at(0), dir_ / "g.partial", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("is gated"), std::string::npos);

  auto right = MakeHfAdapter(Config(kToken));
  m = right->Resolve(Ref("org/gated"), {});
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->notes.empty());
  st = right->Download(*m, m->files.at(0), dir_ / "g.partial", nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(dir_ / "g.partial"), onnx_);
}

TEST_F(HfTest, ErrorMappingTable) {
  HttpResponse r;
  r.status = 403;
  r.headers = {{"x-error-code", "GatedRepo"}, {"x-error-message", "Access restricted\nline 2"}};
  Status st = HfErrorStatus(r, "hf/a/b", "main", "");
  EXPECT_EQ(st.message(),
            "hf/a/b is gated: accept its conditions on the hub and set HF_TOKEN "
            "[hub: Access restricted line 2]");
  r.headers = {};
  r.status = 401;
  EXPECT_EQ(HfErrorStatus(r, "hf/a/b", "main", "").code(), StatusCode::kNotFound);
  r.status = 403;
  EXPECT_EQ(HfErrorStatus(r, "hf/a/b", "main", "").code(), StatusCode::kPermissionDenied);
  r.status = 503;
  EXPECT_EQ(HfErrorStatus(r, "hf/a/b", "main", "").code(), StatusCode::kUnavailable);
  r.status = 429;
  EXPECT_EQ(HfErrorStatus(r, "hf/a/b", "main", "").code(), StatusCode::kResourceExhausted);
}

TEST_F(HfTest, OfflineModeFailsWithOneLine) {
  HubConfig c = Config();
  c.hf_offline = true;
  auto hf = MakeHfAdapter(c);
  auto m = hf->Resolve(Ref("org/model"), {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("offline mode is on"), std::string::npos);
  EXPECT_TRUE(Log().empty());  // the hub was not contacted
  EXPECT_FALSE(hf->Search("model", 5).ok());
}

TEST_F(HfTest, ConfigFromEnvironment) {
  ::setenv("HF_ENDPOINT", (server_.url() + "//").c_str(), 1);
  ::setenv("HF_TOKEN", "tok1", 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  HubConfig c = HubConfig::FromEnvironment();
  EXPECT_EQ(c.hf_endpoint, server_.url());
  EXPECT_EQ(c.hf_token, "tok1");
  EXPECT_TRUE(c.hf_offline);
  auto m = MakeHfAdapter(c)->Resolve(Ref("org/model"), {});
  EXPECT_NE(m.status().message().find("HF_HUB_OFFLINE"), std::string::npos);
  ::unsetenv("HF_TOKEN");
  ::setenv("HUGGING_FACE_HUB_TOKEN", "tok2", 1);
  ::setenv("HF_HUB_OFFLINE", "0", 1);
  c = HubConfig::FromEnvironment();
  EXPECT_EQ(c.hf_token, "tok2");
  EXPECT_FALSE(c.hf_offline);
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  ::unsetenv("HF_HUB_OFFLINE");
  ::setenv("HF_TOKEN_PATH", (dir_ / "no-such-token").c_str(), 1);
  c = HubConfig::FromEnvironment();
  EXPECT_EQ(c.hf_endpoint, "https://huggingface.co");
  EXPECT_EQ(c.hf_token, "");
  hubtest::WriteTestFile(dir_ / "token", "tok3\n");
  ::setenv("HF_TOKEN_PATH", (dir_ / "token").c_str(), 1);
  EXPECT_EQ(HubConfig::FromEnvironment().hf_token, "tok3");
  ::unsetenv("HF_TOKEN_PATH");
}

TEST_F(HfTest, Search) {
  auto hf = MakeHfAdapter(Config());
  auto hits = hf->Search("MODEL", 10);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->at(0).id, "org/model");
  EXPECT_EQ(hits->at(0).pipeline_tag, "fill-mask");
  EXPECT_EQ(hits->at(0).downloads, 42u);
  EXPECT_EQ(hits->at(0).source, "hf");
  hits = hf->Search("zzz", 10);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

}  // namespace
}  // namespace mlos::axon
