// The MLOS C++ client SDK: one API over HTTP, gRPC and the Unix-socket IPC protocol, picked by
// the URL given to Client::Connect:
//
//   http://host:port          original MLOS API + KServe v2 REST (binary tensor extension)
//   https://host:port         the same over TLS (ClientOptions::tls)
//   grpc://host:port          KServe v2 GRPCInferenceService + MLOS management service
//                             (one TCP connection per client handed to gRPC as a direct channel,
//                             reconnected on the next call if the server closed it; with
//                             grpc_proxy/https_proxy/http_proxy set, gRPC's own channel. The first
//                             gRPC client turns off abseil's debug lock-order checking for the
//                             process, as release builds of abseil do.)
//   grpcs://host:port         the same over TLS (ClientOptions::tls), on gRPC's own channel
//   unix:///path/mlosd.sock   MLOS IPC frames; shared memory passed as memfd descriptors
//
// Errors are mlos::Status values carrying the server's own message (HTTP {"error"}, gRPC
// status message, IPC error frame); transport failures (a TLS handshake the server refused or
// whose certificate did not verify included) are kUnavailable. Without credentials a server
// that requires them answers kUnauthenticated; a role that may not do a call, kPermissionDenied;
// a rate or concurrency limit, kResourceExhausted with Status::retry_after_s() set over HTTP
// (Retry-After) and gRPC (the `retry-after` trailer).
//
// Threading: a Client may be used from several threads at once (each transport serialises or
// pools its connections internally). SharedMemory objects are not synchronised.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace mlos::client {

// Bytes per element of a dtype name ("float32" -> 4, "bool" -> 1); 0 for "string" and unknown
// names. Known names: float16 bfloat16 float32 float64 int8 int16 int32 int64 uint8 uint16
// uint32 uint64 bool string.
uint64_t DtypeSize(std::string_view dtype);
bool IsKnownDtype(std::string_view dtype);
// Element count of a shape (1 for a scalar, -1 when a dim is negative).
int64_t ElementCount(const std::vector<int64_t>& shape);

// Where a tensor's bytes live in a registered shared-memory region (region empty = not used).
struct ShmRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
  bool used() const { return !region.empty(); }
};

// A named tensor. Numeric data is row-major little endian in `data`; "string" tensors use
// `strings`. With `shm` set, the bytes are in a shared-memory region instead and `data` is empty.
struct Tensor {
  std::string name;
  std::string dtype;  // "float32", "int64", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  std::vector<std::string> strings;
  ShmRef shm;
  // An output of a request made with InferOptions::view_outputs: its bytes where the SDK
  // received them (aligned for its element type; an output that would not be is copied into
  // `data` instead), `data` left empty. `storage` keeps them valid (the outputs
  // of one result share it), also after the InferResult is gone.
  const uint8_t* view = nullptr;
  uint64_t view_size = 0;
  std::shared_ptr<const void> storage;

  // The numeric bytes, wherever they are (a view or `data`).
  const uint8_t* bytes() const { return view ? view : data.data(); }
  uint64_t byte_size() const { return view ? view_size : data.size(); }

  template <typename T>
  static Tensor From(std::string name, std::string dtype, std::vector<int64_t> shape,
                     const std::vector<T>& values) {
    static_assert(std::is_trivially_copyable_v<T>);
    Tensor t;
    t.name = std::move(name);
    t.dtype = std::move(dtype);
    t.shape = std::move(shape);
    t.data.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
    return t;
  }
  // The data reinterpreted as T (copied; the caller picks the T matching dtype).
  template <typename T>
  std::vector<T> As() const {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<T> out(byte_size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes(), out.size() * sizeof(T));
    return out;
  }
};

struct TensorInfo {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;  // -1 = dynamic
};

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
};

struct ModelInfo {
  std::string id;  // ns/name@version
  std::string name;
  std::string version;
  std::string state;  // "READY", "REGISTERED", "FAILED", ...
  std::string reason;
  std::string framework;
  std::string execution_format;
  std::string plugin;
  std::string path;
  std::string description;
  bool is_default = false;
  // Names that resolve to this version ("ns/name@alias"): user aliases (SetAlias) and the
  // implicit "latest" on the highest version, in the server's order.
  std::vector<std::string> aliases;
  bool desired_loaded = false;
  uint64_t memory_bytes = 0;           // measured at load; 0 when not loaded
  uint64_t shared_memory_bytes = 0;    // of memory_bytes, shared with other models
  uint64_t memory_estimate_bytes = 0;  // what a load is planned with
  double load_time_ms = 0;
  std::string load_kind;               // "cold", "warm"; "" = not loaded since the server started
  bool pinned = false;                 // never evicted, never unloaded by keep_alive (Pin)
  int64_t keep_alive_ms = -1;          // unloaded after this long idle; -1 = never
  int priority = 0;                    // default request priority; 1 = highest, 0 = the server's
  int64_t last_used_unix_ms = 0;       // last request or load; 0 = not since the server started
  uint64_t evictions = 0;              // times the server unloaded it (memory, keep_alive)
  std::string unload_reason;           // why the server last unloaded it; "" = never
  // Where it runs (the server's docs/isolation.md): "in_process" (inside the server), "process"
  // or "strict" (a sandboxed worker process). A server without isolation: "in_process".
  std::string isolation = "in_process";
  int64_t worker_pid = 0;              // the worker serving it, as the server sees it; 0 = none
  std::string worker_state;            // "running", "restarting", "stopped"; "" = in-process
  uint64_t worker_restarts = 0;        // worker restarts since the server started
  std::string last_crash;              // why its worker last died; "" = never
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  // Ids ("ns/name@version") of the models this one depends on, as the server resolved them.
  std::vector<std::string> dependencies;
};

struct PluginInfo {
  std::string name;
  std::string version;
  std::string framework;
  std::vector<std::string> execution_formats;
  std::vector<std::string> capabilities;
  std::string path;
};

// The payload `axon register` sends.
struct RegisterRequest {
  std::string model_id;  // required: ns/name@version
  std::string name;
  std::string framework;
  std::string execution_format;
  std::string path;  // required: the package directory
  std::string description;
  std::string manifest_path;
};

struct OutputSpec {
  std::string name;
  ShmRef shm;  // write this output into a registered region
};

// What one inference request asks of the server's resource manager besides its tensors; the
// defaults send nothing. On the wire: HTTP and gRPC as the KServe request parameters
// "priority" (integer), "timeout" (integer microseconds) and "keep_alive" (a duration string);
// IPC as the INFER frame's timeout_us and its extension block (docs/ipc.md). A server that
// predates them ignores them over HTTP and gRPC and refuses the request over IPC
// (kInvalidArgument, "trailing bytes"); a value the server refuses is kInvalidArgument naming it.
struct InferOptions {
  // 1 = most urgent, larger = less; 0 = the model's default.
  int priority = 0;
  // This request's own limit, counted from when the server has it (the earlier of it and
  // ClientOptions::timeout applies); 0 = only ClientOptions::timeout. Past it the request fails
  // with kDeadlineExceeded, or at once when the server sees it cannot be met.
  std::chrono::milliseconds timeout{0};
  // How long the model stays loaded after this request (Ollama's keep_alive): negative =
  // forever, 0 = unload right after it; unset = the model's own setting.
  std::optional<std::chrono::milliseconds> keep_alive;
  // Numeric outputs that travel inline come back as views of the buffer the answer was read
  // into (Tensor::view / bytes()), not copied into Tensor::data: for large tensors that copy,
  // into memory the process has never touched, costs more than moving the bytes. Strings and
  // shared-memory outputs are as without it.
  bool view_outputs = false;
};

struct InferRequest {
  std::string model;    // an id ("ns/name@ver") or a name (its default version)
  std::string version;  // optional, with a bare name
  std::string id;       // optional request id, echoed back
  std::vector<Tensor> inputs;
  std::vector<OutputSpec> outputs;  // empty = every output
  InferOptions options;
};

struct InferResult {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<Tensor> outputs;
  // The output named `name`, or nullptr.
  const Tensor* Find(std::string_view name) const {
    for (const Tensor& t : outputs) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

// One turn of a conversation (chat generation).
struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

// A text generation request (LLM models). Unset fields take the model's defaults.
struct GenerateOptions {
  std::string model;    // an id ("ns/name@ver"), a name (its default version) or "ns/name@alias"
  std::string prompt;   // the raw prompt; ignored when `messages` is not empty
  // Chat: the model's chat template turns these into the prompt and the model answers as the
  // assistant (HTTP: OpenAI's /v1/chat/completions; gRPC and IPC: the same request).
  std::vector<ChatMessage> messages;
  std::optional<int64_t> max_tokens;  // -1 = up to the context
  std::optional<double> temperature;  // 0 = greedy: the same text on every transport
  std::optional<double> top_p;
  std::optional<int> top_k;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;      // stop sequences (not part of the answer)
};

// How a generation ended. Token counts are 0 when the transport did not say (a generation the
// caller cancelled over HTTP or gRPC ends without the server's last message).
struct GenerateResult {
  std::string model_id;       // ns/name@version that generated ("" when the server did not say)
  std::string text;           // the whole text received (also when it was streamed)
  std::string finish_reason;  // "stop", "length" or "cancelled"
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;
};

// Each chunk of generated text as it arrives, in order (never a split UTF-8 character);
// returning false cancels the generation.
using TokenCallback = std::function<bool(std::string_view text)>;

struct ShmRegionInfo {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// A shared-memory object owned by this process, mapped read-write.
//  - CreateMemfd: an anonymous memfd sealed against resizing (F_SEAL_SHRINK|F_SEAL_GROW); it can
//    be registered over IPC only (its descriptor travels with SCM_RIGHTS).
//  - CreateSystem: a POSIX shm object ("/key"); registrable over every transport (HTTP and gRPC
//    by key, IPC by descriptor). It is shm_unlink'ed when this object is destroyed.
class SharedMemory {
 public:
  static Result<std::unique_ptr<SharedMemory>> CreateMemfd(const std::string& debug_name,
                                                           uint64_t byte_size);
  static Result<std::unique_ptr<SharedMemory>> CreateSystem(const std::string& key,
                                                            uint64_t byte_size);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  const std::string& key() const { return key_; }  // "" for memfd
  bool is_system() const { return !key_.empty(); }
  // Copies `bytes` to [offset, offset + n); kInvalidArgument when out of bounds.
  Status Write(uint64_t offset, const void* bytes, uint64_t n);
  // Copies [offset, offset + n) out; kInvalidArgument when out of bounds.
  Result<std::vector<uint8_t>> Read(uint64_t offset, uint64_t n) const;

 private:
  SharedMemory() = default;
  int fd_ = -1;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::string key_;
};

struct ClientOptions {
  std::chrono::milliseconds timeout{60000};         // per request
  std::chrono::milliseconds connect_timeout{5000};
  // A bearer token ("mlos_..."): sent as `Authorization: Bearer` on every HTTP request and gRPC
  // call; over IPC, once after connecting (the AUTH operation), for the whole connection. A
  // token the server refuses fails the calls that need one (kUnauthenticated), the same on
  // every transport; it does not fail Connect.
  std::string bearer_token;
  // TLS for https:// and grpcs:// URLs: PEM files, read when the client is created. The server's
  // certificate is always verified, against ca_file, else the system's trust store, and must
  // name the URL's host (a DNS or IP subject alternative name). cert_file + key_file: a client
  // certificate for mutual TLS (both or neither). Setting any of them for an http://, grpc://
  // or unix:// URL is kInvalidArgument (it would not be used).
  struct Tls {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
  } tls;
};

// A parsed server URL.
struct Endpoint {
  enum class Scheme { kHttp, kGrpc, kUnix };
  Scheme scheme = Scheme::kHttp;
  bool tls = false;      // https:// or grpcs://
  std::string host;      // http/grpc ([::1] keeps no brackets)
  uint16_t port = 0;
  std::string path;      // unix socket path
  std::string ToString() const;
};
// "http://h:p", "https://h:p", "grpc://h:p", "grpcs://h:p", "unix:///path"; a bare
// "host:port" means http. Without a port: 8080 for http(s), 8081 for grpc(s), as mlosd listens.
// kInvalidArgument with the reason otherwise.
Result<Endpoint> ParseUrl(std::string_view url);

// A bearer token as the server keeps it (never the token itself). Times are RFC 3339 UTC
// ("2026-12-03T20:41:07Z"), "" when unset: expires_at "" = never, last_used_at "" = never used,
// revoked_at "" = active.
struct TokenInfo {
  std::string name;                 // the principal it identifies
  std::string role;                 // admin | operator | user | reader
  std::vector<std::string> models;  // model patterns it may use; empty = every model
  std::string created_at;
  std::string expires_at;
  std::string last_used_at;
  std::string revoked_at;
};

// A token just created: `token` is shown once and cannot be read back later.
struct CreatedToken {
  std::string token;
  TokenInfo info;
};

class Client {
 public:
  // Connects (HTTP: lazily on the first request; gRPC: creates the channel; IPC: connects the
  // socket now, and sends options.bearer_token if set). kInvalidArgument for a bad URL or TLS
  // options (a file that cannot be read, a certificate without its key), kUnavailable when the
  // server is unreachable; over IPC, kUnimplemented when a token is set and the server predates
  // tokens.
  static Result<std::unique_ptr<Client>> Connect(const std::string& url,
                                                 const ClientOptions& options = {});
  virtual ~Client() = default;

  virtual const Endpoint& endpoint() const = 0;

  // Every call below answers the same value, or the same StatusCode and message, over every
  // URL scheme (the server's one service decides; the transports only translate). Model ids
  // are "ns/name" (its default version), "ns/name@version" or "ns/name@alias".

  // Health. Ready: false (not an error) while the daemon is still restoring its registry.
  virtual Result<bool> Live() = 0;
  virtual Result<bool> Ready() = 0;
  // True when the model is READY, false when it is registered but not (yet) ready; kNotFound
  // for an unknown model.
  virtual Result<bool> ModelReady(const std::string& model) = 0;
  virtual Result<ServerMetadata> GetServerMetadata() = 0;
  virtual Result<ModelMetadata> GetModelMetadata(const std::string& model) = 0;

  // Management. Calls that change a model answer its status afterwards.
  virtual Result<std::vector<ModelInfo>> ListModels() = 0;
  virtual Result<ModelInfo> GetModel(const std::string& id) = 0;
  virtual Result<ModelInfo> Register(const RegisterRequest& request) = 0;
  virtual Result<ModelInfo> Load(const std::string& id) = 0;
  virtual Result<ModelInfo> Unload(const std::string& id) = 0;
  // Makes `id` ("ns/name@version": a version is required) the default of its name, loading it
  // first; the old default stays until the new one is READY. Answers the new default.
  virtual Result<ModelInfo> SetDefault(const std::string& id) = 0;
  // Returns `name`'s default to the one before it. `name` is "ns/name" (a version suffix is
  // ignored); kFailedPrecondition when there is no earlier default.
  virtual Result<ModelInfo> Rollback(const std::string& name) = 0;
  // Points `alias` (letters, digits, '.', '_', '-'; not a registered version) of `name`
  // ("ns/name", no version) at `version`, or removes it when `version` is "". Answers the
  // version the alias now names (after a removal: the name's default).
  virtual Result<ModelInfo> SetAlias(const std::string& name, const std::string& alias,
                                     const std::string& version) = 0;
  // Pins `id` (never evicted for memory, never unloaded by keep_alive; kept across restarts)
  // or unpins it; operators and admins. Answers the model's status.
  virtual Result<ModelInfo> Pin(const std::string& id) = 0;
  virtual Result<ModelInfo> Unpin(const std::string& id) = 0;
  virtual Status Unregister(const std::string& id) = 0;
  virtual Result<std::vector<PluginInfo>> ListPlugins() = 0;

  // Inference.
  virtual Result<InferResult> Infer(const InferRequest& request) = 0;
  // Runs Infer on another thread; the client must outlive the future.
  std::future<Result<InferResult>> InferAsync(InferRequest request);

  // Text generation, streamed: `on_token` (may be empty) gets each chunk on the calling thread
  // as it arrives. Over http(s):// the KServe generate_stream route (POST
  // /v2/models/{model}/generate_stream, server-sent events), or for chat (messages set) OpenAI's
  // /v1/chat/completions with "stream": true; over grpc(s):// mlos.v1.Management/Generate;
  // over unix:// the IPC GENERATE operation. When `on_token` returns false the generation is
  // cancelled on the server (within one token) and the answer is ok with finish_reason
  // "cancelled" and the text received until then. Errors as Infer: an unknown model
  // kNotFound, a parameter the model refuses kInvalidArgument, a model that does not generate
  // kInvalidArgument or kUnimplemented (the server's words). ClientOptions::timeout limits the
  // wait for each chunk (and for the first one), not the whole generation.
  virtual Result<GenerateResult> Generate(const GenerateOptions& options,
                                          TokenCallback on_token = {}) = 0;

  // Shared memory. `memory` must stay alive while the region is registered. HTTP and gRPC
  // register system regions by key (a memfd is kInvalidArgument there); IPC passes the fd.
  virtual Status RegisterSharedMemory(const std::string& region, const SharedMemory& memory,
                                      uint64_t offset, uint64_t byte_size) = 0;
  virtual Status UnregisterSharedMemory(const std::string& region) = 0;
  // Every region ("" ) or the one named.
  virtual Result<std::vector<ShmRegionInfo>> SharedMemoryStatus(
      const std::string& region = "") = 0;

  // Bearer tokens (admins only: others get kPermissionDenied). CreateToken makes a token for
  // the principal `name` with `role` (admin | operator | user | reader), limited to the model
  // patterns in `models` (empty = every model), expiring after `expires` ("30d", "12h", "90m",
  // "3600s"; "" = never); kAlreadyExists when `name` has an active token. The token is in the
  // answer only. ListTokens answers every token, revoked ones included. RevokeToken stops
  // `name`'s token at once and answers it as revoked; kNotFound when `name` has no
  // active token, kInvalidArgument ("token name is empty") for an empty name.
  virtual Result<CreatedToken> CreateToken(const std::string& name, const std::string& role,
                                           const std::vector<std::string>& models = {},
                                           const std::string& expires = "") = 0;
  virtual Result<std::vector<TokenInfo>> ListTokens() = 0;
  virtual Result<TokenInfo> RevokeToken(const std::string& name) = 0;
};

}  // namespace mlos::client
