// The Beast server over real sockets with a recording handler (no service): HTTPS, mutual TLS
// (the verified client CN reaches the handler; no or a foreign client certificate is refused in
// the handshake), the Authorization header, Retry-After, and Start()'s refusals of unusable TLS
// files. Certificates are made at test time (test_certs.h); requests go through libcurl.
#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/http/server.h"
#include "test_certs.h"

namespace mlos::http {
namespace {

using mlos::testing::TestCerts;

// What the handler saw, and how it answers: `/limited` 429 with Retry-After 7, else 200 with
// {"live": true}.
struct Recorder {
  std::mutex mu;
  int calls = 0;
  std::string client_cn, authorization, target;

  Server::Handler Handler() {
    return [this](const RouteMatch&, const HttpRequest& req, HttpResponse& res) {
      {
        std::lock_guard lock(mu);
        ++calls;
        client_cn = std::string(req.tls_client_cn);
        authorization = std::string(req.authorization);
        target = std::string(req.target);
      }
      if (req.target == "/limited") {
        res.status = 429;
        res.retry_after_s = 7;
        res.body = R"({"error": "rate limit exceeded"})";
        return;
      }
      res.body = R"({"live": true})";
    };
  }
  int Calls() {
    std::lock_guard lock(mu);
    return calls;
  }
};

struct CurlTls {
  std::string ca, cert, key;
};

struct Reply {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body, headers;
  std::string error;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// GETs `url` on `handle` (reused between calls: keep-alive; a POST when the caller set
// CURLOPT_POSTFIELDS on it), with `headers`.
Reply Get(CURL* h, const std::string& url, const CurlTls& tls,
          const std::vector<std::string>& headers = {}) {
  Reply r;
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca.empty() ? nullptr : tls.ca.c_str());
  curl_easy_setopt(h, CURLOPT_SSLCERT, tls.cert.empty() ? nullptr : tls.cert.c_str());
  curl_easy_setopt(h, CURLOPT_SSLKEY, tls.key.empty() ? nullptr : tls.key.c_str());
  curl_slist* list = nullptr;
  for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  r.rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(list);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  r.error = error;
  return r;
}

Reply Get(const std::string& url, const CurlTls& tls,
          const std::vector<std::string>& headers = {}) {
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  return Get(h.get(), url, tls, headers);
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    certs_ = new TestCerts();
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_->ok()); }

  // Starts a server on a free port; `mutual` also requires client certificates.
  void StartServer(bool tls, bool mutual = false, uint64_t max_body_bytes = 1 << 20) {
    ServerOptions o;
    o.port = 0;
    o.io_threads = 2;
    o.max_body_bytes = max_body_bytes;
    o.request_timeout = std::chrono::seconds(5);
    if (tls) {
      o.tls.cert_file = certs_->server_cert();
      o.tls.key_file = certs_->server_key();
    }
    if (mutual) o.tls.client_ca_file = certs_->ca();
    server_ = std::make_unique<Server>(recorder_.Handler(), o);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::string Url(const std::string& scheme, const std::string& path,
                  const std::string& host = "127.0.0.1") const {
    return scheme + "://" + host + ":" + std::to_string(server_->port()) + path;
  }
  CurlTls Trusting() const { return {certs_->ca(), "", ""}; }
  CurlTls AsAlice() const { return {certs_->ca(), certs_->client_cert(), certs_->client_key()}; }

  static TestCerts* certs_;
  Recorder recorder_;
  std::unique_ptr<Server> server_;
};

TestCerts* HttpServerTlsTest::certs_ = nullptr;

TEST_F(HttpServerTlsTest, ServesHttpsAndPassesTheAuthorizationHeader) {
  StartServer(/*tls=*/true);
  for (const char* host : {"127.0.0.1", "localhost"}) {  // the IP and the DNS SAN
    Reply r = Get(Url("https", "/v2/health/live", host), Trusting(),
                  {"Authorization: Bearer mlos_abc"});
    ASSERT_EQ(r.rc, CURLE_OK) << host << ": " << curl_easy_strerror(r.rc) << " " << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"live": true})");
  }
  std::lock_guard lock(recorder_.mu);
  EXPECT_EQ(recorder_.calls, 2);
  EXPECT_EQ(recorder_.authorization, "Bearer mlos_abc");
  EXPECT_EQ(recorder_.client_cn, "");  // no mutual TLS
  EXPECT_EQ(recorder_.target, "/v2/health/live");
}

TEST_F(HttpServerTlsTest, KeepAliveAndConnectionCloseOverTls) {
  StartServer(/*tls=*/true);
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  for (int i = 0; i < 3; ++i) {
    Reply r = Get(h.get(), Url("https", "/v2/health/live"), Trusting());
    ASSERT_EQ(r.rc, CURLE_OK) << r.error;
    EXPECT_EQ(r.status, 200);
  }
  long connects = -1;
  curl_easy_getinfo(h.get(), CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0);  // the last request reused the connection
  // The server closes after answering (close_notify, then the socket).
  Reply last = Get(h.get(), Url("https", "/v2/health/live"), Trusting(), {"Connection: close"});
  ASSERT_EQ(last.rc, CURLE_OK) << last.error;
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(recorder_.Calls(), 4);
}

TEST_F(HttpServerTlsTest, OversizedBodyGets413OverTls) {
  StartServer(/*tls=*/true, /*mutual=*/false, /*max_body_bytes=*/1024);
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  const std::string body(256 * 1024, 'x');
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  Reply r = Get(h.get(), Url("https", "/v2/models/m/infer"), Trusting(), {"Expect:"});
  ASSERT_EQ(r.rc, CURLE_OK) << curl_easy_strerror(r.rc) << " " << r.error;
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("exceeds the limit of 1024 bytes"), std::string::npos) << r.body;
  EXPECT_EQ(recorder_.Calls(), 0);
}

TEST_F(HttpServerTlsTest, PlaintextClientOnATlsPortGetsNoAnswer) {
  StartServer(/*tls=*/true);
  Reply r = Get(Url("http", "/v2/health/live"), {});
  EXPECT_NE(r.rc, CURLE_OK);
  EXPECT_EQ(recorder_.Calls(), 0);
}

TEST_F(HttpServerTlsTest, ClientRefusesTheServerWithoutItsCa) {
  StartServer(/*tls=*/true);
  Reply r = Get(Url("https", "/v2/health/live"), {});  // the system's CAs do not know ours
  EXPECT_EQ(r.rc, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(r.rc);
  EXPECT_EQ(recorder_.Calls(), 0);
}

TEST_F(HttpServerTlsTest, MutualTlsPassesTheVerifiedClientCommonName) {
  StartServer(/*tls=*/true, /*mutual=*/true);
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  for (int i = 0; i < 2; ++i) {  // the CN stays with the connection's every request
    Reply r = Get(h.get(), Url("https", "/v2/health/live"), AsAlice());
    ASSERT_EQ(r.rc, CURLE_OK) << curl_easy_strerror(r.rc) << " " << r.error;
    EXPECT_EQ(r.status, 200);
    std::lock_guard lock(recorder_.mu);
    EXPECT_EQ(recorder_.client_cn, "alice");
    EXPECT_EQ(recorder_.authorization, "");
  }
  EXPECT_EQ(recorder_.Calls(), 2);
}

TEST_F(HttpServerTlsTest, MutualTlsRefusesAClientWithoutACertificate) {
  StartServer(/*tls=*/true, /*mutual=*/true);
  Reply r = Get(Url("https", "/v2/health/live"), Trusting());
  EXPECT_NE(r.rc, CURLE_OK);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(recorder_.Calls(), 0);
}

TEST_F(HttpServerTlsTest, MutualTlsRefusesACertificateFromAnotherCa) {
  StartServer(/*tls=*/true, /*mutual=*/true);
  Reply r = Get(Url("https", "/v2/health/live"),
                {certs_->ca(), certs_->rogue_cert(), certs_->rogue_key()});
  EXPECT_NE(r.rc, CURLE_OK);
  EXPECT_EQ(recorder_.Calls(), 0);
}

TEST_F(HttpServerTlsTest, RetryAfterOnPlaintextAndTls) {
  for (bool tls : {false, true}) {
    StartServer(tls);
    Reply r = Get(Url(tls ? "https" : "http", "/limited"), Trusting());
    ASSERT_EQ(r.rc, CURLE_OK) << r.error;
    EXPECT_EQ(r.status, 429);
    EXPECT_NE(r.headers.find("Retry-After: 7\r\n"), std::string::npos) << r.headers;
    // The next answer on the same session has none (the response is reset between requests).
    Reply ok = Get(Url(tls ? "https" : "http", "/v2/health/live"), Trusting());
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.headers.find("Retry-After"), std::string::npos) << ok.headers;
    server_.reset();
  }
}

TEST_F(HttpServerTlsTest, StartRefusesUnusableTlsFiles) {
  const std::string garbage = certs_->Write("garbage.pem", "not a certificate\n");
  struct Case {
    const char* what;
    ServerOptions::Tls tls;
    std::string named;  // the file the message must name
  };
  const std::string cert = certs_->server_cert(), key = certs_->server_key(), ca = certs_->ca();
  const std::string missing = certs_->Path("missing.pem");
  const std::vector<Case> cases = {
      {"missing certificate", {missing, key, ""}, missing},
      {"missing key", {cert, missing, ""}, missing},
      {"missing client CA", {cert, key, missing}, missing},
      {"client CA without cert and key", {"", "", ca}, ca},
      {"cert without key", {cert, "", ""}, cert},
      {"key without cert", {"", key, ""}, key},
      {"garbage certificate", {garbage, key, ""}, garbage},
      {"garbage key", {cert, garbage, ""}, garbage},
      {"garbage client CA", {cert, key, garbage}, garbage},
      {"key of another certificate", {cert, certs_->client_key(), ""}, certs_->client_key()},
  };
  for (const Case& c : cases) {
    ServerOptions o;
    o.port = 0;
    o.io_threads = 1;
    o.tls = c.tls;
    Server server(recorder_.Handler(), o);
    Status st = server.Start();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.what << ": " << st.message();
    EXPECT_NE(st.message().find(c.named), std::string::npos) << c.what << ": " << st.message();
  }
}

}  // namespace
}  // namespace mlos::http
