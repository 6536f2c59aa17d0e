#include "interpreter_pool.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <utility>

namespace mlos::tflite_plugin {

namespace {
constexpr size_t kMaxLogBytes = 4096;
}  // namespace

void ErrorLog::Report(void* user_data, const char* format, va_list args) {
  auto* self = static_cast<ErrorLog*>(user_data);
  if (self == nullptr || self->text_.size() >= kMaxLogBytes) return;
  char message[1024];
  const int n = std::vsnprintf(message, sizeof message, format, args);
  if (n <= 0) return;
  std::string text(message, std::min<size_t>(static_cast<size_t>(n), sizeof message - 1));
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  if (!self->text_.empty()) self->text_ += "; ";
  self->text_ += text;
  if (self->text_.size() > kMaxLogBytes) self->text_.resize(kMaxLogBytes);
}

Interpreter::~Interpreter() {
  if (interpreter_ != nullptr) TfLiteInterpreterDelete(interpreter_);
  if (delegate_ != nullptr) TfLiteXNNPackDelegateDelete(delegate_);
}

uint64_t IoBytes(const TfLiteInterpreter* interpreter) {
  uint64_t bytes = 0;
  for (int32_t i = 0; i < TfLiteInterpreterGetInputTensorCount(interpreter); ++i) {
    bytes += TfLiteTensorByteSize(TfLiteInterpreterGetInputTensor(interpreter, i));
  }
  for (int32_t i = 0; i < TfLiteInterpreterGetOutputTensorCount(interpreter); ++i) {
    bytes += TfLiteTensorByteSize(TfLiteInterpreterGetOutputTensor(interpreter, i));
  }
  return bytes;
}

InterpreterPool::InterpreterPool(const TfLiteModel* model, const PoolOptions& options)
    : model_(model), options_(options), use_xnnpack_(options.xnnpack) {}

InterpreterPool::~InterpreterPool() = default;

std::unique_ptr<Interpreter> InterpreterPool::Make(bool xnnpack, std::string* error) const {
  std::unique_ptr<Interpreter> made(new Interpreter());
  std::unique_ptr<TfLiteInterpreterOptions, void (*)(TfLiteInterpreterOptions*)> options(
      TfLiteInterpreterOptionsCreate(), &TfLiteInterpreterOptionsDelete);
  if (!options) {
    *error = "cannot create interpreter options";
    return nullptr;
  }
  TfLiteInterpreterOptionsSetNumThreads(options.get(), options_.threads);
  TfLiteInterpreterOptionsSetErrorReporter(options.get(), &ErrorLog::Report, &made->log_);
  if (xnnpack) {
    XnnpackOptions xnnpack_options;
    xnnpack_options.num_threads = options_.threads;
    made->delegate_ = TfLiteXNNPackDelegateCreate(&xnnpack_options);
    if (made->delegate_ == nullptr) {
      *error = "the XNNPACK delegate could not be created";
      return nullptr;
    }
    TfLiteInterpreterOptionsAddDelegate(options.get(), made->delegate_);
  }
  // The options (and their reporter setting) are copied into the interpreter.
  made->interpreter_ = TfLiteInterpreterCreate(model_, options.get());
  if (made->interpreter_ == nullptr) {
    *error = made->log_.Text(xnnpack ? "the interpreter could not be created with XNNPACK"
                                     : "the interpreter could not be created");
    return nullptr;
  }
  if (TfLiteInterpreterAllocateTensors(made->interpreter_) != kTfLiteOk) {
    *error = made->log_.Text("tensors could not be allocated");
    return nullptr;
  }
  made->allocated = true;
  made->io_bytes = IoBytes(made->interpreter_);
  made->log_.Clear();
  return made;
}

std::unique_ptr<Interpreter> InterpreterPool::MakeWithFallback(std::string* error) {
  std::lock_guard<std::mutex> lock(make_mu_);
  if (use_xnnpack_.load()) {
    std::string delegate_error;
    if (std::unique_ptr<Interpreter> made = Make(true, &delegate_error)) return made;
    // The library refuses some graphs with the delegate (string or other dynamic-sized tensors
    // make TfLiteInterpreterCreate fail with no message); such a model runs on TFLite's own
    // kernels. When the plain interpreter fails too, its error is the one reported.
    std::unique_ptr<Interpreter> plain = Make(false, error);
    if (plain) use_xnnpack_ = false;
    return plain;
  }
  return Make(false, error);
}

std::string InterpreterPool::Prime() {
  std::string error;
  std::unique_ptr<Interpreter> made = MakeWithFallback(&error);
  if (!made) return error;
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(made.get());
  all_.push_back(std::move(made));
  return "";
}

std::string InterpreterPool::Acquire(Lease* lease) {
  lease->Return();  // before taking mu_: giving back takes it too
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!idle_.empty()) {
      Interpreter* interpreter = idle_.back();
      idle_.pop_back();
      lease->pool_ = this;
      lease->interpreter_ = interpreter;
      lease->discard_ = false;
      return "";
    }
    if (all_.size() + static_cast<size_t>(making_) <
        static_cast<size_t>(std::max(1, options_.max_interpreters))) {
      ++making_;
      lock.unlock();
      std::string error;
      std::unique_ptr<Interpreter> made = MakeWithFallback(&error);
      lock.lock();
      --making_;
      if (!made) {
        idle_cv_.notify_one();  // another waiter may try
        return error;
      }
      lease->pool_ = this;
      lease->interpreter_ = made.get();
      lease->discard_ = false;
      all_.push_back(std::move(made));
      return "";
    }
    idle_cv_.wait(lock);
  }
}

void InterpreterPool::Release(Interpreter* interpreter, bool discard) {
  std::unique_ptr<Interpreter> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (discard) {
      auto it = std::find_if(all_.begin(), all_.end(),
                             [&](const std::unique_ptr<Interpreter>& p) {
                               return p.get() == interpreter;
                             });
      if (it != all_.end()) {
        doomed = std::move(*it);
        all_.erase(it);
      }
    } else {
      idle_.push_back(interpreter);
    }
  }
  idle_cv_.notify_one();
}

size_t InterpreterPool::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_.size();
}

std::vector<uint64_t> InterpreterPool::IoBytesEach() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> bytes;
  for (const auto& interpreter : all_) bytes.push_back(interpreter->io_bytes.load());
  return bytes;
}

InterpreterPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      interpreter_(std::exchange(other.interpreter_, nullptr)),
      discard_(other.discard_) {}

InterpreterPool::Lease& InterpreterPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = std::exchange(other.pool_, nullptr);
    interpreter_ = std::exchange(other.interpreter_, nullptr);
    discard_ = other.discard_;
  }
  return *this;
}

InterpreterPool::Lease::~Lease() { Return(); }

void InterpreterPool::Lease::Return() {
  if (pool_ != nullptr && interpreter_ != nullptr) pool_->Release(interpreter_, discard_);
  pool_ = nullptr;
  interpreter_ = nullptr;
  discard_ = false;
}

}  // namespace mlos::tflite_plugin
