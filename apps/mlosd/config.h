// mlosd's settings: defaults, then the YAML config file, then the environment (MLOS_HTTP,
// MLOS_STATE_DIR), then command-line flags; each later source overrides the earlier ones.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/common/connection_limits.h"
#include "common/status.h"
#include "core/core.h"
#include "security/guard.h"

namespace mlos::mlosd {

struct DaemonConfig {
  std::string http = "127.0.0.1:8080";  // HOST:PORT
  int threads = 0;                      // io threads; 0 = hardware concurrency
  uint64_t max_body_bytes = 64ull * 1024 * 1024;
  double request_timeout_s = 30;
  int stream_threads = 64;              // HTTP generation routes (LLMs): generations at once
  int infer_threads = -1;               // HTTP inference pool; -1 = 0 without batching, else sized for it
  std::filesystem::path state_dir;      // default: $XDG_STATE_HOME/mlos or ./var
  std::vector<std::filesystem::path> plugin_dirs;  // default: <bindir>/../lib/mlos/plugins
  std::string plugin_config_json = "{}";           // plugins: {onnx: {...}} as JSON
  bool lazy_load = true;
  std::string log_level = "info";
  bool log_json = false;
  // IPC front-end (off unless set): the Unix socket path and its permissions.
  std::string ipc_path;
  uint32_t ipc_mode = 0660;
  // gRPC front-end (off unless `grpc` is set): HOST:PORT, message limit, optional (m)TLS.
  std::string grpc;
  uint64_t grpc_max_message_bytes = 64ull * 1024 * 1024;
  std::string grpc_tls_cert, grpc_tls_key, grpc_tls_client_ca;
  // Connection limits per front-end (http., grpc., ipc. max_connections, header_timeout_s,
  // idle_timeout_s, max_header_bytes; docs/reliability.md). gRPC: no max_connections (gRPC
  // 1.51 has none), header_timeout_s = handshake, max_header_bytes = metadata; IPC: idle
  // connections stay open unless ipc.idle_timeout_s is set.
  api::ConnectionLimits http_limits = {};
  api::ConnectionLimits grpc_limits = {0, std::chrono::seconds(10), std::chrono::seconds(0),
                                       8192, {}};
  api::ConnectionLimits ipc_limits = {1024, std::chrono::seconds(10), std::chrono::seconds(0),
                                      64 * 1024, {}};
  // Dynamic batching for models with a dynamic first dimension (off unless max_batch_size > 1).
  int max_batch_size = 0;
  int max_concurrent_batches = 1;
  // Plugin calls at once per model without batching (0 = unlimited).
  int max_concurrent_infers = 0;
  // HTTPS (and mutual TLS with client_ca) on the HTTP front-end: http.tls{cert,key,client_ca}.
  std::string http_tls_cert, http_tls_key, http_tls_client_ca;
  // security: (docs/security.md). model_roots empty after loading = the defaults (the axon
  // cache and <state_dir>/models); audit.path empty = <state_dir>/audit.log.
  bool auth_required = false;                       // security.auth: off | required
  std::vector<std::filesystem::path> model_roots;
  std::map<std::string, security::PrincipalConfig> principals;
  std::map<uint32_t, std::string> unix_principals;
  security::LimitsConfig limits;
  security::AuditOptions audit;
  // resources: (docs/resources.md). memory_budget is resolved at start (ResolveResources);
  // scheduling "off" | "priority" | "fifo"; cpu_slots 0 = cores over the largest
  // plugins.*.intra_op_threads.
  std::string memory_budget = "80%";
  std::string scheduling = "off";
  int cpu_slots = 0;
  core::ResourceOptions resources;
  // isolation: (docs/isolation.md) and security.trusted_keys (isolation.trusted_keys, each
  // file checked to hold a public key at load); --isolation and --worker override.
  core::IsolationOptions isolation;
  // model_repository: {paths, poll_seconds} (--model-repository, --poll-repository): directories
  // (or NAME=DIRECTORY for a directory that is one model) whose models mlosd installs, registers
  // and loads at start, again on SIGHUP and, when poll_seconds > 0, every poll_seconds
  // (apps/mlosd/model_repository.h, docs/deploy.md).
  std::vector<std::string> model_repositories;
  double poll_repository_s = 0;
};

// Resolves resources.memory_budget against the memory available to the process (cgroup
// aware) and the scheduler's CPU slots; errors name the field.
Status ResolveResources(DaemonConfig& config);

// Fills what depends on the final state_dir: the default model roots and audit log path.
void ResolveSecurityDefaults(DaemonConfig& config);

// The HTTP inference pool size: config.infer_threads when set, else 64 with the scheduler on
// (requests wait in its queue, not on an io thread), else enough threads to keep the running
// batches and one queued batch in flight, or 0 (io threads) without batching.
int HttpInferThreads(const DaemonConfig& config);

// Defaults that depend on the environment: state_dir and plugin_dirs.
DaemonConfig DefaultConfig();

// Applies a YAML config file over `config`. Errors name the file and the field.
Status ApplyConfigFile(const std::filesystem::path& file, DaemonConfig& config);

// Applies MLOS_HTTP and MLOS_STATE_DIR when set.
void ApplyEnvironment(DaemonConfig& config);

// "HOST:PORT" (or "[v6]:PORT", or ":PORT" for 127.0.0.1) -> host, port.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen);

}  // namespace mlos::mlosd
