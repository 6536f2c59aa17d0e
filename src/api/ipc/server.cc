#include "api/ipc/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/common/model_json.h"
#include "api/common/request_options.h"
#include "api/common/token_json.h"
#include "security/token.h"
#include "wire/bytes_codec.h"
#include "wire/dtype.h"
#include "wire/ipc_protocol.h"
#include "wire/utf8.h"

namespace mlos::ipc {

namespace {
class Connection;
}  // namespace

struct Server::Impl {
  service::Service& service;
  ServerOptions options;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle;
  // id -> connection, guarded by mu. Connections wait for their next frame in `epoll`
  // (one-shot: a readable connection goes to one worker), are answered by a worker when the
  // frame is complete and quick, and get a thread of their own for one slow or large frame.
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  uint64_t next_id = 1;
  bool started = false;
  int epoll = -1;
  std::vector<std::thread> workers;
  std::weak_ptr<Impl> self;  // lets hand-off threads keep the Impl alive

  Impl(service::Service& s, ServerOptions o) : service(s), options(std::move(o)) {}
  // The last hand-off thread may outlive Stop(): the epoll set goes with the last owner.
  ~Impl() {
    if (epoll >= 0) ::close(epoll);
  }

  void AcceptLoop();
  void WorkerLoop();
  void Handle(uint64_t id, const std::shared_ptr<Connection>& c);
  void Rearm(uint64_t id, const std::shared_ptr<Connection>& c);
  void Close(uint64_t id);
};

namespace {

// Frames the event loop answers on its own thread once they have fully arrived: everything
// but generation and the management calls that can wait for a load.
// What Step peeks at: a frame this size or smaller is seen whole in one call.
constexpr size_t kPeekBytes = 4096;

bool QuickOp(uint16_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kHello:
    case Op::kHealth:
    case Op::kModelMetadata:
    case Op::kInfer:
    case Op::kModelList:
    case Op::kShmRegister:
    case Op::kShmUnregister:
    case Op::kShmStatus:
    case Op::kPeerInfo:
    case Op::kModelGet:
    case Op::kPlugins:
    case Op::kServerMetadata:
    case Op::kModelReady:
    case Op::kAuth:
    case Op::kTokenList:
    case Op::kCancel:
      return true;
    default:
      return false;
  }
}

// One connection's state. Only one thread handles it at a time: an event-loop worker while
// its next frame is complete and quick, or a thread of its own for one slow or incomplete frame
// (see Server::Impl). Decodes each frame, calls the service with the connection's
// RequestContext, encodes the answer.
class Connection {
 public:
  Connection(Server::Impl& s, int fd, std::string id) : s_(s), fd_(fd), id_(std::move(id)) {
    Identify();
  }

  enum class Next { kRearm, kClose, kHandOff };

  // The socket is readable: answers the next frame here when it has fully arrived and is
  // quick; otherwise says kHandOff (ServeOne on a thread of its own, which may block).
  Next Step() {
    // One peek shows whether the next frame has fully arrived (for frames up to the peek's
    // size; a larger one asks FIONREAD).
    char peek[kPeekBytes];
    const ssize_t n = ::recv(fd_, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return ServeOne() ? Next::kRearm : Next::kClose;  // the clean end
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Next::kRearm;
      return Next::kHandOff;  // an error: the blocking path reports it
    }
    if (static_cast<size_t>(n) < kHeaderSize) return Next::kHandOff;
    auto h = DecodeHeader(reinterpret_cast<const uint8_t*>(peek), s_.options.max_payload);
    if (!h.ok()) return ServeOne() ? Next::kRearm : Next::kClose;  // says why, then closes
    if (!QuickOp(h->op)) return Next::kHandOff;
    size_t avail = static_cast<size_t>(n);
    const size_t frame = kHeaderSize + h->length;
    if (frame > avail && avail == sizeof peek) {
      int queued = 0;
      if (::ioctl(fd_, FIONREAD, &queued) == 0) avail = static_cast<size_t>(queued);
    }
    if (frame > avail) return Next::kHandOff;
    return ServeOne(&*h) ? Next::kRearm : Next::kClose;
  }

  // Reads one frame (blocking) and answers it; false when the connection is done.
  bool ServeOne(const FrameHeader* peeked = nullptr) {
    FrameHeader h;
    int passed_fd = -1;
    Status st = RecvFrame(fd_, h, payload_, &passed_fd, s_.options.max_payload, peeked);
    if (!st.ok()) {
      if (passed_fd >= 0) ::close(passed_fd);
      if (st.code() == StatusCode::kInvalidArgument) {
        // A bad header: the stream cannot be resynchronised. Say why, then close.
        FrameHeader e;
        e.status = static_cast<uint32_t>(st.code());
        (void)SendFrame(fd_, e, st.message());
        spdlog::warn("ipc {}: {}; closing the connection", id_, st.message());
      } else if (st.code() != StatusCode::kCancelled) {
        spdlog::debug("ipc {}: {}", id_, st.message());
      }
      return false;
    }
    return Answer(h, passed_fd);
  }

  // The connection is gone: its shared-memory regions go with it.
  void Closed() {
    s_.service.ReleaseShmOwner(id_);
    spdlog::info("ipc {}: closed", id_);
  }

  int fd() const { return fd_; }
  bool busy = false;  // a thread is handling it (guarded by Server::Impl::mu)

 private:
  // The peer's credentials become the connection's principal.
  void Identify() {
    ucred cred{};
    socklen_t len = sizeof cred;
    ctx_.protocol = service::Protocol::kIpc;
    ctx_.shm_owner = id_;
    if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      cred_ = cred;
      ctx_.principal = {"uid:" + std::to_string(cred.uid), "peercred"};
      ctx_.credentials.peer_uid = cred.uid;
    } else {
      ctx_.principal = {"uid:unknown", "none"};
    }
    ctx_.peer = "pid " + std::to_string(cred_.pid) + " uid " + std::to_string(cred_.uid);
    spdlog::info("ipc {}: connected (pid {}, uid {}, gid {}, principal {})", id_, cred_.pid,
                 cred_.uid, cred_.gid, ctx_.principal.name);
  }

  // Runs one request and sends its answer; false when the connection is gone.
  bool Answer(const FrameHeader& h, int passed_fd) {
    response_.clear();
    Status result;
    try {
      result = Dispatch(h, passed_fd);
    } catch (const std::exception& e) {
      result = Internal(std::string("internal error: ") + e.what());
    } catch (...) {
      result = Internal("internal error");
    }
    if (passed_fd >= 0) ::close(passed_fd);  // not taken by a REGISTER_SHM
    FrameHeader r;
    r.version = h.version >= kVersionMin && h.version <= kVersionMax ? h.version : kVersionMax;
    r.op = h.op;
    r.request_id = h.request_id;
    r.status = static_cast<uint32_t>(result.code());
    if (!result.ok()) {
      gathered_ = false;
      response_ = security::RedactSecrets(result.message());
    }
    const bool sent = gathered_ ? SendFrameParts(fd_, r, gather_.Parts()).ok()
                                : SendFrame(fd_, r, response_).ok();
    // The answer is out: the output buffers go back to the pool for the next request.
    gathered_ = false;
    result_.reset();
    string_blobs_.clear();
    outputs_.clear();
    if (!sent) return false;
    if (cancel_answer_) {  // a CANCEL read during the generation: its answer comes after it
      FrameHeader c = *cancel_answer_;
      cancel_answer_.reset();
      const char stopped = 1;
      if (!SendFrame(fd_, c, std::string_view(&stopped, 1)).ok()) return false;
    }
    if (response_.capacity() > (16u << 20)) std::string().swap(response_);
    // A large payload buffer goes back to the pool (bounded; the next large frame on any
    // connection reuses its pages); a small one stays with the connection.
    if (payload_.capacity() >= kPoolMinBytes) payload_.Release();
    return true;
  }

  Status Dispatch(const FrameHeader& h, int& passed_fd) {
    const Op op = static_cast<Op>(h.op);
    if (op != Op::kHello && (h.version < kVersionMin || h.version > kVersionMax)) {
      return FailedPrecondition("ipc: unsupported protocol version " + std::to_string(h.version) +
                                " (this server speaks " + std::to_string(kVersionMin) + ".." +
                                std::to_string(kVersionMax) + ")");
    }
    // The per-request fields of the connection's context start afresh on every frame.
    ctx_.received = service::Clock::now();
    ctx_.client_deadline.reset();
    ctx_.priority = 0;
    ctx_.keep_alive.reset();
    switch (op) {
      case Op::kHello:
        return Hello();
      case Op::kHealth: {
        Writer w(response_);
        w.U8(s_.service.Live() ? 1 : 0);
        w.U8(s_.service.Ready() ? 1 : 0);
        return Status::Ok();
      }
      case Op::kPeerInfo: {
        Writer w(response_);
        w.Str(ctx_.principal.name);
        w.U32(static_cast<uint32_t>(cred_.pid));
        w.U32(cred_.uid);
        w.U32(cred_.gid);
        return Status::Ok();
      }
      case Op::kServerMetadata: {
        MLOS_ASSIGN_OR_RETURN(service::ServerMetadata meta, s_.service.GetServerMetadata(ctx_));
        api::EncodeServerMetadata(meta, response_);
        return Status::Ok();
      }
      case Op::kAuth:
        return Authenticate();
      case Op::kInfer:
        return Infer();
      case Op::kGenerate:
        return Generate(h);
      case Op::kCancel: {
        // Nothing runs while this thread reads frames: a CANCEL seen here has nothing to stop
        // (the generation it names has ended, or never was).
        Reader r(payload_.view());
        r.U64();
        if (!r.ok() || !r.done()) return InvalidArgument("ipc: CANCEL needs u64 request_id");
        Writer(response_).U8(0);
        return Status::Ok();
      }
      case Op::kShmRegister:
      case Op::kShmUnregister:
      case Op::kShmStatus:
        return SharedMemory(op, passed_fd);
      case Op::kModelGet:
      case Op::kModelLoad:
      case Op::kModelUnload:
      case Op::kModelUnregister:
      case Op::kModelSetDefault:
      case Op::kModelRollback:
      case Op::kModelPin:
      case Op::kModelUnpin:
        return ModelOp(op);
      default:
        return Management(op);
    }
  }

  // AUTH: the connection's bearer token from now on ("" clears it), as HTTP and gRPC carry one
  // on every call: it is kept even when it does not authenticate (the answer says why), and
  // every later call is authenticated again, so each call fails or passes as it would over
  // HTTP (health checks pass; a revoked token stops working at once).
  Status Authenticate() {
    Reader r(payload_.view());
    std::string token(r.Str());
    if (!r.ok()) return InvalidArgument("ipc: AUTH needs str token");
    ctx_.credentials.bearer = std::move(token);
    MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, s_.service.WhoAmI(ctx_));
    Writer w(response_);
    w.Str(who->name);
    w.Str(security::RoleName(who->role));
    return Status::Ok();
  }

  Status Hello() {
    Reader r(payload_.view());
    const uint16_t lo = r.U16(), hi = r.U16();
    if (!r.ok()) return InvalidArgument("ipc: HELLO needs u16 min_version, u16 max_version");
    const uint16_t chosen = std::min<uint16_t>(hi, kVersionMax);
    if (chosen < lo || chosen < kVersionMin) {
      return FailedPrecondition("ipc: no common protocol version (client " + std::to_string(lo) +
                                ".." + std::to_string(hi) + ", server " +
                                std::to_string(kVersionMin) + ".." + std::to_string(kVersionMax) +
                                ")");
    }
    Writer w(response_);
    w.U16(chosen);
    w.U32(s_.options.max_payload);
    w.Str("mlosd " + s_.options.server_version);
    return Status::Ok();
  }

  // Answers a model status (as JSON) or the error.
  Status ModelAnswer(Result<core::ModelStatus> m) {
    if (!m.ok()) return m.status();
    api::EncodeModelStatus(*m, response_);
    return Status::Ok();
  }

  Status Management(Op op) {
    service::Service& svc = s_.service;
    Reader r(payload_.view());
    switch (op) {
      case Op::kModelList: {
        MLOS_ASSIGN_OR_RETURN(auto models, svc.List(ctx_));
        api::EncodeModelList(models, response_);
        return Status::Ok();
      }
      case Op::kPlugins: {
        MLOS_ASSIGN_OR_RETURN(auto plugins, svc.Plugins(ctx_));
        api::EncodePlugins(plugins, response_);
        return Status::Ok();
      }
      case Op::kTokenCreate: {
        MLOS_ASSIGN_OR_RETURN(api::TokenRequest t, api::ParseTokenRequest(payload_.view()));
        MLOS_ASSIGN_OR_RETURN(auto created,
                              svc.CreateToken(ctx_, t.name, t.role, t.models, t.expires));
        api::EncodeToken(created.second, created.first, response_);
        return Status::Ok();
      }
      case Op::kTokenList: {
        MLOS_ASSIGN_OR_RETURN(auto tokens, svc.ListTokens(ctx_));
        api::EncodeTokenList(tokens, response_);
        return Status::Ok();
      }
      case Op::kTokenRevoke: {
        const std::string name(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: TOKEN_REVOKE needs str name");
        MLOS_ASSIGN_OR_RETURN(security::TokenRecord rec, svc.RevokeToken(ctx_, name));
        api::EncodeToken(rec, {}, response_);
        return Status::Ok();
      }
      case Op::kModelRegister: {
        auto parsed = api::ParseRegisterRequest(payload_.view());
        if (!parsed.ok()) return parsed.status();
        return ModelAnswer(svc.Register(ctx_, *parsed));
      }
      case Op::kModelMetadata:
      case Op::kModelReady: {
        const std::string model(r.Str()), version(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: this operation needs str model, str version");
        const std::string id = version.empty() ? model : model + "@" + version;
        if (op == Op::kModelReady) {
          auto m = svc.ModelReady(ctx_, id);
          if (!m.ok() && m.status().code() != StatusCode::kUnavailable) return m.status();
          Writer(response_).U8(m.ok() ? 1 : 0);
          return Status::Ok();
        }
        MLOS_ASSIGN_OR_RETURN(service::ModelMetadata meta, svc.GetModelMetadata(ctx_, id));
        api::EncodeKServeModelMetadata(meta.model, meta.versions, response_);
        return Status::Ok();
      }
      case Op::kModelSetAlias: {
        const std::string name(r.Str()), alias(r.Str()), version(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: SET_ALIAS needs str name, str alias, str version");
        return ModelAnswer(svc.SetAlias(ctx_, name, alias, version));
      }
      default:
        return Unimplemented("ipc: unknown operation " + std::to_string(static_cast<int>(op)));
    }
  }

  // The operations on one model: str model_id -> JSON model status (UNREGISTER: nothing).
  Status ModelOp(Op op) {
    Reader r(payload_.view());
    const std::string id(r.Str());
    if (!r.ok()) return InvalidArgument("ipc: this operation needs str model_id");
    service::Service& svc = s_.service;
    switch (op) {
      case Op::kModelGet:
        return ModelAnswer(svc.Get(ctx_, id));
      case Op::kModelLoad:
        return ModelAnswer(svc.Load(ctx_, id));
      case Op::kModelUnload:
        return ModelAnswer(svc.Unload(ctx_, id));
      case Op::kModelSetDefault:
        return ModelAnswer(svc.SetDefault(ctx_, id));
      case Op::kModelRollback:
        return ModelAnswer(svc.Rollback(ctx_, id));
      case Op::kModelPin:
      case Op::kModelUnpin:
        return ModelAnswer(svc.Pin(ctx_, id, op == Op::kModelPin));
      default:
        return svc.Unregister(ctx_, id);
    }
  }

  Status SharedMemory(Op op, int& passed_fd) {
    Reader r(payload_.view());
    if (op == Op::kShmRegister) {
      const std::string name(r.Str());
      const uint64_t offset = r.U64(), size = r.U64();
      if (!r.ok()) {
        return InvalidArgument("ipc: REGISTER_SHM needs str name, u64 offset, u64 byte_size");
      }
      if (passed_fd < 0) {
        return InvalidArgument("ipc: REGISTER_SHM needs a descriptor passed with SCM_RIGHTS");
      }
      const int fd = passed_fd;
      passed_fd = -1;  // the service owns it now, on failure too
      return s_.service.RegisterShmFd(ctx_, name, fd, offset, size);
    }
    const std::string name(r.Str());
    if (op == Op::kShmUnregister) {
      if (!r.ok()) return InvalidArgument("ipc: UNREGISTER_SHM needs str name");
      if (name.empty()) return InvalidArgument("ipc: UNREGISTER_SHM needs a region name");
      return s_.service.UnregisterShm(ctx_, name);
    }
    if (!r.ok()) return InvalidArgument("ipc: SHM_STATUS needs str name (\"\" = all)");
    MLOS_ASSIGN_OR_RETURN(std::vector<service::ShmRegionStatus> list,
                          s_.service.ShmStatus(ctx_, name));
    api::EncodeShmStatus(list, response_);
    return Status::Ok();
  }

  // One decoded input: its bytes inline (a view into the payload) or a shared-memory ref.
  Status DecodeInput(WireTensor& wt, core::Tensor& t, std::optional<service::ShmRef>& shm) {
    t.name = std::move(wt.name);
    const wire::DtypeInfo* dtype = wire::DtypeById(wt.dtype);
    if (!dtype) {
      return InvalidArgument("input '" + t.name + "': unknown dtype " + std::to_string(wt.dtype));
    }
    t.dtype = static_cast<core::DataType>(dtype->id);
    t.shape = std::move(wt.shape);
    for (int64_t d : t.shape) {
      if (d < 0) return InvalidArgument("input '" + t.name + "': dims must be non-negative");
    }
    const int64_t count = core::ElementCount(t.shape);
    if (count < 0) return InvalidArgument("input '" + t.name + "': too many elements");
    if (wt.placement == Placement::kShm) {
      shm = service::ShmRef{std::move(wt.region), wt.offset, wt.byte_size};
      return Status::Ok();
    }
    if (t.dtype == core::DataType::kString) {
      return wire::DecodeBytesElements(wt.data, t.name, count, t.shape, &t.strings);
    }
    const uint64_t want = static_cast<uint64_t>(count) * dtype->size;
    if (wt.data.size() != want) {
      return InvalidArgument("input '" + t.name + "': " + std::to_string(wt.data.size()) +
                             " bytes do not match shape " + wire::ShapeToString(t.shape) + " of " +
                             dtype->name + " (" + std::to_string(want) + " bytes)");
    }
    t.external = wt.data.data();
    t.external_size = wt.data.size();
    return Status::Ok();
  }

  Status DecodeInfer(InferRequestMsg& m, service::InferCall& call) {
    call.model = std::move(m.model);
    call.version = std::move(m.version);
    if (m.timeout_us) {
      ctx_.client_deadline = ctx_.received + std::chrono::microseconds(m.timeout_us);
    }
    api::RequestOptions options;
    if (m.priority) {
      MLOS_ASSIGN_OR_RETURN(options.priority, api::CheckPriority(*m.priority, "INFER priority"));
    }
    if (m.keep_alive_ms) {
      options.keep_alive = std::chrono::milliseconds(std::max<int64_t>(-1, *m.keep_alive_ms));
    }
    api::ApplyRequestOptions(options, ctx_);
    call.inputs.resize(m.inputs.size());
    std::vector<std::optional<service::ShmRef>> input_shm(m.inputs.size());
    bool any_shm = false;
    for (size_t i = 0; i < m.inputs.size(); ++i) {
      MLOS_RETURN_IF_ERROR(DecodeInput(m.inputs[i], call.inputs[i], input_shm[i]));
      for (size_t j = 0; j < i; ++j) {
        if (call.inputs[j].name == call.inputs[i].name) {
          return InvalidArgument("input '" + call.inputs[i].name + "' given twice");
        }
      }
      any_shm |= input_shm[i].has_value();
    }
    if (any_shm) call.input_shm = std::move(input_shm);
    call.outputs.reserve(m.outputs.size());
    for (WireOutputSpec& o : m.outputs) {
      service::OutputRequest out{std::move(o.name), std::nullopt};
      if (o.placement == Placement::kShm) {
        out.shm = service::ShmRef{std::move(o.region), o.offset, o.byte_size};
      }
      call.outputs.push_back(std::move(out));
    }
    return Status::Ok();
  }

  Status Infer() {
    service::InferCall call;
    auto decoded = DecodeInferRequest(payload_.view());
    if (!decoded.ok()) return s_.service.Fail(ctx_, call, decoded.status());
    if (Status st = DecodeInfer(*decoded, call); !st.ok()) return s_.service.Fail(ctx_, call, st);
    // Inline outputs are written by the model into buffers this connection sends from.
    call.inline_allocator = [this](const std::string&, uint64_t byte_size) -> void* {
      return outputs_.emplace_back(byte_size).data();
    };
    auto out = s_.service.Infer(ctx_, call);
    if (!out.ok()) return out.status();
    result_ = std::move(out).value();
    EncodeInferAnswer(*result_);
    return Status::Ok();
  }

  // Fills gather_ (the tensors' bytes are sent from where they are: result_ and outputs_
  // live until the answer is out).
  void EncodeInferAnswer(const service::InferResult& result) {
    const core::InferResponse& out = result.response;
    InferResponseMsg resp;
    resp.model_id = out.model_id;
    resp.queue_time_us = out.queue_time_us;
    resp.inference_time_us = out.inference_time_us;
    resp.outputs.resize(out.outputs.size());
    string_blobs_.clear();
    string_blobs_.reserve(out.outputs.size());
    for (size_t i = 0; i < out.outputs.size(); ++i) {
      const core::Tensor& t = out.outputs[i];
      WireTensor& wt = resp.outputs[i];
      wt.name = t.name;
      wt.dtype = static_cast<uint8_t>(t.dtype);
      wt.shape = t.shape;
      if (i < result.output_shm.size() && result.output_shm[i]) {
        const service::ShmRef* shm = &*result.output_shm[i];
        wt.placement = Placement::kShm;
        wt.region = shm->region;
        wt.offset = shm->offset;
        wt.byte_size = t.byte_size();
      } else if (t.dtype == core::DataType::kString) {
        std::string& blob = string_blobs_.emplace_back();
        wire::AppendBytesElements(t.strings, blob);
        wt.data = blob;
      } else {
        wt.data = std::string_view(reinterpret_cast<const char*>(t.bytes()), t.byte_size());
      }
    }
    GatherInferResponse(resp, gather_);
    gathered_ = true;
  }


  // ---- generation ----

  // GENERATE: JSON {model, version, prompt, messages, params} -> GENERATE_CHUNK frames, then
  // the usage JSON (sent by Answer as the request's answer). `params` is smi.h's params_json
  // (max_tokens, temperature, ..., stop, messages), plus the request options priority, timeout
  // (µs) and keep_alive, as a KServe request's parameters.
  Status Generate(const FrameHeader& h) {
    service::GenerateCall call;
    MLOS_RETURN_IF_ERROR(DecodeGenerate(call));
    call.on_token = [this, &h](std::string_view text) { return SendChunk(h, text); };
    auto out = s_.service.Generate(ctx_, call);
    if (!out.ok()) return out.status();
    const nlohmann::json usage = {
        {"model_id", out->model_id},
        {"finish_reason", out->finish_reason},
        {"prompt_tokens", out->prompt_tokens},
        {"completion_tokens", out->completion_tokens},
        {"cached_tokens", out->cached_tokens},
        {"queue_time_us", out->queue_time_us},
        {"first_token_us", out->first_token_us},
        {"generate_time_us", out->generate_time_us},
    };
    response_ = usage.dump();
    return Status::Ok();
  }

  Status DecodeGenerate(service::GenerateCall& call) {
    const nlohmann::json j = nlohmann::json::parse(payload_.view(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return InvalidArgument("ipc: GENERATE needs a JSON object");
    auto text = [&j](const char* key, std::string& out) -> Status {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return Status::Ok();
      if (!it->is_string()) return InvalidArgument(std::string("'") + key + "' must be a string");
      out = it->get<std::string>();
      return Status::Ok();
    };
    MLOS_RETURN_IF_ERROR(text("model", call.model));
    MLOS_RETURN_IF_ERROR(text("version", call.version));
    MLOS_RETURN_IF_ERROR(text("prompt", call.prompt));
    nlohmann::json params = nlohmann::json::object();
    if (auto it = j.find("params"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) return InvalidArgument("'params' must be an object");
      params = *it;
    }
    if (auto it = j.find("messages"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) return InvalidArgument("'messages' must be an array");
      params["messages"] = *it;
    }
    api::RequestOptions options;
    MLOS_RETURN_IF_ERROR(api::ParseJsonParameters(params, options));
    for (const char* key : {"priority", "timeout", "keep_alive"}) params.erase(key);
    api::ApplyRequestOptions(options, ctx_);
    if (!params.empty()) {
      call.params_json = params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return Status::Ok();
  }

  // One chunk of the generation `h` asked for; false when the client has gone (closed the
  // connection, or sent CANCEL for it): the generation then stops.
  bool SendChunk(const FrameHeader& h, std::string_view text) {
    if (ClientStopped(h.request_id)) return false;
    if (text.empty()) return true;
    FrameHeader c;
    c.version = h.version;
    c.op = static_cast<uint16_t>(Op::kGenerateChunk);
    c.request_id = h.request_id;
    if (!wire::IsValidUtf8(text)) return SendFrame(fd_, c, wire::ValidUtf8(text)).ok();
    return SendFrame(fd_, c, text).ok();
  }

  // Whether the client closed the connection, or its next frame is CANCEL of `request_id`
  // (then read, and answered after the generation). Other frames (pipelined requests) are
  // left for after the generation. Does not block.
  bool ClientStopped(uint64_t request_id) {
    uint8_t buf[kHeaderSize + 8];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;  // EOF: the client is gone
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    if (static_cast<size_t>(n) < sizeof buf) return false;  // not a whole CANCEL (yet)
    auto head = DecodeHeader(buf, s_.options.max_payload);
    if (!head.ok() || head->op != static_cast<uint16_t>(Op::kCancel) || head->length != 8) {
      return false;
    }
    Reader r(std::string_view(reinterpret_cast<const char*>(buf) + kHeaderSize, 8));
    if (r.U64() != request_id) return false;
    if (::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) != static_cast<ssize_t>(sizeof buf)) {
      return true;  // cannot happen after the peek; the stream is unusable if it does
    }
    FrameHeader answer;
    answer.version = head->version;
    answer.op = head->op;
    answer.request_id = head->request_id;
    cancel_answer_ = answer;
    return true;
  }

  Server::Impl& s_;
  int fd_;
  std::string id_;
  std::optional<FrameHeader> cancel_answer_;   // a CANCEL read during it, answered after it
  ucred cred_{};
  service::RequestContext ctx_;
  Buffer payload_;         // the request frame's payload
  std::string response_;   // the answer's payload (unless gathered_)
  // An INFER answer: its fields in gather_.meta(), its inline output bytes where the model
  // wrote them (outputs_, or the result's own tensors), sent with one sendmsg.
  bool gathered_ = false;
  GatherPayload gather_;
  std::optional<service::InferResult> result_;
  std::vector<std::string> string_blobs_;
  std::vector<Buffer> outputs_;
};

}  // namespace

void Server::Impl::WorkerLoop() {
  for (;;) {
    epoll_event ev{};
    const int n = ::epoll_wait(epoll, &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("ipc: epoll_wait failed: {}", std::strerror(errno));
      return;
    }
    if (n == 0) continue;
    if (ev.data.u64 == 0 || stopping.load()) return;  // the wake pipe: Stop()
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mu);
      auto it = connections.find(ev.data.u64);
      if (it == connections.end()) continue;
      c = it->second;
      c->busy = true;
    }
    Handle(ev.data.u64, c);
  }
}

void Server::Impl::Handle(uint64_t id, const std::shared_ptr<Connection>& c) {
  Connection::Next next = Connection::Next::kClose;
  try {
    next = c->Step();
  } catch (const std::exception& e) {
    spdlog::error("ipc: connection {}: {}", id, e.what());
  }
  if (next == Connection::Next::kRearm) return Rearm(id, c);
  if (next == Connection::Next::kClose) return Close(id);
  // A slow or not yet complete frame: a thread of its own for it, so no worker waits on it.
  try {
    std::thread([keep = self.lock(), id, c] {
      bool ok = false;
      try {
        ok = c->ServeOne();
      } catch (const std::exception& e) {
        spdlog::error("ipc: connection {}: {}", id, e.what());
      }
      if (ok) {
        keep->Rearm(id, c);
      } else {
        keep->Close(id);
      }
    }).detach();
  } catch (const std::exception& e) {
    spdlog::error("ipc: cannot start a thread for connection {}: {}", id, e.what());
    Close(id);
  }
}

// Back to waiting for its next frame; closed instead when the server is stopping.
void Server::Impl::Rearm(uint64_t id, const std::shared_ptr<Connection>& c) {
  {
    std::lock_guard lock(mu);
    if (!stopping.load()) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
      ev.data.u64 = id;
      if (::epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd(), &ev) == 0) {
        c->busy = false;
        return;
      }
      spdlog::warn("ipc: connection {}: epoll: {}", id, std::strerror(errno));
    }
  }
  Close(id);
}

void Server::Impl::Close(uint64_t id) {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mu);
    auto it = connections.find(id);
    if (it == connections.end()) return;
    c = std::move(it->second);
    connections.erase(it);
  }
  (void)::epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd(), nullptr);
  c->Closed();
  ::close(c->fd());
  std::lock_guard lock(mu);
  idle.notify_all();
}

void Server::Impl::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("ipc: poll failed: {}", std::strerror(errno));
      return;
    }
    if (stopping.load() || (p[1].revents & POLLIN)) return;
    if (!(p[0].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("ipc: accept failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    SetLargeSocketBuffers(fd);
    std::lock_guard lock(mu);
    if (stopping.load()) {
      ::close(fd);
      return;
    }
    const uint64_t id = next_id++;
    auto c = std::make_shared<Connection>(*this, fd, "ipc-" + std::to_string(id));
    connections.emplace(id, c);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
      spdlog::error("ipc: cannot watch a connection: {}", std::strerror(errno));
      connections.erase(id);
      c->Closed();
      ::close(fd);
    }
  }
}

Server::Server(service::Service& service, ServerOptions options)
    : impl_(std::make_shared<Impl>(service, std::move(options))) {}

Server::~Server() { Stop(std::chrono::seconds(2)); }

Status Server::Start() {
  Impl& s = *impl_;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s.options.path.empty() || s.options.path.size() >= sizeof addr.sun_path) {
    return InvalidArgument("ipc: socket path must be 1.." +
                           std::to_string(sizeof addr.sun_path - 1) + " characters: '" +
                           s.options.path + "'");
  }
  std::memcpy(addr.sun_path, s.options.path.c_str(), s.options.path.size() + 1);
  struct stat st {};
  if (::lstat(s.options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return InvalidArgument("ipc: " + s.options.path + " exists and is not a socket");
    }
    ::unlink(s.options.path.c_str());  // stale socket from an earlier run
  }
  s.listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.listen_fd < 0) return Unavailable(std::string("ipc: socket: ") + std::strerror(errno));
  if (::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(s.options.path.c_str(), s.options.mode) != 0 || ::listen(s.listen_fd, 128) != 0) {
    const std::string why = std::strerror(errno);
    ::close(s.listen_fd);
    s.listen_fd = -1;
    return Unavailable("ipc: cannot listen on " + s.options.path + ": " + why);
  }
  if (::pipe2(s.wake, O_CLOEXEC) != 0) {
    return Unavailable(std::string("ipc: pipe: ") + std::strerror(errno));
  }
  s.epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (s.epoll < 0) return Unavailable(std::string("ipc: epoll: ") + std::strerror(errno));
  epoll_event wake{};
  wake.events = EPOLLIN;  // level-triggered: every worker sees it
  wake.data.u64 = 0;
  (void)::epoll_ctl(s.epoll, EPOLL_CTL_ADD, s.wake[0], &wake);
  s.started = true;
  s.self = impl_;
  // As many workers as CPUs (the HTTP front-end's io threads alike): under load a worker goes
  // from one ready connection to the next without sleeping, and at most that many inferences
  // run at once from this front-end.
  const unsigned n = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) s.workers.emplace_back([&s] { s.WorkerLoop(); });
  s.acceptor = std::thread([&s] { s.AcceptLoop(); });
  return Status::Ok();
}

void Server::Stop(std::chrono::milliseconds drain_timeout) {
  Impl& s = *impl_;
  if (!s.started || s.stopping.exchange(true)) return;
  const char b = 1;
  (void)!::write(s.wake[1], &b, 1);
  if (s.acceptor.joinable()) s.acceptor.join();
  for (std::thread& w : s.workers) w.join();
  s.workers.clear();
  ::close(s.listen_fd);
  ::unlink(s.options.path.c_str());
  // Idle connections are closed here; those a thread is answering are shut down and close
  // when it is done (or when the drain time is over, with the process).
  std::vector<uint64_t> idle_ids;
  {
    std::lock_guard lock(s.mu);
    for (const auto& [id, c] : s.connections) {
      ::shutdown(c->fd(), SHUT_RDWR);
      if (!c->busy) idle_ids.push_back(id);
    }
  }
  for (uint64_t id : idle_ids) s.Close(id);
  std::unique_lock lock(s.mu);
  s.idle.wait_for(lock, drain_timeout, [&] { return s.connections.empty(); });
  ::close(s.wake[0]);
  ::close(s.wake[1]);
}

}  // namespace mlos::ipc
