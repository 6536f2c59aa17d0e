#include "api/http/router.h"

#include <vector>

#include "api/http/url.h"
#include "core/policy.h"

namespace mlos::http {
namespace {

RouteMatch NotFoundPath(std::string_view target) {
  RouteMatch m;
  m.error_status = 404;
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  m.error = "no route for " + std::string(path.substr(0, 200));
  return m;
}

RouteMatch BadMethod(const char* allow) {
  RouteMatch m;
  m.error_status = 405;
  m.allow = allow;
  m.error = std::string("method not allowed; allowed: ") + allow;
  return m;
}

RouteMatch BadId(const Status& st) {
  RouteMatch m;
  m.error_status = 400;
  m.error = st.message();
  return m;
}

bool IsGet(Method m) { return m == Method::kGet || m == Method::kHead; }

// One route with one allowed method: the match or a 405.
RouteMatch Only(Method have, Method want, Route r, const char* allow) {
  const bool ok = want == Method::kGet ? IsGet(have) : have == want;
  if (!ok) return BadMethod(allow);
  RouteMatch m;
  m.route = r;
  return m;
}

RouteMatch MatchModels(Method method, const std::vector<std::string_view>& seg,
                       std::string_view target) {
  // seg[0] == "models"
  if (seg.size() == 1) return Only(method, Method::kGet, Route::kModelsList, "GET");
  if (seg.size() == 2 && seg[1] == "register") {
    return Only(method, Method::kPost, Route::kModelsRegister, "POST");
  }
  // An action is the last segment when there are at least two after "models"; ids may arrive
  // as one encoded segment or as several raw ones ("hf/bert@1" unencoded).
  struct Action {
    std::string_view name;
    Route route;
  };
  static const Action kActions[] = {{"load", Route::kModelLoad},
                                    {"unload", Route::kModelUnload},
                                    {"rollback", Route::kModelRollback},
                                    {"default", Route::kModelDefault},
                                    {"alias", Route::kModelAlias},
                                    {"pin", Route::kModelPin},
                                    {"unpin", Route::kModelUnpin},
                                    {"inference", Route::kModelInference},
                                    {"infer", Route::kModelInference}};
  if (seg.size() >= 3) {
    for (const Action& a : kActions) {
      if (seg.back() != a.name) continue;
      if (method != Method::kPost) return BadMethod("POST");
      auto id = DecodeModelId(seg, 1, seg.size() - 1);
      if (!id.ok()) return BadId(id.status());
      RouteMatch m;
      m.route = a.route;
      m.model = std::move(id).value();
      return m;
    }
  }
  auto id = DecodeModelId(seg, 1, seg.size());
  if (!id.ok()) return BadId(id.status());
  RouteMatch m;
  if (IsGet(method)) {
    m.route = Route::kModelGet;
  } else if (method == Method::kDelete) {
    m.route = Route::kModelDelete;
  } else {
    return BadMethod("GET, DELETE");
  }
  m.model = std::move(id).value();
  (void)target;
  return m;
}

RouteMatch MatchV2Models(Method method, std::vector<std::string_view> seg) {
  // seg = segments after "/v2/models"
  Route route = Route::kV2ModelMetadata;
  const char* allow = "GET";
  Method want = Method::kGet;
  if (!seg.empty() && seg.back() == "ready") {
    route = Route::kV2ModelReady;
    seg.pop_back();
  } else if (!seg.empty() && seg.back() == "infer") {
    route = Route::kV2ModelInfer;
    allow = "POST";
    want = Method::kPost;
    seg.pop_back();
  } else if (!seg.empty() && (seg.back() == "stats" || seg.back() == "config")) {
    route = seg.back() == "stats" ? Route::kV2ModelStats : Route::kV2ModelConfig;
    seg.pop_back();
    // GET /v2/models/stats: every model's statistics.
    if (seg.empty() && route == Route::kV2ModelStats) return Only(method, want, route, allow);
  } else if (seg.size() >= 3 && seg.back() == "setting" && seg[seg.size() - 2] == "trace") {
    // Triton's trace extension, which mlosd does not offer (not in /v2's extensions): a clear
    // answer rather than "model <name>/trace/setting is not registered".
    RouteMatch m;
    m.error_status = 404;
    m.error = "the trace extension is not supported (see the extensions in GET /v2)";
    return m;
  } else if (!seg.empty() && (seg.back() == "generate" || seg.back() == "generate_stream")) {
    route = seg.back() == "generate" ? Route::kV2ModelGenerate : Route::kV2ModelGenerateStream;
    allow = "POST";
    want = Method::kPost;
    seg.pop_back();
  }
  std::string version;
  if (seg.size() >= 3 && seg[seg.size() - 2] == "versions") {
    auto v = PercentDecode(seg.back());
    if (!v.ok()) return BadId(v.status());
    Status st = core::policy::ValidateModelId(*v, "model version");
    if (!st.ok()) return BadId(st);
    version = std::move(v).value();
    seg.resize(seg.size() - 2);
  }
  if (seg.empty()) return NotFoundPath("/v2/models/");
  auto name = DecodeModelId(seg, 0, seg.size());
  if (!name.ok()) return BadId(name.status());
  RouteMatch m = Only(method, want, route, allow);
  if (m.error_status) return m;
  m.model = std::move(name).value();
  m.version = std::move(version);
  return m;
}

RouteMatch MatchV2Shm(Method method, const std::vector<std::string_view>& seg,
                      std::string_view target) {
  // seg[0..1] == "v2", "systemsharedmemory"
  std::string region;
  size_t action = 2;
  if (seg.size() == 5 && seg[2] == "region") {
    auto name = PercentDecode(seg[3]);
    if (!name.ok()) return BadId(name.status());
    if (name->empty()) return BadId(InvalidArgument("empty shared memory region name"));
    region = std::move(name).value();
    action = 4;
  } else if (seg.size() != 3) {
    return NotFoundPath(target);
  }
  RouteMatch m;
  if (seg[action] == "status") {
    m = Only(method, Method::kGet, Route::kV2ShmStatus, "GET");
  } else if (seg[action] == "unregister") {
    m = Only(method, Method::kPost, Route::kV2ShmUnregister, "POST");
  } else if (seg[action] == "register" && !region.empty()) {
    m = Only(method, Method::kPost, Route::kV2ShmRegister, "POST");
  } else {
    return NotFoundPath(target);
  }
  if (!m.error_status) m.region = std::move(region);
  return m;
}

RouteMatch MatchV2(Method method, const std::vector<std::string_view>& seg,
                   std::string_view target) {
  // seg[0] == "v2"
  if (seg.size() == 1) return Only(method, Method::kGet, Route::kV2Server, "GET");
  if (seg[1] == "health" && seg.size() == 3) {
    if (seg[2] == "live") return Only(method, Method::kGet, Route::kV2Live, "GET");
    if (seg[2] == "ready") return Only(method, Method::kGet, Route::kV2Ready, "GET");
    return NotFoundPath(target);
  }
  if (seg[1] == "models" && seg.size() >= 3) {
    return MatchV2Models(method, std::vector<std::string_view>(seg.begin() + 2, seg.end()));
  }
  if (seg[1] == "systemsharedmemory") return MatchV2Shm(method, seg, target);
  if (seg[1] == "repository" && seg.size() >= 3) {
    if (seg.size() == 3 && seg[2] == "index") {
      return Only(method, Method::kPost, Route::kV2RepoIndex, "POST");
    }
    if (seg[2] == "models" && seg.size() >= 5 && (seg.back() == "load" || seg.back() == "unload")) {
      const Route r = seg.back() == "load" ? Route::kV2RepoLoad : Route::kV2RepoUnload;
      if (method != Method::kPost) return BadMethod("POST");
      auto name = DecodeModelId(seg, 3, seg.size() - 1);
      if (!name.ok()) return BadId(name.status());
      RouteMatch m;
      m.route = r;
      m.model = std::move(name).value();
      return m;
    }
  }
  return NotFoundPath(target);
}

RouteMatch MatchOpenAI(Method method, const std::vector<std::string_view>& seg,
                       std::string_view target) {
  // seg[0] == "v1"
  if (seg.size() == 2 && seg[1] == "models") {
    return Only(method, Method::kGet, Route::kOpenAIModels, "GET");
  }
  if (seg.size() >= 3 && seg[1] == "models") {
    RouteMatch m = Only(method, Method::kGet, Route::kOpenAIModel, "GET");
    if (m.error_status) return m;
    // The id as the client wrote it (the handler answers 404 in OpenAI's shape for a bad one).
    std::string id;
    for (size_t i = 2; i < seg.size(); ++i) {
      auto part = PercentDecode(seg[i]);
      if (!part.ok()) return BadId(part.status());
      if (!id.empty()) id += '/';
      id += *part;
    }
    m.model = std::move(id);
    return m;
  }
  if (seg.size() == 3 && seg[1] == "chat" && seg[2] == "completions") {
    return Only(method, Method::kPost, Route::kOpenAIChat, "POST");
  }
  if (seg.size() == 2 && seg[1] == "completions") {
    return Only(method, Method::kPost, Route::kOpenAICompletions, "POST");
  }
  if (seg.size() == 2 && seg[1] == "embeddings") {
    return Only(method, Method::kPost, Route::kOpenAIEmbeddings, "POST");
  }
  return NotFoundPath(target);
}

RouteMatch MatchOllama(Method method, const std::vector<std::string_view>& seg,
                       std::string_view target) {
  // seg[0] == "api"
  if (seg.size() != 2) return NotFoundPath(target);
  struct Entry {
    std::string_view name;
    Route route;
    Method method;
    const char* allow;
  };
  static const Entry kEntries[] = {
      {"chat", Route::kOllamaChat, Method::kPost, "POST"},
      {"generate", Route::kOllamaGenerate, Method::kPost, "POST"},
      {"embed", Route::kOllamaEmbed, Method::kPost, "POST"},
      {"embeddings", Route::kOllamaEmbeddings, Method::kPost, "POST"},
      {"tags", Route::kOllamaTags, Method::kGet, "GET"},
      {"show", Route::kOllamaShow, Method::kPost, "POST"},
      {"ps", Route::kOllamaPs, Method::kGet, "GET"},
      {"version", Route::kOllamaVersion, Method::kGet, "GET"},
  };
  for (const Entry& e : kEntries) {
    if (seg[1] == e.name) return Only(method, e.method, e.route, e.allow);
  }
  return NotFoundPath(target);
}

// The console's files: /ui and /ui/ are index.html, /ui/{name} one file (letters, digits, '.',
// '_', '-'; no leading '.'); anything else is 404, as is a name the handler does not have.
RouteMatch MatchConsole(Method method, const std::vector<std::string_view>& seg,
                        std::string_view target) {
  // seg[0] == "ui"
  if (seg.size() > 2) return NotFoundPath(target);
  std::string_view name = seg.size() == 2 ? seg[1] : std::string_view("index.html");
  if (name.empty() || name.front() == '.' || name.size() > 64) return NotFoundPath(target);
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return NotFoundPath(target);
  }
  RouteMatch m = Only(method, Method::kGet, Route::kUi, "GET");
  if (!m.error_status) m.region = std::string(name);
  return m;
}

}  // namespace

Method MethodFromString(std::string_view m) {
  if (m == "GET") return Method::kGet;
  if (m == "POST") return Method::kPost;
  if (m == "HEAD") return Method::kHead;
  if (m == "PUT") return Method::kPut;
  if (m == "DELETE") return Method::kDelete;
  if (m == "OPTIONS") return Method::kOptions;
  return Method::kOther;
}

RouteMatch MatchRoute(Method method, std::string_view target) {
  if (target.empty() || target.front() != '/') {
    RouteMatch m;
    m.error_status = 400;
    m.error = "request target must be an absolute path";
    return m;
  }
  const std::vector<std::string_view> seg = SplitPath(target);
  if (seg.empty()) return NotFoundPath(target);
  const std::string_view first = seg[0];
  if (seg.size() == 1) {
    if (first == "health") return Only(method, Method::kGet, Route::kHealth, "GET");
    if (first == "stats") return Only(method, Method::kGet, Route::kStats, "GET");
    if (first == "plugins") return Only(method, Method::kGet, Route::kPlugins, "GET");
    if (first == "metrics") return Only(method, Method::kGet, Route::kMetrics, "GET");
  }
  if (first == "ui") return MatchConsole(method, seg, target);
  if (seg.size() == 2 && first == "stats" && seg[1] == "live") {
    return Only(method, Method::kGet, Route::kStatsLive, "GET");
  }
  if (seg.size() == 1 && first == "audit") return Only(method, Method::kGet, Route::kAudit, "GET");
  if (first == "models") return MatchModels(method, seg, target);
  if (first == "tokens") {
    if (seg.size() == 1) {
      if (method == Method::kPost) return Only(method, Method::kPost, Route::kTokenCreate, "GET, POST");
      return Only(method, Method::kGet, Route::kTokensList, "GET, POST");
    }
    if (seg.size() == 2) {
      RouteMatch m = Only(method, Method::kDelete, Route::kTokenRevoke, "DELETE");
      if (m.error_status) return m;
      auto name = PercentDecode(seg[1]);
      if (!name.ok()) return BadId(name.status());
      m.region = std::move(name).value();
      return m;
    }
  }
  if (first == "v2") return MatchV2(method, seg, target);
  if (first == "v1") return MatchOpenAI(method, seg, target);
  if (first == "api") return MatchOllama(method, seg, target);
  return NotFoundPath(target);
}

bool IsBlockingRoute(Route r) {
  switch (r) {
    case Route::kModelsRegister:
    case Route::kModelDelete:
    case Route::kModelLoad:
    case Route::kModelUnload:
    case Route::kModelRollback:
    case Route::kModelDefault:
    case Route::kModelAlias:
    case Route::kModelPin:
    case Route::kModelUnpin:
    case Route::kV2RepoLoad:
    case Route::kV2RepoUnload:
    case Route::kTokenCreate:
    case Route::kTokenRevoke:
      return true;
    default:
      return false;
  }
}

bool IsInferRoute(Route r) { return r == Route::kModelInference || r == Route::kV2ModelInfer; }

bool IsGenerateRoute(Route r) {
  switch (r) {
    case Route::kV2ModelGenerate:
    case Route::kV2ModelGenerateStream:
    case Route::kOpenAIChat:
    case Route::kOpenAICompletions:
    case Route::kOpenAIEmbeddings:
    case Route::kOllamaChat:
    case Route::kOllamaGenerate:
    case Route::kOllamaEmbed:
    case Route::kOllamaEmbeddings:
      return true;
    default:
      return false;
  }
}

}  // namespace mlos::http
