#include "api/grpc/grpc_server.h"

#include <sched.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <google/protobuf/arena.h>
#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
// Exported by libtsan, not declared in GCC 12's tsan_interface.h.
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif

#include "api/grpc/grpc_services.h"
#include "wire/utf8.h"
#include "grpc_service.grpc.pb.h"
#include "mlos_management.grpc.pb.h"

namespace mlos::grpcapi {
namespace {

// A call object (a Tag) goes from the thread that gives it to gRPC to the thread whose
// CompletionQueue::Next returns it, through libgrpc, which TSan does not see (it is not
// instrumented). In TSan builds that hand-over is declared (docs/reliability.md, "Sanitizers"):
// a release before each call that passes a tag (Pass), an acquire when Next returns one
// (TakeOver). The passing call itself works on state the other thread will touch after it: it
// allocates gRPC's request object (RequestXxx), serialises the message (Finish, Write), fills the
// operation set, all before libgrpc queues the operation, an order made inside libgrpc; so
// during that call the thread's own accesses are not recorded.
#ifdef __SANITIZE_THREAD__
inline void TakeOver(void* tag) { __tsan_acquire(tag); }
template <typename Start>
void Pass(void* tag, Start&& start) {
  __tsan_release(tag);
  __tsan_ignore_thread_begin();
  start();
  __tsan_ignore_thread_end();
}
#else
inline void TakeOver(void*) {}
template <typename Start>
void Pass(void*, Start&& start) {
  start();
}
#endif

using Clock = std::chrono::steady_clock;

// ---- Serving on gRPC's asynchronous API -------------------------------------------------------
//
// Every method is asynchronous, on one completion queue, and its handler runs on the thread that
// took the event from the queue: no hand-off to a second thread per call. The threads are ours
// (Dispatcher), and at most `poll_target` of them wait in the queue at a time (the CPUs this
// process may run on): gRPC's poller (epoll1) has one thread in epoll_wait per process and, each
// time it wakes, first wakes another waiting thread to take over, which on a busy or single CPU
// costs a context switch per call. The other threads sleep on our condition variable and are
// woken only when a call has been running for longer than kPromoteAfter with no thread left in
// the queue (a slow model, a model load): then one takes over the queue, so a slow call never
// holds up the others. That check runs on a timerfd, armed (not waited for) when a call starts.

// A pending operation on the completion queue; `ok` as gRPC reports it.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void Proceed(bool ok) = 0;
};

class Dispatcher {
 public:
  static constexpr std::chrono::microseconds kPromoteAfter{1000};

  Dispatcher(grpc::ServerCompletionQueue* cq, int threads, int poll_target)
      : cq_(cq),
        timer_fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)),
        // Without a timer nothing would promote a thread: then every thread polls.
        poll_target_(timer_fd_ >= 0 ? std::clamp(poll_target, 1, threads) : threads),
        busy_(threads) {
    for (auto& b : busy_) b.store(0, std::memory_order_relaxed);
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this, i] { Work(i); });
    if (timer_fd_ >= 0) watcher_ = std::thread([this] { Watch(); });
  }

  // After the completion queue has been shut down: waits for every thread.
  ~Dispatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    if (watcher_.joinable()) {
      stop_.store(true);
      Arm(std::chrono::nanoseconds(1));
      watcher_.join();
    }
    if (timer_fd_ >= 0) ::close(timer_fd_);
  }

 private:
  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Arm(std::chrono::nanoseconds after) {
    itimerspec t{};
    t.it_value.tv_sec = static_cast<time_t>(after.count() / 1000000000);
    t.it_value.tv_nsec = static_cast<long>(after.count() % 1000000000);
    ::timerfd_settime(timer_fd_, 0, &t, nullptr);
  }

  void Work(int index) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (!draining_ && polling_ >= poll_target_) {
        ++idle_;
        cv_.wait(lock);
        --idle_;
      }
      ++polling_;
      lock.unlock();
      void* tag = nullptr;
      bool ok = false;
      const bool got = cq_->Next(&tag, &ok);
      lock.lock();
      --polling_;
      if (!got) return;  // shut down and drained
      lock.unlock();
      TakeOver(tag);
      busy_[index].store(NowNs(), std::memory_order_relaxed);
      if (timer_fd_ >= 0 && !armed_.exchange(true)) Arm(kPromoteAfter);
      static_cast<Tag*>(tag)->Proceed(ok);
      busy_[index].store(0, std::memory_order_relaxed);
      lock.lock();
    }
  }

  // Wakes an idle thread to poll when a call has run for kPromoteAfter and nobody polls.
  void Watch() {
    for (;;) {
      uint64_t expirations = 0;
      if (::read(timer_fd_, &expirations, sizeof expirations) < 0 && errno != EINTR) return;
      if (stop_.load()) return;
      // An exchange, so that a call that found the timer armed (and did not arm it) is seen.
      armed_.exchange(false);
      const int64_t now = NowNs();
      int64_t oldest = 0;
      for (const auto& b : busy_) {
        const int64_t since = b.load(std::memory_order_relaxed);
        if (since != 0 && (oldest == 0 || since < oldest)) oldest = since;
      }
      if (oldest == 0) continue;  // idle: stay disarmed until the next call
      const int64_t promote_ns = std::chrono::nanoseconds(kPromoteAfter).count();
      if (now - oldest >= promote_ns) {
        bool wake = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          wake = polling_ < poll_target_ && idle_ > 0;
        }
        if (wake) cv_.notify_one();
      }
      // Look again while anything runs (a promoted call, or a later one).
      if (!armed_.exchange(true)) Arm(kPromoteAfter);
    }
  }

  grpc::ServerCompletionQueue* cq_;
  const int timer_fd_;
  const int poll_target_;
  std::mutex mu_;
  std::condition_variable cv_;
  int polling_ = 0;  // threads in cq_->Next
  int idle_ = 0;     // threads waiting on cv_
  bool draining_ = false;
  std::vector<std::atomic<int64_t>> busy_;  // per thread: when its call started, 0 when none
  std::atomic<bool> armed_{false};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::thread watcher_;
};

struct Method {
  virtual ~Method() = default;
};

// A unary method: the generated Request<Method> function and the handler.
template <typename Req, typename Res>
struct UnaryMethod final : Method {
  std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Res>*,
                     grpc::ServerCompletionQueue*, void*)>
      request;
  std::function<grpc::Status(grpc::ServerContext*, const Req*, Res*)> handle;
  const std::atomic<bool>* stopping;  // set before the server shuts down: take no new calls
};

google::protobuf::ArenaOptions ArenaIn(char* block, size_t size) {
  google::protobuf::ArenaOptions o;
  o.initial_block = block;
  o.initial_block_size = size;
  return o;
}

// One unary call: waits for the call, answers it on the thread that took it, then goes away.
// Request and response live on an arena whose first block is part of this object, so parsing
// and filling them allocate nothing for small messages.
template <typename Req, typename Res>
class UnaryCall final : public Tag {
 public:
  UnaryCall(const UnaryMethod<Req, Res>* method, grpc::ServerCompletionQueue* cq)
      : method_(method), cq_(cq) {
    Pass(this, [&] { method_->request(&ctx_, req_, &writer_, cq_, this); });
  }

  void Proceed(bool ok) override {
    if (!ok || finishing_) {  // shutting down, or the answer went out (or the call ended)
      delete this;
      return;
    }
    if (!method_->stopping->load()) new UnaryCall(method_, cq_);  // the next call
    finishing_ = true;
    grpc::Status st = method_->handle(&ctx_, req_, res_);
    if (st.ok()) {
      Pass(this, [&] { writer_.Finish(*res_, st, this); });
    } else {
      Pass(this, [&] { writer_.FinishWithError(st, this); });
    }
  }

 private:
  static constexpr size_t kArenaBlock = 2048;
  const UnaryMethod<Req, Res>* method_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  alignas(16) char arena_block_[kArenaBlock];
  google::protobuf::Arena arena_{ArenaIn(arena_block_, kArenaBlock)};
  Req* req_ = google::protobuf::Arena::CreateMessage<Req>(&arena_);
  Res* res_ = google::protobuf::Arena::CreateMessage<Res>(&arena_);
  grpc::ServerAsyncResponseWriter<Res> writer_{&ctx_};
  bool finishing_ = false;
};

// A unary method registered raw (its messages as bytes: ModelInfer, see wire/grpc_raw.h).
struct RawUnaryMethod final : Method {
  std::function<void(grpc::ServerContext*, grpc::ByteBuffer*,
                     grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>*,
                     grpc::ServerCompletionQueue*, void*)>
      request;
  std::function<grpc::Status(grpc::ServerContext*, grpc::ByteBuffer*, grpc::ByteBuffer*)> handle;
  const std::atomic<bool>* stopping;
};

// UnaryCall for a raw method.
class RawUnaryCall final : public Tag {
 public:
  RawUnaryCall(const RawUnaryMethod* method, grpc::ServerCompletionQueue* cq)
      : method_(method), cq_(cq) {
    Pass(this, [&] { method_->request(&ctx_, &req_, &writer_, cq_, this); });
  }

  void Proceed(bool ok) override {
    if (!ok || finishing_) {
      delete this;
      return;
    }
    if (!method_->stopping->load()) new RawUnaryCall(method_, cq_);
    finishing_ = true;
    grpc::Status st = method_->handle(&ctx_, &req_, &res_);
    req_.Clear();  // the request's bytes are no longer needed while the answer goes out
    if (st.ok()) {
      Pass(this, [&] { writer_.Finish(res_, st, this); });
    } else {
      Pass(this, [&] { writer_.FinishWithError(st, this); });
    }
  }

 private:
  const RawUnaryMethod* method_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  grpc::ByteBuffer req_, res_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> writer_{&ctx_};
  bool finishing_ = false;
};

// One ModelStreamInfer stream: read a request, answer it, read the next, until the client
// closes its side; then OK.
class StreamCall final : public Tag {
 public:
  using Handler = std::function<void(grpc::ServerContext*, const inference::ModelInferRequest&,
                                     inference::ModelStreamInferResponse*)>;
  StreamCall(inference::GRPCInferenceService::AsyncService* service, const Handler* handle,
             const std::atomic<bool>* stopping, grpc::ServerCompletionQueue* cq)
      : service_(service), handle_(handle), stopping_(stopping), cq_(cq) {
    Pass(this, [&] { service_->RequestModelStreamInfer(&ctx_, &stream_, cq_, cq_, this); });
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kWaiting:
        if (!ok) break;
        if (!stopping_->load()) new StreamCall(service_, handle_, stopping_, cq_);
        state_ = State::kReading;
        Pass(this, [&] { stream_.Read(&req_, this); });
        return;
      case State::kReading:
        if (!ok) {  // the client is done sending
          state_ = State::kFinishing;
          Pass(this, [&] { stream_.Finish(grpc::Status::OK, this); });
          return;
        }
        (*handle_)(&ctx_, req_, &res_);
        state_ = State::kWriting;
        Pass(this, [&] { stream_.Write(res_, this); });
        return;
      case State::kWriting:
        if (!ok) {  // the stream is gone
          state_ = State::kFinishing;
          Pass(this, [&] { stream_.Finish(grpc::Status::OK, this); });
          return;
        }
        state_ = State::kReading;
        Pass(this, [&] { stream_.Read(&req_, this); });
        return;
      case State::kFinishing:
        break;
    }
    delete this;
  }

 private:
  enum class State { kWaiting, kReading, kWriting, kFinishing };
  inference::GRPCInferenceService::AsyncService* service_;
  const Handler* handle_;
  const std::atomic<bool>* stopping_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>
      stream_{&ctx_};
  inference::ModelInferRequest req_;
  inference::ModelStreamInferResponse res_;
  State state_ = State::kWaiting;
};

// The threads that run generations, counted so that Stop() waits for them before the completion
// queue shuts down (a generation thread still starts writes on it until its call finishes).
class GenerationThreads {
 public:
  // Runs `fn` on a thread of its own; false when no thread could be started.
  bool Start(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++active_;
    }
    try {
      std::thread([this, fn = std::move(fn)] {
        fn();
        std::lock_guard<std::mutex> lock(mu_);
        if (--active_ == 0) cv_.notify_all();
      }).detach();
      return true;
    } catch (const std::exception&) {
      std::lock_guard<std::mutex> lock(mu_);
      --active_;
      return false;
    }
  }
  // Waits until every generation thread has ended.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return active_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

// One mlos.v1.Management/Generate call (server streaming). A generation blocks for seconds, so
// it runs on a thread of its own (GenerationThreads), never on a completion-queue thread. Its
// chunks go out through the async stream one write at a time: each chunk first waits for the
// previous write's completion tag. The done tag (AsyncNotifyWhenDone) tells a client that
// cancelled or went away: the next chunk then answers false, which stops the generation within
// one token. The object deletes itself once its three ends have come: the done tag, the finish
// tag, and the end of its generation thread.
class GenerateCall {
 public:
  using Handler = std::function<grpc::Status(
      grpc::ServerContext*, const mlos::v1::GenerateRequest&,
      const std::function<bool(std::string_view)>&, mlos::v1::GenerateResponse*)>;

  struct Shared {
    mlos::v1::Management::AsyncService* service;
    Handler handle;
    const std::atomic<bool>* stopping;
    GenerationThreads* threads;
  };

  GenerateCall(const Shared* shared, grpc::ServerCompletionQueue* cq) : shared_(shared), cq_(cq) {
    ctx_.AsyncNotifyWhenDone(&done_tag_);
    shared_->service->RequestGenerate(&ctx_, &req_, &writer_, cq_, cq_, &start_tag_);
  }

 private:
  enum class Event { kStart, kWrite, kDone, kFinish };
  class EventTag final : public Tag {
   public:
    EventTag(GenerateCall* call, Event event) : call_(call), event_(event) {}
    void Proceed(bool ok) override { call_->On(event_, ok); }

   private:
    GenerateCall* call_;
    Event event_;
  };

  void On(Event event, bool ok) {
    bool last = false;
    switch (event) {
      case Event::kStart:
        if (!ok) {  // shutting down before a call came: no done tag will come either
          delete this;
          return;
        }
        if (!shared_->stopping->load()) new GenerateCall(shared_, cq_);  // the next call
        {
          std::lock_guard<std::mutex> lock(mu_);
          running_ = true;
        }
        if (!shared_->threads->Start([this] { Run(); })) {
          std::lock_guard<std::mutex> lock(mu_);
          running_ = false;
          writer_.Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                      "cannot start a generation thread"),
                         &finish_tag_);
        }
        return;
      case Event::kWrite: {
        std::lock_guard<std::mutex> lock(mu_);
        writing_ = false;
        if (!ok) broken_ = true;
        cv_.notify_all();
        return;
      }
      case Event::kDone: {
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;
        if (ctx_.IsCancelled()) broken_ = true;
        cv_.notify_all();
        last = finished_ && !running_;
        break;
      }
      case Event::kFinish: {
        std::lock_guard<std::mutex> lock(mu_);
        finished_ = true;
        last = done_ && !running_;
        break;
      }
    }
    if (last) delete this;
  }

  // On the generation thread: runs the handler, then ends the stream with the last message or
  // the error.
  void Run() {
    mlos::v1::GenerateResponse last_message;
    const std::function<bool(std::string_view)> write = [this](std::string_view text) {
      return Write(text);
    };
    const grpc::Status st = shared_->handle(&ctx_, req_, write, &last_message);
    bool last = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !writing_; });
      if (st.ok() && !broken_) {
        out_ = std::move(last_message);
        writer_.WriteAndFinish(out_, grpc::WriteOptions(), grpc::Status::OK, &finish_tag_);
      } else {
        writer_.Finish(st.ok() ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled") : st,
                       &finish_tag_);
      }
      running_ = false;
      last = done_ && finished_;  // never true here (the finish tag is still to come); kept safe
    }
    if (last) delete this;
  }

  // One chunk: waits for the previous write to complete, then starts this one. False once the
  // client has gone (cancelled, or a write failed).
  bool Write(std::string_view text) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !writing_ || broken_; });
    if (broken_) return false;
    if (text.empty()) return true;  // nothing to send (an incomplete UTF-8 character)
    out_.Clear();
    // A protobuf string must be UTF-8 (clients refuse the message otherwise).
    if (wire::IsValidUtf8(text)) {
      out_.set_text(text.data(), text.size());
    } else {
      out_.set_text(wire::ValidUtf8(text));
    }
    writing_ = true;
    writer_.Write(out_, &write_tag_);
    return true;
  }

  const Shared* shared_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext ctx_;
  mlos::v1::GenerateRequest req_;
  grpc::ServerAsyncWriter<mlos::v1::GenerateResponse> writer_{&ctx_};
  EventTag start_tag_{this, Event::kStart};
  EventTag write_tag_{this, Event::kWrite};
  EventTag done_tag_{this, Event::kDone};
  EventTag finish_tag_{this, Event::kFinish};
  std::mutex mu_;
  std::condition_variable cv_;
  mlos::v1::GenerateResponse out_;  // the message being written (one write at a time)
  bool writing_ = false;   // a write is in flight
  bool broken_ = false;    // the client cancelled or a write failed
  bool running_ = false;   // the generation thread has not ended
  bool done_ = false;      // the done tag came
  bool finished_ = false;  // the finish tag came
};

// The CPUs this process may run on.
int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(CPU_COUNT(&set), 1);
  return std::max(static_cast<int>(std::thread::hardware_concurrency()), 1);
}

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string("cannot read gRPC TLS ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

struct GrpcServer::Impl {
  Impl(service::Service& service, GrpcServerOptions opts)
      : options(std::move(opts)),
        inference(service, !options.tls.client_ca_file.empty()),
        management(service, !options.tls.client_ca_file.empty()) {}

  // Registers `handle` of `impl` as the handler of the method `request` of `service`.
  template <typename Service, typename Base, typename Handler, typename Req, typename Res>
  void Unary(Service* service,
             void (Base::*request)(grpc::ServerContext*, Req*,
                                   grpc::ServerAsyncResponseWriter<Res>*, grpc::CompletionQueue*,
                                   grpc::ServerCompletionQueue*, void*),
             Handler* impl,
             grpc::Status (Handler::*handle)(grpc::ServerContext*, const Req*, Res*)) {
    auto m = std::make_unique<UnaryMethod<Req, Res>>();
    m->request = [service, request](grpc::ServerContext* ctx, Req* req,
                                    grpc::ServerAsyncResponseWriter<Res>* writer,
                                    grpc::ServerCompletionQueue* cq, void* tag) {
      (service->*request)(ctx, req, writer, cq, cq, tag);
    };
    m->handle = [impl, handle](grpc::ServerContext* ctx, const Req* req, Res* res) {
      return (impl->*handle)(ctx, req, res);
    };
    m->stopping = &stopping;
    const UnaryMethod<Req, Res>* method = m.get();
    starts.push_back([method](grpc::ServerCompletionQueue* cq) { new UnaryCall(method, cq); });
    methods.push_back(std::move(m));
  }

  void RegisterMethods() {
    using I = inference::GRPCInferenceService::AsyncService;
    using M = mlos::v1::Management::AsyncService;
    InferenceService* is = &inference;
    Unary(&inference_async, &I::RequestServerLive, is, &InferenceService::ServerLive);
    Unary(&inference_async, &I::RequestServerReady, is, &InferenceService::ServerReady);
    Unary(&inference_async, &I::RequestServerMetadata, is, &InferenceService::ServerMetadata);
    Unary(&inference_async, &I::RequestModelReady, is, &InferenceService::ModelReady);
    Unary(&inference_async, &I::RequestModelMetadata, is, &InferenceService::ModelMetadata);
    {
      // ModelInfer is raw: its tensors' bytes are not copied in and out of protobuf strings.
      auto m = std::make_unique<RawUnaryMethod>();
      m->request = [service = &inference_async](
                       grpc::ServerContext* ctx, grpc::ByteBuffer* req,
                       grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* writer,
                       grpc::ServerCompletionQueue* cq, void* tag) {
        service->RequestModelInfer(ctx, req, writer, cq, cq, tag);
      };
      m->handle = [is](grpc::ServerContext* ctx, grpc::ByteBuffer* req, grpc::ByteBuffer* res) {
        return is->ModelInferRaw(ctx, req, res);
      };
      m->stopping = &stopping;
      const RawUnaryMethod* method = m.get();
      starts.push_back([method](grpc::ServerCompletionQueue* cq) { new RawUnaryCall(method, cq); });
      methods.push_back(std::move(m));
    }
    Unary(&inference_async, &I::RequestRepositoryIndex, is, &InferenceService::RepositoryIndex);
    Unary(&inference_async, &I::RequestRepositoryModelLoad, is,
          &InferenceService::RepositoryModelLoad);
    Unary(&inference_async, &I::RequestRepositoryModelUnload, is,
          &InferenceService::RepositoryModelUnload);
    Unary(&inference_async, &I::RequestSystemSharedMemoryStatus, is,
          &InferenceService::SystemSharedMemoryStatus);
    Unary(&inference_async, &I::RequestSystemSharedMemoryRegister, is,
          &InferenceService::SystemSharedMemoryRegister);
    Unary(&inference_async, &I::RequestSystemSharedMemoryUnregister, is,
          &InferenceService::SystemSharedMemoryUnregister);
    Unary(&inference_async, &I::RequestModelConfig, is, &InferenceService::ModelConfig);
    Unary(&inference_async, &I::RequestModelStatistics, is, &InferenceService::ModelStatistics);
    stream_handler = [is](grpc::ServerContext* ctx, const inference::ModelInferRequest& req,
                          inference::ModelStreamInferResponse* res) {
      is->StreamInfer(ctx, req, res);
    };
    starts.push_back([this](grpc::ServerCompletionQueue* cq) {
      new StreamCall(&inference_async, &stream_handler, &stopping, cq);
    });
    ManagementService* ms = &management;
    Unary(&management_async, &M::RequestRegister, ms, &ManagementService::Register);
    Unary(&management_async, &M::RequestList, ms, &ManagementService::List);
    Unary(&management_async, &M::RequestGet, ms, &ManagementService::Get);
    Unary(&management_async, &M::RequestLoad, ms, &ManagementService::Load);
    Unary(&management_async, &M::RequestUnload, ms, &ManagementService::Unload);
    Unary(&management_async, &M::RequestSetDefault, ms, &ManagementService::SetDefault);
    Unary(&management_async, &M::RequestRollback, ms, &ManagementService::Rollback);
    Unary(&management_async, &M::RequestUnregister, ms, &ManagementService::Unregister);
    Unary(&management_async, &M::RequestPlugins, ms, &ManagementService::Plugins);
    Unary(&management_async, &M::RequestSetAlias, ms, &ManagementService::SetAlias);
    Unary(&management_async, &M::RequestPin, ms, &ManagementService::Pin);
    Unary(&management_async, &M::RequestUnpin, ms, &ManagementService::Unpin);
    Unary(&management_async, &M::RequestCreateToken, ms, &ManagementService::CreateToken);
    Unary(&management_async, &M::RequestListTokens, ms, &ManagementService::ListTokens);
    Unary(&management_async, &M::RequestRevokeToken, ms, &ManagementService::RevokeToken);
    generate.service = &management_async;
    generate.handle = [ms](grpc::ServerContext* ctx, const mlos::v1::GenerateRequest& req,
                           const std::function<bool(std::string_view)>& write,
                           mlos::v1::GenerateResponse* last) {
      return ms->Generate(ctx, req, write, last);
    };
    generate.stopping = &stopping;
    generate.threads = &generation_threads;
    starts.push_back([this](grpc::ServerCompletionQueue* cq) { new GenerateCall(&generate, cq); });
  }

  GrpcServerOptions options;
  InferenceService inference;
  ManagementService management;
  // Every method asynchronous, ModelInfer raw (bytes in, bytes out).
  inference::GRPCInferenceService::WithRawMethod_ModelInfer<
      inference::GRPCInferenceService::AsyncService>
      inference_async;
  mlos::v1::Management::AsyncService management_async;
  std::vector<std::unique_ptr<Method>> methods;  // each unary method's UnaryMethod
  StreamCall::Handler stream_handler;
  GenerateCall::Shared generate{};
  GenerationThreads generation_threads;
  std::vector<std::function<void(grpc::ServerCompletionQueue*)>> starts;  // first call of each
  std::atomic<bool> stopping{false};
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  std::unique_ptr<Dispatcher> dispatcher;
  bool stopped = false;
};

GrpcServer::GrpcServer(service::Service& service, GrpcServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {}

GrpcServer::~GrpcServer() {
  Stop(std::chrono::milliseconds(0));
}

Status GrpcServer::Start() {
  const GrpcServerOptions& o = impl_->options;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!o.tls.cert_file.empty() || !o.tls.key_file.empty()) {
    if (o.tls.cert_file.empty() || o.tls.key_file.empty()) {
      return InvalidArgument("gRPC TLS needs both a certificate and a key");
    }
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    MLOS_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(o.tls.cert_file, "certificate"));
    MLOS_ASSIGN_OR_RETURN(pair.private_key, ReadPem(o.tls.key_file, "key"));
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!o.tls.client_ca_file.empty()) {
      MLOS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(o.tls.client_ca_file, "client CA"));
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  } else if (!o.tls.client_ca_file.empty()) {
    return InvalidArgument("gRPC client_ca needs a server certificate and key");
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  const bool v6 = o.host.find(':') != std::string::npos;
  const std::string address = (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  const int max_bytes = static_cast<int>(std::min<uint64_t>(o.max_message_bytes, INT32_MAX));
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 2);

  // gRPC's locks are absl::Mutex, and Debian's abseil is built without NDEBUG, which leaves
  // its lock-order checking on: every lock and unlock also updates a process-wide graph of
  // locks under a global lock. That is a debugging aid and a measurable part of each call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(address, creds, &selected);
  builder.RegisterService(&impl_->inference_async);
  builder.RegisterService(&impl_->management_async);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  auto ms = [](std::chrono::milliseconds t) {
    return static_cast<int>(std::min<int64_t>(t.count(), INT32_MAX));
  };
  if (o.limits.header_timeout.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, ms(o.limits.header_timeout));
  }
  if (o.limits.idle_timeout.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(o.limits.idle_timeout));
  }
  if (o.limits.max_header_bytes > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                               static_cast<int>(o.limits.max_header_bytes));
  }
  impl_->cq = builder.AddCompletionQueue();
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || selected == 0) {
    if (impl_->server) impl_->server->Shutdown();
    impl_->server.reset();
    impl_->cq->Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (impl_->cq->Next(&tag, &ok)) {
    }
    impl_->cq.reset();
    return Unavailable("cannot listen for gRPC on " + address);
  }
  port_ = static_cast<uint16_t>(selected);
  impl_->RegisterMethods();
  // One waiting call per method per polling thread, so that each can take one.
  const int pollers = std::min(UsableCpus(), threads);
  for (int i = 0; i < pollers; ++i) {
    for (auto& start : impl_->starts) start(impl_->cq.get());
  }
  impl_->dispatcher = std::make_unique<Dispatcher>(impl_->cq.get(), threads, pollers);
  return Status::Ok();
}

void GrpcServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->server || impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping.store(true);
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  // Generations in flight were cancelled by the shutdown and stop within one token; their
  // threads start operations on the queue until then.
  impl_->generation_threads.Wait();
  impl_->cq->Shutdown();
  impl_->dispatcher.reset();  // the threads drain the queue, then end
}

}  // namespace mlos::grpcapi
