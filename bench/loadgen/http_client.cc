#include "http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mlos::bench {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool IContains(std::string_view hay, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (IEquals(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::runtime_error Errno(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

std::optional<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl u;
  if (url.starts_with("http://"))
    url.remove_prefix(7);
  else if (url.find("://") != std::string_view::npos)
    return std::nullopt;
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = url.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    u.prefix = std::string(path);
  }
  size_t colon = std::string_view::npos;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      colon = close + 1;
    }
  } else {
    colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
  }
  if (colon != std::string_view::npos) {
    std::string port(authority.substr(colon + 1));
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p <= 0 || p > 65535) return std::nullopt;
    u.port = static_cast<int>(p);
  }
  if (u.host.empty()) return std::nullopt;
  return u;
}

std::optional<std::string_view> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return std::nullopt;
}

HttpConn::HttpConn(std::string host, int port) : host_(std::move(host)), port_(port) {
  Open();
}

HttpConn::~HttpConn() {
  Close();
}

void HttpConn::Open() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string where = host_ + ":" + std::to_string(port_);
  int rc = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("cannot resolve " + where + ": " + gai_strerror(rc));
  int err = 0;
  for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      err = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) {
    throw std::runtime_error("cannot connect to http://" + where + ": " + std::strerror(err));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{120, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  fresh_ = true;
  len_ = consumed_ = 0;
}

void HttpConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool HttpConn::Fill() {
  if (buf_.size() - len_ < 16384) buf_.resize(std::max(buf_.size() * 2, len_ + 65536));
  for (;;) {
    ssize_t n = ::recv(fd_, buf_.data() + len_, buf_.size() - len_, 0);
    if (n > 0) {
      len_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return false;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      throw std::runtime_error("no response from the server in 120 s");
    }
    throw Errno("recv");
  }
}

void HttpConn::NeedBytes(size_t end) {
  if (buf_.size() < end) buf_.resize(end + 65536);
  while (len_ < end) {
    if (!Fill()) throw std::runtime_error("connection closed in the middle of a response");
  }
}

size_t HttpConn::NeedLine(size_t from) {
  for (;;) {
    size_t p = std::string_view(buf_.data(), len_).find("\r\n", from);
    if (p != std::string_view::npos) return p;
    if (!Fill()) throw std::runtime_error("connection closed in the middle of a response");
  }
}

int HttpConn::RoundTrip(std::string_view request, HttpResponse* out) {
  if (fd_ < 0) Open();
  bool reused = !fresh_;
  for (;;) {
    fresh_ = false;
    bool sent = true;
    for (size_t off = 0; off < request.size();) {
      ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (!reused) throw Errno("send");
        sent = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
    if (sent && ReadResponse(out)) break;
    // Nothing came back: a kept-alive connection the server had closed. Retry once, fresh.
    if (!reused) throw std::runtime_error("the server closed the connection without a response");
    Open();
    reused = false;
  }
  if (close_after_) Close();  // the buffers (and `out`'s views) stay valid
  return out->status;
}

bool HttpConn::ReadResponse(HttpResponse* out) {
  if (consumed_ > 0) {  // bytes of the previous response: drop them
    std::memmove(buf_.data(), buf_.data() + consumed_, len_ - consumed_);
    len_ -= consumed_;
    consumed_ = 0;
  }
  size_t hdr_end = std::string_view::npos;
  int status = 0;
  for (;;) {
    size_t scan = 0;
    while ((hdr_end = std::string_view(buf_.data(), len_).find("\r\n\r\n", scan)) ==
           std::string_view::npos) {
      scan = len_ >= 3 ? len_ - 3 : 0;
      if (!Fill()) {
        if (len_ == 0) return false;
        throw std::runtime_error("connection closed in the middle of a response header");
      }
    }
    if (len_ < 12 || std::memcmp(buf_.data(), "HTTP/1.", 7) != 0) {
      throw std::runtime_error("not an HTTP/1.x response");
    }
    status = std::atoi(buf_.data() + 9);
    if (status >= 100 && status < 200 && status != 101) {  // 100 Continue: skip it
      std::memmove(buf_.data(), buf_.data() + hdr_end + 4, len_ - hdr_end - 4);
      len_ -= hdr_end + 4;
      continue;
    }
    break;
  }
  const bool http10 = buf_[7] == '0';
  // Header offsets (the buffer may move while the body is read).
  header_spans_.clear();
  bool chunked = false, close = false, keep_alive = false;
  std::optional<size_t> content_length;
  for (size_t line = std::string_view(buf_.data(), hdr_end).find("\r\n"); line < hdr_end;) {
    const size_t start = line + 2;
    size_t end = std::string_view(buf_.data(), hdr_end + 2).find("\r\n", start);
    std::string_view l(buf_.data() + start, end - start);
    const size_t colon = l.find(':');
    if (colon != std::string_view::npos) {
      std::string_view k = Trim(l.substr(0, colon)), v = Trim(l.substr(colon + 1));
      header_spans_.push_back({static_cast<size_t>(k.data() - buf_.data()), k.size(),
                               static_cast<size_t>(v.data() - buf_.data()), v.size()});
      if (IEquals(k, "content-length"))
        content_length = std::strtoull(std::string(v).c_str(), nullptr, 10);
      else if (IEquals(k, "transfer-encoding"))
        chunked = IContains(v, "chunked");
      else if (IEquals(k, "connection")) {
        close = IContains(v, "close");
        keep_alive = IContains(v, "keep-alive");
      }
    }
    line = end;
  }
  close_after_ = close || (http10 && !keep_alive);
  const size_t body_start = hdr_end + 4;
  if (chunked) {
    chunked_.clear();
    size_t pos = body_start;
    for (;;) {
      size_t eol = NeedLine(pos);
      const size_t n = std::strtoull(buf_.data() + pos, nullptr, 16);
      pos = eol + 2;
      if (n == 0) {  // trailers up to an empty line
        for (;;) {
          eol = NeedLine(pos);
          const bool empty = eol == pos;
          pos = eol + 2;
          if (empty) break;
        }
        break;
      }
      NeedBytes(pos + n + 2);
      chunked_.append(buf_.data() + pos, n);
      pos += n + 2;
    }
    consumed_ = pos;
    out->body = chunked_;
  } else if (content_length) {
    NeedBytes(body_start + *content_length);
    consumed_ = body_start + *content_length;
    out->body = std::string_view(buf_.data() + body_start, *content_length);
  } else if (status == 204 || status == 304) {
    consumed_ = body_start;
    out->body = {};
  } else {  // the body ends when the server closes the connection
    while (Fill()) {
    }
    close_after_ = true;
    consumed_ = len_;
    out->body = std::string_view(buf_.data() + body_start, len_ - body_start);
  }
  out->status = status;
  out->headers.clear();
  for (const HeaderSpan& h : header_spans_) {
    out->headers.emplace_back(std::string_view(buf_.data() + h.key, h.key_len),
                              std::string_view(buf_.data() + h.value, h.value_len));
  }
  return true;
}

}  // namespace mlos::bench
