// The IPC front-end's connections: one frame at a time decoded, run through the service with the
// connection's RequestContext, answered (see connection.h).
#include "api/ipc/connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/common/model_json.h"
#include "api/common/request_options.h"
#include "api/common/token_json.h"
#include "security/token.h"
#include "wire/bytes_codec.h"
#include "wire/dtype.h"
#include "wire/utf8.h"

namespace mlos::ipc {

namespace {

// What Step peeks at: a frame this size or smaller is seen whole in one call.
constexpr size_t kPeekBytes = 4096;

// Frames the event loop answers on its own thread once they have fully arrived: everything
// but generation and the management calls that can wait for a load.
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

class ConnectionImpl final : public Connection {
 public:
  ConnectionImpl(service::Service& service, const ServerOptions& options, int fd, std::string id)
      : Connection(fd), service_(service), options_(options), id_(std::move(id)) {
    Identify();
  }

  Next Step() override {
    // One peek shows whether the next frame has fully arrived (for frames up to the peek's
    // size; a larger one asks FIONREAD).
    char peek[kPeekBytes];
    const ssize_t n = ::recv(fd_, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return ServeOne(nullptr) ? Next::kRearm : Next::kClose;  // the clean end
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Next::kRearm;
      return Next::kHandOff;  // an error: the blocking path reports it
    }
    if (static_cast<size_t>(n) < kHeaderSize) return Next::kHandOff;
    auto h = DecodeHeader(reinterpret_cast<const uint8_t*>(peek), options_.max_payload);
    if (!h.ok()) return ServeOne(nullptr) ? Next::kRearm : Next::kClose;  // says why, then closes
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

  bool ServeOne(const FrameHeader* peeked) override {
    FrameHeader h;
    int passed_fd = -1;
    Status st = RecvFrame(fd_, h, payload_, &passed_fd, options_.max_payload, peeked);
    if (!st.ok()) {
      if (passed_fd >= 0) ::close(passed_fd);
      if (st.code() == StatusCode::kInvalidArgument) {
        // A bad header: the stream cannot be resynchronised. Say why, then close.
        FrameHeader e;
        e.status = static_cast<uint32_t>(st.code());
        (void)SendFrame(fd_, e, st.message());
        spdlog::warn("ipc {}: {}; closing the connection", id_, st.message());
      } else if (st.code() == StatusCode::kDeadlineExceeded) {
        options_.limits.Report(api::ConnectionEvent::kTimedOut);
        spdlog::warn("ipc {}: {}; closing the connection", id_, st.message());
      } else if (st.code() != StatusCode::kCancelled) {
        spdlog::debug("ipc {}: {}", id_, st.message());
      }
      return false;
    }
    return Answer(h, passed_fd);
  }

  void Closed() override {
    service_.ReleaseShmOwner(id_);
    spdlog::info("ipc {}: closed", id_);
  }

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
        w.U8(service_.Live() ? 1 : 0);
        w.U8(service_.Ready() ? 1 : 0);
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
        MLOS_ASSIGN_OR_RETURN(service::ServerMetadata meta, service_.GetServerMetadata(ctx_));
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
    MLOS_ASSIGN_OR_RETURN(security::IdentityPtr who, service_.WhoAmI(ctx_));
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
    w.U32(options_.max_payload);
    w.Str("mlosd " + options_.server_version);
    return Status::Ok();
  }

  // Answers a model status (as JSON) or the error.
  Status ModelAnswer(Result<core::ModelStatus> m) {
    if (!m.ok()) return m.status();
    api::EncodeModelStatus(*m, response_);
    return Status::Ok();
  }

  Status Management(Op op) {
    service::Service& svc = service_;
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
    service::Service& svc = service_;
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
      return service_.RegisterShmFd(ctx_, name, fd, offset, size);
    }
    const std::string name(r.Str());
    if (op == Op::kShmUnregister) {
      if (!r.ok()) return InvalidArgument("ipc: UNREGISTER_SHM needs str name");
      if (name.empty()) return InvalidArgument("ipc: UNREGISTER_SHM needs a region name");
      return service_.UnregisterShm(ctx_, name);
    }
    if (!r.ok()) return InvalidArgument("ipc: SHM_STATUS needs str name (\"\" = all)");
    MLOS_ASSIGN_OR_RETURN(std::vector<service::ShmRegionStatus> list,
                          service_.ShmStatus(ctx_, name));
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
    if (!decoded.ok()) return service_.Fail(ctx_, call, decoded.status());
    if (Status st = DecodeInfer(*decoded, call); !st.ok()) return service_.Fail(ctx_, call, st);
    // Inline outputs are written by the model into buffers this connection sends from.
    call.inline_allocator = [this](const std::string&, uint64_t byte_size) -> void* {
      return outputs_.emplace_back(byte_size).data();
    };
    auto out = service_.Infer(ctx_, call);
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
    auto out = service_.Generate(ctx_, call);
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
    auto head = DecodeHeader(buf, options_.max_payload);
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

  service::Service& service_;
  const ServerOptions& options_;  // the server's, which outlives its connections
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

std::shared_ptr<Connection> Connection::Create(service::Service& service,
                                               const ServerOptions& options, int fd,
                                               std::string id) {
  return std::make_shared<ConnectionImpl>(service, options, fd, std::move(id));
}

}  // namespace mlos::ipc
