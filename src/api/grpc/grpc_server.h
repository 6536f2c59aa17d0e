// The gRPC front-end of mlosd: KServe v2 `inference.GRPCInferenceService` and
// `mlos.v1.Management`, served with the asynchronous gRPC C++ API on a completion queue whose
// threads run each call's handler themselves (see grpc_server.cc). Both services
// (grpc_services.cc) only translate protobuf into service::Service calls (like the HTTP and IPC
// front-ends), so errors carry the same messages; StatusCodes map to the matching gRPC codes.
// mlos.v1.Management/Generate (server streaming) is the one handler that does not run on a
// queue thread: a generation blocks for seconds, so it gets a thread of its own and sends its
// chunks through the async stream one write at a time; a client that cancels stops it.
//
// Thread-safety: Start/Stop from one thread; the services run on the server's threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "api/common/connection_limits.h"
#include "common/status.h"
#include "service/service.h"

namespace mlos::grpcapi {

struct GrpcTlsOptions {
  std::string cert_file;       // PEM server certificate chain; empty: plaintext
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // non-empty: require client certificates signed by this CA
};

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                                 // 0: a free port (see GrpcServer::port)
  uint64_t max_message_bytes = 64ull * 1024 * 1024;  // larger messages: RESOURCE_EXHAUSTED
  // Threads that take and answer calls, so at most this many calls run at once; 0: CPU count,
  // and at least 2. As many as the process has CPUs wait for calls; the others start taking
  // calls when one has run for over a millisecond.
  int threads = 0;
  GrpcTlsOptions tls;
  // Against floods and slow clients, as gRPC 1.51 allows: header_timeout bounds a new
  // connection's handshake (grpc.server_handshake_timeout_ms), idle_timeout closes a connection
  // without calls (grpc.max_connection_idle_ms; clients reconnect), max_header_bytes bounds a
  // call's metadata (grpc.max_metadata_size). gRPC 1.51 has no connection count limit
  // (max_connections is not used; grpc.max_allowed_incoming_connections came later).
  // header_timeout 0 keeps gRPC's own handshake timeout (120 s).
  api::ConnectionLimits limits = {0, std::chrono::seconds(10), std::chrono::seconds(0), 8192, {}};
};

class GrpcServer {
 public:
  // `service` must outlive the server.
  GrpcServer(service::Service& service, GrpcServerOptions options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds and starts serving. kInvalidArgument for unreadable TLS files, kUnavailable when the
  // address cannot be bound.
  Status Start();
  // The bound port (after Start).
  uint16_t port() const { return port_; }
  // Stops taking calls; calls in flight (generations included) get up to `grace`, then are
  // cancelled; returns once every generation thread has ended. Idempotent.
  void Stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace mlos::grpcapi
