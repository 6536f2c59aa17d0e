#include "model_repository.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "axon/cache.h"
#include "axon/install.h"

namespace mlos::mlosd {

namespace fs = std::filesystem;

namespace {

std::string NameOnly(const std::string& id) { return id.substr(0, id.find('@')); }

// Repository models in an order where each comes after the repository models it depends on;
// models in a dependency cycle are left out and named in *cyclic.
std::vector<std::string> DependencyOrder(const std::map<std::string, mpf::Manifest>& models,
                                         std::vector<std::string>* cyclic) {
  std::map<std::string, std::set<std::string>> needs;  // id -> repository ids it depends on
  for (const auto& [id, m] : models) {
    for (const mpf::ModelDependency& d : m.dependencies.models) {
      for (const auto& [other, om] : models) {
        if (other == id) continue;
        const bool same = d.id.find('@') == std::string::npos ? NameOnly(other) == d.id
                                                                : other == d.id;
        auto fits = mpf::VersionSatisfies(om.metadata.version, d.constraint);
        if (same && fits.ok() && *fits) {
          needs[id].insert(other);
        }
      }
    }
  }
  std::vector<std::string> order;
  std::set<std::string> placed;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& [id, m] : models) {
      if (placed.count(id) != 0) continue;
      const auto& deps = needs[id];
      if (std::all_of(deps.begin(), deps.end(), [&](const auto& d) { return placed.count(d); })) {
        order.push_back(id);
        placed.insert(id);
        progress = true;
      }
    }
  }
  for (const auto& [id, m] : models) {
    if (placed.count(id) == 0) cyclic->push_back(id);
  }
  return order;
}

}  // namespace

ModelRepository::ModelRepository(service::Service& service, std::vector<std::string> specs,
                                 fs::path cache_root, double poll_seconds)
    : service_(service),
      specs_(std::move(specs)),
      cache_root_(std::move(cache_root)),
      poll_seconds_(poll_seconds) {}

ModelRepository::~ModelRepository() { Stop(); }

void ModelRepository::Start() {
  service_.HoldReady();  // released after the first pass
  thread_ = std::thread([this] {
    // The registry restore (models registered before a restart) comes first.
    while (!service_.RegistryRestored()) {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; })) {
        service_.ReleaseReady();
        return;
      }
    }
    const int failed = Sync();
    service_.ReleaseReady();
    spdlog::info("model repository: first pass done ({} model(s) served, {} failed)",
                 served_.size(), failed);
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      auto woken = [&] { return stopping_ || rescan_; };
      if (poll_seconds_ > 0) {
        cv_.wait_for(lock, std::chrono::duration<double>(poll_seconds_), woken);
      } else {
        cv_.wait(lock, woken);
      }
      if (stopping_) return;
      rescan_ = false;
      lock.unlock();
      Sync();
    }
  });
}

void ModelRepository::Rescan() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    rescan_ = true;
  }
  cv_.notify_all();
}

void ModelRepository::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int ModelRepository::Sync() {
  service::RequestContext ctx;
  ctx.daemon = true;
  ctx.peer = "model repository";
  int failed = 0;
  const axon::Cache cache(cache_root_);
  const axon::HubConfig hubs;

  // 1. What the directories hold, installed (or found installed) in the repository's cache.
  std::map<std::string, mpf::Manifest> manifests;
  std::map<std::string, fs::path> sources, package_dirs;
  for (const std::string& spec : specs_) {
    std::error_code ec;
    std::vector<std::string> skipped;
    for (const RepositoryItem& item : ScanRepository(spec, &skipped)) {
      axon::InstallRequest req;
      req.ref = fs::absolute(item.source, ec).string();
      req.name = item.name;
      auto installed = axon::Install(cache, hubs, req, nullptr);
      if (!installed.ok()) {
        spdlog::error("model repository: {}: {}", item.source.string(),
                      installed.status().message());
        ++failed;
        continue;
      }
      const std::string id = installed->installed.ns + "/" + installed->installed.name + "@" +
                             installed->installed.version;
      if (sources.count(id) != 0) {
        spdlog::error("model repository: {} and {} are both {}; serving the first",
                      sources[id].string(), item.source.string(), id);
        ++failed;
        continue;
      }
      sources[id] = item.source;
      package_dirs[id] = installed->installed.dir;
      manifests[id] = std::move(installed->manifest);  // the cache's, when already installed
    }
    for (const std::string& s : skipped) spdlog::warn("model repository: skipped {}", s);
  }

  // 2. Registered and loaded, dependencies first.
  std::vector<std::string> cyclic;
  const std::vector<std::string> order = DependencyOrder(manifests, &cyclic);
  for (const std::string& id : cyclic) {
    spdlog::error("model repository: {} ({}) is in a dependency cycle; not registered", id,
                  sources[id].string());
    ++failed;
  }
  std::vector<std::pair<std::string, fs::path>> served;  // in registration order
  for (const std::string& id : order) {
    auto status = service_.Get(ctx, id);
    const bool fresh = !status.ok();
    if (fresh) {
      core::RegisterRequest reg;
      reg.model_id = id;
      reg.path = package_dirs[id].string();
      auto r = service_.Register(ctx, reg);
      if (!r.ok()) {
        spdlog::error("model repository: register {} ({}): {}", id, sources[id].string(),
                      r.status().message());
        ++failed;
        continue;
      }
      status = std::move(r);
    }
    served.emplace_back(id, sources[id]);
    // Loaded when newly registered, and on the first pass when not READY (a restart); later
    // passes leave alone what the server or an operator unloaded since (keep_alive, memory,
    // an unload call): lazy_load brings it back on demand.
    if (status->state == core::ModelState::kReady || (!fresh && passes_ > 0)) continue;
    auto loaded = service_.Load(ctx, id);
    if (!loaded.ok()) {
      spdlog::error("model repository: load {}: {}", id, loaded.status().message());
      ++failed;
    } else if (loaded->state != core::ModelState::kReady) {
      spdlog::error("model repository: load {}: {} {}", id,
                    core::ModelStateName(loaded->state), loaded->reason);
      ++failed;
    }
  }

  // 3. Models whose files left the repository: withdrawn, the last registered first (so a model
  // goes before the models it depends on).
  auto serving = [&](const std::string& id) {
    return std::any_of(served.begin(), served.end(), [&](const auto& s) { return s.first == id; });
  };
  for (auto it = served_.rbegin(); it != served_.rend(); ++it) {
    const auto& [id, source] = *it;
    if (serving(id) || std::find(cyclic.begin(), cyclic.end(), id) != cyclic.end()) continue;
    (void)service_.Unload(ctx, id);
    Status st = service_.Unregister(ctx, id);
    if (!st.ok()) {
      spdlog::error("model repository: {} left {} but stays registered: {}", id,
                    source.string(), st.message());
      served.emplace_back(id, source);
      ++failed;
    } else {
      spdlog::info("model repository: {} left {}: unregistered", id, source.string());
    }
  }
  served_ = std::move(served);
  ++passes_;
  return failed;
}

}  // namespace mlos::mlosd
