// The JSON documents of mlosd's management and metadata answers, shared by the front-ends that
// speak JSON (HTTP, and IPC's management payloads): one model, the model list, plugins, stats,
// KServe model and server metadata, shared-memory status; and the register and alias request
// bodies. Pure functions; parse errors are kInvalidArgument naming the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/core.h"
#include "service/service.h"
#include "service/shm_registry.h"

namespace mlos::api {

// POST /models/register body (and IPC MODEL_REGISTER) -> RegisterRequest. model_id and path
// (alias model_path) are required; every field, when present, must be a string.
Result<core::RegisterRequest> ParseRegisterRequest(std::string_view body);

// {"alias": "stable", "version": "1.2.0"}: version "" (or absent) removes the alias.
struct AliasBody {
  std::string alias;
  std::string version;
};
Result<AliasBody> ParseAliasRequest(std::string_view body);

// One model as JSON (GET /models/{id}, list entries, lifecycle answers): identity, state,
// metadata, IO schema, and the resource manager's view: memory_bytes, shared_memory_bytes,
// memory_estimate_bytes, load_kind ("cold", "warm", "" = never loaded), pinned, keep_alive_ms
// (-1 = never unloaded for idleness), priority (1 = highest, 0 = the server's default),
// last_used_unix_ms (0 = not since start), evictions, unload_reason ("" = never); and where it
// runs (docs/isolation.md): isolation ("in_process", "process", "strict"), worker_pid (only
// when a worker serves it), worker_state (only when set), worker_restarts, last_crash (only
// after a crash).
void EncodeModelStatus(const core::ModelStatus& m, std::string& out);
// {"models": [...], "count": N}
void EncodeModelList(const std::vector<core::ModelStatus>& models, std::string& out);
// {"plugins": [...], "count": N}
void EncodePlugins(const std::vector<core::PluginStatus>& plugins, std::string& out);
// GET /stats: requests, errors, models_registered, models_ready, uptime_s,
// memory_budget_bytes (0 = none), memory_used_bytes, memory_base_bytes, evictions and
// queues [{model, priority, depth}] (non-empty queues only).
void EncodeStats(const core::CoreStats& stats, std::string& out);
// KServe v2 model metadata: name, versions (of that name), platform, inputs, outputs.
void EncodeKServeModelMetadata(const core::ModelStatus& model,
                               const std::vector<std::string>& versions, std::string& out);
// The KServe / Triton "platform" of a model: its framework, else its execution format.
inline const std::string& KServePlatform(const core::ModelStatus& model) {
  return model.framework.empty() ? model.execution_format : model.framework;
}
// Triton's model configuration extension (GET /v2/models/{name}/config): name, platform (as
// in the metadata), backend (the plugin), max_batch_size 0 (shapes are whole: a -1 first
// dimension is a dynamic batch), input and output [{name, data_type "TYPE_FP32", ..., dims}].
void EncodeKServeModelConfig(const core::ModelStatus& model, std::string& out);
// Triton's data_type name for a KServe datatype: "TYPE_" + it, "TYPE_STRING" for "BYTES".
std::string TritonConfigDataType(std::string_view kserve_datatype);
// Triton's statistics extension: {"model_stats": [{name, version, last_inference,
// inference_count, execution_count, inference_stats {success, fail, queue, compute_input,
// compute_infer, compute_output, cache_hit, cache_miss: {count, ns}}, batch_stats [],
// memory_usage []}]}.
void EncodeKServeModelStats(const std::vector<service::ModelStatistics>& stats, std::string& out);
// KServe v2 repository index: [{name, version, state, reason}].
void EncodeRepositoryIndex(const std::vector<core::ModelStatus>& models, std::string& out);
// KServe v2 server metadata: name, version, extensions.
void EncodeServerMetadata(const service::ServerMetadata& metadata, std::string& out);
// [{name, key, offset, byte_size}], as KServe's system shared-memory status.
void EncodeShmStatus(const std::vector<service::ShmRegionStatus>& regions, std::string& out);

}  // namespace mlos::api
