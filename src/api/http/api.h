// The HTTP API as a transport-free unit: a parsed request in, a response out. The Beast server
// (server.h) owns sockets and threads and calls Api::Handle; tests can call it directly. It only
// decodes, calls service::Service, and encodes: every rule that is not about HTTP lives there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/common/request_options.h"
#include "common/buffer.h"
#include "api/http/router.h"
#include "service/service.h"

namespace mlos::http {

struct HttpRequest {
  Method method = Method::kGet;
  std::string_view target;
  std::string_view body;
  std::optional<uint64_t> inference_header_length;  // Inference-Header-Content-Length
  std::string_view peer;                            // "127.0.0.1:51234"
  std::string_view authorization;                   // the Authorization header ("" if none)
  std::string_view tls_client_cn;                   // verified client certificate's CN (mTLS)
  // X-MLOS-Priority, X-MLOS-Timeout-Ms, X-MLOS-Keep-Alive (read by the inference routes).
  api::RequestHeaders options;
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

struct HttpResponse;

// How a streaming answer reaches the client (server.cc implements it per connection). The first
// Write sends the status line and headers: 200, HttpResponse::content_type, Transfer-Encoding:
// chunked (HTTP/1.0: no framing, the connection closes at the end); every Write is one chunk.
// Used from the one thread that runs the streamer; writes are in order.
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  // Sends `data` (nothing for ""; the headers still go out on the first call). False when the
  // client went away (its end of the connection closed, a write failed or timed out) or the
  // server is shutting down: the caller stops producing (a generation ends within one token).
  virtual bool Write(std::string_view data) = 0;
  // Whether the client is still connected (a zero-timeout poll of the socket); false once a
  // Write failed. For answers that stream nothing but run long (a non-streaming generation).
  virtual bool Alive() = 0;
  // True once the headers went out: the status can no longer change.
  virtual bool started() const = 0;
};

// Runs after the handler returned, on the same (pool) thread, with the connection to itself.
// Before the first Write it may still set a plain answer in `response` (an error with its
// status, or a whole non-streamed body): when it returns without having written, the server
// sends `response` as usual. After a Write, the server ends the chunked body when it returns.
using Streamer = std::function<void(ChunkWriter& writer, HttpResponse& response)>;

// Binary outputs at least this large are sent from the model's buffers (HttpResponse::tail)
// rather than copied into the body.
inline constexpr uint64_t kGatherMinBytes = 64 * 1024;

// Reused across requests on a connection (keeps the body's capacity): call Reset() first.
struct HttpResponse {
  int status = 200;
  const char* content_type = "application/json";
  std::string body;
  uint64_t inference_header_length = 0;  // > 0: sets Inference-Header-Content-Length
  const char* allow = nullptr;           // for 405
  uint32_t retry_after_s = 0;            // > 0: sets Retry-After (429)
  // More header fields (name, value) of static answers (the console's files: Cache-Control,
  // Content-Security-Policy, ...): `header_count` entries of a static array.
  const std::pair<const char*, const char*>* headers = nullptr;
  size_t header_count = 0;
  // Set by a handler that answers over time (server-sent events, NDJSON): the server calls it
  // instead of sending `body` (see Streamer). Only for routes IsGenerateRoute names.
  Streamer stream;
  // Large answers (binary tensors): bytes sent after `body` from where they are, gathered by
  // one writev, never copied into `body`. They point into `buffers` (the memory the model wrote
  // its outputs into), `blobs` or what `hold` keeps alive, all released by Reset() once the
  // answer is out.
  std::vector<std::string_view> tail;
  std::vector<Buffer> buffers;
  std::vector<std::string> blobs;
  std::shared_ptr<void> hold;
  uint64_t tail_bytes() const {
    uint64_t n = 0;
    for (std::string_view t : tail) n += t.size();
    return n;
  }
  void Reset() {
    stream = nullptr;
    tail.clear();
    buffers.clear();
    blobs.clear();
    hold.reset();
    retry_after_s = 0;
    headers = nullptr;
    header_count = 0;
    status = 200;
    content_type = "application/json";
    body.clear();
    inference_header_length = 0;
    allow = nullptr;
  }
};

class Api {
 public:
  // `service` must outlive the Api.
  explicit Api(service::Service& service);

  // Routes and answers one request. Never throws; every failure becomes a JSON error.
  void Handle(const HttpRequest& request, HttpResponse& response);
  // The same for an already matched route (the server matches first to pick a thread).
  void Handle(const RouteMatch& match, const HttpRequest& request, HttpResponse& response);

  // Sets a JSON error answer.
  static void Error(HttpResponse& response, int status, std::string_view message);
  static void Error(HttpResponse& response, const Status& status);

  // The context every route builds: protocol, peer, credentials (Authorization, mTLS CN).
  static service::RequestContext Context(const HttpRequest& req);
  // The inference routes' context: Context plus the X-MLOS-* headers merged with the body's
  // `parameters` (the body wins for priority and keep_alive; the shorter timeout wins).
  static Status ApplyOptions(const HttpRequest& req, const api::RequestOptions& body,
                             service::RequestContext& ctx);

 private:
  void Dispatch(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Management(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Inference(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeInfer(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeMetadata(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeModelReady(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeModelStats(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeModelConfig(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void RepositoryIndex(const HttpRequest& req, HttpResponse& res);
  void SharedMemory(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Tokens(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void ModelAnswer(const Result<core::ModelStatus>& r, HttpResponse& res);

  service::Service& service_;
  std::string health_body_;
};

}  // namespace mlos::http
