#include "api/ipc/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "api/http/bytes_codec.h"
#include "api/http/json_writer.h"
#include "api/http/kserve_codec.h"
#include "api/http/native_codec.h"
#include "api/http/tensor_json.h"
#include "api/http/url.h"
#include "api/ipc/protocol.h"

namespace mlos::ipc {

namespace {

constexpr const char* kProtocol = "ipc";

bool KnownDtype(uint8_t d) { return d >= SMI_DTYPE_FLOAT32 && d <= SMI_DTYPE_STRING; }

}  // namespace

struct Server::Impl {
  core::Core& core;
  api::ShmRegistry& registry;
  ServerOptions options;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle;
  std::unordered_map<uint64_t, int> connections;  // id -> fd, guarded by mu
  uint64_t next_id = 1;
  bool started = false;
  std::weak_ptr<Impl> self;  // lets connection threads keep the Impl alive

  Impl(core::Core& c, api::ShmRegistry& r, ServerOptions o)
      : core(c), registry(r), options(std::move(o)) {}

  void AcceptLoop();
  void Serve(uint64_t id, int fd);
};

namespace {

// One connection's state; lives on its thread.
class Connection {
 public:
  Connection(Server::Impl& s, int fd, std::string id) : s_(s), fd_(fd), id_(std::move(id)) {}

  void Run() {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      cred_ = cred;
      principal_ = "uid:" + std::to_string(cred.uid);
    } else {
      principal_ = "uid:unknown";
    }
    spdlog::info("ipc {}: connected (pid {}, uid {}, gid {}, principal {})", id_, cred_.pid,
                 cred_.uid, cred_.gid, principal_);
    FrameHeader h;
    for (;;) {
      int passed_fd = -1;
      Status st = RecvFrame(fd_, h, payload_, &passed_fd, s_.options.max_payload);
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
        break;
      }
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
        response_ = result.message();
      }
      if (!SendFrame(fd_, r, response_).ok()) break;
      if (response_.capacity() > (16u << 20)) std::string().swap(response_);
      if (payload_.capacity() > (16u << 20)) std::string().swap(payload_);
    }
    s_.registry.UnregisterOwnedBy(id_);
    spdlog::info("ipc {}: closed", id_);
  }

 private:
  Status Dispatch(const FrameHeader& h, int& passed_fd) {
    const Op op = static_cast<Op>(h.op);
    if (op != Op::kHello && (h.version < kVersionMin || h.version > kVersionMax)) {
      return FailedPrecondition("ipc: unsupported protocol version " + std::to_string(h.version) +
                                " (this server speaks " + std::to_string(kVersionMin) + ".." +
                                std::to_string(kVersionMax) + ")");
    }
    Reader r(payload_);
    Writer w(response_);
    switch (op) {
      case Op::kHello: {
        const uint16_t lo = r.U16(), hi = r.U16();
        if (!r.ok()) return InvalidArgument("ipc: HELLO needs u16 min_version, u16 max_version");
        const uint16_t chosen = std::min<uint16_t>(hi, kVersionMax);
        if (chosen < lo || chosen < kVersionMin) {
          return FailedPrecondition("ipc: no common protocol version (client " +
                                    std::to_string(lo) + ".." + std::to_string(hi) +
                                    ", server " + std::to_string(kVersionMin) + ".." +
                                    std::to_string(kVersionMax) + ")");
        }
        w.U16(chosen);
        w.U32(s_.options.max_payload);
        w.Str("mlosd " + s_.options.server_version);
        return Status::Ok();
      }
      case Op::kHealth:
        w.U8(1);
        w.U8(1);
        return Status::Ok();
      case Op::kPeerInfo:
        w.Str(principal_);
        w.U32(static_cast<uint32_t>(cred_.pid));
        w.U32(cred_.uid);
        w.U32(cred_.gid);
        return Status::Ok();
      case Op::kModelMetadata: {
        const std::string model(r.Str()), version(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: MODEL_METADATA needs str model, str version");
        auto m = s_.core.Get(version.empty() ? model : model + "@" + version);
        if (!m.ok()) return m.status();
        std::vector<std::string> versions;
        for (const core::ModelStatus& s : s_.core.List()) {
          if (s.name == m->name) versions.push_back(s.version);
        }
        http::EncodeKServeModelMetadata(*m, versions, response_);
        return Status::Ok();
      }
      case Op::kInfer:
        return Infer();
      case Op::kModelList:
        http::EncodeModelList(s_.core.List(), response_);
        return Status::Ok();
      case Op::kModelLoad:
      case Op::kModelUnload:
      case Op::kModelUnregister: {
        const std::string id(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: this operation needs str model_id");
        if (op == Op::kModelUnregister) return s_.core.Unregister(id);
        auto m = op == Op::kModelLoad ? s_.core.Load(id) : s_.core.Unload(id);
        if (!m.ok()) return m.status();
        http::EncodeModelStatus(*m, response_);
        return Status::Ok();
      }
      case Op::kModelRegister: {
        auto parsed = http::ParseRegisterRequest(payload_);
        if (!parsed.ok()) return parsed.status();
        MLOS_RETURN_IF_ERROR(http::ValidateModelId(parsed->model_id, "field 'model_id'"));
        auto m = s_.core.Register(*parsed);
        if (!m.ok()) return m.status();
        http::EncodeModelStatus(*m, response_);
        return Status::Ok();
      }
      case Op::kShmRegister: {
        const std::string name(r.Str());
        const uint64_t offset = r.U64(), size = r.U64();
        if (!r.ok()) {
          return InvalidArgument("ipc: REGISTER_SHM needs str name, u64 offset, u64 byte_size");
        }
        if (passed_fd < 0) {
          return InvalidArgument("ipc: REGISTER_SHM needs a descriptor passed with SCM_RIGHTS");
        }
        const int fd = passed_fd;
        passed_fd = -1;  // the registry owns it now, on failure too
        MLOS_RETURN_IF_ERROR(s_.registry.RegisterFd(name, fd, offset, size, id_));
        owned_.insert(name);
        spdlog::debug("ipc {}: registered region \"{}\" ({} bytes) for {}", id_, name, size,
                      principal_);
        return Status::Ok();
      }
      case Op::kShmUnregister: {
        const std::string name(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: UNREGISTER_SHM needs str name");
        if (!owned_.count(name)) {
          return NotFound("shared memory region \"" + name +
                          "\" is not registered by this connection");
        }
        owned_.erase(name);
        return s_.registry.Unregister(name);
      }
      case Op::kShmStatus: {
        const std::string name(r.Str());
        if (!r.ok()) return InvalidArgument("ipc: SHM_STATUS needs str name (\"\" = all)");
        auto list = s_.registry.List(name);
        if (!list.ok()) return list.status();
        http::JsonWriter jw(response_);
        jw.BeginArray();
        for (const api::ShmRegionStatus& s : *list) {
          jw.BeginObject();
          jw.Key("name");
          jw.String(s.name);
          jw.Key("key");
          jw.String(s.key);
          jw.Key("offset");
          jw.UInt(s.offset);
          jw.Key("byte_size");
          jw.UInt(s.byte_size);
          jw.Key("owned");
          jw.Bool(s.owner == id_);
          jw.EndObject();
        }
        jw.EndArray();
        return Status::Ok();
      }
    }
    return Unimplemented("ipc: unknown operation " + std::to_string(h.op));
  }

  // A region this connection may use: its own, or a system region (KServe, no owner).
  Result<api::ShmView> Resolve(const std::string& region, uint64_t offset, uint64_t size) {
    if (!owned_.count(region)) {
      auto st = s_.registry.List(region);
      if (!st.ok()) return st.status();
      if (!(*st)[0].owner.empty()) {
        return NotFound("shared memory region \"" + region +
                        "\" is not registered by this connection");
      }
    }
    return s_.registry.Resolve(region, offset, size);
  }

  Status Infer() {
    auto decoded = DecodeInferRequest(payload_);
    if (!decoded.ok()) return decoded.status();
    InferRequestMsg& m = *decoded;
    views_.clear();
    core::InferRequest ir;
    ir.model = std::move(m.model);
    ir.version = std::move(m.version);
    ir.principal = principal_;
    ir.protocol = kProtocol;
    const auto now = std::chrono::steady_clock::now();
    if (m.timeout_us) {
      ir.deadline = now + std::chrono::microseconds(m.timeout_us);
    } else if (s_.options.request_timeout.count() > 0) {
      ir.deadline = now + s_.options.request_timeout;
    }
    ir.inputs.resize(m.inputs.size());
    for (size_t i = 0; i < m.inputs.size(); ++i) {
      WireTensor& wt = m.inputs[i];
      core::Tensor& t = ir.inputs[i];
      t.name = std::move(wt.name);
      if (!KnownDtype(wt.dtype)) {
        return InvalidArgument("input '" + t.name + "': unknown dtype " + std::to_string(wt.dtype));
      }
      t.dtype = static_cast<core::DataType>(wt.dtype);
      t.shape = std::move(wt.shape);
      for (int64_t d : t.shape) {
        if (d < 0) return InvalidArgument("input '" + t.name + "': dims must be non-negative");
      }
      const int64_t count = core::ElementCount(t.shape);
      if (count < 0) return InvalidArgument("input '" + t.name + "': too many elements");
      for (size_t j = 0; j < i; ++j) {
        if (ir.inputs[j].name == t.name) return InvalidArgument("input '" + t.name + "' given twice");
      }
      std::string_view bytes = wt.data;
      if (wt.placement == Placement::kShm) {
        if (t.dtype == core::DataType::kString) {
          return InvalidArgument("input '" + t.name + "': BYTES tensors must travel inline");
        }
        auto view = Resolve(wt.region, wt.offset, wt.byte_size);
        if (!view.ok()) return view.status().WithPrefix("input '" + t.name + "'");
        bytes = std::string_view(reinterpret_cast<const char*>(view->data), view->size);
        views_.push_back(std::move(*view));
      }
      if (t.dtype == core::DataType::kString) {
        MLOS_RETURN_IF_ERROR(api::DecodeBytesElements(t, bytes, count));
        continue;
      }
      const uint64_t want = static_cast<uint64_t>(count) * core::DataTypeSize(t.dtype);
      if (bytes.size() != want) {
        return InvalidArgument("input '" + t.name + "': " + std::to_string(bytes.size()) +
                               " bytes do not match shape " + http::ShapeToString(t.shape) + " of " +
                               core::DataTypeName(t.dtype) + " (" + std::to_string(want) +
                               " bytes)");
      }
      t.external = bytes.data();
      t.external_size = bytes.size();
    }
    // Outputs.
    bool any_shm = false;
    ir.outputs.reserve(m.outputs.size());
    for (const WireOutputSpec& o : m.outputs) {
      ir.outputs.push_back(o.name);
      any_shm |= o.placement == Placement::kShm;
    }
    std::vector<std::vector<uint8_t>> inline_buffers;  // for inline outputs next to shm ones
    Status alloc_error;
    if (any_shm) {
      for (const WireOutputSpec& o : m.outputs) {
        if (o.placement != Placement::kShm) continue;
        auto view = Resolve(o.region, o.offset, o.byte_size);
        if (!view.ok()) return view.status().WithPrefix("output '" + o.name + "'");
        views_.push_back(std::move(*view));
      }
      inline_buffers.reserve(m.outputs.size());
      ir.output_allocator = [&](const std::string& name, core::DataType, const std::vector<int64_t>&,
                                uint64_t byte_size) -> void* {
        size_t v = 0;
        for (const WireOutputSpec& o : m.outputs) {
          if (o.placement == Placement::kShm) {
            if (o.name == name) {
              if (byte_size > views_[ShmIndex(m, v)].size) {
                alloc_error = InvalidArgument(
                    "output '" + name + "': " + std::to_string(byte_size) +
                    " bytes do not fit its shared memory window of " +
                    std::to_string(o.byte_size) + " bytes (region \"" + o.region + "\")");
                return nullptr;
              }
              return views_[ShmIndex(m, v)].data;
            }
            ++v;
          }
        }
        if (inline_buffers.size() == inline_buffers.capacity()) return nullptr;
        inline_buffers.emplace_back(byte_size);
        return inline_buffers.back().data();
      };
    }
    auto out = s_.core.Infer(std::move(ir));
    if (!out.ok()) return alloc_error.ok() ? out.status() : alloc_error;
    // Response.
    InferResponseMsg resp;
    resp.model_id = out->model_id;
    resp.queue_time_us = out->queue_time_us;
    resp.inference_time_us = out->inference_time_us;
    resp.outputs.resize(out->outputs.size());
    std::vector<std::string> string_blobs;
    string_blobs.reserve(out->outputs.size());
    for (size_t i = 0; i < out->outputs.size(); ++i) {
      const core::Tensor& t = out->outputs[i];
      WireTensor& wt = resp.outputs[i];
      wt.name = t.name;
      wt.dtype = static_cast<uint8_t>(t.dtype);
      wt.shape = t.shape;
      const WireOutputSpec* spec = nullptr;
      for (const WireOutputSpec& o : m.outputs) {
        if (o.name == t.name && o.placement == Placement::kShm) spec = &o;
      }
      if (spec && t.dtype != core::DataType::kString) {
        wt.placement = Placement::kShm;
        wt.region = spec->region;
        wt.offset = spec->offset;
        wt.byte_size = t.byte_size();
        continue;
      }
      if (t.dtype == core::DataType::kString) {
        std::string& blob = string_blobs.emplace_back();
        api::AppendBytesElements(t, blob);
        wt.data = blob;
      } else {
        wt.data = std::string_view(reinterpret_cast<const char*>(t.bytes()), t.byte_size());
      }
    }
    EncodeInferResponse(resp, response_);
    views_.clear();
    return Status::Ok();
  }

  // Index in views_ of the v-th shm output (inputs' views come first).
  size_t ShmIndex(const InferRequestMsg& m, size_t v) const {
    size_t shm_inputs = 0;
    for (const WireTensor& t : m.inputs) shm_inputs += t.placement == Placement::kShm;
    return shm_inputs + v;
  }

  Server::Impl& s_;
  int fd_;
  std::string id_;
  std::string principal_;
  ucred cred_{};
  std::string payload_, response_;
  std::vector<api::ShmView> views_;
  std::unordered_set<std::string> owned_;
};

}  // namespace

void Server::Impl::Serve(uint64_t id, int fd) {
  {
    Connection c(*this, fd, "ipc-" + std::to_string(id));
    c.Run();
  }
  std::lock_guard lock(mu);
  connections.erase(id);
  ::close(fd);
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
    std::lock_guard lock(mu);
    if (stopping.load()) {
      ::close(fd);
      return;
    }
    const uint64_t id = next_id++;
    connections.emplace(id, fd);
    try {
      std::thread([keep = self.lock(), id, fd] { keep->Serve(id, fd); }).detach();
    } catch (const std::exception& e) {
      connections.erase(id);
      ::close(fd);
      spdlog::error("ipc: cannot start a connection thread: {}", e.what());
    }
  }
}

Server::Server(core::Core& core, api::ShmRegistry& registry, ServerOptions options)
    : impl_(std::make_shared<Impl>(core, registry, std::move(options))) {}

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
  s.started = true;
  s.self = impl_;
  s.acceptor = std::thread([&s] { s.AcceptLoop(); });
  return Status::Ok();
}

void Server::Stop(std::chrono::milliseconds drain_timeout) {
  Impl& s = *impl_;
  if (!s.started || s.stopping.exchange(true)) return;
  const char b = 1;
  (void)!::write(s.wake[1], &b, 1);
  if (s.acceptor.joinable()) s.acceptor.join();
  ::close(s.listen_fd);
  ::unlink(s.options.path.c_str());
  std::unique_lock lock(s.mu);
  for (const auto& [id, fd] : s.connections) ::shutdown(fd, SHUT_RDWR);
  s.idle.wait_for(lock, drain_timeout, [&] { return s.connections.empty(); });
  ::close(s.wake[0]);
  ::close(s.wake[1]);
}

}  // namespace mlos::ipc
