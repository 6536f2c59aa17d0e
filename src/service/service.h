// The one transport-neutral service every front-end calls (HTTP, gRPC, IPC): a front-end only
// decodes its wire format into these calls, calls, and encodes the answer. What is the same on
// every protocol lives here, once: identifier checks, resolving and binding shared-memory
// regions (with who may use which), output allocation, the deadline rule (the earlier of the
// client's and the server's limit), request metrics by protocol and status, logging of failed
// requests, the management operations and health/readiness.
//
// Errors are mlos::Status values whose code and message are the same whichever protocol asked;
// each front-end maps the code to its own status space (HTTP status, gRPC code, IPC status).
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/core.h"
#include "security/guard.h"
#include "service/live_stats.h"
#include "service/model_stats.h"
#include "service/request_context.h"
#include "service/shm_registry.h"

namespace mlos::service {

class Metrics;

// The one model-id check (core::policy::ValidateModelId), with "<what> is empty" for "".
Status CheckModelId(const std::string& id, const char* what = "model id");

struct ServiceOptions {
  std::string server_name = "mlos";
  std::string server_version;
  // The server's limit on one inference request (0 = none), counted from
  // RequestContext::received; past it the request fails with kDeadlineExceeded.
  std::chrono::milliseconds request_timeout{0};
};

// (region, offset, byte_size): where a tensor's bytes are in a registered region.
struct ShmRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

struct OutputRequest {
  std::string name;
  std::optional<ShmRef> shm;  // write this output into the region; else it travels inline
};

// One decoded inference request.
struct InferCall {
  std::string model;    // "ns/name", "ns/name@version" or "ns/name@alias"
  std::string version;  // optional; overrides an @version in `model`
  // Inline inputs carry their bytes (data, strings, or external views into the request's own
  // buffer, which must outlive the call); inputs named in `input_shm` have no bytes yet.
  std::vector<core::Tensor> inputs;
  // Empty, or one entry per input: the region that holds that input's bytes.
  std::vector<std::optional<ShmRef>> input_shm;
  std::vector<OutputRequest> outputs;  // empty: every output, inline
  // KServe's system shared memory: a BYTES output asked into a region is written there
  // serialized (u32 length + bytes per element, as tritonclient reads it) and reported in
  // InferResult::output_shm with the serialized size. Unset (IPC): strings travel inline.
  bool string_outputs_to_shm = false;
  // Where inline output bytes go. Unset: the core allocates them (Tensor::data). Set: asked
  // for each inline numeric output's buffer (gRPC hands out the strings that become
  // raw_output_contents); returning nullptr fails the request with kResourceExhausted.
  std::function<void*(const std::string& name, uint64_t byte_size)> inline_allocator;
};

// The answer to an InferCall. Outputs written to shared memory have `external` pointing into
// the region; the views stay mapped as long as this object lives.
struct InferResult {
  core::InferResponse response;
  // Per response output: the region it was written to, or nullopt when it travels inline;
  // empty when no output went to shared memory (no allocation on the common path).
  std::vector<std::optional<ShmRef>> output_shm;
  std::vector<ShmView> views;                         // mappings in use
  std::deque<std::vector<uint8_t>> inline_buffers;   // inline outputs next to shm ones
};

// One decoded generation request (OpenAI, Ollama, KServe generate, gRPC, IPC).
struct GenerateCall {
  std::string model;    // as InferCall
  std::string version;
  std::string prompt;       // core::GenerateRequest::prompt
  std::string params_json;  // core::GenerateRequest::params_json (smi.h)
  // Each chunk of text as it is generated; false = the client went away (the generation stops
  // within one token and ends with finish_reason "cancelled"). Unset: collected in text.
  std::function<bool(std::string_view text)> on_token;
};

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  core::ModelStatus model;
  std::vector<std::string> versions;  // every registered version of the model's name
};

class Service {
 public:
  // `core`, `shm`, `metrics` (may be null) and `guard` must outlive the service. Without a
  // guard nothing is checked (every caller may do everything; tests of other concerns).
  Service(core::Core& core, ShmRegistry& shm, Metrics* metrics, ServiceOptions options,
          security::Guard* guard = nullptr);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // ---- inference ----
  // Binds shared-memory inputs and outputs (only regions the caller may use), applies the
  // deadline rule, runs the model, counts the request (mlos_requests_total{model,protocol,
  // code}) and logs a failure. The call's inputs are moved from.
  Result<InferResult> Infer(const RequestContext& ctx, InferCall& call);
  // An inference request the front-end could not decode: counted and logged as Infer counts a
  // failure (under call.model's id when it names a registered model); returns `error`.
  Status Fail(const RequestContext& ctx, const InferCall& call, Status error);

  // ---- generation (LLMs) ----
  // Checks the caller (action infer, the model's access lists and quotas, as Infer), applies
  // the deadline rule until the first token, runs core::Core::Generate on the calling thread
  // (it blocks for the whole generation: call it from a thread that may block), counts the
  // request (mlos_requests_total, tokens, time to first token, generations in progress) and
  // logs a failure.
  Result<core::GenerateResponse> Generate(const RequestContext& ctx, GenerateCall& call);

  // ---- health and metadata ----
  bool Live() const { return true; }
  // False until the registry is restored and every model loaded before a restart is READY or
  // FAILED, and while start-up work holds it (HoldReady).
  bool Ready() const;
  // mlosd's start-up work that readiness waits for (the model repository's first pass): each
  // HoldReady is ended by one ReleaseReady. Any thread.
  void HoldReady() { ready_holds_.fetch_add(1); }
  void ReleaseReady() { ready_holds_.fetch_sub(1); }
  // The core's part of Ready(): the registry restored and restarted models settled.
  bool RegistryRestored() const;
  Result<ServerMetadata> GetServerMetadata(const RequestContext& ctx);
  // The same, unchecked: for the front-ends' own use (the version in /health), never a caller's.
  const ServerMetadata& Metadata() const { return metadata_; }
  // `id` as in Get; kNotFound for an unknown model.
  Result<ModelMetadata> GetModelMetadata(const RequestContext& ctx, const std::string& id);
  // kUnavailable ("model 'x' is not ready (state LOADING)") unless READY.
  Result<core::ModelStatus> ModelReady(const RequestContext& ctx, const std::string& id);
  Result<core::CoreStats> Stats(const RequestContext& ctx);
  // The statistics extension: `id` as in Get (one model version), or "" for every READY model
  // the caller may see. kNotFound for an unknown model.
  Result<std::vector<ModelStatistics>> ModelStats(const RequestContext& ctx,
                                                  const std::string& id);
  // Prometheus text format; kNotFound when the service has no Metrics.
  Result<std::string> RenderMetrics(const RequestContext& ctx);
  // The web console's data (service_console.cc, docs/console.md). The last minute of requests
  // (Metrics::live()) of the models the caller may see, with the memory accounting; kNotFound
  // when the service has no Metrics.
  Result<LiveSnapshot> LiveStatistics(const RequestContext& ctx);
  // The last `limit` audit events as the log's JSON lines, oldest first (admins: action
  // audit); none without an audit log.
  Result<std::vector<std::string>> RecentAudit(const RequestContext& ctx, size_t limit);

  // ---- management ----
  Result<core::ModelStatus> Register(const RequestContext& ctx,
                                     const core::RegisterRequest& request);
  Status Unregister(const RequestContext& ctx, const std::string& id);
  Result<core::ModelStatus> Load(const RequestContext& ctx, const std::string& id);
  Result<core::ModelStatus> Unload(const RequestContext& ctx, const std::string& id);
  // `id` must name a version: "ns/name@version".
  Result<core::ModelStatus> SetDefault(const RequestContext& ctx, const std::string& id);
  // `name` is "ns/name"; a version suffix is ignored.
  Result<core::ModelStatus> Rollback(const RequestContext& ctx, const std::string& name);
  // Points `alias` of `name` ("ns/name") at `version`; an empty `version` removes the alias.
  Result<core::ModelStatus> SetAlias(const RequestContext& ctx, const std::string& name,
                                     const std::string& alias, const std::string& version);
  // Pins or unpins a version (never evicted, never unloaded by keep_alive); operators.
  Result<core::ModelStatus> Pin(const RequestContext& ctx, const std::string& id, bool pinned);
  // The models the caller may see.
  Result<std::vector<core::ModelStatus>> List(const RequestContext& ctx);
  Result<core::ModelStatus> Get(const RequestContext& ctx, const std::string& id);
  Result<std::vector<core::PluginStatus>> Plugins(const RequestContext& ctx);

  // ---- shared memory ----
  // A system (KServe) region, by POSIX shm key. Only callers without a shm_owner register
  // system regions; IPC callers pass descriptors (RegisterShmFd).
  Status RegisterShmSystem(const RequestContext& ctx, const std::string& name,
                           const std::string& key, uint64_t offset, uint64_t byte_size);
  // A region backed by `fd` (ownership passes to the service, on failure too), private to
  // ctx.shm_owner.
  Status RegisterShmFd(const RequestContext& ctx, const std::string& name, int fd,
                       uint64_t offset, uint64_t byte_size);
  // The caller's region `name` ("" = every region of the caller). kNotFound for a region the
  // caller does not own.
  Status UnregisterShm(const RequestContext& ctx, const std::string& name);
  // The regions the caller may use (system regions and its own), or the one named.
  Result<std::vector<ShmRegionStatus>> ShmStatus(const RequestContext& ctx,
                                                 const std::string& name);
  // Every region of `owner` (an IPC connection that closed).
  void ReleaseShmOwner(const std::string& owner);

  // ---- security (admins; docs/security.md) ----
  // Who the credentials identify (IPC kAuth checks a token when it is sent).
  Result<security::IdentityPtr> WhoAmI(const RequestContext& ctx);
  // The new token (shown only here) and its record. `expires` as security::ParseDuration.
  Result<std::pair<std::string, security::TokenRecord>> CreateToken(
      const RequestContext& ctx, const std::string& name, const std::string& role,
      const std::vector<std::string>& models, const std::string& expires);
  Result<std::vector<security::TokenRecord>> ListTokens(const RequestContext& ctx);
  Result<security::TokenRecord> RevokeToken(const RequestContext& ctx, const std::string& name);

 private:
  Result<InferResult> InferUnmetered(const RequestContext& ctx, InferCall& call,
                                     std::string* model_id);
  // Counts (metrics, model statistics) and logs one finished inference request; `response`
  // is the answer of a successful one.
  void Record(const RequestContext& ctx, const InferCall& call, std::string model_id,
              const Status& status, const core::InferResponse* response = nullptr);
  Result<ShmView> ResolveShm(const RequestContext& ctx, const ShmRef& ref) const;

  // ---- admission of one inference or generation (service_infer.cc) ----
  using AdmitFn = std::function<Status(const std::string& id, const std::string& name,
                                       const core::ModelPolicy& policy)>;
  struct Gate {
    const RequestContext* ctx = nullptr;
    security::IdentityPtr who;
    uint64_t bytes = 0;  // counted against a principal's max_request_bytes
    security::Limiter::Ticket ticket;  // held until the call ends
    Status refused;  // why admit refused (audited by CloseGate)
    std::string refused_model;
  };
  // Authenticates the caller when it matters (auth required or principal limits; sets
  // *principal) and returns the core's admit function: the model's access lists and quotas,
  // checked once the version is resolved. Without a guard: an empty function. `gate` must
  // outlive the core call.
  Result<AdmitFn> OpenGate(const RequestContext& ctx, const std::string& model, Gate& gate,
                           std::string* principal);
  // Audits, counts and logs what admit refused.
  void CloseGate(const Gate& gate);
  Status UnregisterShmChecked(const RequestContext& ctx, const std::string& name);

  // ---- security (service_security.cc) ----
  // Authenticates the caller and checks that its role allows `action`; a refusal is audited,
  // counted and returned. Without a guard: nullptr (everything allowed).
  Result<security::IdentityPtr> Check(const RequestContext& ctx, security::Action action,
                                      const std::string& model = "");
  // Check, then resolves `ref` and checks the principal's model patterns and the manifest's
  // access lists (404 for an unknown model before the access check).
  Result<security::IdentityPtr> CheckModel(const RequestContext& ctx, security::Action action,
                                           const std::string& ref);
  // Records a refusal: audit line, metrics, log. `action` as ActionName, or "authenticate".
  void Deny(const RequestContext& ctx, const security::Identity* who, security::Action action,
            const std::string& model, const Status& status);
  void Deny(const RequestContext& ctx, const security::Identity* who, const char* action,
            const std::string& model, const Status& status);
  // Audits a management action's outcome.
  void AuditAction(const RequestContext& ctx, const security::Identity* who,
                   security::Action action, const std::string& model, const Status& status);
  // The name the caller goes by in logs and audit lines.
  static const std::string& CallerName(const RequestContext& ctx, const security::Identity* who);
  // Logs a failed call: warn for the server's own faults, debug for the caller's mistakes.
  static void LogFailure(const RequestContext& ctx, const char* op, const std::string& what,
                         const Status& status);
  // LogFailure when `result` failed; returns it.
  template <typename T>
  T Logged(const RequestContext& ctx, const char* op, const std::string& what, T result);

  core::Core& core_;
  ShmRegistry& shm_;
  Metrics* metrics_;
  security::Guard* guard_;
  const ServiceOptions options_;
  ServerMetadata metadata_;
  std::atomic<int> ready_holds_{0};
  ModelStatsTable model_stats_;
};

}  // namespace mlos::service
