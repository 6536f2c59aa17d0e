// Self-contained check of bench/loadgen/http_client: a scripted HTTP/1.1 server on a loopback
// socket answers with Content-Length, chunked (with extensions and trailers), `Connection:
// close`, a body that ends at EOF, 100 Continue, and a kept-alive connection closed while idle.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "http_client.h"

namespace {

int failures = 0;
#define EXPECT(c)                                                          \
  do {                                                                     \
    if (!(c)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #c); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

// Reads one request (headers + Content-Length body); false at EOF.
bool ReadRequest(int fd) {
  std::string buf;
  char tmp[4096];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  size_t cl = 0, p = buf.find("Content-Length: ");
  if (p != std::string::npos) cl = std::strtoul(buf.c_str() + p + 16, nullptr, 10);
  while (buf.size() < end + 4 + cl) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  return true;
}

void SendAll(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

struct Step {
  std::string response;
  bool close_after;  // the server closes the connection after this response
};

}  // namespace

int main() {
  using namespace mlos::bench;
  EXPECT(UrlEncode("local/tiny@1.0.0") == "local%2Ftiny%401.0.0");
  auto u = ParseHttpUrl("http://127.0.0.1:8080/");
  EXPECT(u && u->host == "127.0.0.1" && u->port == 8080 && u->prefix.empty());
  u = ParseHttpUrl("http://[::1]:9/api");
  EXPECT(u && u->host == "::1" && u->port == 9 && u->prefix == "/api");
  EXPECT(!ParseHttpUrl("grpc://h:1") && !ParseHttpUrl("http://h:x"));

  const std::string big(300000, 'x');
  const std::vector<Step> steps = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;ext=1\r\npedia\r\n"
       "0\r\nTrailer: x\r\n\r\n",
       false},
      {"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nConnection: close\r\n\r\nno", true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof", true},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
           std::to_string(big.size()) + "\r\n\r\n" + big,
       true},  // closed while idle, without notice: the next request is retried on a new one
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
           [&] {
             char b[16];
             std::snprintf(b, sizeof b, "%zx", big.size());
             return std::string(b) + "\r\n" + big + "\r\n0\r\n\r\n";
           }(),
       false},
  };

  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 4) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  std::thread server([&] {
    size_t i = 0;
    while (i < steps.size()) {
      int fd = ::accept(ls, nullptr, nullptr);
      if (fd < 0) return;
      while (i < steps.size() && ReadRequest(fd)) {
        // The idle close of step 4 happens before the client's next request arrives.
        SendAll(fd, steps[i].response);
        if (steps[i++].close_after) break;
      }
      ::close(fd);
    }
  });

  try {
    HttpConn c("127.0.0.1", ntohs(a.sin_port));
    const std::string req = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    HttpResponse r;
    EXPECT(c.RoundTrip(req, &r) == 200 && r.body == "hello");
    EXPECT(r.Header("x-a") == std::string_view("1"));
    EXPECT(c.RoundTrip(req, &r) == 200 && r.body == "wikipedia");
    EXPECT(c.RoundTrip(req, &r) == 404 && r.body == "no");
    EXPECT(c.RoundTrip(req, &r) == 200 && r.body == "until-eof");
    EXPECT(c.RoundTrip(req, &r) == 200 && r.body == big);
    usleep(50000);  // let the server's close arrive
    EXPECT(c.RoundTrip(req, &r) == 200 && r.body == big);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    ++failures;
  }
  ::shutdown(ls, SHUT_RDWR);
  server.join();
  ::close(ls);
  if (failures == 0) std::printf("http_client_test: ok\n");
  return failures == 0 ? 0 : 1;
}
