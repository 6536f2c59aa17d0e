// The `resources:` section of mlosd's config (docs/resources.md): memory budget, keep_alive,
// pins, the scheduler and per-model overrides.
#include <thread>

#include <nlohmann/json.hpp>

#include "config_internal.h"
#include "core/resources.h"
#include "core/scheduler.h"
#include "wire/keep_alive.h"

namespace mlos::mlosd {
namespace {

Status ReadKeepAlive(const YAML::Node& parent, const char* key, const std::string& path,
                     std::optional<std::chrono::milliseconds>* out) {
  const YAML::Node n = parent[key];
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsScalar()) return InvalidArgument("config field '" + path + "' must be a duration");
  auto ms = wire::ParseKeepAlive(n.Scalar());
  if (!ms.ok()) return InvalidArgument("config field '" + path + "': " + ms.status().message());
  *out = *ms;
  return Status::Ok();
}

Status ReadPriority(const YAML::Node& parent, const char* key, const std::string& path,
                    int levels, int* out) {
  if (!parent[key] || parent[key].IsNull()) return Status::Ok();
  MLOS_RETURN_IF_ERROR(Read(parent, key, path, *out));
  if (*out < 1 || *out > levels) {
    return InvalidArgument("config field '" + path + "' must be between 1 and " +
                           std::to_string(levels));
  }
  return Status::Ok();
}

}  // namespace

Status ApplyResourcesConfig(const YAML::Node& r, DaemonConfig& c) {
  MLOS_RETURN_IF_ERROR(CheckKnownKeys(r, "resources",
                             {"memory_budget", "keep_alive", "pinned", "scheduling", "cpu_slots",
                              "priority_levels", "default_priority", "aging", "batch_priority",
                              "idle_priority", "cpu_sets", "deadline_admission", "models"}));
  core::ResourceOptions& o = c.resources;
  if (r["memory_budget"] && !r["memory_budget"].IsNull()) {
    MLOS_RETURN_IF_ERROR(Read(r, "memory_budget", "resources.memory_budget", c.memory_budget));
    // Checked now (the percentage is resolved at start against the memory available).
    MLOS_RETURN_IF_ERROR(
        core::ParseMemoryBudget(c.memory_budget, 1ull << 40, "config field 'resources.memory_budget'")
            .status());
  }
  std::optional<std::chrono::milliseconds> keep;
  MLOS_RETURN_IF_ERROR(ReadKeepAlive(r, "keep_alive", "resources.keep_alive", &keep));
  if (keep) o.keep_alive = *keep;
  std::vector<std::string> pinned;
  MLOS_RETURN_IF_ERROR(Read(r, "pinned", "resources.pinned", pinned));
  if (r["scheduling"] && !r["scheduling"].IsNull()) {
    MLOS_RETURN_IF_ERROR(Read(r, "scheduling", "resources.scheduling", c.scheduling));
    if (c.scheduling != "off" && c.scheduling != "priority" && c.scheduling != "fifo") {
      return InvalidArgument("config field 'resources.scheduling' must be off, priority or fifo");
    }
  }
  MLOS_RETURN_IF_ERROR(Read(r, "cpu_slots", "resources.cpu_slots", c.cpu_slots));
  if (c.cpu_slots < 0 || c.cpu_slots > 1024) {
    return InvalidArgument("config field 'resources.cpu_slots' must be between 0 and 1024");
  }
  MLOS_RETURN_IF_ERROR(
      Read(r, "priority_levels", "resources.priority_levels", o.priority_levels));
  if (o.priority_levels < 1 || o.priority_levels > 1000) {
    return InvalidArgument("config field 'resources.priority_levels' must be between 1 and 1000");
  }
  o.default_priority = std::min(o.default_priority, o.priority_levels);
  MLOS_RETURN_IF_ERROR(ReadPriority(r, "default_priority", "resources.default_priority",
                                    o.priority_levels, &o.default_priority));
  if (r["aging"] && !r["aging"].IsNull()) {
    std::optional<std::chrono::milliseconds> aging;
    MLOS_RETURN_IF_ERROR(ReadKeepAlive(r, "aging", "resources.aging", &aging));
    if (aging->count() < 0) {
      return InvalidArgument("config field 'resources.aging' must be >= 0 (0 = no aging)");
    }
    o.aging = *aging;
  }
  MLOS_RETURN_IF_ERROR(ReadPriority(r, "batch_priority", "resources.batch_priority",
                                    o.priority_levels, &o.batch_priority));
  MLOS_RETURN_IF_ERROR(ReadPriority(r, "idle_priority", "resources.idle_priority",
                                    o.priority_levels, &o.idle_priority));
  if (const YAML::Node sets = r["cpu_sets"]; sets && !sets.IsNull()) {
    MLOS_RETURN_IF_ERROR(CheckKnownKeys(sets, "resources.cpu_sets", {"normal", "batch", "idle"}));
    for (const auto& kv : sets) {
      const std::string cls = kv.first.as<std::string>();
      const std::string path = "resources.cpu_sets." + cls;
      std::string list;
      MLOS_RETURN_IF_ERROR(Read(sets, cls.c_str(), path, list));
      MLOS_RETURN_IF_ERROR(core::ParseCpuList(list, "config field '" + path + "'").status());
      o.cpu_sets[cls] = list;
    }
  }
  if (r["deadline_admission"] && !r["deadline_admission"].IsNull()) {
    try {
      o.deadline_admission = r["deadline_admission"].as<bool>();
    } catch (const YAML::Exception&) {
      return InvalidArgument("config field 'resources.deadline_admission' must be true or false");
    }
  }
  for (const std::string& p : pinned) o.models[p].pinned = true;
  if (const YAML::Node models = r["models"]; models && !models.IsNull()) {
    if (!models.IsMap()) return InvalidArgument("config field 'resources.models' must be a mapping");
    for (const auto& kv : models) {
      const std::string name = kv.first.as<std::string>();
      const std::string path = "resources.models." + name;
      MLOS_RETURN_IF_ERROR(CheckKnownKeys(kv.second, path, {"keep_alive", "priority", "pinned"}));
      core::ModelResourceOptions& m = o.models[name];
      MLOS_RETURN_IF_ERROR(ReadKeepAlive(kv.second, "keep_alive", path + ".keep_alive", &m.keep_alive));
      MLOS_RETURN_IF_ERROR(
          ReadPriority(kv.second, "priority", path + ".priority", o.priority_levels, &m.priority));
      if (kv.second["pinned"] && !kv.second["pinned"].IsNull()) {
        try {
          m.pinned = m.pinned || kv.second["pinned"].as<bool>();
        } catch (const YAML::Exception&) {
          return InvalidArgument("config field '" + path + ".pinned' must be true or false");
        }
      }
    }
  }
  return Status::Ok();
}

Status ResolveResources(DaemonConfig& c) {
  core::ResourceOptions& o = c.resources;
  const uint64_t available = core::MemoryAvailableToProcess();
  if (c.memory_budget == "0" || c.memory_budget == "off") {
    o.memory_budget_bytes = 0;
  } else {
    auto budget = core::ParseMemoryBudget(c.memory_budget, available);
    if (!budget.ok()) {
      // An unreadable /proc/meminfo leaves the default percentage without a base: no budget.
      if (budget.status().code() == StatusCode::kFailedPrecondition &&
          c.memory_budget == "80%") {
        o.memory_budget_bytes = 0;
      } else {
        return budget.status();
      }
    } else {
      o.memory_budget_bytes = *budget;
    }
  }
  o.fifo = c.scheduling == "fifo";
  if (c.scheduling == "off") {
    o.cpu_slots = 0;
  } else if (c.cpu_slots > 0) {
    o.cpu_slots = c.cpu_slots;
  } else {
    // The CPU budget: cores over the threads one plugin call uses: the largest
    // `intra_op_threads` among the plugins' settings (a plugin left to its default, as ONNX
    // Runtime's one thread per core, fills the machine with one call).
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    int intra = 0;
    bool defaulted = true;
    try {
      const nlohmann::json plugins = nlohmann::json::parse(c.plugin_config_json);
      for (const auto& [name, settings] : plugins.items()) {
        if (settings.is_object() && settings.contains("intra_op_threads") &&
            settings["intra_op_threads"].is_number_integer()) {
          const int n = settings["intra_op_threads"].get<int>();
          defaulted = defaulted && n <= 0;
          intra = std::max(intra, n);
        }
      }
    } catch (const nlohmann::json::exception&) {
    }
    o.cpu_slots = defaulted ? 1 : std::max(1, cores / intra);
  }
  return Status::Ok();
}

}  // namespace mlos::mlosd
