// The HTTP API as a transport-free unit: a parsed request in, a response out. The Beast server
// (server.h) owns sockets and threads and calls Api::Handle; tests can call it directly. It only
// decodes, calls service::Service, and encodes: every rule that is not about HTTP lives there.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/common/request_options.h"
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

// Reused across requests on a connection (keeps the body's capacity): call Reset() first.
struct HttpResponse {
  int status = 200;
  const char* content_type = "application/json";
  std::string body;
  uint64_t inference_header_length = 0;  // > 0: sets Inference-Header-Content-Length
  const char* allow = nullptr;           // for 405
  uint32_t retry_after_s = 0;            // > 0: sets Retry-After (429)
  void Reset() {
    retry_after_s = 0;
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

 private:
  void Dispatch(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Management(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Inference(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeInfer(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeMetadata(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void KServeModelReady(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void RepositoryIndex(const HttpRequest& req, HttpResponse& res);
  void SharedMemory(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void Tokens(const RouteMatch& m, const HttpRequest& req, HttpResponse& res);
  void ModelAnswer(const Result<core::ModelStatus>& r, HttpResponse& res);
  static service::RequestContext Context(const HttpRequest& req);
  // The inference routes' context: Context plus the X-MLOS-* headers merged with the body's
  // `parameters` (the body wins for priority and keep_alive; the shorter timeout wins).
  static Status ApplyOptions(const HttpRequest& req, const api::RequestOptions& body,
                             service::RequestContext& ctx);

  service::Service& service_;
  std::string health_body_;
};

}  // namespace mlos::http
