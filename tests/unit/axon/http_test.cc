// HttpFetch / DownloadToFile against tests/hubs/fake_hf_hub.py (a real server on loopback).
#include "axon/hub/http.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "../../hubs/hubtest.h"

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kSha = "0123456789abcdef0123456789abcdef01234567";

TEST(UrlEncodeTest, SegmentsAndPaths) {
  EXPECT_EQ(UrlEncodeSegment("abc-._~XYZ09"), "abc-._~XYZ09");
  EXPECT_EQ(UrlEncodeSegment("refs/pr/1"), "refs%2Fpr%2F1");
  EXPECT_EQ(UrlEncodeSegment("a b+c"), "a%20b%2Bc");
  EXPECT_EQ(UrlEncodePath("onnx/model v2.onnx"), "onnx/model%20v2.onnx");
  EXPECT_EQ(UrlEncodePath("a//b"), "a//b");
}

TEST(HttpResponseTest, HeaderIsCaseInsensitive) {
  HttpResponse r;
  r.headers = {{"x-error-code", "RepoNotFound"}, {"etag", "\"abc\""}};
  EXPECT_EQ(r.Header("X-Error-Code"), "RepoNotFound");
  EXPECT_EQ(r.Header("ETag"), "\"abc\"");
  EXPECT_EQ(r.Header("missing"), "");
}

TEST(HttpFetchTest, NetworkErrorIsUnavailable) {
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(hubtest::PickFreePort()) + "/x";
  req.timeout_s = 5;
  auto r = HttpFetch(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1"), std::string::npos);
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir(fs::temp_directory_path(), "mlos-http-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    big_ = hubtest::TestBytes(3 << 20, 7);
    hubtest::WriteHfRepo(dir_ / "repos", "org/m", kSha,
                         {{"big.bin", big_}, {"small.json", "{\"a\": 1}\n"}, {"empty.txt", ""}});
    auto s = hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_hf_hub.py"),
                                         "--repos", (dir_ / "repos").string()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string FileUrl(const std::string& path, const std::string& host = "127.0.0.1") {
    return server_.url(host) + "/org/m/resolve/main/" + path;
  }
  void Control(const std::string& j) {
    ASSERT_TRUE(hubtest::PostJson(server_.url() + "/_control", j).ok());
  }
  json Log() {
    auto body = hubtest::HttpGetBody(server_.url() + "/_control/log");
    EXPECT_TRUE(body.ok());
    return body.ok() ? json::parse(*body) : json::array();
  }
  DownloadSpec BigSpec() {
    DownloadSpec spec;
    spec.url = FileUrl("big.bin");
    spec.expected_size = big_.size();
    spec.size_known = true;
    spec.expected_sha256 = Sha256Hex(big_);
    return spec;
  }
  std::string ReadAll(const fs::path& p) {
    auto r = ReadFile(p);
    return r.ok() ? *r : std::string("<unreadable>");
  }

  fs::path dir_;
  std::string big_;
  hubtest::FakeServer server_;
};

TEST_F(DownloadTest, PlainDownloadVerifiesSha256AndReportsProgress) {
  uint64_t last_done = 0, last_total = 0;
  int calls = 0;
  auto partial = dir_ / "big.bin.partial";
  Status st = DownloadToFile(BigSpec(), partial, [&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
    ++calls;
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(partial), big_);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(last_done, big_.size());
  EXPECT_EQ(last_total, big_.size());
}

TEST_F(DownloadTest, EmptyFileAndUnknownSize) {
  DownloadSpec spec;
  spec.url = FileUrl("empty.txt");
  spec.size_known = true;
  spec.expected_size = 0;
  spec.expected_sha256 = Sha256Hex("");
  ASSERT_TRUE(DownloadToFile(spec, dir_ / "empty.partial", nullptr).ok());
  EXPECT_TRUE(fs::exists(dir_ / "empty.partial"));
  EXPECT_EQ(fs::file_size(dir_ / "empty.partial"), 0u);

  spec.url = FileUrl("small.json");
  spec.size_known = false;
  spec.expected_sha256.clear();
  ASSERT_TRUE(DownloadToFile(spec, dir_ / "small.partial", nullptr).ok());
  EXPECT_EQ(ReadAll(dir_ / "small.partial"), "{\"a\": 1}\n");
}

TEST_F(DownloadTest, CutConnectionResumesWithRange) {
  Control(R"({"cut": {"path": "big.bin", "after": 1048576, "times": 1}})");
  auto partial = dir_ / "big.partial";
  Status st = DownloadToFile(BigSpec(), partial, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(partial), big_);
  bool ranged = false;
  for (const auto& e : Log()) {
    if (e["path"].get<std::string>().find("big.bin") != std::string::npos &&
        e["range"].get<std::string>().rfind("bytes=", 0) == 0 && e["status"] == 206)
      ranged = true;
  }
  EXPECT_TRUE(ranged) << Log().dump();
}

TEST_F(DownloadTest, ResumesFromExistingPartialFile) {
  auto partial = dir_ / "big.partial";
  hubtest::WriteTestFile(partial, big_.substr(0, 12345));
  Status st = DownloadToFile(BigSpec(), partial, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(partial), big_);
  json log = Log();
  ASSERT_EQ(log.size(), 1u) << log.dump();
  EXPECT_EQ(log[0]["range"], "bytes=12345-");
  EXPECT_EQ(log[0]["status"], 206);
}

TEST_F(DownloadTest, CompletePartialFileNeedsNoRequest) {
  auto partial = dir_ / "big.partial";
  hubtest::WriteTestFile(partial, big_);
  ASSERT_TRUE(DownloadToFile(BigSpec(), partial, nullptr).ok());
  EXPECT_TRUE(Log().empty());
}

TEST_F(DownloadTest, ServerIgnoringRangeRestartsFromZero) {
  Control(R"({"ignore_range": true})");
  auto partial = dir_ / "big.partial";
  hubtest::WriteTestFile(partial, big_.substr(0, 5000));
  Status st = DownloadToFile(BigSpec(), partial, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(partial), big_);
  json log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["range"], "bytes=5000-");
  EXPECT_EQ(log[0]["status"], 200);
}

TEST_F(DownloadTest, CutAndRangeIgnoredStillCorrect) {
  Control(R"({"cut": {"path": "big.bin", "after": 700000, "times": 1}, "ignore_range": true})");
  auto partial = dir_ / "big.partial";
  Status st = DownloadToFile(BigSpec(), partial, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll(partial), big_);
}

TEST_F(DownloadTest, NoProgressGivesUpAfterMaxRetriesAndKeepsPartial) {
  Control(R"({"cut": {"path": "big.bin", "after": 0, "times": -1}})");
  auto partial = dir_ / "big.partial";
  hubtest::WriteTestFile(partial, big_.substr(0, 100));
  DownloadSpec spec = BigSpec();
  spec.max_retries = 2;
  Status st = DownloadToFile(spec, partial, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("2 retries"), std::string::npos) << st.ToString();
  EXPECT_EQ(Log().size(), 3u);
  EXPECT_EQ(ReadAll(partial), big_.substr(0, 100));  // kept for a later resume
}

TEST_F(DownloadTest, RetriesTransientServerErrors) {
  Control(R"({"fail_status": 503, "fail_times": 2})");
  Status st = DownloadToFile(BigSpec(), dir_ / "big.partial", nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Log().size(), 3u);
}

TEST_F(DownloadTest, WrongSha256IsDataLossAndRemovesFile) {
  DownloadSpec spec = BigSpec();
  spec.expected_sha256 = std::string(64, 'a');
  auto partial = dir_ / "big.partial";
  Status st = DownloadToFile(spec, partial, nullptr);
  ASSERT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("big.bin"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("sha256"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(partial));
}

TEST_F(DownloadTest, BodyLongerThanExpectedIsDataLoss) {
  DownloadSpec spec = BigSpec();
  spec.expected_size = 1000;
  spec.expected_sha256.clear();
  auto partial = dir_ / "big.partial";
  Status st = DownloadToFile(spec, partial, nullptr);
  ASSERT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_FALSE(fs::exists(partial));
}

TEST_F(DownloadTest, HttpErrorGoesThroughErrorMapper) {
  DownloadSpec spec;
  spec.url = FileUrl("nope.bin");
  spec.error_mapper = [](const HttpResponse& r) {
    return NotFound("mapped " + std::to_string(r.status) + " " + r.Header("X-Error-Code"));
  };
  Status st = DownloadToFile(spec, dir_ / "nope.partial", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "mapped 404 EntryNotFound");

  spec.error_mapper = nullptr;
  st = DownloadToFile(spec, dir_ / "nope.partial", nullptr);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("HTTP 404"), std::string::npos) << st.ToString();
}

TEST_F(DownloadTest, CrossHostRedirectDropsAuthorization) {
  Control(R"({"redirect": "cross"})");
  DownloadSpec spec = BigSpec();
  spec.authorization = "Bearer hf_secret";
  Status st = DownloadToFile(spec, dir_ / "big.partial", nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  json log = Log();
  ASSERT_EQ(log.size(), 2u) << log.dump();
  EXPECT_EQ(log[0]["status"], 302);
  EXPECT_EQ(log[0]["authorization"], "Bearer hf_secret");
  EXPECT_EQ(log[1]["host"].get<std::string>().rfind("localhost:", 0), 0u) << log.dump();
  EXPECT_EQ(log[1]["authorization"], "") << log.dump();
  EXPECT_EQ(ReadAll(dir_ / "big.partial"), big_);
}

TEST_F(DownloadTest, SameHostRedirectKeepsAuthorization) {
  Control(R"({"redirect": "same"})");
  DownloadSpec spec = BigSpec();
  spec.authorization = "Bearer hf_secret";
  ASSERT_TRUE(DownloadToFile(spec, dir_ / "big.partial", nullptr).ok());
  json log = Log();
  ASSERT_EQ(log.size(), 2u) << log.dump();
  EXPECT_EQ(log[1]["path"].get<std::string>().rfind("/_cdn/", 0), 0u);
  EXPECT_EQ(log[1]["authorization"], "Bearer hf_secret");
}

TEST_F(DownloadTest, CutAfterCrossHostRedirectResumes) {
  Control(R"({"redirect": "cross", "cut": {"path": "big.bin", "after": 1000000, "times": 1}})");
  DownloadSpec spec = BigSpec();
  spec.authorization = "Bearer hf_secret";
  ASSERT_TRUE(DownloadToFile(spec, dir_ / "big.partial", nullptr).ok());
  EXPECT_EQ(ReadAll(dir_ / "big.partial"), big_);
  for (const auto& e : Log()) {
    if (e["path"].get<std::string>().rfind("/_cdn/", 0) == 0) {
      EXPECT_EQ(e["authorization"], "");
    }
  }
}

TEST_F(DownloadTest, HttpFetchRedirectRules) {
  Control(R"({"redirect": "cross"})");
  HttpRequest req;
  req.url = FileUrl("small.json");
  req.authorization = "Bearer hf_secret";
  auto r = HttpFetch(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"a\": 1}\n");
  EXPECT_EQ(r->effective_url.rfind(server_.url("localhost") + "/_cdn/", 0), 0u) << r->effective_url;
  EXPECT_FALSE(r->Header("x-repo-commit").empty());
  json log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["authorization"], "Bearer hf_secret");
  EXPECT_EQ(log[1]["authorization"], "");

  // Without following, the 302 itself comes back.
  req.follow_redirects = false;
  r = HttpFetch(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 302);
  EXPECT_FALSE(r->Header("Location").empty());

  // HEAD and body limits.
  Control(R"({"redirect": ""})");
  req.follow_redirects = true;
  req.method = "HEAD";
  req.url = FileUrl("big.bin");
  r = HttpFetch(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Header("content-length"), std::to_string(big_.size()));
  EXPECT_TRUE(r->body.empty());
  req.method = "GET";
  req.max_body_bytes = 1000;
  r = HttpFetch(req);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

// Throughput against the curl CLI on the same server and file. Set MLOS_HTTP_BENCH_MB (e.g.
// 1024) to run it; it then asserts >= 80% of curl's throughput.
TEST_F(DownloadTest, ThroughputComparedWithCurl) {
  const char* env = std::getenv("MLOS_HTTP_BENCH_MB");
  if (env == nullptr) GTEST_SKIP() << "set MLOS_HTTP_BENCH_MB to run";
  const size_t mb = static_cast<size_t>(std::atol(env));
  // A big file without holding it in memory: repeat a 1 MiB block.
  std::string block = hubtest::TestBytes(1 << 20, 3);
  Sha256 h;
  {
    auto p = dir_ / "repos/org/m" / kSha / "huge.bin";
    std::ofstream out(p, std::ios::binary);
    for (size_t i = 0; i < mb; ++i) {
      block[0] = static_cast<char>(i);
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
      h.Update(block);
    }
  }
  DownloadSpec spec;
  spec.url = FileUrl("huge.bin");
  spec.size_known = true;
  spec.expected_size = mb << 20;
  spec.expected_sha256 = h.HexDigest();
  // Warm the server's page cache and hash cache.
  ASSERT_EQ(std::system(("curl -s -o /dev/null " + spec.url).c_str()), 0);

  auto seconds = [](auto f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double best_curl = 1e9, best_ours = 1e9;
  for (int i = 0; i < 2; ++i) {
    fs::remove(dir_ / "curl.out");
    best_curl = std::min(best_curl, seconds([&] {
      EXPECT_EQ(std::system(("curl -s -o " + (dir_ / "curl.out").string() + " " + spec.url).c_str()), 0);
    }));
    fs::remove(dir_ / "ours.partial");
    best_ours = std::min(best_ours, seconds([&] {
      Status st = DownloadToFile(spec, dir_ / "ours.partial", nullptr);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }));
  }
  double mbps_curl = static_cast<double>(mb) / best_curl, mbps_ours = static_cast<double>(mb) / best_ours;
  std::printf("curl: %.0f MiB/s, DownloadToFile (sha256 + fsync): %.0f MiB/s (%.0f%%)\n", mbps_curl,
              mbps_ours, 100.0 * mbps_ours / mbps_curl);
  EXPECT_GE(mbps_ours, 0.8 * mbps_curl);
}

}  // namespace
}  // namespace mlos::axon
