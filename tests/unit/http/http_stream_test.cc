// Streamed answers (HttpResponse::stream) over real sockets with a handler and no service:
// chunked framing and headers, an error set before the first chunk is a plain answer with its
// status, the connection serves the next request after a stream, HTTP/1.0 gets an unframed body
// and a close, and a client that goes away stops the streamer within a chunk.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "api/http/server.h"
#include "test_certs.h"

namespace mlos::http {
namespace {

struct Streams {
  std::atomic<int> slow_writes{0};
  std::atomic<bool> slow_stopped{false};
  std::atomic<bool> slow_saw_gone{false};

  Server::Handler Handler() {
    return [this](const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
      const std::string_view body = req.body;
      if (m.route != Route::kOpenAIChat) {
        res.body = R"({"plain":true})";
        return;
      }
      if (body == "three") {
        res.stream = [](ChunkWriter& w, HttpResponse& r) {
          r.content_type = "text/event-stream";
          EXPECT_FALSE(w.started());
          EXPECT_TRUE(w.Write("data: a\n\n"));
          EXPECT_TRUE(w.started());
          EXPECT_TRUE(w.Write(""));  // nothing to frame
          EXPECT_TRUE(w.Write("data: bb\n\n"));
          EXPECT_TRUE(w.Write("data: [DONE]\n\n"));
        };
      } else if (body == "error") {
        res.stream = [](ChunkWriter& w, HttpResponse& r) {
          EXPECT_TRUE(w.Alive());
          Api::Error(r, 404, "no such model");
        };
      } else if (body == "whole") {
        res.stream = [](ChunkWriter&, HttpResponse& r) { r.body = R"({"text":"all at once"})"; };
      } else if (body == "slow") {
        res.stream = [this](ChunkWriter& w, HttpResponse& r) {
          r.content_type = "application/x-ndjson";
          for (int i = 0; i < 500; ++i) {
            if (!w.Write("{\"n\":" + std::to_string(i) + "}\n")) {
              slow_saw_gone = true;
              break;
            }
            ++slow_writes;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
          slow_stopped = true;
        };
      }
    };
  }
};

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string Post(std::string_view body, bool close = true, const char* version = "HTTP/1.1") {
  return std::string("POST /v1/chat/completions ") + version + "\r\nHost: x\r\n" +
         (close ? "Connection: close\r\n" : "") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string ReadAll(int fd) {
  std::string raw;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  return raw;
}

std::string Exchange(uint16_t port, const std::string& request) {
  int fd = Connect(port);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string raw = ReadAll(fd);
  ::close(fd);
  return raw;
}

class HttpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    o.io_threads = 1;
    o.stream_threads = 2;
    server_ = std::make_unique<Server>(streams_.Handler(), o);
    ASSERT_TRUE(server_->Start().ok());
  }
  Streams streams_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpStreamTest, ChunkedFramingAndHeaders) {
  const std::string raw = Exchange(server_->port(), Post("three"));
  ASSERT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("Content-Type: text/event-stream\r\n"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("Content-Length"), std::string::npos) << raw;
  const std::string body = raw.substr(raw.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "9\r\ndata: a\n\n\r\na\r\ndata: bb\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
}

TEST_F(HttpStreamTest, ErrorBeforeTheFirstChunkIsAPlainAnswer) {
  const std::string raw = Exchange(server_->port(), Post("error"));
  ASSERT_EQ(raw.rfind("HTTP/1.1 404", 0), 0u) << raw;
  EXPECT_NE(raw.find("Content-Length:"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("chunked"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"({"error":"no such model"})"), std::string::npos) << raw;
  const std::string whole = Exchange(server_->port(), Post("whole"));
  ASSERT_EQ(whole.rfind("HTTP/1.1 200", 0), 0u) << whole;
  EXPECT_NE(whole.find(R"({"text":"all at once"})"), std::string::npos) << whole;
}

TEST_F(HttpStreamTest, KeepAliveAfterAStream) {
  const std::string req = Post("three", false) + Post("error", false) +
                          "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string raw = Exchange(server_->port(), req);
  EXPECT_NE(raw.find("0\r\n\r\nHTTP/1.1 404"), std::string::npos) << raw;
  EXPECT_NE(raw.find(R"({"plain":true})"), std::string::npos) << raw;
}

TEST_F(HttpStreamTest, Http10GetsAnUnframedBodyAndAClose) {
  const std::string raw = Exchange(server_->port(), Post("three", false, "HTTP/1.0"));
  ASSERT_EQ(raw.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << raw;
  EXPECT_EQ(raw.find("chunked"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4), "data: a\n\ndata: bb\n\ndata: [DONE]\n\n");
}

TEST_F(HttpStreamTest, ClientGoneStopsTheStreamer) {
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string req = Post("slow", false);
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[512];
  while (raw.find("{\"n\":1}") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << raw;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!streams_.slow_stopped && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(streams_.slow_stopped);
  EXPECT_TRUE(streams_.slow_saw_gone);
  EXPECT_LT(streams_.slow_writes.load(), 20);
  // The server still serves.
  const std::string again = Exchange(server_->port(), Post("three"));
  EXPECT_EQ(again.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << again;
}

TEST_F(HttpStreamTest, StopCutsARunningStream) {
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string req = Post("slow", false);
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop(std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(streams_.slow_stopped);
  ::close(fd);
}

// The same streams over HTTPS (the session is a template on the stream type), through libcurl.
class HttpsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ASSERT_TRUE(certs_.ok());
    ServerOptions o;
    o.port = 0;
    o.io_threads = 1;
    o.stream_threads = 2;
    o.tls.cert_file = certs_.server_cert();
    o.tls.key_file = certs_.server_key();
    server_ = std::make_unique<Server>(streams_.Handler(), o);
    ASSERT_TRUE(server_->Start().ok());
  }

  // POSTs `body`; `max_bytes` > 0: the write callback aborts the transfer after that many bytes.
  CURLcode Post(const std::string& body, std::string& out, std::string& headers,
                size_t max_bytes = 0) {
    struct Sink {
      std::string* out;
      size_t max;
    } sink{&out, max_bytes};
    CURL* h = curl_easy_init();
    const std::string url =
        "https://127.0.0.1:" + std::to_string(server_->port()) + "/v1/chat/completions";
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_CAINFO, certs_.ca().c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* data) {
      auto* s = static_cast<Sink*>(data);
      s->out->append(p, size * n);
      return s->max && s->out->size() >= s->max ? size_t{0} : size * n;
    });
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, +[](char* p, size_t size, size_t n, void* data) {
      static_cast<std::string*>(data)->append(p, size * n);
      return size * n;
    });
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc;
  }

  mlos::testing::TestCerts certs_;
  Streams streams_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpsStreamTest, ChunkedStreamOverTls) {
  std::string body, headers;
  ASSERT_EQ(Post("three", body, headers), CURLE_OK);
  EXPECT_NE(headers.find("Transfer-Encoding: chunked"), std::string::npos) << headers;
  EXPECT_EQ(body, "data: a\n\ndata: bb\n\ndata: [DONE]\n\n");
  std::string error_body, error_headers;
  ASSERT_EQ(Post("error", error_body, error_headers), CURLE_OK);
  EXPECT_EQ(error_headers.rfind("HTTP/1.1 404", 0), 0u) << error_headers;
}

TEST_F(HttpsStreamTest, ClientGoneOverTlsStopsTheStreamer) {
  std::string body, headers;
  EXPECT_EQ(Post("slow", body, headers, 12), CURLE_WRITE_ERROR);  // {"n":0}\n{"n":1}
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!streams_.slow_stopped && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(streams_.slow_stopped);
  EXPECT_LT(streams_.slow_writes.load(), 20);
}

}  // namespace
}  // namespace mlos::http
