// The audit log: append-only JSON lines, one per management action and per denial, e.g.
//   {"time":"2026-12-03T20:41:07.123Z","principal":"alice","method":"token","protocol":"http",
//    "peer":"127.0.0.1:50412","action":"unload","model":"team/clf@1","outcome":"ok","reason":""}
// Record() returns once the line is on disk (write + fdatasync); callers that arrive while a
// sync is running share the next one (group commit), so a burst costs one sync per batch.
// The file rotates by size: audit.log -> audit.log.1 -> ... -> audit.log.<keep>.
//
// Thread-safety: Record may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"

namespace mlos::security {

struct AuditEvent {
  std::string principal;  // "anonymous" when none was identified
  std::string method;     // how it was identified: "token", "mtls", "peercred", "none"
  std::string protocol;   // "http", "grpc", "ipc", "cli"
  std::string peer;
  std::string action;     // ActionName() or another verb ("authenticate")
  std::string model;      // "" when the action names none
  std::string outcome;    // "ok", "denied", "unauthenticated", "limited", "error"
  std::string reason;     // the error message ("" when ok); secrets are redacted here
};

struct AuditOptions {
  std::filesystem::path path;         // <state-dir>/audit.log by default
  uint64_t max_bytes = 64ull << 20;   // rotate when the file would grow past this
  int keep = 5;                       // rotated files kept
};

class AuditLog {
 public:
  // Opens (creating, mode 0600) the log for appending; kUnavailable naming the path on failure.
  static Result<std::unique_ptr<AuditLog>> Open(const AuditOptions& options);
  ~AuditLog();  // drains pending records
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends the event (time stamped now) and waits until it is durable. A write error is
  // logged (spdlog) and returned; the caller's request is not failed for it.
  Status Record(const AuditEvent& event);

  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlos::security
