// gRPC transport: KServe v2 GRPCInferenceService for health, metadata, inference (raw tensor
// contents both ways) and system shared memory; mlos.v1.Management for the rest. Uses the stubs
// mlos_grpc_proto generates from proto/*.proto. One connection per client (HTTP/2 multiplexes
// concurrent calls), so the client is thread-safe. The SDK makes the TCP connection itself and
// gives it to gRPC as a direct channel (see GrpcClient::Connect), and each call runs on the
// asynchronous API, polled by the calling thread. grpcs:// uses gRPC's own channel with
// SslCredentials (there is no public way to hand gRPC a socket for a secure channel).
#include <absl/synchronization/mutex.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "client/grpc_convert.h"
#include "client/internal.h"
#include "common/buffer.h"
#include "grpc_service.grpc.pb.h"
#include "mlos_management.grpc.pb.h"
#include "wire/grpc_raw.h"

namespace mlos::client::internal {
namespace {

using IStub = inference::GRPCInferenceService::Stub;

// Infer requests whose raw inputs reach this size go through the generic stub, their bytes
// referenced rather than copied into protobuf (wire/grpc_raw.h).
constexpr size_t kRawInferBytes = 64 * 1024;
using MStub = mlos::v1::Management::Stub;

// One HTTP/2 connection to the daemon and the stubs over it.
struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<IStub> infer;
  std::unique_ptr<MStub> mgmt;
  std::unique_ptr<grpc::GenericStub> generic;  // ModelInfer as bytes (wire/grpc_raw.h)
  int watch = -1;  // direct connections: a duplicate of the socket, to see it closed

  explicit Connection(std::shared_ptr<grpc::Channel> ch, int watch_fd = -1)
      : channel(std::move(ch)),
        infer(inference::GRPCInferenceService::NewStub(channel)),
        mgmt(mlos::v1::Management::NewStub(channel)),
        generic(std::make_unique<grpc::GenericStub>(channel)),
        watch(watch_fd) {}
  ~Connection() {
    if (watch >= 0) ::close(watch);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A direct connection the server closed or reset, or gRPC shut down after a transport error.
  bool Closed() const {
    if (watch < 0) return false;
    pollfd p{watch, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) != 0;
  }
};

// gRPC's proxy support (grpc_proxy, https_proxy, http_proxy) lives in its client channel; when
// one is set the SDK keeps that channel rather than dialling itself.
bool ProxyConfigured() {
  for (const char* v : {"grpc_proxy", "https_proxy", "http_proxy"}) {
    const char* e = std::getenv(v);
    if (e && *e) return true;
  }
  return false;
}

// A TCP connection to host:port within `timeout`, with TCP_NODELAY; -1 and `why` on failure.
int Dial(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
         std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    *why = "DNS resolution failed for " + host + ": " + ::gai_strerror(rc);
    return -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = -1;
  *why = "failed to connect: no address";
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      *why = std::string("failed to connect: ") + std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLOUT, 0};
        int n = 0;
        do {
          n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
        } while (n < 0 && errno == EINTR);
        socklen_t len = sizeof err;
        if (n == 0) {
          err = ETIMEDOUT;
        } else if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
      }
    }
    if (err != 0) {
      *why = std::string("failed to connect to ") + host + ":" + service + ": " +
             std::strerror(err);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd >= 0) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // No retry filter: the SDK sets no retry policy, and the filter's per-call bookkeeping (a
  // copy of every call's metadata and message, kept for a replay) costs a few µs a call.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // The minimal filter stack: no client-side message size filter (the SDK sets no limits), no
  // compression filter (it sends uncompressed; a compressed answer is still decompressed when
  // read) and no idle filter. Deadlines stay enforced: that check is asked for explicitly.
  args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
  args.SetInt(GRPC_ARG_ENABLE_DEADLINE_CHECKS, 1);
  return args;
}

class GrpcClient final : public Client {
 public:
  // `ssl`: the credentials for grpcs:// (unused for grpc://).
  GrpcClient(Endpoint ep, ClientOptions options, grpc::SslCredentialsOptions ssl)
      : ep_(std::move(ep)),
        options_(std::move(options)),
        url_(ep_.ToString()),
        target_(url_.substr(url_.find("://") + 3)),
        ssl_(std::move(ssl)),
        direct_(!ep_.tls && !ProxyConfigured()) {}

  ~GrpcClient() override {
    for (auto& cq : queues_) {
      cq->Shutdown();
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) {
      }
    }
  }

  const Endpoint& endpoint() const override { return ep_; }

  Result<bool> Live() override {
    inference::ServerLiveRequest req;
    inference::ServerLiveResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncServerLive, req, &res));
    return res.live();
  }
  Result<bool> Ready() override {
    inference::ServerReadyRequest req;
    inference::ServerReadyResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncServerReady, req, &res));
    return res.ready();
  }
  Result<bool> ModelReady(const std::string& model) override {
    inference::ModelReadyRequest req;
    auto [name, version] = SplitId(model);
    req.set_name(name);
    req.set_version(version);
    inference::ModelReadyResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncModelReady, req, &res));
    return res.ready();
  }
  Result<ServerMetadata> GetServerMetadata() override {
    inference::ServerMetadataRequest req;
    inference::ServerMetadataResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncServerMetadata, req, &res));
    ServerMetadata m;
    m.name = res.name();
    m.version = res.version();
    m.extensions.assign(res.extensions().begin(), res.extensions().end());
    return m;
  }
  Result<ModelMetadata> GetModelMetadata(const std::string& model) override {
    inference::ModelMetadataRequest req;
    auto [name, version] = SplitId(model);
    req.set_name(name);
    req.set_version(version);
    inference::ModelMetadataResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncModelMetadata, req, &res));
    ModelMetadata m;
    m.name = res.name();
    m.versions.assign(res.versions().begin(), res.versions().end());
    m.platform = res.platform();
    m.inputs = Infos(res.inputs());
    m.outputs = Infos(res.outputs());
    return m;
  }

  Result<std::vector<ModelInfo>> ListModels() override {
    mlos::v1::ListRequest req;
    mlos::v1::ListResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncList, req, &res));
    std::vector<ModelInfo> out;
    for (const auto& m : res.models()) out.push_back(FromProto(m));
    return out;
  }
  Result<ModelInfo> GetModel(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncGet, id);
  }
  Result<ModelInfo> Register(const RegisterRequest& r) override {
    mlos::v1::RegisterRequest req;
    req.set_model_id(r.model_id);
    req.set_name(r.name);
    req.set_framework(r.framework);
    req.set_execution_format(r.execution_format);
    req.set_path(r.path);
    req.set_description(r.description);
    req.set_manifest_path(r.manifest_path);
    mlos::v1::RegisterResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncRegister, req, &res));
    return FromProto(res.model());
  }
  Result<ModelInfo> Load(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncLoad, id);
  }
  Result<ModelInfo> Unload(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncUnload, id);
  }
  Result<ModelInfo> SetDefault(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncSetDefault, id);
  }
  Result<ModelInfo> Rollback(const std::string& name) override {
    return ModelCall(&MStub::PrepareAsyncRollback, name);
  }
  Result<ModelInfo> SetAlias(const std::string& name, const std::string& alias,
                             const std::string& version) override {
    mlos::v1::AliasRequest req;
    req.set_name(name);
    req.set_alias(alias);
    req.set_version(version);
    mlos::v1::ModelStatus res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncSetAlias, req, &res));
    return FromProto(res);
  }
  Result<ModelInfo> Pin(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncPin, id);
  }
  Result<ModelInfo> Unpin(const std::string& id) override {
    return ModelCall(&MStub::PrepareAsyncUnpin, id);
  }
  Status Unregister(const std::string& id) override {
    mlos::v1::ModelRequest req;
    req.set_id(id);
    mlos::v1::UnregisterResponse res;
    return Rpc(&Connection::mgmt, &MStub::PrepareAsyncUnregister, req, &res);
  }
  Result<std::vector<PluginInfo>> ListPlugins() override {
    mlos::v1::PluginsRequest req;
    mlos::v1::PluginsResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncPlugins, req, &res));
    std::vector<PluginInfo> out;
    for (const auto& p : res.plugins()) {
      PluginInfo i;
      i.name = p.name();
      i.version = p.version();
      i.framework = p.framework();
      i.execution_formats.assign(p.execution_formats().begin(), p.execution_formats().end());
      i.capabilities.assign(p.capabilities().begin(), p.capabilities().end());
      i.path = p.path();
      out.push_back(std::move(i));
    }
    return out;
  }

  Result<InferResult> Infer(const InferRequest& r) override {
    MLOS_RETURN_IF_ERROR(CheckInferOptions(r.options));
    inference::ModelInferRequest req;
    inference::ModelInferResponse res;
    std::vector<std::string_view> raw_in;
    std::vector<std::string> encoded;  // BYTES inputs, serialised
    encoded.reserve(r.inputs.size());
    SetOptions(r.options, req.mutable_parameters());
    if (r.version.empty()) {
      auto [name, version] = SplitId(r.model);
      req.set_model_name(name);
      req.set_model_version(version);
    } else {
      req.set_model_name(r.model);
      req.set_model_version(r.version);
    }
    req.set_id(r.id);
    for (const Tensor& t : r.inputs) {
      MLOS_RETURN_IF_ERROR(CheckTensor(t));
      auto* in = req.add_inputs();
      in->set_name(t.name);
      in->set_datatype(KServeDtype(t.dtype));
      in->mutable_shape()->Add(t.shape.begin(), t.shape.end());
      if (t.shm.used()) {
        SetShm(t.shm, in->mutable_parameters());
      } else if (t.dtype == "string") {
        raw_in.push_back(encoded.emplace_back(SerializeBytes(t)));
      } else {
        raw_in.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size());
      }
    }
    for (const OutputSpec& o : r.outputs) {
      auto* out = req.add_outputs();
      out->set_name(o.name);
      if (o.shm.used()) SetShm(o.shm, out->mutable_parameters());
    }
    // The tensors' bytes go out from the tensors and come back into one pooled buffer: the
    // message around them is protobuf (wire/grpc_raw.h).
    auto raw_buffer = std::make_shared<Buffer>();
    std::vector<std::string_view> raw_out;
    std::shared_ptr<const void> storage;
    size_t raw_bytes = 0;
    for (std::string_view p : raw_in) raw_bytes += p.size();
    if (raw_bytes < kRawInferBytes) {
      // Small tensors: the generated stub (a registered method, protobuf's own codec).
      for (std::string_view p : raw_in) req.add_raw_input_contents()->assign(p);
      MLOS_RETURN_IF_ERROR(Rpc(&Connection::infer, &IStub::PrepareAsyncModelInfer, req, &res));
      for (const std::string& c : res.raw_output_contents()) raw_out.push_back(c);
    } else {
      MLOS_RETURN_IF_ERROR(RawInfer(req, raw_in, &res, *raw_buffer, raw_out));
      if (r.options.view_outputs) storage = raw_buffer;
    }
    InferResult result;
    result.model_name = res.model_name();
    result.model_version = res.model_version();
    result.id = res.id();
    const bool raw = !raw_out.empty();
    if (raw && raw_out.size() != static_cast<size_t>(res.outputs_size())) {
      return Internal("gRPC infer response: " + std::to_string(raw_out.size()) +
                      " raw contents for " + std::to_string(res.outputs_size()) + " outputs");
    }
    for (int i = 0; i < res.outputs_size(); ++i) {
      const auto& o = res.outputs(i);
      Tensor t;
      t.name = o.name();
      t.dtype = DtypeFromKServe(o.datatype());
      t.shape.assign(o.shape().begin(), o.shape().end());
      if (auto it = o.parameters().find("shared_memory_region"); it != o.parameters().end()) {
        t.shm.region = it->second.string_param();
        if (auto off = o.parameters().find("shared_memory_offset"); off != o.parameters().end()) {
          t.shm.offset = UIntParam(off->second);
        }
        if (auto sz = o.parameters().find("shared_memory_byte_size");
            sz != o.parameters().end()) {
          t.shm.byte_size = UIntParam(sz->second);
        }
      } else if (raw) {
        MLOS_RETURN_IF_ERROR(DeserializeOutput(raw_out[static_cast<size_t>(i)], t, storage));
      } else {
        FromContents(o.contents(), t);
      }
      result.outputs.push_back(std::move(t));
    }
    return result;
  }

  Status RegisterSharedMemory(const std::string& region, const SharedMemory& memory,
                              uint64_t offset, uint64_t byte_size) override {
    if (!memory.is_system()) {
      return InvalidArgument("a memfd region can only be registered over IPC (unix://); use "
                             "SharedMemory::CreateSystem over gRPC");
    }
    inference::SystemSharedMemoryRegisterRequest req;
    req.set_name(region);
    req.set_key(memory.key());
    req.set_offset(offset);
    req.set_byte_size(byte_size);
    inference::SystemSharedMemoryRegisterResponse res;
    return Rpc(&Connection::infer, &IStub::PrepareAsyncSystemSharedMemoryRegister, req, &res);
  }
  Status UnregisterSharedMemory(const std::string& region) override {
    inference::SystemSharedMemoryUnregisterRequest req;
    req.set_name(region);
    inference::SystemSharedMemoryUnregisterResponse res;
    return Rpc(&Connection::infer, &IStub::PrepareAsyncSystemSharedMemoryUnregister, req, &res);
  }
  Result<CreatedToken> CreateToken(const std::string& name, const std::string& role,
                                   const std::vector<std::string>& models,
                                   const std::string& expires) override {
    mlos::v1::CreateTokenRequest req;
    req.set_name(name);
    req.set_role(role);
    for (const std::string& m : models) req.add_models(m);
    req.set_expires(expires);
    mlos::v1::CreateTokenResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncCreateToken, req, &res));
    if (res.token().empty()) return Internal("server's answer to a token create has no token");
    return CreatedToken{res.token(), FromProto(res.info())};
  }
  Result<std::vector<TokenInfo>> ListTokens() override {
    mlos::v1::ListTokensRequest req;
    mlos::v1::ListTokensResponse res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncListTokens, req, &res));
    std::vector<TokenInfo> out;
    for (const auto& t : res.tokens()) out.push_back(FromProto(t));
    return out;
  }
  Result<TokenInfo> RevokeToken(const std::string& name) override {
    MLOS_RETURN_IF_ERROR(CheckTokenName(name));
    mlos::v1::RevokeTokenRequest req;
    req.set_name(name);
    mlos::v1::TokenInfo res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, &MStub::PrepareAsyncRevokeToken, req, &res));
    return FromProto(res);
  }

  Result<std::vector<ShmRegionInfo>> SharedMemoryStatus(const std::string& region) override {
    inference::SystemSharedMemoryStatusRequest req;
    req.set_name(region);
    inference::SystemSharedMemoryStatusResponse res;
    MLOS_RETURN_IF_ERROR(
        Rpc(&Connection::infer, &IStub::PrepareAsyncSystemSharedMemoryStatus, req, &res));
    std::vector<ShmRegionInfo> out;
    for (const auto& [name, s] : res.regions()) {
      ShmRegionInfo i;
      i.name = s.name().empty() ? name : s.name();
      i.key = s.key();
      i.offset = s.offset();
      i.byte_size = s.byte_size();
      out.push_back(std::move(i));
    }
    return out;
  }

  // mlos.v1.Management/Generate on the asynchronous API, polled by this thread on a queue of
  // its own: each read waits at most ClientOptions::timeout (then the call is cancelled and
  // the answer is kDeadlineExceeded). When `on_token` answers false the call is cancelled,
  // which stops the generation on the server; the answer is then ok, "cancelled".
  Result<GenerateResult> Generate(const GenerateOptions& o, TokenCallback on_token) override {
    mlos::v1::GenerateRequest req;
    req.set_model(o.model);
    req.set_prompt(o.prompt);
    for (const ChatMessage& m : o.messages) {
      mlos::v1::ChatMessage* c = req.add_messages();
      c->set_role(m.role);
      c->set_content(m.content);
    }
    if (o.max_tokens) req.mutable_max_tokens()->set_value(*o.max_tokens);
    if (o.temperature) req.mutable_temperature()->set_value(*o.temperature);
    if (o.top_p) req.mutable_top_p()->set_value(*o.top_p);
    if (o.top_k) req.mutable_top_k()->set_value(*o.top_k);
    if (o.seed) req.mutable_seed()->set_value(*o.seed);
    for (const std::string& s : o.stop) req.add_stop(s);

    MLOS_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Connect());
    grpc::ClientContext ctx;
    if (!options_.bearer_token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + options_.bearer_token);
    }
    grpc::CompletionQueue cq;
    bool timed_out = false, cancelled = false;
    // Waits for the one operation in flight (`want`); false when it did not succeed.
    auto wait = [&](void* want) {
      for (;;) {
        void* tag = nullptr;
        bool ok = false;
        const auto deadline = std::chrono::system_clock::now() + options_.timeout;
        switch (cq.AsyncNext(&tag, &ok, deadline)) {
          case grpc::CompletionQueue::GOT_EVENT:
            if (tag == want) return ok;
            break;
          case grpc::CompletionQueue::TIMEOUT:
            timed_out = true;
            ctx.TryCancel();  // the operation then completes, not ok
            break;
          case grpc::CompletionQueue::SHUTDOWN:
            return false;
        }
      }
    };
    int start_tag = 0, read_tag = 0, finish_tag = 0;
    std::unique_ptr<grpc::ClientAsyncReader<mlos::v1::GenerateResponse>> reader =
        conn->mgmt->PrepareAsyncGenerate(&ctx, req, &cq);
    reader->StartCall(&start_tag);
    GenerateResult result;
    if (wait(&start_tag)) {
      mlos::v1::GenerateResponse msg;
      for (;;) {
        reader->Read(&msg, &read_tag);
        if (!wait(&read_tag)) break;
        if (msg.done()) {
          result.finish_reason = msg.finish_reason();
          result.model_id = msg.model_id();
          result.prompt_tokens = msg.prompt_tokens();
          result.completion_tokens = msg.completion_tokens();
          result.cached_tokens = msg.cached_tokens();
          continue;  // the next read ends the stream
        }
        if (msg.text().empty()) continue;
        result.text += msg.text();
        if (on_token && !on_token(msg.text())) {
          cancelled = true;
          ctx.TryCancel();
        }
      }
    }
    // A stream that ended without its last message: an error status (then this changes
    // nothing), or a message this client could not parse, which leaves the call open.
    if (result.finish_reason.empty() && !cancelled) ctx.TryCancel();
    grpc::Status st;
    reader->Finish(&st, &finish_tag);
    wait(&finish_tag);
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
    if (cancelled) {
      result.finish_reason = "cancelled";
      return result;
    }
    if (timed_out) {
      return Status(StatusCode::kDeadlineExceeded,
                    "no answer from " + url_ + " within " +
                        std::to_string(options_.timeout.count()) + " ms");
    }
    MLOS_RETURN_IF_ERROR(FromGrpc(st, url_));
    if (result.finish_reason.empty()) {
      return Internal("the generation stream from " + url_ + " ended without its last message");
    }
    return result;
  }

 private:
  // One unary call. It runs on a completion queue taken from a pool and polled by this thread
  // (the blocking stubs create and destroy a queue per call); the queue goes back once the
  // call's only event has come.
  template <typename Stub, typename Req, typename Res>
  Status Rpc(std::unique_ptr<Stub> Connection::*stub,
             std::unique_ptr<grpc::ClientAsyncResponseReader<Res>> (Stub::*prepare)(
                 grpc::ClientContext*, const Req&, grpc::CompletionQueue*),
             const Req& req, Res* res) {
    MLOS_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Connect());
    grpc::ClientContext ctx;
    SetCallOptions(ctx);
    std::unique_ptr<grpc::CompletionQueue> cq = TakeQueue();
    grpc::Status st;
    Stub* s = ((*conn).*stub).get();
    std::unique_ptr<grpc::ClientAsyncResponseReader<Res>> call = (s->*prepare)(&ctx, req, cq.get());
    call->StartCall();
    call->Finish(res, &st, &st);
    void* tag = nullptr;
    bool ok = false;
    while (cq->Next(&tag, &ok) && tag != &st) {
    }
    GiveQueue(std::move(cq));
    return Outcome(st, ctx);
  }

  // Every call's deadline and credentials.
  void SetCallOptions(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    if (!options_.bearer_token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + options_.bearer_token);
    }
  }

  // The call's status as the SDK's, with the `retry-after` trailer (seconds) a quota refusal
  // carries.
  Status Outcome(const grpc::Status& st, grpc::ClientContext& ctx) const {
    Status out = FromGrpc(st, url_);
    if (!out.ok()) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      if (auto it = trailers.find("retry-after"); it != trailers.end()) {
        uint32_t secs = 0;
        const std::string_view v(it->second.data(), it->second.size());
        auto r = std::from_chars(v.data(), v.data() + v.size(), secs);
        if (r.ec == std::errc() && r.ptr == v.data() + v.size() && secs > 0) {
          out = std::move(out).WithRetryAfter(secs);
        }
      }
    }
    return out;
  }

  // ModelInfer through the generic stub: `req` (without raw_input_contents) followed by the
  // entries of `raw_in`, sent from where they are; the answer parsed into `res` around its
  // raw_output_contents, which land in `raw` and are listed in `raw_out`.
  Status RawInfer(const inference::ModelInferRequest& req,
                  const std::vector<std::string_view>& raw_in, inference::ModelInferResponse* res,
                  Buffer& raw, std::vector<std::string_view>& raw_out) {
    MLOS_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, Connect());
    // The request's slices point into the caller's tensors: this call returns only once gRPC
    // has let go of every one of them.
    struct Released {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
    };
    auto released = std::make_shared<Released>();
    grpc::ByteBuffer answer;
    Status outcome;
    {
      std::shared_ptr<const void> owner(nullptr, [released](const void*) {
        std::lock_guard lock(released->mu);
        released->done = true;
        released->cv.notify_all();
      });
      grpc::ByteBuffer request;
      wire::SerializeWithRawField(req, wire::kRawInputContentsField, raw_in, std::move(owner),
                                  &request);
      grpc::ClientContext ctx;
      SetCallOptions(ctx);
      std::unique_ptr<grpc::CompletionQueue> cq = TakeQueue();
      grpc::Status st;
      {
        auto call = conn->generic->PrepareUnaryCall(
            &ctx, "/inference.GRPCInferenceService/ModelInfer", request, cq.get());
        call->StartCall();
        call->Finish(&answer, &st, &st);
        void* tag = nullptr;
        bool ok = false;
        while (cq->Next(&tag, &ok) && tag != &st) {
        }
      }
      GiveQueue(std::move(cq));
      outcome = Outcome(st, ctx);
    }
    {
      // Normally at once (the bytes were written before the answer came); a transport still
      // writing them after a failed call lets go when the write ends or the connection closes.
      std::unique_lock lock(released->mu);
      if (!released->cv.wait_for(lock, options_.timeout + std::chrono::seconds(10),
                                 [&] { return released->done; })) {
        return Status(StatusCode::kDeadlineExceeded,
                      "gRPC infer: the transport still holds the request's tensors");
      }
    }
    MLOS_RETURN_IF_ERROR(outcome);
    Status parsed = wire::ParseWithRawField(answer, wire::kRawOutputContentsField, *res, raw,
                                            raw_out);
    if (!parsed.ok()) return Internal("gRPC infer response: " + parsed.message());
    return Status::Ok();
  }

  // The connection calls go on. Direct (the default): a TCP connection the SDK makes and hands
  // to gRPC as a direct channel, which skips the client channel's per-call work (name
  // resolution, load balancing, dynamic filters, a second call stack per call); when the
  // server has closed it (a restart), the next call makes a new one, as gRPC's client channel
  // would. With a proxy configured: one client channel, which handles reconnection itself.
  Result<std::shared_ptr<Connection>> Connect() {
    std::shared_ptr<Connection> conn;
    {
      std::lock_guard<std::mutex> lock(conn_mu_);
      conn = conn_;
    }
    if (conn && !conn->Closed()) return conn;
    std::lock_guard<std::mutex> lock(conn_mu_);
    if (conn_ && conn_ != conn) return conn_;  // another thread reconnected meanwhile
    const grpc::ChannelArguments args = ChannelArgs();
    if (!direct_) {
      auto channel = grpc::CreateCustomChannel(
          target_, ep_.tls ? grpc::SslCredentials(ssl_) : grpc::InsecureChannelCredentials(),
          args);
      if (!channel) return Internal("cannot create a gRPC channel to " + target_);
      conn_ = std::make_shared<Connection>(std::move(channel));
      return conn_;
    }
    conn_.reset();
    std::string why;
    const int fd = Dial(ep_.host, ep_.port, options_.connect_timeout, &why);
    if (fd < 0) return Unavailable("cannot reach mlosd at " + url_ + ": " + why);
    const int watch = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    auto channel = grpc::CreateCustomInsecureChannelFromFd(target_, fd, args);
    if (!channel) {
      if (watch >= 0) ::close(watch);
      return Internal("cannot create a gRPC channel to " + target_);
    }
    conn_ = std::make_shared<Connection>(std::move(channel), watch);
    return conn_;
  }

  std::unique_ptr<grpc::CompletionQueue> TakeQueue() {
    {
      std::lock_guard<std::mutex> lock(queues_mu_);
      if (!queues_.empty()) {
        std::unique_ptr<grpc::CompletionQueue> cq = std::move(queues_.back());
        queues_.pop_back();
        return cq;
      }
    }
    return std::make_unique<grpc::CompletionQueue>();
  }
  void GiveQueue(std::unique_ptr<grpc::CompletionQueue> cq) {
    std::lock_guard<std::mutex> lock(queues_mu_);
    queues_.push_back(std::move(cq));
  }

  using ModelMethod =
      std::unique_ptr<grpc::ClientAsyncResponseReader<mlos::v1::ModelStatus>> (MStub::*)(
          grpc::ClientContext*, const mlos::v1::ModelRequest&, grpc::CompletionQueue*);
  Result<ModelInfo> ModelCall(ModelMethod method, const std::string& id) {
    mlos::v1::ModelRequest req;
    req.set_id(id);
    mlos::v1::ModelStatus res;
    MLOS_RETURN_IF_ERROR(Rpc(&Connection::mgmt, method, req, &res));
    return FromProto(res);
  }

  Endpoint ep_;
  ClientOptions options_;
  std::string url_;     // grpc://host:port or grpcs://host:port
  std::string target_;  // host:port
  grpc::SslCredentialsOptions ssl_;  // grpcs://: CA, client certificate and key (PEM)
  const bool direct_;   // dial and use direct channels (plaintext, no proxy configured)
  std::mutex conn_mu_;
  std::shared_ptr<Connection> conn_;
  std::mutex queues_mu_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;  // idle, one per call in flight
};

}  // namespace

Result<std::unique_ptr<Client>> NewGrpcClient(const Endpoint& ep, const ClientOptions& options) {
  // gRPC's locks are absl::Mutex. Debian's abseil is built without NDEBUG, which leaves its
  // lock-order (deadlock) checking on: every lock and unlock then also updates a process-wide
  // graph under a global lock, a few µs per call. Upstream release builds have it off; so do we,
  // once, when the first gRPC client is made.
  static std::once_flag no_lock_graph;
  std::call_once(no_lock_graph, [] {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  });
  grpc::SslCredentialsOptions ssl;
  if (ep.tls) {
    const ClientOptions::Tls& tls = options.tls;
    if (!tls.ca_file.empty()) {
      MLOS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPemFile(tls.ca_file, "CA file"));
    }
    if (!tls.cert_file.empty()) {
      MLOS_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPemFile(tls.cert_file, "certificate file"));
      MLOS_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPemFile(tls.key_file, "key file"));
    }
  }
  // The connection is made by the first call (as gRPC's channels connect lazily).
  return std::unique_ptr<Client>(new GrpcClient(ep, options, std::move(ssl)));
}

}  // namespace mlos::client::internal
