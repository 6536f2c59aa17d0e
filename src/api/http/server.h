// The HTTP/1.1 server: Boost.Beast over Asio, one io_context per io thread (a connection stays
// on its thread: no strands, no locks on the hot path), keep-alive, a body size limit (413),
// a per-request read/write timeout, and lifecycle routes run on a small blocking pool so model
// loads never stall the io threads. Inference runs on the io thread that read the request, or,
// with infer_threads > 0, on a pool of that many threads: then an io thread never blocks in a
// model, and the core sees every request in flight at once (which dynamic batching needs).
// Generation routes run on their own pool (stream_threads) and may stream their answer
// (HttpResponse::stream: chunked transfer, written from the pool thread through the
// connection's io thread, with a client that went away seen before each chunk).
// With ServerOptions::tls set it speaks HTTPS (and mutual TLS); the plaintext path is unchanged
// (sessions are templated on the stream type, so neither pays for the other).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/common/connection_limits.h"
#include "api/http/api.h"
#include "common/status.h"

namespace mlos::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                            // 0 = pick a free port (see Server::port)
  int io_threads = 0;                              // 0 = hardware concurrency
  int blocking_threads = 2;                        // register/load/unload/rollback
  int infer_threads = 0;                           // 0 = run inference on the io thread
  // Generation routes (OpenAI, Ollama, KServe generate: IsGenerateRoute) run on this pool: a
  // generation blocks its thread for as long as it streams, so this caps the concurrent ones.
  int stream_threads = 64;
  uint64_t max_body_bytes = 64ull * 1024 * 1024;   // larger bodies get 413
  // Reading a request's body, writing an answer, a TLS handshake.
  std::chrono::milliseconds request_timeout{30000};
  // Open connections (over the limit: 503 and close), the request head's size (431) and time
  // to arrive (slow clients are closed), idle keep-alive connections.
  api::ConnectionLimits limits;
  // TLS (HTTPS) when cert_file and key_file are set (PEM). With client_ca_file as well, mutual
  // TLS: a client must present a certificate that CA signed, and its subject CN reaches the
  // service as HttpRequest::tls_client_cn (the principal). client_ca_file alone is an error.
  struct Tls {
    std::string cert_file, key_file, client_ca_file;
  } tls;
};

class Server {
 public:
  // Answers one request (a JSON error for anything that fails; never throws). Called on an io
  // thread, or on a pool thread for the routes IsBlockingRoute/IsInferRoute/IsGenerateRoute
  // name, one call per request; the request's views stay valid until it returns (and, when it
  // sets HttpResponse::stream, until the streamer returns).
  using Handler = std::function<void(const RouteMatch&, const HttpRequest&, HttpResponse&)>;

  // `api` must outlive the server; it answers every request.
  Server(Api& api, ServerOptions options);
  // The same with another handler (tests answer without a service).
  Server(Handler handler, ServerOptions options);
  ~Server();  // Stop()s if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the threads. kInvalidArgument for a bad host or a TLS setting
  // that cannot be used (a certificate, key or CA file that cannot be read or is not PEM, a key
  // that does not match, client_ca_file without cert_file and key_file: the message names the
  // file), kUnavailable when the address cannot be bound. Nothing is started on an error.
  Status Start();
  // The bound port (the real one when options.port was 0). Valid after Start().
  uint16_t port() const;
  // Stops accepting, closes idle connections, lets requests in flight finish (their responses
  // say Connection: close) for up to `drain_timeout`, then stops the threads. Idempotent.
  void Stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(30));

  struct Impl;  // implementation detail (server.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlos::http
