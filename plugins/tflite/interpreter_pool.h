// TFLite interpreters for one model. An interpreter is not thread-safe, so each running call
// leases one of its own: the pool makes them lazily, up to a cap, and a call waits while all
// are leased.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tflite_api.h"

namespace mlos::tflite_plugin {

// What TFLite's error reporter said since the last Clear: messages joined with "; ", newlines
// turned into spaces, at most 4 KiB. Written by the library on the thread using the interpreter.
class ErrorLog {
 public:
  void Clear() { text_.clear(); }
  // The messages, or `fallback` when there are none.
  std::string Text(const char* fallback) const { return text_.empty() ? fallback : text_; }
  // TfLiteInterpreterOptionsSetErrorReporter's callback; user_data is the ErrorLog.
  static void Report(void* user_data, const char* format, va_list args);

 private:
  std::string text_;
};

// One interpreter and what must outlive it: its XNNPACK delegate and the log its reporter
// writes to. Used by one thread at a time (whoever leased it).
class Interpreter {
 public:
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  TfLiteInterpreter* get() const { return interpreter_; }
  ErrorLog& log() { return log_; }
  bool uses_xnnpack() const { return delegate_ != nullptr; }

  // True while the tensors are allocated for the current input shapes (cleared by a resize).
  bool allocated = false;
  // Bytes of the interpreter's input and output tensors as last allocated; read by any thread
  // for the memory estimate.
  std::atomic<uint64_t> io_bytes{0};

 private:
  friend class InterpreterPool;
  Interpreter() = default;

  TfLiteInterpreter* interpreter_ = nullptr;
  TfLiteDelegate* delegate_ = nullptr;  // deleted after interpreter_
  ErrorLog log_;
};

// The sum of TfLiteTensorByteSize over an interpreter's inputs and outputs.
uint64_t IoBytes(const TfLiteInterpreter* interpreter);

struct PoolOptions {
  int threads = 1;          // TfLiteInterpreterOptionsSetNumThreads and XNNPACK's num_threads
  bool xnnpack = true;      // try the XNNPACK delegate first
  int max_interpreters = 1;
};

class InterpreterPool {
 public:
  // `model` must outlive the pool.
  InterpreterPool(const TfLiteModel* model, const PoolOptions& options);
  ~InterpreterPool();  // every lease must have ended

  // Makes the first interpreter and allocates its tensors, so a model that cannot run fails
  // at load. Returns "" or the library's reason. Call once, before any Acquire.
  std::string Prime();

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();  // gives the interpreter back (or destroys it after Discard)

    Interpreter* operator->() const { return interpreter_; }
    Interpreter& operator*() const { return *interpreter_; }
    // The interpreter's state is unknown (a failed resize, allocation or invoke): it is
    // destroyed instead of given back, and a later call makes a fresh one.
    void Discard() { discard_ = true; }

   private:
    friend class InterpreterPool;
    void Return();
    InterpreterPool* pool_ = nullptr;
    Interpreter* interpreter_ = nullptr;
    bool discard_ = false;
  };

  // Leases an idle interpreter, makes one while fewer than max_interpreters exist, or waits for
  // one to be given back. Returns "" with *lease set, or why a new interpreter could not be made.
  // Any thread.
  std::string Acquire(Lease* lease);

  // Whether interpreters run with the XNNPACK delegate: false when it was not asked for, or the
  // library could not apply it to this model (the pool then makes every interpreter without it).
  bool xnnpack_active() const { return use_xnnpack_.load(); }
  // How many interpreters exist now, and each one's io_bytes. Any thread.
  size_t size() const;
  std::vector<uint64_t> IoBytesEach() const;

 private:
  // Makes one interpreter with its tensors allocated; null with *error set on failure.
  std::unique_ptr<Interpreter> Make(bool xnnpack, std::string* error) const;
  // Make with the delegate when asked for, falling back to none (for good) when the library
  // refuses the delegated graph but runs the plain one.
  std::unique_ptr<Interpreter> MakeWithFallback(std::string* error);
  void Release(Interpreter* interpreter, bool discard);

  const TfLiteModel* model_;
  const PoolOptions options_;
  std::atomic<bool> use_xnnpack_;

  std::mutex make_mu_;  // interpreters are made one at a time

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::vector<std::unique_ptr<Interpreter>> all_;  // guarded by mu_
  std::vector<Interpreter*> idle_;                 // guarded by mu_
  int making_ = 0;                                 // guarded by mu_: being made now
};

}  // namespace mlos::tflite_plugin
