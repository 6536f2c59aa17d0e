// Routing as a pure function: method + request target -> which route, with decoded ids.
// 404 for unknown paths, 405 (with the allowed methods) for a known path and the wrong method,
// 400 for a bad id in the path.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace mlos::http {

enum class Method { kGet, kHead, kPost, kPut, kDelete, kOptions, kOther };
Method MethodFromString(std::string_view m);

enum class Route {
  kNone,
  // The original MLOS API.
  kHealth,           // GET /health
  kStats,            // GET /stats
  kPlugins,          // GET /plugins
  kMetrics,          // GET /metrics
  kModelsList,       // GET /models
  kModelsRegister,   // POST /models/register
  kModelGet,         // GET /models/{id}
  kModelDelete,      // DELETE /models/{id}
  kModelLoad,        // POST /models/{id}/load
  kModelUnload,      // POST /models/{id}/unload
  kModelRollback,    // POST /models/{name}/rollback
  kModelDefault,     // POST /models/{ns/name@version}/default: make that version the default
  kModelAlias,       // POST /models/{ns/name}/alias {"alias", "version"} ("" version: remove)
  kModelPin,         // POST /models/{id}/pin: never evicted, never unloaded by keep_alive
  kModelUnpin,       // POST /models/{id}/unpin
  kModelInference,   // POST /models/{id}/inference
  // KServe Open Inference Protocol v2 (REST).
  kV2Server,         // GET /v2
  kV2Live,           // GET /v2/health/live
  kV2Ready,          // GET /v2/health/ready
  kV2ModelMetadata,  // GET /v2/models/{name}[/versions/{v}]
  kV2ModelReady,     // GET /v2/models/{name}[/versions/{v}]/ready
  kV2ModelInfer,     // POST /v2/models/{name}[/versions/{v}]/infer
  // Triton's statistics and model configuration extensions (what tritonclient and
  // perf_analyzer ask for).
  kV2ModelStats,     // GET /v2/models[/{name}[/versions/{v}]]/stats (no name: every model)
  kV2ModelConfig,    // GET /v2/models/{name}[/versions/{v}]/config
  // KServe/Triton generate extension (LLMs).
  kV2ModelGenerate,        // POST /v2/models/{name}[/versions/{v}]/generate
  kV2ModelGenerateStream,  // POST /v2/models/{name}[/versions/{v}]/generate_stream (SSE)
  kV2RepoIndex,      // POST /v2/repository/index
  kV2RepoLoad,       // POST /v2/repository/models/{name}/load
  kV2RepoUnload,     // POST /v2/repository/models/{name}/unload
  // KServe system shared-memory extension.
  kV2ShmStatus,      // GET /v2/systemsharedmemory[/region/{name}]/status
  kV2ShmRegister,    // POST /v2/systemsharedmemory/region/{name}/register
  kV2ShmUnregister,  // POST /v2/systemsharedmemory[/region/{name}]/unregister ("" = all)
  // OpenAI-compatible API (openai_api.cc).
  kOpenAIModels,       // GET /v1/models
  kOpenAIModel,        // GET /v1/models/{id}
  kOpenAIChat,         // POST /v1/chat/completions
  kOpenAICompletions,  // POST /v1/completions
  kOpenAIEmbeddings,   // POST /v1/embeddings
  // Ollama-compatible API (ollama_api.cc).
  kOllamaChat,        // POST /api/chat
  kOllamaGenerate,    // POST /api/generate
  kOllamaEmbed,       // POST /api/embed
  kOllamaEmbeddings,  // POST /api/embeddings (the older, one-prompt form)
  kOllamaTags,        // GET /api/tags
  kOllamaShow,        // POST /api/show
  kOllamaPs,          // GET /api/ps
  kOllamaVersion,     // GET /api/version
  // Security (admins).
  kTokensList,       // GET /tokens
  kTokenCreate,      // POST /tokens {"name", "role", "models", "expires"}
  kTokenRevoke,      // DELETE /tokens/{name}
  // The web console (console_api.h, docs/console.md).
  kUi,         // GET /ui[/{asset}]: the console's static files (public; `region` = the asset)
  kStatsLive,  // GET /stats/live: the last minute of requests by model, memory
  kAudit,      // GET /audit[?limit=N]: recent audit events (admins)
};

struct RouteMatch {
  Route route = Route::kNone;
  std::string model;    // decoded, validated id or name ("" when the route has none)
  std::string version;  // KServe /versions/{v}, decoded
  std::string region;   // shared-memory routes: the decoded region name ("" = all); token name
  // On failure: 404 (no such path), 405 (+ allow), 400 (bad id).
  int error_status = 0;
  std::string error;
  const char* allow = "";  // for 405: the Allow header value
};

// Matches `target` (path + optional query). Never throws.
RouteMatch MatchRoute(Method method, std::string_view target);

// Routes whose handler may block for long (loading, registering with checksum verification):
// the server runs them off the io threads.
bool IsBlockingRoute(Route r);
// The inference routes (original API and KServe v2).
bool IsInferRoute(Route r);
// The generation and embedding routes (OpenAI, Ollama, KServe generate): they block for as long
// as a generation runs, so the server gives them their own pool, and only they may stream.
bool IsGenerateRoute(Route r);

}  // namespace mlos::http
