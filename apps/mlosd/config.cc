#include "config.h"
#include "config_internal.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace mlos::mlosd {
namespace {

std::filesystem::path BinaryDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::filesystem::current_path(ec);
  return exe.parent_path();
}

// A YAML scalar as the JSON value it most plausibly means.
nlohmann::json ScalarToJson(const YAML::Node& n) {
  const std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: a string
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  int64_t i;
  auto r = std::from_chars(s.data(), s.data() + s.size(), i);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return i;
  double d;
  auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
  if (rd.ec == std::errc() && rd.ptr == s.data() + s.size()) return d;
  return s;
}

nlohmann::json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e));
      return a;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(n);
    default:
      return nullptr;
  }
}

}  // namespace

template <typename T>
Status Read(const YAML::Node& parent, const char* key, const std::string& path, T& out) {
  const YAML::Node n = parent[key];
  if (!n || n.IsNull()) return Status::Ok();
  try {
    out = n.as<T>();
  } catch (const YAML::Exception&) {
    return InvalidArgument("config field '" + path + "' has the wrong type");
  }
  return Status::Ok();
}

template Status Read(const YAML::Node&, const char*, const std::string&, std::string&);
template Status Read(const YAML::Node&, const char*, const std::string&, int&);
template Status Read(const YAML::Node&, const char*, const std::string&, double&);
template Status Read(const YAML::Node&, const char*, const std::string&, std::vector<std::string>&);
template Status Read(const YAML::Node&, const char*, const std::string&, bool&);

Status CheckKnownKeys(const YAML::Node& map, const std::string& path,
                      std::initializer_list<const char*> keys) {
  if (!map.IsMap()) return InvalidArgument("config field '" + path + "' must be a mapping");
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    bool ok = false;
    std::string known;
    for (const char* k : keys) {
      ok = ok || key == k;
      known += (known.empty() ? "" : ", ") + std::string(k);
    }
    if (!ok) {
      return InvalidArgument("config field '" + path + "." + key + "' is unknown (known: " +
                             known + ")");
    }
  }
  return Status::Ok();
}

// http./grpc./ipc. max_connections, header_timeout_s, idle_timeout_s, max_header_bytes.
Status ReadConnectionLimits(const YAML::Node& section, const std::string& name,
                            bool has_max_connections, api::ConnectionLimits& limits) {
  auto seconds = [&](const char* key, std::chrono::milliseconds& out, bool zero_ok) -> Status {
    if (!section[key]) return Status::Ok();
    double v = -1;
    MLOS_RETURN_IF_ERROR(Read(section, key, name + "." + key, v));
    if (v < 0 || (v == 0 && !zero_ok) || v > 86400) {
      return InvalidArgument("config field '" + name + "." + key + "' must be " +
                             (zero_ok ? "0 (never) or up to" : "> 0 and at most") +
                             " 86400 seconds");
    }
    out = std::chrono::milliseconds(static_cast<int64_t>(v * 1000));
    return Status::Ok();
  };
  // gRPC: 0 keeps gRPC's own handshake timeout.
  MLOS_RETURN_IF_ERROR(seconds("header_timeout_s", limits.header_timeout, !has_max_connections));
  MLOS_RETURN_IF_ERROR(seconds("idle_timeout_s", limits.idle_timeout, true));
  if (section["max_header_bytes"]) {
    int v = 0;
    MLOS_RETURN_IF_ERROR(Read(section, "max_header_bytes", name + ".max_header_bytes", v));
    if (v < 1024 || v > 16 * 1024 * 1024) {
      return InvalidArgument("config field '" + name +
                             ".max_header_bytes' must be between 1024 and 16777216");
    }
    limits.max_header_bytes = static_cast<uint32_t>(v);
  }
  if (section["max_connections"]) {
    if (!has_max_connections) {
      return InvalidArgument("config field '" + name +
                             ".max_connections' is not supported (gRPC 1.51 has no connection "
                             "limit; see docs/reliability.md)");
    }
    int v = -1;
    MLOS_RETURN_IF_ERROR(Read(section, "max_connections", name + ".max_connections", v));
    if (v < 0 || v > 1000000) {
      return InvalidArgument("config field '" + name +
                             ".max_connections' must be 0 (no limit) or up to 1000000");
    }
    limits.max_connections = v;
  }
  return Status::Ok();
}

DaemonConfig DefaultConfig() {
  DaemonConfig c;
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
    c.state_dir = std::filesystem::path(xdg) / "mlos";
  } else {
    c.state_dir = "var";
  }
  c.plugin_dirs.push_back((BinaryDir() / ".." / "lib" / "mlos" / "plugins").lexically_normal());
  return c;
}

Status ApplyConfigFile(const std::filesystem::path& file, DaemonConfig& c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    return NotFound("cannot read config file " + file.string());
  } catch (const YAML::Exception& e) {
    return InvalidArgument("config file " + file.string() + ": " + e.what());
  }
  if (!root || root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return InvalidArgument("config file " + file.string() + ": not a mapping");
  if (const YAML::Node http = root["http"]; http) {
    if (!http.IsMap()) return InvalidArgument("config field 'http' must be a mapping");
    MLOS_RETURN_IF_ERROR(Read(http, "listen", "http.listen", c.http));
    MLOS_RETURN_IF_ERROR(Read(http, "threads", "http.threads", c.threads));
    MLOS_RETURN_IF_ERROR(Read(http, "max_body_bytes", "http.max_body_bytes", c.max_body_bytes));
    MLOS_RETURN_IF_ERROR(
        Read(http, "request_timeout_s", "http.request_timeout_s", c.request_timeout_s));
    MLOS_RETURN_IF_ERROR(Read(http, "infer_threads", "http.infer_threads", c.infer_threads));
    if (http["infer_threads"] && (c.infer_threads < 0 || c.infer_threads > 1024)) {
      return InvalidArgument("config field 'http.infer_threads' must be between 0 and 1024");
    }
    MLOS_RETURN_IF_ERROR(ReadConnectionLimits(http, "http", true, c.http_limits));
    MLOS_RETURN_IF_ERROR(Read(http, "stream_threads", "http.stream_threads", c.stream_threads));
    if (http["stream_threads"] && (c.stream_threads < 1 || c.stream_threads > 4096)) {
      return InvalidArgument("config field 'http.stream_threads' must be between 1 and 4096");
    }
    if (const YAML::Node tls = http["tls"]; tls) {
      if (!tls.IsMap()) return InvalidArgument("config field 'http.tls' must be a mapping");
      MLOS_RETURN_IF_ERROR(Read(tls, "cert", "http.tls.cert", c.http_tls_cert));
      MLOS_RETURN_IF_ERROR(Read(tls, "key", "http.tls.key", c.http_tls_key));
      MLOS_RETURN_IF_ERROR(Read(tls, "client_ca", "http.tls.client_ca", c.http_tls_client_ca));
    }
  }
  if (const YAML::Node sec = root["security"]; sec && !sec.IsNull()) {
    MLOS_RETURN_IF_ERROR(ApplySecurityConfig(sec, c));
  }
  if (const YAML::Node res = root["resources"]; res && !res.IsNull()) {
    MLOS_RETURN_IF_ERROR(ApplyResourcesConfig(res, c));
  }
  if (const YAML::Node iso = root["isolation"]; iso && !iso.IsNull()) {
    MLOS_RETURN_IF_ERROR(ApplyIsolationConfig(iso, c));
  }
  if (const YAML::Node sch = root["scheduling"]; sch && !sch.IsNull()) {
    if (!sch.IsMap()) return InvalidArgument("config field 'scheduling' must be a mapping");
    for (const auto& kv : sch) {
      const std::string key = kv.first.as<std::string>();
      if (key != "max_concurrent_infers") {
        return InvalidArgument("config field 'scheduling." + key +
                               "' is unknown (known: max_concurrent_infers)");
      }
    }
    MLOS_RETURN_IF_ERROR(Read(sch, "max_concurrent_infers", "scheduling.max_concurrent_infers",
                              c.max_concurrent_infers));
    if (c.max_concurrent_infers < 0 || c.max_concurrent_infers > 4096) {
      return InvalidArgument(
          "config field 'scheduling.max_concurrent_infers' must be between 0 and 4096");
    }
  }
  if (const YAML::Node b = root["batching"]; b && !b.IsNull()) {
    if (!b.IsMap()) return InvalidArgument("config field 'batching' must be a mapping");
    for (const auto& kv : b) {
      const std::string key = kv.first.as<std::string>();
      if (key != "max_batch_size" && key != "max_concurrent_batches") {
        return InvalidArgument("config field 'batching." + key +
                               "' is unknown (known: max_batch_size, max_concurrent_batches)");
      }
    }
    MLOS_RETURN_IF_ERROR(
        Read(b, "max_batch_size", "batching.max_batch_size", c.max_batch_size));
    MLOS_RETURN_IF_ERROR(Read(b, "max_concurrent_batches", "batching.max_concurrent_batches",
                              c.max_concurrent_batches));
    if (c.max_batch_size < 0 || c.max_batch_size > 65536) {
      return InvalidArgument("config field 'batching.max_batch_size' must be between 0 and 65536");
    }
    if (c.max_concurrent_batches < 1 || c.max_concurrent_batches > 256) {
      return InvalidArgument(
          "config field 'batching.max_concurrent_batches' must be between 1 and 256");
    }
  }
  if (const YAML::Node grpc = root["grpc"]; grpc) {
    if (!grpc.IsMap()) return InvalidArgument("config field 'grpc' must be a mapping");
    MLOS_RETURN_IF_ERROR(Read(grpc, "listen", "grpc.listen", c.grpc));
    MLOS_RETURN_IF_ERROR(Read(grpc, "max_message_bytes", "grpc.max_message_bytes",
                              c.grpc_max_message_bytes));
    MLOS_RETURN_IF_ERROR(ReadConnectionLimits(grpc, "grpc", false, c.grpc_limits));
    if (const YAML::Node tls = grpc["tls"]; tls) {
      if (!tls.IsMap()) return InvalidArgument("config field 'grpc.tls' must be a mapping");
      MLOS_RETURN_IF_ERROR(Read(tls, "cert", "grpc.tls.cert", c.grpc_tls_cert));
      MLOS_RETURN_IF_ERROR(Read(tls, "key", "grpc.tls.key", c.grpc_tls_key));
      MLOS_RETURN_IF_ERROR(Read(tls, "client_ca", "grpc.tls.client_ca", c.grpc_tls_client_ca));
    }
  }
  if (const YAML::Node ipc = root["ipc"]; ipc) {
    if (!ipc.IsMap()) return InvalidArgument("config field 'ipc' must be a mapping");
    MLOS_RETURN_IF_ERROR(Read(ipc, "path", "ipc.path", c.ipc_path));
    MLOS_RETURN_IF_ERROR(ReadConnectionLimits(ipc, "ipc", true, c.ipc_limits));
    std::string mode;  // octal, e.g. "0660"
    MLOS_RETURN_IF_ERROR(Read(ipc, "mode", "ipc.mode", mode));
    if (!mode.empty()) {
      unsigned m = 0;
      auto r = std::from_chars(mode.data(), mode.data() + mode.size(), m, 8);
      if (r.ec != std::errc() || r.ptr != mode.data() + mode.size() || m > 0777) {
        return InvalidArgument("config field 'ipc.mode' must be octal permissions like 0660");
      }
      c.ipc_mode = m;
    }
  }
  std::string state_dir;
  MLOS_RETURN_IF_ERROR(Read(root, "state_dir", "state_dir", state_dir));
  if (!state_dir.empty()) c.state_dir = state_dir;
  if (const YAML::Node dirs = root["plugin_dirs"]; dirs) {
    std::vector<std::string> v;
    MLOS_RETURN_IF_ERROR(Read(root, "plugin_dirs", "plugin_dirs", v));
    c.plugin_dirs.assign(v.begin(), v.end());
  }
  if (const YAML::Node plugins = root["plugins"]; plugins && !plugins.IsNull()) {
    if (!plugins.IsMap()) return InvalidArgument("config field 'plugins' must be a mapping");
    c.plugin_config_json = YamlToJson(plugins).dump();
  }
  MLOS_RETURN_IF_ERROR(Read(root, "lazy_load", "lazy_load", c.lazy_load));
  if (const YAML::Node repo = root["model_repository"]; repo && !repo.IsNull()) {
    MLOS_RETURN_IF_ERROR(CheckKnownKeys(repo, "model_repository", {"paths", "poll_seconds"}));
    MLOS_RETURN_IF_ERROR(Read(repo, "paths", "model_repository.paths", c.model_repositories));
    MLOS_RETURN_IF_ERROR(
        Read(repo, "poll_seconds", "model_repository.poll_seconds", c.poll_repository_s));
    if (c.poll_repository_s < 0) {
      return InvalidArgument("config field 'model_repository.poll_seconds' must be >= 0");
    }
  }
  if (const YAML::Node log = root["log"]; log) {
    if (!log.IsMap()) return InvalidArgument("config field 'log' must be a mapping");
    MLOS_RETURN_IF_ERROR(Read(log, "level", "log.level", c.log_level));
    MLOS_RETURN_IF_ERROR(Read(log, "json", "log.json", c.log_json));
  }
  if (c.threads < 0) return InvalidArgument("config field 'http.threads' must be >= 0");
  if (c.request_timeout_s <= 0) {
    return InvalidArgument("config field 'http.request_timeout_s' must be > 0");
  }
  return Status::Ok();
}

int HttpInferThreads(const DaemonConfig& c) {
  if (c.infer_threads >= 0) return c.infer_threads;
  // With the scheduler on, requests wait in its queue: on the io threads they would stop the
  // server from reading the urgent requests the queue is there to let through.
  if (c.scheduling != "off") return 64;
  if (c.max_batch_size <= 1) return 0;
  return std::min(256, (c.max_concurrent_batches + 1) * c.max_batch_size);
}

void ApplyEnvironment(DaemonConfig& c) {
  if (const char* v = std::getenv("MLOS_HTTP"); v && *v) c.http = v;
  if (const char* v = std::getenv("MLOS_STATE_DIR"); v && *v) c.state_dir = v;
}

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return InvalidArgument("--http must be HOST:PORT, got '" + listen + "'");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return InvalidArgument("--http must be HOST:PORT, got '" + listen + "'");
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  unsigned p = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || p > 65535) {
    return InvalidArgument("--http port must be 0..65535, got '" + port + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(p));
}

}  // namespace mlos::mlosd
