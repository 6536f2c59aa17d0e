// The web console's server side against the real mlosd (docs/console.md): the /ui files
// (public, Content-Type, Cache-Control, a strict Content-Security-Policy, no inline script, 404
// in the server's JSON error shape), GET /stats/live after real inference requests, and
// GET /audit with auth required (the page is public, its data is not). The page itself is
// tested in a browser by tests/ui/console_test.mjs.
#include <regex>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::string Flat32() {
  std::string flat = "[";
  for (int i = 0; i < 32; ++i) flat += (i ? "," : "") + std::to_string(i * 0.1);
  return flat + "]";
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    pkgs_ = tmp_.path() / "pkgs";
    fs::create_directories(pkgs_);
  }

  void Start(std::vector<std::string> args = {}) {
    args.insert(args.end(), {"--model-root", pkgs_.string()});
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state", args);
    ASSERT_TRUE(daemon_->Start());
  }

  std::string AdminToken() {
    std::string t = ReadFileBytes(tmp_.path() / "state" / "admin.token");
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    return t;
  }

  Reply Register(const Package& p, const Headers& h = {}) {
    return Http(daemon_->port(), "POST", "/models/register", RegisterBody(p, WritePackage(pkgs_, p)),
                h);
  }

  TempDir tmp_;
  fs::path pkgs_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(ConsoleTest, FilesArePublicWithAStrictPolicy) {
  Start();
  for (const std::string path : {"/ui", "/ui/", "/ui/index.html"}) {
    Reply r = daemon_->Get(path);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_EQ(r.headers["cache-control"], "no-cache");
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
    const std::string csp = r.headers["content-security-policy"];
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    // Every script is a file; no inline script, no inline handlers, no style attributes.
    EXPECT_NE(r.body.find(R"(<script type="module" src="/ui/console.js">)"), std::string::npos);
    EXPECT_FALSE(std::regex_search(r.body, std::regex("<script(?![^>]*\\bsrc=)")));
    EXPECT_FALSE(std::regex_search(r.body, std::regex("\\son[a-z]+=", std::regex::icase)));
    EXPECT_FALSE(std::regex_search(r.body, std::regex("\\sstyle=")));
    EXPECT_EQ(r.body.find("http://"), std::string::npos);  // nothing from elsewhere
    EXPECT_EQ(r.body.find("https://"), std::string::npos);
  }
  const std::pair<const char*, const char*> files[] = {
      {"/ui/console.js", "text/javascript; charset=utf-8"},
      {"/ui/charts.js", "text/javascript; charset=utf-8"},
      {"/ui/api.js", "text/javascript; charset=utf-8"},
      {"/ui/console.css", "text/css; charset=utf-8"},
      {"/ui/favicon.svg", "image/svg+xml"}};
  for (const auto& [path, type] : files) {
    Reply r = daemon_->Get(path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.headers["content-type"], type) << path;
    EXPECT_EQ(r.headers["cache-control"], "no-cache") << path;
    EXPECT_FALSE(r.headers["content-security-policy"].empty()) << path;
    // What is served is the source file, byte for byte.
    EXPECT_EQ(r.body, ReadFileBytes(fs::path(MLOS_SOURCE_DIR) / "ui" / fs::path(path).filename()))
        << path;
  }
  Reply head = Http(daemon_->port(), "HEAD", "/ui/console.js");
  EXPECT_EQ(head.status, 200);
}

TEST_F(ConsoleTest, UnknownFilesAre404InTheErrorShape) {
  Start();
  for (const std::string path : {"/ui/nope.js", "/ui/a/b", "/ui/.hidden", "/ui/%2e%2e%2fetc",
                                 "/ui/embed.cmake", "/ui/console.js/x"}) {
    Reply r = daemon_->Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.headers["content-type"], "application/json") << path;
    json j = r.Json();
    ASSERT_TRUE(j.is_object() && j["error"].is_string()) << path << ": " << r.body;
    EXPECT_EQ(j.size(), 1u) << r.body;
    EXPECT_NE(r.Error().find("no route"), std::string::npos) << path << ": " << r.body;
    EXPECT_TRUE(r.headers["content-security-policy"].empty()) << path;
  }
  Reply post = daemon_->Post("/ui/console.js");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
}

TEST_F(ConsoleTest, LiveStatisticsFollowRealRequests) {
  Start();
  Reply empty = daemon_->Get("/stats/live");
  ASSERT_EQ(empty.status, 200) << empty.body;
  json e = empty.Json();
  EXPECT_EQ(e["window_s"], 60);
  EXPECT_TRUE(e["models"].empty());
  ASSERT_EQ(e["series"]["requests"].size(), 60u);
  EXPECT_TRUE(e["total"]["p99_ms"].is_null());

  Package m = MlpPackage();
  ASSERT_EQ(Register(m).status, 200);
  const std::string path = "/models/" + Encode(m.Id()) + "/inference";
  const std::string body = R"({"input":)" + Flat32() + "}";
  constexpr int kOk = 20, kBad = 3;
  for (int i = 0; i < kOk; ++i) ASSERT_EQ(daemon_->Post(path, body).status, 200);
  for (int i = 0; i < kBad; ++i) {
    EXPECT_EQ(daemon_->Post(path, R"({"input":[1,2,3]})").status, 400);
  }
  Reply r = daemon_->Get("/stats/live");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  ASSERT_EQ(j["models"].size(), 1u) << r.body;
  json s = j["models"][0];
  EXPECT_EQ(s["model"], m.Id());
  EXPECT_EQ(s["requests"], kOk + kBad);
  EXPECT_EQ(s["errors"], kBad);
  EXPECT_EQ(s["requests_total"], kOk + kBad);
  EXPECT_EQ(s["errors_total"], kBad);
  EXPECT_NEAR(s["requests_per_s"].get<double>(), (kOk + kBad) / 60.0, 1e-9);
  ASSERT_TRUE(s["p50_ms"].is_number() && s["p99_ms"].is_number()) << r.body;
  EXPECT_GT(s["p50_ms"].get<double>(), 0);
  EXPECT_GE(s["p99_ms"].get<double>(), s["p50_ms"].get<double>());
  EXPECT_LT(s["p99_ms"].get<double>(), 60'000);
  EXPECT_EQ(j["total"]["requests"], kOk + kBad);
  // The series holds the same requests, in the last seconds.
  uint64_t sum = 0, errors = 0;
  for (const json& v : j["series"]["requests"]) sum += v.get<uint64_t>();
  for (const json& v : j["series"]["errors"]) errors += v.get<uint64_t>();
  EXPECT_EQ(sum, static_cast<uint64_t>(kOk + kBad));
  EXPECT_EQ(errors, static_cast<uint64_t>(kBad));
  const int64_t now_s = j["now_unix_ms"].get<int64_t>() / 1000;
  EXPECT_EQ(j["series"]["unix_s"].back(), now_s);
  EXPECT_TRUE(j["series"]["p99_ms"].back().is_number() || j["series"]["p99_ms"][58].is_number());
  // The memory accounting of /stats, loaded model included.
  Reply stats = daemon_->Get("/stats");
  EXPECT_EQ(j["memory_budget_bytes"], stats.Json()["memory_budget_bytes"]);
  EXPECT_GT(j["memory_used_bytes"].get<uint64_t>(), 0u);
}

TEST_F(ConsoleTest, WithAuthThePageIsPublicAndItsDataIsNot) {
  Start({"--auth", "required"});
  const std::string admin = AdminToken();
  ASSERT_EQ(admin.rfind("mlos_", 0), 0u);
  EXPECT_EQ(daemon_->Get("/ui").status, 200);
  EXPECT_EQ(daemon_->Get("/ui/console.js").status, 200);
  for (const std::string path : {"/stats/live", "/audit", "/models"}) {
    Reply r = daemon_->Get(path);
    EXPECT_EQ(r.status, 401) << path << ": " << r.body;
    EXPECT_TRUE(r.Json()["error"].is_string()) << r.body;
    EXPECT_EQ(Http(daemon_->port(), "GET", path, "", Bearer("mlos_wrong")).status, 401) << path;
  }
  EXPECT_EQ(Http(daemon_->port(), "GET", "/stats/live", "", Bearer(admin)).status, 200);

  // A management action and a refusal, then both in the audit log, oldest first.
  Package m = MlpPackage();
  ASSERT_EQ(Register(m, Bearer(admin)).status, 200);
  Reply reader = Http(daemon_->port(), "POST", "/tokens", R"({"name":"viewer","role":"reader"})",
                      Bearer(admin));
  ASSERT_EQ(reader.status, 200) << reader.body;
  const std::string viewer = reader.Json()["token"];
  const std::string unload = "/models/" + Encode(m.Id()) + "/unload";
  EXPECT_EQ(Http(daemon_->port(), "POST", unload, "", Bearer(viewer)).status, 403);
  EXPECT_EQ(Http(daemon_->port(), "POST", unload, "", Bearer(admin)).status, 200);

  // Readers see live statistics, not the audit log.
  EXPECT_EQ(Http(daemon_->port(), "GET", "/stats/live", "", Bearer(viewer)).status, 200);
  Reply denied = Http(daemon_->port(), "GET", "/audit", "", Bearer(viewer));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_NE(denied.Error().find("read the audit log"), std::string::npos) << denied.body;

  Reply audit = Http(daemon_->port(), "GET", "/audit", "", Bearer(admin));
  ASSERT_EQ(audit.status, 200) << audit.body;
  json events = audit.Json()["events"];
  ASSERT_GE(events.size(), 4u) << audit.body;
  EXPECT_EQ(audit.Json()["count"], events.size());
  const json last = events.back();  // the reader's refused audit read came after the unload
  EXPECT_EQ(last["principal"], "viewer");
  EXPECT_EQ(last["action"], "audit");
  EXPECT_EQ(last["outcome"], "denied");
  bool unloaded = false, refused = false;
  for (const json& e : events) {
    unloaded |= e["action"] == "unload" && e["principal"] == "admin" && e["outcome"] == "ok" &&
                e["model"] == m.Id();
    refused |= e["action"] == "unload" && e["principal"] == "viewer" && e["outcome"] == "denied";
  }
  EXPECT_TRUE(unloaded) << audit.body;
  EXPECT_TRUE(refused) << audit.body;
  // No token in what the console shows.
  EXPECT_EQ(audit.body.find(admin), std::string::npos);
  EXPECT_EQ(audit.body.find(viewer), std::string::npos);

  Reply two = Http(daemon_->port(), "GET", "/audit?limit=2", "", Bearer(admin));
  ASSERT_EQ(two.status, 200);
  ASSERT_EQ(two.Json()["events"].size(), 2u);
  EXPECT_EQ(two.Json()["events"][1], audit.Json()["events"].back());
  for (const std::string q : {"0", "1001", "x", ""}) {
    Reply bad = Http(daemon_->port(), "GET", "/audit?limit=" + q, "", Bearer(admin));
    EXPECT_EQ(bad.status, 400) << q << ": " << bad.body;
  }
}

}  // namespace
}  // namespace mlostest
