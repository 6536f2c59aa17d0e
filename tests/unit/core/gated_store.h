// GatedStore: a RegistryStore wrapper for tests of the core's locking. While the gate is held,
// every write call (PutModel, DeleteModel, SetDesiredLoaded, PutDefaults, PutAlias) blocks
// inside the store, as a slow disk would, until Release() or a timeout; with FailWrites(true)
// every write is refused without reaching the wrapped store. Load and Close pass through.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

namespace mlos::core {

class GatedStore final : public store::RegistryStore {
 public:
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool held = false;
    bool fail = false;
    int writing = 0;  // write calls blocked in the gate now
    int entered = 0;  // write calls that reached the gate, ever
  };

  GatedStore(std::unique_ptr<store::RegistryStore> inner, std::shared_ptr<Gate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}

  Result<store::RegistrySnapshot> Load() override { return inner_->Load(); }
  Status PutModel(const store::ModelRecord& r, const store::DefaultRecord* d) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->PutModel(r, d);
  }
  Status DeleteModel(const std::string& id, const store::DefaultRecord& d) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->DeleteModel(id, d);
  }
  Status SetDesiredLoaded(const std::string& id, bool loaded) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->SetDesiredLoaded(id, loaded);
  }
  Status SetPinned(const std::string& id, bool pinned) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->SetPinned(id, pinned);
  }
  Status PutDefaults(const std::string& name, const store::DefaultRecord& d) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->PutDefaults(name, d);
  }
  Status PutAlias(const std::string& name, const std::string& alias,
                  const std::string& version) override {
    MLOS_RETURN_IF_ERROR(Enter());
    return inner_->PutAlias(name, alias, version);
  }
  void Close() override { inner_->Close(); }

  // Test side.
  static void Hold(Gate& g) {
    std::lock_guard<std::mutex> lock(g.mu);
    g.held = true;
  }
  static void Release(Gate& g) {
    std::lock_guard<std::mutex> lock(g.mu);
    g.held = false;
    g.cv.notify_all();
  }
  static void FailWrites(Gate& g, bool fail) {
    std::lock_guard<std::mutex> lock(g.mu);
    g.fail = fail;
  }
  // Waits until `n` write calls have reached the gate in all; false after `timeout`.
  static bool WaitEntered(Gate& g, int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(g.mu);
    return g.cv.wait_for(lock, timeout, [&] { return g.entered >= n; });
  }
  static int Writing(Gate& g) {
    std::lock_guard<std::mutex> lock(g.mu);
    return g.writing;
  }

  // How long a held write waits at most (so that a core that blocks the test on its lock
  // fails the test instead of hanging it).
  static constexpr std::chrono::seconds kMaxHold{5};

 private:
  Status Enter() {
    std::unique_lock<std::mutex> lock(gate_->mu);
    if (gate_->fail) return Unavailable("test store: write refused");
    ++gate_->entered;
    ++gate_->writing;
    gate_->cv.notify_all();
    gate_->cv.wait_for(lock, kMaxHold, [&] { return !gate_->held; });
    --gate_->writing;
    return Status::Ok();
  }

  std::unique_ptr<store::RegistryStore> inner_;
  std::shared_ptr<Gate> gate_;
};

}  // namespace mlos::core
