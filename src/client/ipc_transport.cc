// IPC transport: MLOS frames (src/wire/ipc_protocol.h, docs/ipc.md) over a Unix stream socket.
// One connection per client, requests serialised by a mutex (the protocol answers in order).
// Shared-memory regions travel as descriptors (SCM_RIGHTS): both memfd and POSIX shm objects.
// Management and metadata answers are the same JSON documents HTTP sends (decoded by the same
// functions); a server older than ops 14..24 answers those with kUnimplemented, passed through.
// A bearer token is sent once, right after HELLO (AUTH), and holds for the connection.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "client/internal.h"
#include "mlos/smi.h"
#include "wire/dtype.h"
#include "wire/ipc_protocol.h"

namespace mlos::client::internal {
namespace {

using nlohmann::json;

uint8_t CodeOf(std::string_view name) {
  const wire::DtypeInfo* d = wire::DtypeByName(name);
  return static_cast<uint8_t>(d ? d->id : SMI_DTYPE_INVALID);
}
std::string NameOf(uint8_t code) {
  const wire::DtypeInfo* d = wire::DtypeById(code);
  return d ? d->name : "invalid";
}

class IpcClient final : public Client {
 public:
  IpcClient(Endpoint ep, ClientOptions options, int fd)
      : ep_(std::move(ep)), options_(std::move(options)), fd_(fd) {}
  ~IpcClient() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const Endpoint& endpoint() const override { return ep_; }

  Result<bool> Live() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kHealth, ""));
    ipc::Reader r(p);
    const bool live = r.U8() != 0;
    if (!r.ok()) return Internal("ipc: short HEALTH answer");
    return live;
  }
  Result<bool> Ready() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kHealth, ""));
    ipc::Reader r(p);
    r.U8();
    const bool ready = r.U8() != 0;
    if (!r.ok()) return Internal("ipc: short HEALTH answer");
    return ready;
  }
  Result<bool> ModelReady(const std::string& model) override {
    std::string payload;
    ipc::Writer w(payload);
    w.Str(model);
    w.Str("");
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kModelReady, payload));
    ipc::Reader r(p);
    const bool ready = r.U8() != 0;
    if (!r.ok()) return Internal("ipc: short MODEL_READY answer");
    return ready;
  }
  Result<ServerMetadata> GetServerMetadata() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kServerMetadata, ""));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ServerMetadataFromJson(j);
  }
  Result<ModelMetadata> GetModelMetadata(const std::string& model) override {
    std::string payload;
    ipc::Writer w(payload);
    w.Str(model);
    w.Str("");
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kModelMetadata, payload));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ModelMetadataFromJson(j);
  }

  Result<std::vector<ModelInfo>> ListModels() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kModelList, ""));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ModelListFromJson(j);
  }
  Result<ModelInfo> GetModel(const std::string& id) override {
    return IdCall(ipc::Op::kModelGet, id);
  }
  Result<ModelInfo> Register(const RegisterRequest& r) override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kModelRegister, RegisterBody(r)));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    if (j.contains("model")) return ModelInfoFromJson(j["model"]);
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Load(const std::string& id) override { return IdCall(ipc::Op::kModelLoad, id); }
  Result<ModelInfo> Unload(const std::string& id) override {
    return IdCall(ipc::Op::kModelUnload, id);
  }
  Result<ModelInfo> SetDefault(const std::string& id) override {
    return IdCall(ipc::Op::kModelSetDefault, id);
  }
  Result<ModelInfo> Rollback(const std::string& name) override {
    return IdCall(ipc::Op::kModelRollback, name);
  }
  Result<ModelInfo> SetAlias(const std::string& name, const std::string& alias,
                             const std::string& version) override {
    std::string payload;
    ipc::Writer w(payload);
    w.Str(name);
    w.Str(alias);
    w.Str(version);
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kModelSetAlias, payload));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Pin(const std::string& id) override { return IdCall(ipc::Op::kModelPin, id); }
  Result<ModelInfo> Unpin(const std::string& id) override {
    return IdCall(ipc::Op::kModelUnpin, id);
  }
  Status Unregister(const std::string& id) override {
    std::string payload;
    ipc::Writer(payload).Str(id);
    return Call(ipc::Op::kModelUnregister, payload).status();
  }
  Result<std::vector<PluginInfo>> ListPlugins() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kPlugins, ""));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return PluginListFromJson(j);
  }

  Result<InferResult> Infer(const InferRequest& r) override {
    MLOS_RETURN_IF_ERROR(CheckInferOptions(r.options));
    ipc::InferRequestMsg m;
    m.model = r.model;
    m.version = r.version;
    // The request's own timeout when it is the shorter; the extension block only when a field
    // is set (a server that predates it refuses it).
    std::chrono::milliseconds timeout = options_.timeout;
    if (r.options.timeout.count() > 0 && (timeout.count() <= 0 || r.options.timeout < timeout)) {
      timeout = r.options.timeout;
    }
    m.timeout_us = static_cast<uint64_t>(timeout.count()) * 1000;
    if (r.options.priority > 0) m.priority = static_cast<uint32_t>(r.options.priority);
    if (r.options.keep_alive) {
      m.keep_alive_ms = r.options.keep_alive->count() < 0 ? -1 : r.options.keep_alive->count();
    }
    std::vector<std::string> keep;  // serialised string tensors
    keep.reserve(r.inputs.size());
    for (const Tensor& t : r.inputs) {
      MLOS_RETURN_IF_ERROR(CheckTensor(t));
      ipc::WireTensor w;
      w.name = t.name;
      w.dtype = CodeOf(t.dtype);
      w.shape = t.shape;
      if (t.shm.used()) {
        w.placement = ipc::Placement::kShm;
        w.region = t.shm.region;
        w.offset = t.shm.offset;
        w.byte_size = t.shm.byte_size;
      } else if (t.dtype == "string") {
        keep.push_back(SerializeBytes(t));
        w.data = keep.back();
      } else {
        w.data = std::string_view(reinterpret_cast<const char*>(t.data.data()), t.data.size());
      }
      m.inputs.push_back(std::move(w));
    }
    for (const OutputSpec& o : r.outputs) {
      ipc::WireOutputSpec s;
      s.name = o.name;
      if (o.shm.used()) {
        s.placement = ipc::Placement::kShm;
        s.region = o.shm.region;
        s.offset = o.shm.offset;
        s.byte_size = o.shm.byte_size;
      }
      m.outputs.push_back(std::move(s));
    }
    // The request goes out gathered (input bytes straight from the tensors); the answer is
    // read into one buffer sized from its frame header.
    ipc::GatherPayload payload;
    ipc::GatherInferRequest(m, payload);
    auto p = std::make_shared<Buffer>();
    MLOS_RETURN_IF_ERROR(CallInto(ipc::Op::kInfer, payload.Parts(), *p));
    auto resp = ipc::DecodeInferResponse(p->view());
    std::shared_ptr<const void> storage;
    if (r.options.view_outputs) storage = p;
    if (!resp.ok()) return resp.status().WithPrefix("ipc: bad INFER answer");
    InferResult result;
    const size_t at = resp->model_id.rfind('@');
    result.model_name = resp->model_id.substr(0, at);
    result.model_version = at == std::string::npos ? "" : resp->model_id.substr(at + 1);
    result.id = r.id;
    for (const ipc::WireTensor& w : resp->outputs) {
      Tensor t;
      t.name = w.name;
      t.dtype = NameOf(w.dtype);
      t.shape = w.shape;
      if (w.placement == ipc::Placement::kShm) {
        t.shm = {w.region, w.offset, w.byte_size};
      } else {
        MLOS_RETURN_IF_ERROR(DeserializeOutput(w.data, t, storage));
      }
      result.outputs.push_back(std::move(t));
    }
    return result;
  }

  Status RegisterSharedMemory(const std::string& region, const SharedMemory& memory,
                              uint64_t offset, uint64_t byte_size) override {
    std::string payload;
    ipc::Writer w(payload);
    w.Str(region);
    w.U64(offset);
    w.U64(byte_size);
    return Call(ipc::Op::kShmRegister, payload, memory.fd()).status();
  }
  Status UnregisterSharedMemory(const std::string& region) override {
    std::string payload;
    ipc::Writer(payload).Str(region);
    return Call(ipc::Op::kShmUnregister, payload).status();
  }
  Result<CreatedToken> CreateToken(const std::string& name, const std::string& role,
                                   const std::vector<std::string>& models,
                                   const std::string& expires) override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kTokenCreate,
                                              TokenCreateBody(name, role, models, expires)));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return CreatedTokenFromJson(j);
  }
  Result<std::vector<TokenInfo>> ListTokens() override {
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kTokenList, ""));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return TokenListFromJson(j);
  }
  Result<TokenInfo> RevokeToken(const std::string& name) override {
    MLOS_RETURN_IF_ERROR(CheckTokenName(name));
    std::string payload;
    ipc::Writer(payload).Str(name);
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kTokenRevoke, payload));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return TokenInfoFromJson(j);
  }

  Result<std::vector<ShmRegionInfo>> SharedMemoryStatus(const std::string& region) override {
    std::string payload;
    ipc::Writer(payload).Str(region);
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(ipc::Op::kShmStatus, payload));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ShmRegionsFromJson(j);
  }

 private:
  // GENERATE: the request frame, then GENERATE_CHUNK frames and the last GENERATE frame (the
  // usage JSON or the error). When `on_token` answers false a CANCEL follows at once; the
  // chunks still in flight are read and dropped, and CANCEL's own answer comes after the last
  // frame. The connection's mutex is held throughout (the protocol answers in order).
  Result<GenerateResult> Generate(const GenerateOptions& o, TokenCallback on_token) override {
    json params = GenerateParams(o);
    if (!o.messages.empty()) params["messages"] = ChatMessagesJson(o.messages);
    json body = {{"model", o.model}, {"prompt", o.prompt}};
    if (!params.empty()) body["params"] = std::move(params);
    const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);

    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) return Unavailable("ipc: connection to " + ep_.path + " is closed");
    ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(ipc::Op::kGenerate);
    h.request_id = ++next_id_;
    h.length = static_cast<uint32_t>(payload.size());
    Status st = ipc::SendFrame(fd_, h, payload);
    if (!st.ok()) return Broken(st);
    GenerateResult result;
    std::optional<uint64_t> cancel_id;  // the CANCEL sent, whose answer is still to come
    Status answer;
    std::string reply;
    for (;;) {
      ipc::FrameHeader rh;
      MLOS_RETURN_IF_ERROR(Receive(h.request_id, rh, reply));
      if (rh.op == static_cast<uint16_t>(ipc::Op::kGenerateChunk)) {
        if (cancel_id) continue;  // sent before the server saw the CANCEL
        result.text += reply;
        if (on_token && !on_token(reply)) {
          std::string c;
          ipc::Writer(c).U64(h.request_id);
          ipc::FrameHeader ch;
          ch.op = static_cast<uint16_t>(ipc::Op::kCancel);
          ch.request_id = ++next_id_;
          ch.length = static_cast<uint32_t>(c.size());
          st = ipc::SendFrame(fd_, ch, c);
          if (!st.ok()) return Broken(st);
          cancel_id = ch.request_id;
        }
        continue;
      }
      if (rh.status != 0) {
        answer = Status(static_cast<StatusCode>(rh.status), reply);
      } else {
        json j = json::parse(reply, nullptr, false);
        if (!j.is_object()) answer = Internal("ipc: server sent malformed JSON");
        ReadGenerateUsage(j, result);
      }
      break;
    }
    if (cancel_id) {
      ipc::FrameHeader rh;
      st = ipc::RecvFrame(fd_, rh, reply);
      if (!st.ok()) return Broken(st);
      if (rh.request_id != *cancel_id) {
        return Broken(Internal("ipc: answer for request " + std::to_string(rh.request_id) +
                               ", expected " + std::to_string(*cancel_id)));
      }
    }
    if (!answer.ok()) return answer;
    return result;
  }

  static Result<json> Parse(const std::string& p) {
    json j = json::parse(p, nullptr, false);
    if (j.is_discarded()) return Internal("ipc: server sent malformed JSON");
    return j;
  }

  Result<ModelInfo> IdCall(ipc::Op op, const std::string& id) {
    std::string payload;
    ipc::Writer(payload).Str(id);
    MLOS_ASSIGN_OR_RETURN(std::string p, Call(op, payload));
    MLOS_ASSIGN_OR_RETURN(json j, Parse(p));
    return ModelInfoFromJson(j);
  }

  // One request in pieces, its answer's payload into `reply`.
  Status CallInto(ipc::Op op, const std::vector<std::string_view>& parts, Buffer& reply) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) return Unavailable("ipc: connection to " + ep_.path + " is closed");
    ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(op);
    h.request_id = ++next_id_;
    Status st = ipc::SendFrameParts(fd_, h, parts);
    if (!st.ok()) return Broken(st);
    ipc::FrameHeader rh;
    MLOS_RETURN_IF_ERROR(Receive(h.request_id, rh, reply));
    if (rh.status != 0) return Status(static_cast<StatusCode>(rh.status), std::string(reply.view()));
    return Status::Ok();
  }

  Result<std::string> Call(ipc::Op op, std::string_view payload, int pass_fd = -1) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) return Unavailable("ipc: connection to " + ep_.path + " is closed");
    ipc::FrameHeader h;
    h.op = static_cast<uint16_t>(op);
    h.request_id = ++next_id_;
    h.length = static_cast<uint32_t>(payload.size());
    Status st = ipc::SendFrame(fd_, h, payload, pass_fd);
    if (!st.ok()) return Broken(st);
    ipc::FrameHeader rh;
    std::string reply;
    MLOS_RETURN_IF_ERROR(Receive(h.request_id, rh, reply));
    if (rh.status != 0) return Status(static_cast<StatusCode>(rh.status), reply);
    return reply;
  }

  // The next frame, which must answer request `id` (a descriptor sent with it is closed).
  template <typename Payload>
  Status Receive(uint64_t id, ipc::FrameHeader& rh, Payload& reply) {
    int received = -1;
    Status st = ipc::RecvFrame(fd_, rh, reply, &received);
    if (received >= 0) ::close(received);
    if (!st.ok()) return Broken(st);
    if (rh.request_id != id) {
      return Broken(Internal("ipc: answer for request " + std::to_string(rh.request_id) +
                             ", expected " + std::to_string(id)));
    }
    return Status::Ok();
  }

  // A failed send/receive leaves the stream out of sync: close it.
  Status Broken(const Status& st) {
    ::close(fd_);
    fd_ = -1;
    return Unavailable("ipc: connection to " + ep_.path + " lost: " + st.message());
  }

  Endpoint ep_;
  ClientOptions options_;
  std::mutex mu_;
  int fd_;
  uint64_t next_id_ = 0;
};

// One request frame on a fresh connection (HELLO, AUTH) and its answer: the payload, or the
// server's error status (*answered true), or the send/receive failure (*answered false).
Result<std::string> Exchange(int fd, ipc::Op op, std::string_view payload, bool* answered) {
  ipc::FrameHeader h;
  h.op = static_cast<uint16_t>(op);
  h.length = static_cast<uint32_t>(payload.size());
  ipc::FrameHeader rh;
  std::string reply;
  Status st = ipc::SendFrame(fd, h, payload);
  if (st.ok()) st = ipc::RecvFrame(fd, rh, reply);
  *answered = st.ok();
  if (!st.ok()) return st;
  if (rh.status != 0) return Status(static_cast<StatusCode>(rh.status), reply);
  return reply;
}

// HELLO: agree on a version. It answers u16 chosen, u32 max_payload, str server; the server's
// name and version come from SERVER_METADATA, as on the other transports.
Status Hello(int fd, const Endpoint& ep) {
  std::string payload;
  ipc::Writer w(payload);
  w.U16(ipc::kVersionMin);
  w.U16(ipc::kVersionMax);
  bool answered = false;
  Result<std::string> reply = Exchange(fd, ipc::Op::kHello, payload, &answered);
  if (!reply.ok()) {
    const Status& st = reply.status();
    if (answered && st.code() == StatusCode::kFailedPrecondition) return st;  // no common version
    return Unavailable("ipc handshake with unix://" + ep.path + " failed: " + st.message());
  }
  ipc::Reader r(*reply);
  r.U16();
  r.U32();
  r.Str();
  if (!r.ok()) {
    return Unavailable("ipc handshake with unix://" + ep.path + " failed: short HELLO answer");
  }
  return Status::Ok();
}

// AUTH: the connection's bearer token. The server keeps it even when it does not authenticate
// (a bad, expired or revoked token: kUnauthenticated), and every later call is authenticated
// with it again, so calls then fail or pass as they would over HTTP and gRPC (health checks
// pass): that refusal is no error here. A server that predates AUTH (kUnimplemented) cannot
// take the token at all: that fails, as does a broken connection.
Status Authenticate(int fd, const Endpoint& ep, const std::string& token) {
  std::string payload;
  ipc::Writer(payload).Str(token);
  bool answered = false;
  Result<std::string> reply = Exchange(fd, ipc::Op::kAuth, payload, &answered);
  if (!reply.ok()) {
    const Status& st = reply.status();
    if (!answered) {
      return Unavailable("ipc authentication with unix://" + ep.path + " failed: " + st.message());
    }
    if (st.code() == StatusCode::kUnimplemented) {
      return st.WithPrefix("unix://" + ep.path + " does not take bearer tokens");
    }
    return Status::Ok();
  }
  ipc::Reader r(*reply);
  r.Str();  // principal
  r.Str();  // role
  if (!r.ok()) return Internal("ipc: short AUTH answer");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Client>> NewIpcClient(const Endpoint& ep, const ClientOptions& options) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  const long ms = static_cast<long>(options.timeout.count());
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, ep.path.data(), ep.path.size());
  ipc::SetLargeSocketBuffers(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    return Unavailable("cannot reach mlosd at unix://" + ep.path + ": " + std::strerror(e));
  }
  Status st = Hello(fd, ep);
  if (st.ok() && !options.bearer_token.empty()) st = Authenticate(fd, ep, options.bearer_token);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  return std::unique_ptr<Client>(new IpcClient(ep, options, fd));
}

}  // namespace mlos::client::internal
