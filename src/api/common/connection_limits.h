// The limits a front-end puts on its connections against floods and slow clients
// (docs/reliability.md, "Load and faults"), and the events it reports for the metrics.
// HTTP and IPC apply all of them; gRPC maps what gRPC 1.51 offers (see grpc_server.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace mlos::api {

enum class ConnectionEvent {
  kOpened,    // accepted and served
  kClosed,    // an accepted connection ended (for whatever reason)
  kRefused,   // over max_connections: answered "too many connections" and closed
  kTimedOut,  // a request head (HTTP) or a started frame (IPC) stalled past header_timeout
};

struct ConnectionLimits {
  // Open connections at once; a new one beyond it is refused with a clear error (HTTP 503,
  // an IPC error frame) and closed. 0: no limit.
  int max_connections = 4096;
  // HTTP: a request head must arrive whole within it (a new connection's first byte too);
  // IPC: a frame that started arriving must not stall longer than it between reads.
  std::chrono::milliseconds header_timeout{10000};
  // A connection with no request in flight or arriving is closed after it. 0: never.
  std::chrono::milliseconds idle_timeout{30000};
  // HTTP: the request line and headers (431 above it).
  uint32_t max_header_bytes = 64 * 1024;
  // Told of every event above (metrics); may be empty. Called from the server's threads.
  std::function<void(ConnectionEvent)> observe;

  void Report(ConnectionEvent e) const {
    if (observe) observe(e);
  }
};

}  // namespace mlos::api
