// Client::Connect (transport by URL scheme), URL parsing, TLS option checks, dtype helpers,
// InferAsync, JSON decoders shared by the transports.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "client/internal.h"
#include "wire/bytes_codec.h"
#include "wire/dtype.h"
#include "wire/keep_alive.h"

namespace mlos::client {
namespace {

using nlohmann::json;

Result<uint16_t> ParsePort(std::string_view s, std::string_view url) {
  if (s.empty() || s.size() > 5) return InvalidArgument("bad port in URL '" + std::string(url) + "'");
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return InvalidArgument("bad port in URL '" + std::string(url) + "'");
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return InvalidArgument("port out of range in URL '" + std::string(url) + "'");
  return static_cast<uint16_t>(v);
}

template <typename T>
void Get(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
  }
}

}  // namespace

uint64_t DtypeSize(std::string_view dtype) {
  const wire::DtypeInfo* d = wire::DtypeByName(dtype);
  return d ? d->size : 0;
}

bool IsKnownDtype(std::string_view dtype) { return wire::DtypeByName(dtype) != nullptr; }

int64_t ElementCount(const std::vector<int64_t>& shape) { return wire::ElementCount(shape); }

std::string Endpoint::ToString() const {
  switch (scheme) {
    case Scheme::kUnix:
      return "unix://" + path;
    case Scheme::kGrpc:
    case Scheme::kHttp: {
      const bool v6 = host.find(':') != std::string::npos;
      std::string s = scheme == Scheme::kGrpc ? "grpc" : "http";
      if (tls) s += "s";
      return s + "://" + (v6 ? "[" : "") + host + (v6 ? "]" : "") + ":" + std::to_string(port);
    }
  }
  return "";
}

Result<Endpoint> ParseUrl(std::string_view url) {
  Endpoint ep;
  std::string_view rest = url;
  if (url.empty()) return InvalidArgument("empty server URL");
  if (rest.starts_with("unix://")) {
    ep.scheme = Endpoint::Scheme::kUnix;
    ep.path = std::string(rest.substr(7));
    if (ep.path.empty() || ep.path.front() != '/') {
      return InvalidArgument("unix URL needs an absolute socket path: unix:///path/to/mlosd.sock");
    }
    if (ep.path.size() >= 108) return InvalidArgument("unix socket path too long: " + ep.path);
    return ep;
  }
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    ep.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("grpc://")) {
    ep.scheme = Endpoint::Scheme::kGrpc;
    rest.remove_prefix(7);
  } else if (rest.starts_with("grpcs://")) {
    ep.scheme = Endpoint::Scheme::kGrpc;
    ep.tls = true;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return InvalidArgument("unsupported URL scheme in '" + std::string(url) +
                           "' (use http://, https://, grpc://, grpcs:// or unix://)");
  }
  // Drop one trailing '/', refuse other paths.
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return InvalidArgument("URL '" + std::string(url) + "' must not have a path");
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return InvalidArgument("unclosed '[' in URL '" + std::string(url) + "'");
    ep.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return InvalidArgument("bad URL '" + std::string(url) + "'");
      port = rest.substr(1);
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      ep.host = std::string(rest.substr(0, colon));
      port = rest.substr(colon + 1);
      if (ep.host.find(':') != std::string::npos) {
        return InvalidArgument("IPv6 hosts need brackets: '" + std::string(url) + "'");
      }
    } else {
      ep.host = std::string(rest);
    }
  }
  if (ep.host.empty()) return InvalidArgument("URL '" + std::string(url) + "' has no host");
  if (port.empty()) {
    ep.port = ep.scheme == Endpoint::Scheme::kGrpc ? 8081 : 8080;
  } else {
    MLOS_ASSIGN_OR_RETURN(ep.port, ParsePort(port, url));
  }
  return ep;
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& url,
                                                const ClientOptions& options) {
  MLOS_ASSIGN_OR_RETURN(Endpoint ep, ParseUrl(url));
  MLOS_RETURN_IF_ERROR(internal::CheckTlsOptions(ep, options));
  switch (ep.scheme) {
    case Endpoint::Scheme::kHttp:
      return internal::NewHttpClient(ep, options);
    case Endpoint::Scheme::kGrpc:
      return internal::NewGrpcClient(ep, options);
    case Endpoint::Scheme::kUnix:
      return internal::NewIpcClient(ep, options);
  }
  return InvalidArgument("unsupported URL");
}

std::future<Result<InferResult>> Client::InferAsync(InferRequest request) {
  return std::async(std::launch::async,
                    [this, r = std::move(request)]() -> Result<InferResult> { return Infer(r); });
}

namespace internal {

std::string KServeDtype(std::string_view dtype) {
  const wire::DtypeInfo* d = wire::DtypeByName(dtype);
  return d ? d->kserve : "";
}

std::string DtypeFromKServe(std::string_view kserve) {
  const wire::DtypeInfo* d = wire::DtypeByKServeName(kserve);
  return d ? d->name : "";
}

std::string EncodeSegment(std::string_view s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", u);
      out += b;
    }
  }
  return out;
}

Result<TensorInfo> TensorInfoFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("tensor metadata is not an object");
  TensorInfo t;
  Get(j, "name", t.name);
  Get(j, "dtype", t.dtype);
  if (t.dtype.empty()) {
    std::string k;
    Get(j, "datatype", k);
    t.dtype = DtypeFromKServe(k);
    if (t.dtype.empty()) t.dtype = k;
  }
  Get(j, "shape", t.shape);
  return t;
}

static std::vector<TensorInfo> Infos(const json& j, const char* key) {
  std::vector<TensorInfo> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const json& e : *it) {
    auto t = TensorInfoFromJson(e);
    if (t.ok()) out.push_back(std::move(t).value());
  }
  return out;
}

std::vector<ShmRegionInfo> ShmRegionsFromJson(const json& j) {
  std::vector<ShmRegionInfo> out;
  if (!j.is_array()) return out;
  for (const json& r : j) {
    if (!r.is_object()) continue;
    ShmRegionInfo i;
    i.name = r.value("name", "");
    i.key = r.value("key", "");
    i.offset = r.value("offset", uint64_t{0});
    i.byte_size = r.value("byte_size", uint64_t{0});
    out.push_back(std::move(i));
  }
  return out;
}

Result<ModelMetadata> ModelMetadataFromJson(const json& j) {
  ModelMetadata m;
  m.name = j.value("name", "");
  m.platform = j.value("platform", "");
  if (j.contains("versions") && j["versions"].is_array()) {
    for (const json& v : j["versions"]) {
      if (v.is_string()) m.versions.push_back(v.get<std::string>());
    }
  }
  for (const char* key : {"inputs", "outputs"}) {
    if (!j.contains(key) || !j[key].is_array()) continue;
    for (const json& e : j[key]) {
      MLOS_ASSIGN_OR_RETURN(TensorInfo t, TensorInfoFromJson(e));
      (std::string_view(key) == "inputs" ? m.inputs : m.outputs).push_back(std::move(t));
    }
  }
  return m;
}

std::string RegisterBody(const RegisterRequest& r) {
  json body = {{"model_id", r.model_id}, {"path", r.path}};
  if (!r.name.empty()) body["name"] = r.name;
  if (!r.framework.empty()) body["framework"] = r.framework;
  if (!r.execution_format.empty()) body["execution_format"] = r.execution_format;
  if (!r.description.empty()) body["description"] = r.description;
  if (!r.manifest_path.empty()) body["manifest_path"] = r.manifest_path;
  return body.dump();
}

Result<ModelInfo> ModelInfoFromJson(const json& j) {
  if (!j.is_object()) return Internal("server sent a model that is not a JSON object");
  ModelInfo m;
  Get(j, "id", m.id);
  if (m.id.empty()) Get(j, "model_id", m.id);
  Get(j, "name", m.name);
  Get(j, "version", m.version);
  Get(j, "state", m.state);
  Get(j, "reason", m.reason);
  Get(j, "framework", m.framework);
  Get(j, "execution_format", m.execution_format);
  Get(j, "plugin", m.plugin);
  Get(j, "path", m.path);
  Get(j, "description", m.description);
  Get(j, "is_default", m.is_default);
  Get(j, "aliases", m.aliases);
  Get(j, "desired_loaded", m.desired_loaded);
  Get(j, "memory_bytes", m.memory_bytes);
  Get(j, "shared_memory_bytes", m.shared_memory_bytes);
  Get(j, "memory_estimate_bytes", m.memory_estimate_bytes);
  Get(j, "load_time_ms", m.load_time_ms);
  Get(j, "load_kind", m.load_kind);
  Get(j, "pinned", m.pinned);
  Get(j, "keep_alive_ms", m.keep_alive_ms);
  Get(j, "priority", m.priority);
  Get(j, "last_used_unix_ms", m.last_used_unix_ms);
  Get(j, "evictions", m.evictions);
  Get(j, "unload_reason", m.unload_reason);
  Get(j, "isolation", m.isolation);
  Get(j, "worker_pid", m.worker_pid);
  Get(j, "worker_state", m.worker_state);
  Get(j, "worker_restarts", m.worker_restarts);
  Get(j, "last_crash", m.last_crash);
  m.inputs = Infos(j, "inputs");
  m.outputs = Infos(j, "outputs");
  Get(j, "dependencies", m.dependencies);
  return m;
}

Result<PluginInfo> PluginInfoFromJson(const json& j) {
  if (!j.is_object()) return Internal("server sent a plugin that is not a JSON object");
  PluginInfo p;
  Get(j, "name", p.name);
  Get(j, "version", p.version);
  Get(j, "framework", p.framework);
  Get(j, "execution_formats", p.execution_formats);
  Get(j, "capabilities", p.capabilities);
  Get(j, "path", p.path);
  return p;
}

Result<std::vector<ModelInfo>> ModelListFromJson(const json& j) {
  auto it = j.is_object() ? j.find("models") : j.end();
  if (it == j.end() || !it->is_array()) {
    return Internal("server's model list has no 'models' array");
  }
  std::vector<ModelInfo> out;
  for (const json& m : *it) {
    MLOS_ASSIGN_OR_RETURN(ModelInfo info, ModelInfoFromJson(m));
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<PluginInfo>> PluginListFromJson(const json& j) {
  auto it = j.is_object() ? j.find("plugins") : j.end();
  if (it == j.end() || !it->is_array()) {
    return Internal("server's plugin list has no 'plugins' array");
  }
  std::vector<PluginInfo> out;
  for (const json& p : *it) {
    MLOS_ASSIGN_OR_RETURN(PluginInfo info, PluginInfoFromJson(p));
    out.push_back(std::move(info));
  }
  return out;
}

Result<TokenInfo> TokenInfoFromJson(const json& j) {
  if (!j.is_object()) return Internal("server sent a token that is not a JSON object");
  TokenInfo t;
  Get(j, "name", t.name);
  Get(j, "role", t.role);
  Get(j, "models", t.models);
  Get(j, "created_at", t.created_at);
  Get(j, "expires_at", t.expires_at);
  Get(j, "last_used_at", t.last_used_at);
  Get(j, "revoked_at", t.revoked_at);
  return t;
}

Result<CreatedToken> CreatedTokenFromJson(const json& j) {
  CreatedToken c;
  MLOS_ASSIGN_OR_RETURN(c.info, TokenInfoFromJson(j));
  Get(j, "token", c.token);
  if (c.token.empty()) return Internal("server's answer to a token create has no token");
  return c;
}

Result<std::vector<TokenInfo>> TokenListFromJson(const json& j) {
  auto it = j.is_object() ? j.find("tokens") : j.end();
  if (it == j.end() || !it->is_array()) {
    return Internal("server's token list has no 'tokens' array");
  }
  std::vector<TokenInfo> out;
  for (const json& t : *it) {
    MLOS_ASSIGN_OR_RETURN(TokenInfo info, TokenInfoFromJson(t));
    out.push_back(std::move(info));
  }
  return out;
}

std::string TokenCreateBody(const std::string& name, const std::string& role,
                            const std::vector<std::string>& models, const std::string& expires) {
  json body = {{"name", name}, {"role", role}};
  if (!models.empty()) body["models"] = models;
  if (!expires.empty()) body["expires"] = expires;
  return body.dump();
}

Status CheckTokenName(const std::string& name) {
  return name.empty() ? InvalidArgument("token name is empty") : Status::Ok();
}

Result<std::string> ReadPemFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgument(std::string("TLS ") + what + " '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    return InvalidArgument(std::string("TLS ") + what + " '" + path + "' is empty or not a file");
  }
  return text.str();
}

Status CheckTlsOptions(const Endpoint& ep, const ClientOptions& options) {
  const ClientOptions::Tls& tls = options.tls;
  if (tls.ca_file.empty() && tls.cert_file.empty() && tls.key_file.empty()) return Status::Ok();
  if (!ep.tls) {
    return InvalidArgument("TLS files (CA, certificate, key) need an https:// or grpcs:// URL, "
                           "not " + ep.ToString());
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return InvalidArgument(tls.cert_file.empty()
                               ? "TLS key file '" + tls.key_file + "' needs its certificate"
                               : "TLS certificate file '" + tls.cert_file + "' needs its key");
  }
  for (const auto& [what, path] : {std::pair{"CA file", &tls.ca_file},
                                   std::pair{"certificate file", &tls.cert_file},
                                   std::pair{"key file", &tls.key_file}}) {
    if (!path->empty()) MLOS_RETURN_IF_ERROR(ReadPemFile(*path, what).status());
  }
  return Status::Ok();
}

Result<ServerMetadata> ServerMetadataFromJson(const json& j) {
  if (!j.is_object()) return Internal("server metadata is not a JSON object");
  ServerMetadata m;
  Get(j, "name", m.name);
  Get(j, "version", m.version);
  Get(j, "extensions", m.extensions);
  return m;
}

std::string SerializeBytes(const Tensor& t) {
  if (t.dtype != "string") return std::string(t.data.begin(), t.data.end());
  std::string out;
  wire::AppendBytesElements(t.strings, out);
  return out;
}

Status DeserializeBytes(std::string_view bytes, Tensor& t) {
  if (t.dtype != "string") {
    // Same element type both sides, so this is one memmove (from char iterators libstdc++
    // copies byte by byte: a 1 MB output took longer than the round trip that carried it).
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    t.data.assign(p, p + bytes.size());
    return Status::Ok();
  }
  Status st = wire::DecodeBytesElements(bytes, t.name, -1, t.shape, &t.strings);
  // A server that sends a broken answer is the server's fault, not the caller's.
  if (!st.ok()) return Internal("output '" + t.name + "': truncated BYTES data");
  return Status::Ok();
}

Status DeserializeOutput(std::string_view bytes, Tensor& t,
                         const std::shared_ptr<const void>& storage) {
  if (!storage || t.dtype == "string") return DeserializeBytes(bytes, t);
  // A view only where it is aligned for its element type (an HTTP answer packs binary outputs
  // back to back, so one after an odd-sized output may not be): otherwise copied.
  const uint64_t elem = std::max<uint64_t>(DtypeSize(t.dtype), 1);
  if (reinterpret_cast<uintptr_t>(bytes.data()) % elem != 0) return DeserializeBytes(bytes, t);
  t.view = reinterpret_cast<const uint8_t*>(bytes.data());
  t.view_size = bytes.size();
  t.storage = storage;
  return Status::Ok();
}

Status CheckInferOptions(const InferOptions& o) {
  if (o.priority < 0) {
    return InvalidArgument("priority " + std::to_string(o.priority) +
                           " must be >= 0 (1 = most urgent, 0 = the model's default)");
  }
  if (o.timeout.count() < 0) {
    return InvalidArgument("timeout " + std::to_string(o.timeout.count()) + " ms must be >= 0");
  }
  return Status::Ok();
}

std::string KeepAliveText(std::chrono::milliseconds keep_alive) {
  return wire::FormatKeepAlive(keep_alive);
}

Status CheckTensor(const Tensor& t) {
  if (t.name.empty()) return InvalidArgument("a tensor has no name");
  if (!IsKnownDtype(t.dtype)) {
    return InvalidArgument("tensor '" + t.name + "': unknown dtype '" + t.dtype + "'");
  }
  const int64_t n = ElementCount(t.shape);
  if (n < 0) return InvalidArgument("tensor '" + t.name + "': bad shape");
  if (t.shm.used()) return Status::Ok();
  if (t.dtype == "string") {
    if (static_cast<int64_t>(t.strings.size()) != n) {
      return InvalidArgument("tensor '" + t.name + "': " + std::to_string(t.strings.size()) +
                             " strings for " + std::to_string(n) + " elements");
    }
    return Status::Ok();
  }
  const uint64_t want = static_cast<uint64_t>(n) * DtypeSize(t.dtype);
  if (t.data.size() != want) {
    return InvalidArgument("tensor '" + t.name + "': " + std::to_string(t.data.size()) +
                           " data bytes, shape needs " + std::to_string(want));
  }
  return Status::Ok();
}

nlohmann::json GenerateParams(const GenerateOptions& o) {
  nlohmann::json p = nlohmann::json::object();
  if (o.max_tokens) p["max_tokens"] = *o.max_tokens;
  if (o.temperature) p["temperature"] = *o.temperature;
  if (o.top_p) p["top_p"] = *o.top_p;
  if (o.top_k) p["top_k"] = *o.top_k;
  if (o.seed) p["seed"] = *o.seed;
  if (!o.stop.empty()) p["stop"] = o.stop;
  return p;
}

nlohmann::json ChatMessagesJson(const std::vector<ChatMessage>& messages) {
  nlohmann::json a = nlohmann::json::array();
  for (const ChatMessage& m : messages) a.push_back({{"role", m.role}, {"content", m.content}});
  return a;
}

void ReadGenerateUsage(const nlohmann::json& j, GenerateResult& r) {
  if (!j.is_object()) return;
  auto text = [](const nlohmann::json& o, const char* key, std::string& out) {
    if (auto it = o.find(key); it != o.end() && it->is_string()) out = it->get<std::string>();
  };
  auto count = [](const nlohmann::json& o, const char* key, uint64_t& out) {
    if (auto it = o.find(key); it != o.end() && it->is_number_unsigned()) {
      out = it->get<uint64_t>();
    } else if (it != o.end() && it->is_number_integer() && it->get<int64_t>() >= 0) {
      out = static_cast<uint64_t>(it->get<int64_t>());
    }
  };
  text(j, "finish_reason", r.finish_reason);
  text(j, "model_id", r.model_id);
  for (const nlohmann::json* o : {&j, j.contains("usage") ? &j["usage"] : nullptr}) {
    if (!o || !o->is_object()) continue;
    count(*o, "prompt_tokens", r.prompt_tokens);
    count(*o, "completion_tokens", r.completion_tokens);
    count(*o, "cached_tokens", r.cached_tokens);
    if (auto d = o->find("prompt_tokens_details"); d != o->end() && d->is_object()) {
      count(*d, "cached_tokens", r.cached_tokens);
    }
  }
}

}  // namespace internal
}  // namespace mlos::client
