// A minimal HTTP/1.1 client over one keep-alive TCP connection, for the benchmark tools: the
// client must cost little next to the server it measures (no libcurl, no per-request
// allocation once the buffers have grown). Requests are complete byte strings prepared by the
// caller; responses may use Content-Length, Transfer-Encoding: chunked, or end at close, and a
// `Connection: close` answer makes the next request reconnect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlos::bench {

// Percent-encodes everything but RFC 3986 unreserved characters ("a/b@1" -> "a%2Fb%401").
std::string UrlEncode(std::string_view s);

// "http://host[:port][/prefix]" -> parts; std::nullopt when malformed.
struct HttpUrl {
  std::string host;
  int port = 80;
  std::string prefix;  // "" or "/something" (no trailing slash)
};
std::optional<HttpUrl> ParseHttpUrl(std::string_view url);

// One response; the views point into the connection's buffers and are valid until the next
// RoundTrip on the same connection.
struct HttpResponse {
  int status = 0;
  std::string_view body;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The value of a header (name matched case-insensitively), or std::nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

class HttpConn {
 public:
  // Connects now; throws std::runtime_error with a readable reason.
  HttpConn(std::string host, int port);
  ~HttpConn();
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;

  // Sends `request` and reads one response into `out`; returns its status code. A reused
  // connection that the server had closed is reopened and the request sent again (once).
  // Throws std::runtime_error on transport errors.
  int RoundTrip(std::string_view request, HttpResponse* out);

 private:
  void Open();
  void Close();
  // Reads more bytes into buf_; false at EOF.
  bool Fill();
  // Reads one response; false when the connection closed before any byte of it.
  bool ReadResponse(HttpResponse* out);
  void NeedBytes(size_t end);    // reads until len_ >= end (throws at EOF)
  size_t NeedLine(size_t from);  // reads until "\r\n" follows `from`; returns its offset

  std::string host_;
  int port_;
  int fd_ = -1;
  bool fresh_ = true;         // nothing sent on this connection yet
  bool close_after_ = false;  // the last response ended the connection
  std::string buf_;           // received bytes [0, len_)
  size_t len_ = 0;
  size_t consumed_ = 0;  // bytes of buf_ that belong to the last response
  std::string chunked_;  // de-chunked body
  struct HeaderSpan {
    size_t key, key_len, value, value_len;
  };
  std::vector<HeaderSpan> header_spans_;
};

}  // namespace mlos::bench
