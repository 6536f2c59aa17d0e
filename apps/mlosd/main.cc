// mlosd: the MLOS daemon. Parses flags and config, creates the Core and the Service over it,
// serves HTTP (and gRPC and IPC when configured) while models that were loaded before a restart
// load again in the background (readiness says when), and on SIGTERM/SIGINT stops accepting,
// drains requests in flight, shuts the Core down (persisting its state) and exits 0.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/common/json_writer.h"
#include "api/grpc/grpc_server.h"
#include "api/http/api.h"
#include "api/http/server.h"
#include "api/ipc/server.h"
#include "config.h"
#include "core/core.h"
#include "model_repository.h"
#include "security/guard.h"
#include "security/token.h"
#include "service/metrics.h"
#include "service/service.h"
#include "service/shm_registry.h"
#include "token_command.h"

#ifndef MLOS_VERSION
#define MLOS_VERSION "0.0.0"
#endif

namespace {

using mlos::mlosd::DaemonConfig;

// %j: the log message, JSON-escaped (for the --log-json pattern).
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    mlos::api::JsonWriter::AppendEscaped(
        escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

// Every log line passes through security::RedactSecrets before it reaches stderr: whatever a
// message echoes (a request path, an error from a client's input), no token is ever written.
class RedactingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RedactingSink() : inner_(std::make_shared<spdlog::sinks::stderr_sink_mt>()) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (payload.find("mlos_") == std::string_view::npos &&
        payload.find("earer") == std::string_view::npos) {
      inner_->log(msg);
      return;
    }
    const std::string clean = mlos::security::RedactSecrets(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = clean;
    inner_->log(copy);
  }
  void flush_() override { inner_->flush(); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> inner_;
};

// Whether `host` is a loopback address (or localhost).
bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int SetUpLogging(const DaemonConfig& c) {
  auto logger = std::make_shared<spdlog::logger>("mlosd", std::make_shared<RedactingSink>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (c.log_json) {
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","logger":"%n","thread":%t,"msg":"%j"})");
  } else {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  }
  logger->set_formatter(std::move(formatter));
  const auto level = spdlog::level::from_str(c.log_level);
  if (level == spdlog::level::off && c.log_level != "off") {
    std::fprintf(stderr, "mlosd: unknown log level '%s' (trace, debug, info, warn, error, "
                 "critical, off)\n", c.log_level.c_str());
    return 2;
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Big blocks (weights being prepacked, large tensors) straight from and back to the kernel:
  // glibc's adaptive threshold would otherwise keep freed ones in the heap, and resident memory
  // would stop following what the resource manager accounts. MALLOC_MMAP_THRESHOLD_ overrides.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, 4 << 20);
  // Setting the threshold also fixes glibc's trim threshold at 128 KiB, so every burst of
  // smaller blocks went back to the kernel when freed and was faulted in again on the next one:
  // a 64 MB gRPC message arrives in gRPC's read slices (each under 4 MiB), about 1,500 page
  // faults a request (bench/findings.md). Up to 64 MiB freed at the top of a heap stays for the
  // next burst. MALLOC_TRIM_THRESHOLD_ overrides.
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // Signals are taken by sigwait() below: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // rescan the model repositories
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && std::string(argv[1]) == "token") {
    return mlos::mlosd::RunTokenCommand(argc - 1, argv + 1);
  }

  CLI::App app{"mlosd: the MLOS daemon (model registry, lifecycle, inference over HTTP)"};
  std::string http_flag, state_dir_flag, config_file, log_level_flag;
  std::vector<std::string> plugin_dirs_flag;
  int threads_flag = -1;
  bool log_json_flag = false;
  app.add_option("--http", http_flag, "listen address HOST:PORT (default 127.0.0.1:8080; "
                 "port 0 picks a free one)");
  std::string grpc_flag;
  app.add_option("--grpc", grpc_flag, "gRPC (KServe v2) listen address HOST:PORT (default off; "
                 "port 0 picks a free one)");
  app.add_option("--state-dir", state_dir_flag,
                 "registry state directory (default $XDG_STATE_HOME/mlos or ./var)");
  app.add_option("--plugin-dir", plugin_dirs_flag,
                 "plugin directory, repeatable (default <bindir>/../lib/mlos/plugins)");
  app.add_option("--config", config_file, "YAML config file")->check(CLI::ExistingFile);
  app.add_option("--threads", threads_flag, "HTTP io threads (default: CPU count)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--log-json", log_json_flag, "log one JSON object per line");
  app.add_option("--log-level", log_level_flag, "trace|debug|info|warn|error|critical|off");
  std::string ipc_flag;
  app.add_option("--ipc", ipc_flag, "IPC Unix socket path (default off; mode 0660)");
  std::string auth_flag;
  app.add_option("--auth", auth_flag, "off | required (security.auth; see docs/security.md)")
      ->check(CLI::IsMember({"off", "required"}));
  std::vector<std::string> model_roots_flag;
  app.add_option("--model-root", model_roots_flag,
                 "directory packages may be registered from, repeatable (security.model_roots; "
                 "default $AXON_HOME/cache and <state-dir>/models)");
  std::string memory_budget_flag, scheduling_flag;
  app.add_option("--memory-budget", memory_budget_flag,
                 "memory the process may use: bytes, \"2GiB\" or \"80%\" of what is available "
                 "(resources.memory_budget; default 80%; 0 = none)");
  app.add_option("--scheduling", scheduling_flag,
                 "off | priority | fifo: one scheduler for every model's plugin calls "
                 "(resources.scheduling; default off; docs/resources.md)")
      ->check(CLI::IsMember({"off", "priority", "fifo"}));
  std::string isolation_flag, worker_flag;
  app.add_option("--isolation", isolation_flag,
                 "in_process | process | strict: where models run unless isolation.models or "
                 "their manifest asks for stricter (isolation.default; default in_process; "
                 "docs/isolation.md)")
      ->check(CLI::IsMember({"in_process", "process", "strict"}));
  app.add_option("--worker", worker_flag,
                 "the mlos-worker executable for sandboxed models (isolation.worker; default "
                 "mlos-worker beside mlosd)")
      ->check(CLI::ExistingFile);
  std::vector<std::string> repositories_flag;
  app.add_option("--model-repository", repositories_flag,
                 "directory of models to install, register and load at start, or NAME=DIR for a "
                 "directory that is one model (KServe's /mnt/models); repeatable "
                 "(model_repository.paths; Triton's NAME/VERSION/ layout works; rescanned on "
                 "SIGHUP; docs/deploy.md)");
  double poll_repository_flag = -1;
  app.add_option("--poll-repository", poll_repository_flag,
                 "rescan the model repositories every SECONDS (model_repository.poll_seconds; "
                 "default 0: on SIGHUP only)")
      ->check(CLI::NonNegativeNumber);
  app.footer("Token management: mlosd token create|list|revoke --help");
  app.set_version_flag("--version", std::string("mlosd ") + MLOS_VERSION);
  CLI11_PARSE(app, argc, argv);

  DaemonConfig config = mlos::mlosd::DefaultConfig();
  if (!config_file.empty()) {
    mlos::Status st = mlos::mlosd::ApplyConfigFile(config_file, config);
    if (!st.ok()) {
      std::fprintf(stderr, "mlosd: %s\n", st.message().c_str());
      return 2;
    }
  }
  mlos::mlosd::ApplyEnvironment(config);
  if (!http_flag.empty()) config.http = http_flag;
  if (!ipc_flag.empty()) config.ipc_path = ipc_flag;
  if (!grpc_flag.empty()) config.grpc = grpc_flag;
  if (!state_dir_flag.empty()) config.state_dir = state_dir_flag;
  if (!plugin_dirs_flag.empty()) config.plugin_dirs.assign(plugin_dirs_flag.begin(),
                                                           plugin_dirs_flag.end());
  if (threads_flag >= 0) config.threads = threads_flag;
  if (log_json_flag) config.log_json = true;
  if (!log_level_flag.empty()) config.log_level = log_level_flag;
  if (!auth_flag.empty()) config.auth_required = auth_flag == "required";
  if (!model_roots_flag.empty()) {
    config.model_roots.assign(model_roots_flag.begin(), model_roots_flag.end());
  }
  if (!repositories_flag.empty()) {
    config.model_repositories = repositories_flag;
  }
  if (poll_repository_flag >= 0) config.poll_repository_s = poll_repository_flag;
  mlos::mlosd::ResolveSecurityDefaults(config);
  // The repository's models are installed into mlosd's own cache, which must lie under a root.
  const std::filesystem::path repository_cache = config.state_dir / "models" / "repository";
  if (!config.model_repositories.empty() &&
      std::none_of(config.model_roots.begin(), config.model_roots.end(), [&](const auto& root) {
        const auto rel = repository_cache.lexically_relative(root);
        return !rel.empty() && *rel.begin() != "..";
      })) {
    config.model_roots.push_back(repository_cache);
  }
  if (!memory_budget_flag.empty()) config.memory_budget = memory_budget_flag;
  if (!scheduling_flag.empty()) config.scheduling = scheduling_flag;
  if (!isolation_flag.empty()) {
    config.isolation.default_isolation = *mlos::core::ParseIsolation(isolation_flag);
  }
  if (!worker_flag.empty()) {
    if (access(worker_flag.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "mlosd: --worker %s is not executable\n", worker_flag.c_str());
      return 2;
    }
    config.isolation.worker_executable = worker_flag;
  }
  if (mlos::Status st = mlos::mlosd::ResolveResources(config); !st.ok()) {
    std::fprintf(stderr, "mlosd: %s\n", st.message().c_str());
    return 2;
  }

  if (int rc = SetUpLogging(config)) return rc;
  auto listen = mlos::mlosd::ParseListen(config.http);
  if (!listen.ok()) {
    spdlog::error("{}", listen.status().message());
    return 2;
  }
  std::optional<std::pair<std::string, uint16_t>> grpc_listen;  // set when gRPC is on
  if (!config.grpc.empty()) {
    auto g = mlos::mlosd::ParseListen(config.grpc);
    if (!g.ok()) {
      spdlog::error("--grpc must be HOST:PORT, got '{}'", config.grpc);
      return 2;
    }
    grpc_listen = *g;
  }

  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (!ec && !config.model_repositories.empty()) {
    std::filesystem::create_directories(repository_cache, ec);
  }
  if (ec) {
    spdlog::error("cannot create state dir {}: {}", config.state_dir.string(), ec.message());
    return 1;
  }

  mlos::core::CoreOptions core_options;
  core_options.state_dir = config.state_dir;
  core_options.plugin_dirs = config.plugin_dirs;
  core_options.plugin_config_json = config.plugin_config_json;
  core_options.lazy_load = config.lazy_load;
  core_options.batching.max_batch_size = config.max_batch_size;
  core_options.batching.max_concurrent_batches = config.max_concurrent_batches;
  core_options.max_concurrent_infers = config.max_concurrent_infers;
  core_options.resources = config.resources;
  core_options.isolation = config.isolation;
  core_options.restore_in_background = true;  // listen at once; /v2/health/ready says when done
  auto core = mlos::core::Core::Create(core_options);
  if (!core.ok()) {
    spdlog::error("cannot start the core: {}", core.status().ToString());
    return 1;
  }
  mlos::service::Metrics metrics;
  (*core)->SetObserver(&metrics);

  mlos::security::SecurityOptions security_options;
  security_options.auth_required = config.auth_required;
  security_options.principals = config.principals;
  security_options.unix_principals = config.unix_principals;
  security_options.limits = config.limits;
  security_options.model_roots = config.model_roots;
  security_options.audit = config.audit;
  security_options.token_db = config.state_dir / "registry.db";
  auto guard = mlos::security::Guard::Create(security_options);
  if (!guard.ok()) {
    spdlog::error("security: {}", guard.status().message());
    (*core)->Shutdown();
    return 2;
  }
  if (config.auth_required) {
    const std::filesystem::path admin_file = config.state_dir / "admin.token";
    auto wrote = (*guard)->EnsureAdminToken(admin_file);
    if (!wrote.ok()) {
      spdlog::error("security: cannot create the first admin token: {}", wrote.status().message());
      (*core)->Shutdown();
      return 1;
    }
    if (*wrote) {
      spdlog::warn("auth required and no admin token existed: created one in {} (mode 0600); "
                   "read it once, then delete the file", admin_file.string());
    }
    spdlog::info("auth required: every call but live/ready needs a token, a client certificate "
                 "or a mapped Unix user");
  } else if (!IsLoopback(listen->first) || (grpc_listen && !IsLoopback(grpc_listen->first))) {
    spdlog::warn("security.auth is off and mlosd listens on a non-loopback address: anyone who "
                 "can reach it may register, unload and run every model (set security.auth: "
                 "required; docs/security.md)");
  }
  std::string roots;
  for (const auto& r : config.model_roots) roots += (roots.empty() ? "" : ", ") + r.string();
  spdlog::info("model roots: {}; audit log: {}", roots, config.audit.path.string());
  {
    const mlos::core::IsolationOptions& iso = config.isolation;
    spdlog::info("isolation: default {}, {} per-model setting(s), unsigned packages {}, {} trusted "
                 "key(s), worker {}, watchdog {} ms, restarts {} per {} ms",
                 mlos::core::IsolationName(iso.default_isolation), iso.models.size(),
                 mlos::core::IsolationName(iso.unsigned_process ? mlos::core::Isolation::kProcess
                                                                : mlos::core::Isolation::kInProcess),
                 iso.trusted_keys.size(),
                 iso.worker_executable.empty() ? std::string("mlos-worker beside mlosd")
                                               : iso.worker_executable.string(),
                 iso.watchdog_ms, iso.restart_limit, iso.restart_window_ms);
  }

  // One service under every front-end (HTTP, gRPC, IPC), with one shared-memory registry.
  mlos::service::ShmRegistry shm_registry;
  mlos::service::ServiceOptions service_options;
  service_options.server_version = MLOS_VERSION;
  service_options.request_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.request_timeout_s * 1000));
  mlos::service::Service service(**core, shm_registry, &metrics, service_options, guard->get());
  mlos::http::Api api(service);
  // Started before any listener, so readiness is held from the first request on.
  std::unique_ptr<mlos::mlosd::ModelRepository> repository;
  if (!config.model_repositories.empty()) {
    repository = std::make_unique<mlos::mlosd::ModelRepository>(
        service, config.model_repositories, repository_cache, config.poll_repository_s);
    repository->Start();
  }

  mlos::http::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.io_threads = config.threads;
  server_options.infer_threads = mlos::mlosd::HttpInferThreads(config);
  server_options.stream_threads = config.stream_threads;
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.request_timeout = service_options.request_timeout;
  server_options.tls = {config.http_tls_cert, config.http_tls_key, config.http_tls_client_ca};
  // Connection events feed mlos_connections_open / mlos_connections_dropped_total.
  auto observe = [&metrics](const char* protocol) {
    return [&metrics, protocol](mlos::api::ConnectionEvent e) {
      using E = mlos::api::ConnectionEvent;
      metrics.RecordConnection(protocol, e == E::kOpened   ? "opened"
                                         : e == E::kClosed ? "closed"
                                         : e == E::kRefused ? "refused"
                                                            : "timed_out");
    };
  };
  server_options.limits = config.http_limits;
  server_options.limits.observe = observe("http");
  mlos::http::Server server(api, server_options);
  if (mlos::Status st = server.Start(); !st.ok()) {
    spdlog::error("{}", st.message());
    (*core)->Shutdown();
    return 1;
  }
  std::unique_ptr<mlos::grpcapi::GrpcServer> grpc_server;
  if (grpc_listen) {
    mlos::grpcapi::GrpcServerOptions grpc_options;
    grpc_options.host = grpc_listen->first;
    grpc_options.port = grpc_listen->second;
    grpc_options.max_message_bytes = config.grpc_max_message_bytes;
    grpc_options.threads = config.threads;
    grpc_options.tls = {config.grpc_tls_cert, config.grpc_tls_key, config.grpc_tls_client_ca};
    grpc_options.limits = config.grpc_limits;
    grpc_server = std::make_unique<mlos::grpcapi::GrpcServer>(service, grpc_options);
    if (mlos::Status st = grpc_server->Start(); !st.ok()) {
      spdlog::error("{}", st.message());
      server.Stop(std::chrono::seconds(0));
      (*core)->Shutdown();
      return 1;
    }
    const std::string& ghost = grpc_listen->first;
    const bool gv6 = ghost.find(':') != std::string::npos;
    std::printf("mlosd grpc listening on %s%s%s:%u\n", gv6 ? "[" : "", ghost.c_str(),
                gv6 ? "]" : "", static_cast<unsigned>(grpc_server->port()));
    std::fflush(stdout);
  }

  // The http line comes last: once it is printed, every listener is up.
  std::unique_ptr<mlos::ipc::Server> ipc_server;
  if (!config.ipc_path.empty()) {
    mlos::ipc::ServerOptions ipc_options;
    ipc_options.path = config.ipc_path;
    ipc_options.mode = config.ipc_mode;
    ipc_options.server_version = MLOS_VERSION;
    ipc_options.limits = config.ipc_limits;
    ipc_options.limits.observe = observe("ipc");
    ipc_options.send_timeout = service_options.request_timeout;
    ipc_server = std::make_unique<mlos::ipc::Server>(service, ipc_options);
    if (mlos::Status st = ipc_server->Start(); !st.ok()) {
      spdlog::error("{}", st.message());
      server.Stop(std::chrono::seconds(0));
      (*core)->Shutdown();
      return 1;
    }
    std::printf("mlosd ipc listening on %s\n", config.ipc_path.c_str());
    std::fflush(stdout);
  }
  const std::string& host = listen->first;
  const bool v6 = host.find(':') != std::string::npos;
  std::printf("mlosd listening on %s://%s%s%s:%u\n",
              config.http_tls_cert.empty() ? "http" : "https", v6 ? "[" : "", host.c_str(),
              v6 ? "]" : "", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  spdlog::info("serving on {}:{} (state {}, {} plugin dir(s))", host, server.port(),
               config.state_dir.string(), config.plugin_dirs.size());

  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    if (repository) {
      spdlog::info("SIGHUP received: rescanning the model repositories");
      repository->Rescan();
    }
  }
  spdlog::info("{} received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  if (repository) repository->Stop();
  if (ipc_server) ipc_server->Stop(std::chrono::seconds(30));
  if (grpc_server) grpc_server->Stop(std::chrono::seconds(30));
  server.Stop(std::chrono::seconds(30));
  (*core)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
