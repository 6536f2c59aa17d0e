// Internals shared by the client transports: factories, dtype names, JSON decoding of the
// server's model/plugin/token documents, TLS option checks.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mlos/client.h"

namespace mlos::client::internal {

Result<std::unique_ptr<Client>> NewHttpClient(const Endpoint& ep, const ClientOptions& options);
Result<std::unique_ptr<Client>> NewGrpcClient(const Endpoint& ep, const ClientOptions& options);
Result<std::unique_ptr<Client>> NewIpcClient(const Endpoint& ep, const ClientOptions& options);

// "float32" <-> "FP32" (KServe v2 names); "" for unknown.
std::string KServeDtype(std::string_view dtype);
std::string DtypeFromKServe(std::string_view kserve);

// "a/b@c" -> "a%2Fb%40c" (one path segment).
std::string EncodeSegment(std::string_view s);

// Decoders for the server's JSON documents (native API shapes). Missing fields keep defaults.
Result<ModelInfo> ModelInfoFromJson(const nlohmann::json& j);
Result<PluginInfo> PluginInfoFromJson(const nlohmann::json& j);
Result<TensorInfo> TensorInfoFromJson(const nlohmann::json& j);  // dtype or KServe datatype
// KServe v2 model metadata ({name, versions, platform, inputs, outputs}).
Result<ModelMetadata> ModelMetadataFromJson(const nlohmann::json& j);
// The model list {"models": [...], "count": N}; kInternal without a "models" array.
Result<std::vector<ModelInfo>> ModelListFromJson(const nlohmann::json& j);
// The plugin list {"plugins": [...], "count": N}; kInternal without a "plugins" array.
Result<std::vector<PluginInfo>> PluginListFromJson(const nlohmann::json& j);
// KServe v2 server metadata ({name, version, extensions}); kInternal when not an object.
Result<ServerMetadata> ServerMetadataFromJson(const nlohmann::json& j);
// The system shared-memory status array ([{name, key, offset, byte_size}]); not an array: none.
std::vector<ShmRegionInfo> ShmRegionsFromJson(const nlohmann::json& j);

// The register payload (POST /models/register body, IPC MODEL_REGISTER): model_id and path,
// and the optional fields that are set.
std::string RegisterBody(const RegisterRequest& request);

// An HTTP status (and the server's error message, which tells 409's two meanings apart) ->
// the StatusCode the server meant (the inverse of the server's http::HttpStatusFor).
StatusCode CodeForHttp(long status, const std::string& message);

// Token documents (HTTP /tokens, IPC token ops): {name, role, models, created_at, expires_at,
// last_used_at, revoked_at} with null times as "". kInternal when not an object.
Result<TokenInfo> TokenInfoFromJson(const nlohmann::json& j);
// The answer to a create: the document plus "token"; kInternal without a token.
Result<CreatedToken> CreatedTokenFromJson(const nlohmann::json& j);
// {"tokens": [...]}; kInternal without a "tokens" array.
Result<std::vector<TokenInfo>> TokenListFromJson(const nlohmann::json& j);
// The create request (POST /tokens body, IPC TOKEN_CREATE payload): {"name", "role"} plus
// "models" and "expires" when given.
std::string TokenCreateBody(const std::string& name, const std::string& role,
                            const std::vector<std::string>& models, const std::string& expires);
// The one client-side check RevokeToken makes on every transport (an empty name cannot travel
// in an HTTP path): kInvalidArgument "token name is empty", the server's own words.
Status CheckTokenName(const std::string& name);

// Checks ClientOptions::tls against the endpoint: TLS files only with https/grpcs, a
// certificate and its key together, every file readable. kInvalidArgument naming the file.
Status CheckTlsOptions(const Endpoint& ep, const ClientOptions& options);
// The whole of a PEM file (what names it in the error: "CA file"); kInvalidArgument when it
// cannot be read.
Result<std::string> ReadPemFile(const std::string& path, const char* what);

// Bytes of a tensor that travels inline: numeric data as is, strings as KServe BYTES
// (4-byte little-endian length + bytes per element).
std::string SerializeBytes(const Tensor& t);
Status DeserializeBytes(std::string_view bytes, Tensor& t);
// The same for an answer's output: with `storage` set (InferOptions::view_outputs) a numeric
// output becomes a view of `bytes`, which `storage` keeps alive.
Status DeserializeOutput(std::string_view bytes, Tensor& t,
                         const std::shared_ptr<const void>& storage);
// Checks a request tensor: known dtype, non-negative shape, data size matching the shape.
Status CheckTensor(const Tensor& t);
// Checks InferOptions before they travel: priority >= 0, timeout >= 0 (kInvalidArgument).
Status CheckInferOptions(const InferOptions& options);
// keep_alive as the KServe parameter and the X-MLOS-Keep-Alive header carry it ("-1", "0",
// "5m", "1h30m", "250ms"; wire::FormatKeepAlive).
std::string KeepAliveText(std::chrono::milliseconds keep_alive);

// ---- generation ----
// The sampling fields of a generation that are set, named as smi.h's params_json names them:
// {max_tokens, temperature, top_p, top_k, seed, stop}.
nlohmann::json GenerateParams(const GenerateOptions& options);
// The messages as [{role, content}].
nlohmann::json ChatMessagesJson(const std::vector<ChatMessage>& messages);
// Reads what a usage document says into `result` (finish_reason, model_id, prompt_tokens,
// completion_tokens, cached_tokens; at the top level or in "usage"); absent fields are kept.
void ReadGenerateUsage(const nlohmann::json& j, GenerateResult& result);

}  // namespace mlos::client::internal
