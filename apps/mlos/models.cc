// mlos models: list, get, load, unload, unregister, rollback, default, alias, pin, unpin.
#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "format.h"

namespace mlos::cli {
namespace {

using nlohmann::json;

std::string Yes(bool b) { return b ? "yes" : "no"; }

// The ISOLATION column: "in_process", "process", "strict pid 1234" (a worker serves it),
// "process restarting" / "process stopped" (its worker crashed).
std::string IsolationLabel(const client::ModelInfo& m) {
  std::string s = m.isolation.empty() ? "in_process" : m.isolation;
  if (m.worker_pid != 0) {
    s += " pid " + std::to_string(m.worker_pid);
  } else if (!m.worker_state.empty() && m.worker_state != "running") {
    s += " " + m.worker_state;
  }
  return s;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& e : v) s += (s.empty() ? "" : ",") + e;
  return s;
}

// One `mlos models` action: its name, how many arguments it takes and how to write them.
struct Action {
  const char* name;
  size_t min_args;
  size_t max_args;
  const char* usage;  // the arguments, "" for none
};

constexpr Action kActions[] = {
    {"list", 0, 0, ""},
    {"get", 1, 1, "ID"},
    {"load", 1, 1, "ID"},
    {"unload", 1, 1, "ID"},
    {"unregister", 1, 1, "ID"},
    {"rollback", 1, 1, "NAME"},
    {"default", 1, 2, "NAME VERSION"},
    {"alias", 2, 3, "NAME ALIAS [VERSION]"},
    {"pin", 1, 1, "ID"},
    {"unpin", 1, 1, "ID"},
};

// "'mlos models alias' takes NAME ALIAS [VERSION]", "'mlos models list' takes no arguments".
std::string Takes(const Action& a) {
  return "'mlos models " + std::string(a.name) + "' takes " +
         (*a.usage ? std::string(a.usage) : std::string("no arguments"));
}

const Action* FindAction(const std::string& name) {
  for (const Action& a : kActions) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

std::string ActionNames() {
  std::string s;
  for (const Action& a : kActions) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

// The id `mlos models default` switches to: "NAME VERSION" or one "NAME@VERSION"; "" with
// *why set when neither.
std::string DefaultId(const std::vector<std::string>& a, std::string* why) {
  if (a.size() == 1) {
    if (a[0].find('@') == std::string::npos) {
      *why = "'mlos models default' needs NAME VERSION (or NAME@VERSION), got only '" + a[0] + "'";
      return "";
    }
    return a[0];
  }
  if (a[0].find('@') != std::string::npos) {
    *why = "'mlos models default' takes NAME VERSION: NAME '" + a[0] + "' already has a version";
    return "";
  }
  return a[0] + "@" + a[1];
}

}  // namespace

const char* ModelsHelp() {
  return "list (default) | get ID | load ID | unload ID | unregister ID | rollback NAME | "
         "default NAME VERSION | alias NAME ALIAS [VERSION] (no VERSION: remove the alias) | "
         "pin ID | unpin ID (a pinned model is never evicted nor unloaded for idleness). "
         "ID is ns/name@version (or ns/name for its default), NAME is ns/name";
}

void PrintModels(const Globals& g, const std::vector<client::ModelInfo>& models) {
  if (g.json) {
    json arr = json::array();
    for (const auto& m : models) arr.push_back(ToJson(m));
    std::cout << json{{"models", arr}, {"count", models.size()}}.dump(2) << "\n";
    return;
  }
  const int64_t now = NowUnixMs();
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : models) {
    rows.push_back({m.id, m.state, m.is_default ? "*" : "", Joined(m.aliases),
                    MemoryMiB(m.memory_bytes), LastUsed(m.last_used_unix_ms, now),
                    Yes(m.pinned), KeepAliveLabel(m.keep_alive_ms), IsolationLabel(m),
                    m.framework});
  }
  PrintTable({"ID", "STATE", "DEFAULT", "ALIASES", "MEMORY", "LAST USED", "PINNED", "KEEP ALIVE",
              "ISOLATION", "FRAMEWORK"},
             rows);
}

void PrintModel(const Globals& g, const client::ModelInfo& m) {
  if (g.json) {
    std::cout << ToJson(m).dump(2) << "\n";
    return;
  }
  std::cout << "id:          " << m.id << "\nstate:       " << m.state
            << (m.reason.empty() ? "" : " (" + m.reason + ")") << "\nframework:   " << m.framework
            << "\nformat:      " << m.execution_format << "\nplugin:      " << m.plugin
            << "\npath:        " << m.path << "\ndefault:     " << Yes(m.is_default) << "\n";
  if (!m.aliases.empty()) std::cout << "aliases:     " << Joined(m.aliases) << "\n";
  std::cout << "memory:      " << MemoryMiB(m.memory_bytes);
  if (m.memory_bytes == 0 && m.memory_estimate_bytes > 0) {
    std::cout << " (estimate " << MemoryMiB(m.memory_estimate_bytes) << ")";
  }
  if (m.shared_memory_bytes > 0) {
    std::cout << " (" << MemoryMiB(m.shared_memory_bytes) << " shared)";
  }
  std::cout << "\nlast used:   " << LastUsed(m.last_used_unix_ms, NowUnixMs())
            << "\npinned:      " << Yes(m.pinned)
            << "\nkeep alive:  " << KeepAliveLabel(m.keep_alive_ms) << "\npriority:    "
            << (m.priority > 0 ? std::to_string(m.priority) : std::string("server default"))
            << "\n";
  if (!m.load_kind.empty()) std::cout << "last load:   " << m.load_kind << "\n";
  if (m.evictions > 0 || !m.unload_reason.empty()) {
    std::cout << "evictions:   " << m.evictions
              << (m.unload_reason.empty() ? "" : " (last: " + m.unload_reason + ")") << "\n";
  }
  std::cout << "isolation:   " << (m.isolation.empty() ? "in_process" : m.isolation) << "\n";
  if (m.worker_pid != 0) std::cout << "worker pid:  " << m.worker_pid << "\n";
  if (!m.worker_state.empty()) std::cout << "worker:      " << m.worker_state << "\n";
  if (m.worker_restarts > 0 || !m.worker_state.empty()) {
    std::cout << "restarts:    " << m.worker_restarts << "\n";
  }
  if (!m.last_crash.empty()) std::cout << "last crash:  " << m.last_crash << "\n";
  if (!m.dependencies.empty()) std::cout << "depends on:  " << Joined(m.dependencies) << "\n";
  if (!m.description.empty()) std::cout << "description: " << m.description << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : m.inputs) rows.push_back({"input", t.name, t.dtype, ShapeString(t.shape)});
  for (const auto& t : m.outputs) rows.push_back({"output", t.name, t.dtype, ShapeString(t.shape)});
  if (!rows.empty()) {
    std::cout << "\n";
    PrintTable({"IO", "NAME", "DTYPE", "SHAPE"}, rows);
  }
}

int Models(const Globals& g, const std::vector<std::string>& args) {
  const std::string name = args.empty() ? "list" : args[0];
  const Action* action = FindAction(name);
  if (!action) {
    return Usage("unknown models action '" + name + "' (" + ActionNames() + ")",
                 "mlos models --help");
  }
  const std::vector<std::string> a(args.empty() ? args.begin() : args.begin() + 1, args.end());
  if (a.size() < action->min_args || a.size() > action->max_args) {
    return Usage(Takes(*action) + ", got " + std::to_string(a.size()) + " argument" +
                     (a.size() == 1 ? "" : "s"),
                 "mlos models --help");
  }
  for (const std::string& v : a) {
    if (v.empty()) return Usage(Takes(*action) + ": an argument is empty", "mlos models --help");
  }
  std::string default_id;
  if (name == "default") {
    std::string why;
    default_id = DefaultId(a, &why);
    if (default_id.empty()) return Usage(why, "mlos models --help");
  }

  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  client::Client& cl = **c;
  if (name == "list") {
    auto r = cl.ListModels();
    if (!r.ok()) return Fail(r.status());
    PrintModels(g, *r);
    return 0;
  }
  if (name == "unregister") {
    Status st = cl.Unregister(a[0]);
    if (!st.ok()) return Fail(st);
    if (g.json) {
      std::cout << json{{"status", "unregistered"}, {"model_id", a[0]}}.dump(2) << "\n";
    } else {
      std::cout << "unregistered " << a[0] << "\n";
    }
    return 0;
  }
  Result<client::ModelInfo> r = Internal("unreachable");
  if (name == "get") r = cl.GetModel(a[0]);
  else if (name == "load") r = cl.Load(a[0]);
  else if (name == "unload") r = cl.Unload(a[0]);
  else if (name == "rollback") r = cl.Rollback(a[0]);
  else if (name == "default") r = cl.SetDefault(default_id);
  else if (name == "alias") r = cl.SetAlias(a[0], a[1], a.size() > 2 ? a[2] : "");
  else if (name == "pin") r = cl.Pin(a[0]);
  else if (name == "unpin") r = cl.Unpin(a[0]);
  if (!r.ok()) return Fail(r.status());
  PrintModel(g, *r);
  return 0;
}

}  // namespace mlos::cli
