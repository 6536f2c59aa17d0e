// The only translation unit that includes Beast (they are heavy to compile). A connection is a
// Session<PlainStream> or a Session<TlsStream>: the same code, compiled once per stream type, so
// the plaintext path has no TLS branches or indirection.
#include "api/http/server.h"

#include <poll.h>

#include <atomic>
#include <charconv>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/http/http_status.h"
#include "api/http/server_tls.h"
#include "common/buffer.h"

namespace mlos::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// What Stop() needs from a connection, whatever its stream type.
class SessionControl {
 public:
  virtual ~SessionControl() = default;
  // Runs on the session's executor: closes the connection unless a request is in flight.
  virtual void CloseIfIdle() = 0;
  virtual asio::any_io_executor executor() = 0;
};

}  // namespace

struct Server::Impl {
  Impl(Handler h, ServerOptions o) : handler(std::move(h)), options(std::move(o)) {}

  Handler handler;
  ServerOptions options;
  std::unique_ptr<asio::ssl::context> tls;  // null: plaintext
  bool verify_clients = false;              // mutual TLS: sessions read the client's CN
  // Declared before the io_contexts: sessions destroyed with them still deregister here.
  std::mutex sessions_mu;
  // GUARDED_BY(sessions_mu)
  std::unordered_map<SessionControl*, std::weak_ptr<SessionControl>> sessions;
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;  // out of descriptors: accept again later
  std::atomic<int> open_connections{0};             // sessions counted against the limit
  std::unique_ptr<asio::thread_pool> blocking;
  std::unique_ptr<asio::thread_pool> infer;  // null: inference on the io threads
  std::unique_ptr<asio::thread_pool> generate;  // generation routes (they block for long)
  // Stop()'s drain time is over: streams still running are cut (their writers say the client
  // went away, so generations end within one token).
  std::atomic<bool> drain_expired{false};
  size_t next_ioc = 0;
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;

  void Accept();
};

namespace {

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
class Session final : public SessionControl,
                      public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // PlainStream: (server, socket); TlsStream: (server, socket, ssl context).
  // `refuse`: the server is at its connection limit: read the request, answer 503, close.
  template <class... StreamArgs>
  explicit Session(Server::Impl& server, asio::io_context& ioc, bool refuse, StreamArgs&&... args)
      : server_(server), ioc_(ioc), stream_(std::forward<StreamArgs>(args)...), refuse_(refuse) {
    if (!refuse_) {
      server_.open_connections.fetch_add(1, std::memory_order_relaxed);
      server_.options.limits.Report(api::ConnectionEvent::kOpened);
    }
  }

  ~Session() override {
    {
      std::lock_guard lock(server_.sessions_mu);
      server_.sessions.erase(this);
    }
    if (!refuse_) {
      server_.open_connections.fetch_sub(1, std::memory_order_relaxed);
      server_.options.limits.Report(api::ConnectionEvent::kClosed);
    }
  }

  void Start() {
    {
      std::lock_guard lock(server_.sessions_mu);
      server_.sessions.emplace(this, this->weak_from_this());
    }
    beast::error_code ec;
    Tcp().socket().set_option(tcp::no_delay(true), ec);
    const tcp::endpoint remote = Tcp().socket().remote_endpoint(ec);
    if (!ec) {
      const std::string address = remote.address().to_string();
      peer_ = (remote.address().is_v6() ? "[" + address + "]" : address) + ":" +
              std::to_string(remote.port());
    }
    if constexpr (kTls) {
      Tcp().expires_after(server_.options.limits.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->OnHandshake(ec);
                              });
    } else {
      DoRead();
    }
  }

  void CloseIfIdle() override {
    if (!busy_) {
      beast::error_code ec;
      Tcp().socket().cancel(ec);
      Tcp().socket().close(ec);
    }
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  // The TCP stream (the TLS stream's lowest layer): timeouts, socket options, closing.
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // A failed handshake (no or an unverifiable client certificate under mutual TLS, a
  // plaintext client, the timeout) just closes the connection: there is no HTTP to answer in.
  void OnHandshake(beast::error_code ec) {
    if (ec) return Close();
    if constexpr (kTls) {
      if (server_.verify_clients) client_cn_ = VerifiedPeerCommonName(stream_.native_handle());
    }
    DoRead();
  }

  // Between requests of a keep-alive connection the wait for the next one's first bytes is
  // bounded by the idle timeout; from there (and on a new connection from the start) the whole
  // head must arrive within the header timeout, so a client trickling its headers is closed.
  void DoRead() {
    if (server_.stopping.load(std::memory_order_relaxed)) return Close();
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(server_.options.limits.max_header_bytes);
    body_view_ = {};
    if (!served_ || buffer_.size() > 0) return ReadHeader();
    const auto idle = server_.options.limits.idle_timeout;
    if (idle.count() > 0) {
      Tcp().expires_after(idle);
    } else {
      Tcp().expires_never();
    }
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->Close();  // idle, end of stream, reset
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    Tcp().expires_after(server_.options.limits.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  // The head is parsed. A body with a Content-Length is read by this session straight into
  // body_ (one buffer of that size, filled by large socket reads, its binary tensor part
  // 64-byte aligned so inputs are used in place); a chunked one goes through Beast's parser.
  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    if (parser_->is_done() || refuse_) return OnRead({});  // a refused one's body stays unread
    const auto length = parser_->content_length();
    if (!length) {
      return bhttp::async_read(stream_, buffer_, *parser_,
                               [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                 self->OnRead(ec);
                               });
    }
    if (*length > server_.options.max_body_bytes) return OnRead(bhttp::error::body_limit);
    // Where the binary part starts (Inference-Header-Content-Length, when valid; a bad value
    // is refused later, with the body read).
    uint64_t json_bytes = 0;
    const auto& msg = parser_->get();
    if (auto ihcl = msg.find("Inference-Header-Content-Length"); ihcl != msg.end()) {
      const std::string_view v = View(ihcl->value());
      (void)std::from_chars(v.data(), v.data() + v.size(), json_bytes);
    }
    const size_t pad = (64 - json_bytes % 64) % 64;
    const size_t n = static_cast<size_t>(*length);
    try {
      body_.Resize(pad + n, /*keep=*/false);
    } catch (const std::bad_alloc&) {
      keep_alive_ = false;
      Api::Error(res_data_, 503, "out of memory for a request body of " + std::to_string(n) +
                                     " bytes");
      return Write();
    }
    char* at = body_.data() + pad;
    const size_t have = std::min(buffer_.size(), n);
    if (have) {
      asio::buffer_copy(asio::buffer(at, have), buffer_.data());
      buffer_.consume(have);
    }
    body_view_ = std::string_view(at, n);
    if (have == n) return OnRead({});
    asio::async_read(stream_, asio::buffer(at + have, n - have),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       // A body cut short is a reset or a timeout: nothing to answer.
                       if (ec) return self->Close();
                       self->OnRead({});
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        keep_alive_ = false;
        Api::Error(res_data_, 413,
                   "request body exceeds the limit of " +
                       std::to_string(server_.options.max_body_bytes) + " bytes");
        return Write();
      }
      if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
          ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        keep_alive_ = false;
        if (ec == bhttp::error::header_limit) {
          Api::Error(res_data_, 431,
                     "request head exceeds the limit of " +
                         std::to_string(server_.options.limits.max_header_bytes) + " bytes");
        } else {
          Api::Error(res_data_, 400, "malformed HTTP request: " + ec.message());
        }
        return Write();
      }
      if (ec == beast::error::timeout && !refuse_) {
        server_.options.limits.Report(api::ConnectionEvent::kTimedOut);
      }
      return Close();  // end of stream, timeout, reset
    }
    busy_ = true;
    ++served_;
    if (refuse_) {
      keep_alive_ = false;
      Api::Error(res_data_, 503,
                 "too many open connections (the server's limit is " +
                     std::to_string(server_.options.limits.max_connections) +
                     "); retry later");
      res_data_.retry_after_s = 1;
      return Write();
    }
    const auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    head_ = msg.method() == bhttp::verb::head;
    request_ = HttpRequest{};
    request_.method = MethodFromString(View(msg.method_string()));
    request_.target = View(msg.target());
    request_.body = body_view_.data() ? body_view_ : std::string_view(msg.body());
    request_.peer = peer_;
    request_.tls_client_cn = client_cn_;
    if (auto auth = msg.find(bhttp::field::authorization); auth != msg.end()) {
      request_.authorization = View(auth->value());
    }
    if (auto v = msg.find(api::kPriorityHeader); v != msg.end()) {
      request_.options.priority = View(v->value());
    }
    if (auto v = msg.find(api::kTimeoutHeader); v != msg.end()) {
      request_.options.timeout_ms = View(v->value());
    }
    if (auto v = msg.find(api::kKeepAliveHeader); v != msg.end()) {
      request_.options.keep_alive = View(v->value());
    }
    auto ihcl = msg.find("Inference-Header-Content-Length");
    if (ihcl != msg.end()) {
      const std::string_view v = View(ihcl->value());
      uint64_t n = 0;
      auto r = std::from_chars(v.data(), v.data() + v.size(), n);
      if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
        Api::Error(res_data_, 400, "Inference-Header-Content-Length is not a number");
        return Write();
      }
      request_.inference_header_length = n;
    }
    RouteMatch match = MatchRoute(request_.method, request_.target);
    asio::thread_pool* pool = nullptr;
    if (!match.error_status) {
      if (IsBlockingRoute(match.route)) pool = server_.blocking.get();
      if (IsInferRoute(match.route)) pool = server_.infer.get();
      if (IsGenerateRoute(match.route)) pool = server_.generate.get();
    }
    if (pool) {
      asio::post(*pool, [self = this->shared_from_this(), m = std::move(match)]() {
        self->server_.handler(m, self->request_, self->res_data_);
        if (self->res_data_.stream) return self->RunStreamer();
        asio::post(self->executor(), [self]() { self->Write(); });
      });
      return;
    }
    server_.handler(match, request_, res_data_);
    if (res_data_.stream) {
      // A streamer may block: never on the io thread.
      asio::post(*server_.generate, [self = this->shared_from_this()]() { self->RunStreamer(); });
      return;
    }
    Write();
  }

  // ---- streaming answers (HttpResponse::stream) ----
  // The streamer runs on a pool thread; its chunks are written by the connection's io thread
  // (posted, then waited for), so the stream is only ever touched there. Nothing else uses the
  // connection meanwhile: it is busy_ and has no read pending.
  class StreamWriter final : public ChunkWriter {
   public:
    explicit StreamWriter(Session& session) : session_(session) {}
    bool Write(std::string_view data) override {
      if (!Alive()) return false;
      std::string out;
      if (!started_) {
        out = session_.StreamHead();
        started_ = true;
      }
      if (!data.empty()) {
        if (session_.chunked_) {
          char size[20];
          auto r = std::to_chars(size, size + sizeof size, data.size(), 16);
          out.append(size, r.ptr).append("\r\n").append(data).append("\r\n");
        } else {
          out.append(data);
        }
      }
      if (!session_.WriteFromPool(std::move(out))) failed_ = true;
      return !failed_;
    }
    bool Alive() override {
      if (failed_ || session_.server_.drain_expired.load(std::memory_order_relaxed)) {
        failed_ = true;
        return false;
      }
      // The client closed its end (or reset): POLLRDHUP / POLLHUP / POLLERR, never POLLIN alone
      // (a pipelined next request is not a departure).
      pollfd p{session_.Tcp().socket().native_handle(), POLLRDHUP, 0};
      if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
        failed_ = true;
      }
      return !failed_;
    }
    bool started() const override { return started_; }
    bool failed() const { return failed_; }

   private:
    Session& session_;
    bool started_ = false;
    bool failed_ = false;
  };

  // Pool thread: runs the handler's streamer, then hands the connection back to its io thread.
  void RunStreamer() {
    Streamer streamer = std::move(res_data_.stream);
    res_data_.stream = nullptr;
    StreamWriter writer(*this);
    try {
      streamer(writer, res_data_);
    } catch (const std::exception& e) {
      if (!writer.started()) Api::Error(res_data_, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      if (!writer.started()) Api::Error(res_data_, 500, "internal error");
    }
    auto self = this->shared_from_this();
    if (!writer.started()) {
      asio::post(executor(), [self]() { self->Write(); });
      return;
    }
    asio::post(executor(), [self, ok = !writer.failed()]() { self->EndStream(ok); });
  }

  // The status line and headers of a streamed answer (pool thread; the io thread is not using
  // the session's fields while it is busy_).
  std::string StreamHead() {
    chunked_ = version_ != 10;
    keep_alive_ = keep_alive_ && chunked_ && !server_.stopping.load(std::memory_order_relaxed);
    std::string h = version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    h += std::to_string(res_data_.status);
    h += ' ';
    h += ReasonPhrase(res_data_.status);
    h += "\r\nContent-Type: ";
    h += res_data_.content_type;
    h += "\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
    if (chunked_) h += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive_) h += "Connection: close\r\n";
    h += "\r\n";
    return h;
  }

  // Pool thread: writes `bytes` on the io thread and waits for the result. False when the write
  // failed or timed out, or the io thread is gone (shutdown).
  bool WriteFromPool(std::string bytes) {
    struct Op {
      std::string bytes;
      std::promise<bool> done;
    };
    auto op = std::make_shared<Op>();
    op->bytes = std::move(bytes);
    std::future<bool> done = op->done.get_future();
    asio::post(executor(), [self = this->shared_from_this(), op]() {
      self->Tcp().expires_after(self->server_.options.request_timeout);
      asio::async_write(self->stream_, asio::buffer(op->bytes),
                        [op](beast::error_code ec, size_t) { op->done.set_value(!ec); });
    });
    while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (ioc_.stopped()) return false;
    }
    return done.get();
  }

  // io thread: the streamer is done; `ok` = every chunk went out.
  void EndStream(bool ok) {
    if (!ok) {
      busy_ = false;
      res_data_.Reset();
      return Close();
    }
    if (!chunked_) return OnStreamEnd({});
    static constexpr char kLastChunk[] = "0\r\n\r\n";
    Tcp().expires_after(server_.options.request_timeout);
    asio::async_write(stream_, asio::buffer(kLastChunk, sizeof kLastChunk - 1),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnStreamEnd(ec);
                      });
  }

  void OnStreamEnd(beast::error_code ec) {
    busy_ = false;
    res_data_.Reset();
    if (ec) return Close();
    if (!keep_alive_) return Finish();
    DoRead();
  }

  void Write() {
    if (!res_data_.tail.empty() && !head_) return WriteGathered();
    const bool keep = keep_alive_ && !server_.stopping.load(std::memory_order_relaxed);
    res_.clear();
    res_.version(version_ == 10 ? 10 : 11);
    res_.result(static_cast<unsigned>(res_data_.status));
    res_.set(bhttp::field::content_type, res_data_.content_type);
    if (res_data_.inference_header_length) {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, res_data_.inference_header_length);
      res_.set("Inference-Header-Content-Length", beast::string_view(buf, r.ptr - buf));
    }
    if (res_data_.allow) res_.set(bhttp::field::allow, res_data_.allow);
    for (size_t i = 0; i < res_data_.header_count; ++i) {
      res_.set(res_data_.headers[i].first, res_data_.headers[i].second);
    }
    if (res_data_.retry_after_s) {
      char buf[12];
      auto r = std::to_chars(buf, buf + sizeof buf, res_data_.retry_after_s);
      res_.set(bhttp::field::retry_after, beast::string_view(buf, r.ptr - buf));
    }
    res_.body().swap(res_data_.body);
    res_.keep_alive(keep);
    res_.prepare_payload();
    if (head_) res_.body().clear();  // Content-Length stays that of the GET answer
    keep_alive_ = keep;
    Tcp().expires_after(server_.options.request_timeout);
    bhttp::async_write(stream_, res_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->OnWrite(ec);
                       });
  }

  // An answer with a tail (large binary outputs): the head, the body and the tail's pieces
  // in one gathered write, the tensors sent from the model's buffers.
  void WriteGathered() {
    const bool keep = keep_alive_ && !server_.stopping.load(std::memory_order_relaxed);
    std::string& h = head_bytes_;
    h.assign(version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    h += std::to_string(res_data_.status);
    h += ' ';
    h += ReasonPhrase(res_data_.status);
    h += "\r\nContent-Type: ";
    h += res_data_.content_type;
    if (res_data_.inference_header_length) {
      h += "\r\nInference-Header-Content-Length: ";
      h += std::to_string(res_data_.inference_header_length);
    }
    h += "\r\nContent-Length: ";
    h += std::to_string(res_data_.body.size() + res_data_.tail_bytes());
    if (!keep) h += "\r\nConnection: close";
    else if (version_ == 10) h += "\r\nConnection: keep-alive";
    h += "\r\n\r\n";
    keep_alive_ = keep;
    gather_.clear();
    gather_.reserve(res_data_.tail.size() + 2);
    gather_.emplace_back(h.data(), h.size());
    gather_.emplace_back(res_data_.body.data(), res_data_.body.size());
    for (std::string_view t : res_data_.tail) gather_.emplace_back(t.data(), t.size());
    Tcp().expires_after(server_.options.request_timeout);
    asio::async_write(stream_, gather_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnWrite(ec, /*gathered=*/true);
                      });
  }

  void OnWrite(beast::error_code ec, bool gathered = false) {
    busy_ = false;
    const bool unread_body = res_data_.status == 413 || res_data_.status == 400 ||
                             res_data_.status == 431 || refuse_;
    if (!gathered) res_.body().swap(res_data_.body);  // keep the capacity for the next answer
    res_data_.Reset();
    // A large body goes back to the pool; a small one stays with the connection.
    if (body_.capacity() >= kPoolMinBytes) body_.Release();
    if (!ec && !keep_alive_ && unread_body) return LingeringClose();
    if (ec) return Close();
    if (!keep_alive_) return Finish();
    DoRead();
  }

  // The last answer was sent: plaintext closes; TLS sends its close_notify and waits a moment
  // for the client's before closing.
  void Finish() {
    if constexpr (kTls) {
      Tcp().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Close(); });
    } else {
      Close();
    }
  }

  // After answering a request whose body was not read: stop sending, then discard what the
  // client still sends (for a short while) so closing does not reset the connection before the
  // client has read the answer.
  void LingeringClose() {
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    Tcp().expires_after(std::chrono::seconds(2));
    Discard();
  }
  void Discard() {
    stream_.async_read_some(asio::buffer(discard_, sizeof discard_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Discard();
                            });
  }

  void Close() {
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    Tcp().socket().close(ec);
  }

  Server::Impl& server_;
  asio::io_context& ioc_;  // the io_context this connection lives on
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Buffer body_;                // a body with a Content-Length (see OnHeader)
  std::string_view body_view_;  // the body in body_ (null: in the parser's message)
  std::string head_bytes_;     // a gathered answer's status line and headers
  std::vector<asio::const_buffer> gather_;
  bhttp::response<bhttp::string_body> res_;
  HttpRequest request_;
  std::string peer_;       // "address:port" of the client
  std::string client_cn_;  // mutual TLS: the verified client certificate's CN
  HttpResponse res_data_;
  char discard_[8192];
  static constexpr size_t kFirstReadBytes = 16 * 1024;
  uint64_t served_ = 0;  // requests read on this connection
  const bool refuse_;    // over the connection limit (see the constructor)
  bool busy_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  bool chunked_ = false;  // the streamed answer uses chunked transfer (HTTP/1.1)
  unsigned version_ = 11;
};

}  // namespace

void Server::Impl::Accept() {
  asio::io_context& target = *iocs[next_ioc];
  next_ioc = (next_ioc + 1) % iocs.size();
  acceptor->async_accept(target, [this, ioc = &target](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      if (stopping.load()) return;
      // EMFILE and friends: try again shortly rather than spin on the failing accept.
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping.load()) Accept();
      });
      return;
    }
    const int max = options.limits.max_connections;
    const bool refuse = max > 0 && open_connections.load(std::memory_order_relaxed) >= max;
    if (refuse) options.limits.Report(api::ConnectionEvent::kRefused);
    if (tls) {
      std::make_shared<Session<TlsStream>>(*this, *ioc, refuse, std::move(socket), *tls)->Start();
    } else {
      std::make_shared<Session<PlainStream>>(*this, *ioc, refuse, std::move(socket))->Start();
    }
    if (!stopping.load()) Accept();
  });
}

Server::Server(Api& api, ServerOptions options)
    : Server(
          [&api](const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
            api.Handle(m, req, res);
          },
          std::move(options)) {}

Server::Server(Handler handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(handler), std::move(options))) {}

Server::~Server() { Stop(std::chrono::seconds(5)); }

uint16_t Server::port() const { return impl_->bound_port; }

Status Server::Start() {
  Impl& s = *impl_;
  if (s.started) return FailedPrecondition("server already started");
  MLOS_ASSIGN_OR_RETURN(s.tls, MakeTlsContext(s.options.tls));
  s.verify_clients = s.tls && !s.options.tls.client_ca_file.empty();
  int n = s.options.io_threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    s.iocs.push_back(std::make_unique<asio::io_context>(1));
    s.guards.push_back(asio::make_work_guard(*s.iocs.back()));
  }
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(s.options.host, ec);
  if (ec) {
    tcp::resolver resolver(*s.iocs[0]);
    auto results = resolver.resolve(s.options.host, std::to_string(s.options.port), ec);
    if (ec || results.empty()) {
      return InvalidArgument("cannot resolve listen host '" + s.options.host + "'");
    }
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.emplace(*s.iocs[0]);
  s.accept_retry.emplace(*s.iocs[0]);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + s.options.host + ":" +
                       std::to_string(s.options.port) + ": " + ec.message());
  }
  s.bound_port = s.acceptor->local_endpoint().port();
  s.blocking = std::make_unique<asio::thread_pool>(
      static_cast<size_t>(std::max(1, s.options.blocking_threads)));
  if (s.options.infer_threads > 0) {
    s.infer = std::make_unique<asio::thread_pool>(static_cast<size_t>(s.options.infer_threads));
  }
  s.generate = std::make_unique<asio::thread_pool>(
      static_cast<size_t>(std::max(1, s.options.stream_threads)));
  s.Accept();
  for (auto& ioc : s.iocs) {
    s.threads.emplace_back([ctx = ioc.get()] {
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (...) {
          // A handler threw: keep serving the other connections.
        }
      }
    });
  }
  s.started = true;
  return Status::Ok();
}

void Server::Stop(std::chrono::milliseconds drain_timeout) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  asio::post(*s.iocs[0], [&s] {
    beast::error_code ec;
    s.acceptor->close(ec);
    s.accept_retry->cancel();
  });
  // The sessions are collected under the lock and told to close after it: a reference taken
  // here can turn out to be a session's last one (its io thread let go meanwhile), and its
  // destructor takes sessions_mu to unregister itself.
  std::vector<std::shared_ptr<SessionControl>> open;
  {
    std::lock_guard lock(s.sessions_mu);
    for (auto& [raw, weak] : s.sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (auto& session : open) {
    asio::post(session->executor(), [session] { session->CloseIfIdle(); });
  }
  open.clear();
  for (auto& g : s.guards) g.reset();
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  for (;;) {
    bool idle;
    {
      std::lock_guard lock(s.sessions_mu);
      idle = s.sessions.empty();
    }
    if (idle || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.drain_expired = true;
  s.blocking->join();
  if (s.infer) s.infer->join();
  s.generate->join();
  for (auto& ioc : s.iocs) ioc->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
}

}  // namespace mlos::http
