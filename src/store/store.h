// RegistryStore: where the registry's desired state lives between restarts. The core keeps
// its live state in memory and writes every change through this interface; on start it reads
// everything back with Load(). SQLite (embedded, WAL) is the default; PostgreSQL can implement
// the same interface when several daemons share one registry.
//
// Thread-safety: implementations serialise calls internally; any thread may call any method.
// Every mutating method is one transaction: it is applied entirely or not at all.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace mlos::store {

// One registered model version.
struct ModelRecord {
  std::string id;       // "ns/name@version" (primary key)
  std::string name;     // "ns/name"
  std::string version;
  std::string path;     // package directory (absolute)
  std::string manifest_path;
  std::string execution_format, framework, description;
  bool desired_loaded = false;
  bool pinned = false;        // never evicted by the resource manager (an API/CLI pin)
  int64_t registered_at = 0;  // unix milliseconds
  int64_t seq = 0;            // registration order (assigned by the store on insert)
};

// The default version of a model name and the defaults before it (oldest first), which
// Rollback walks back through.
struct DefaultRecord {
  std::string current;               // "" = no default
  std::vector<std::string> history;  // previous defaults, most recent last
};

struct RegistrySnapshot {
  std::vector<ModelRecord> models;                   // in registration order
  std::map<std::string, DefaultRecord> defaults;     // by name
  std::map<std::string, std::map<std::string, std::string>> aliases;  // name -> alias -> version
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  virtual Result<RegistrySnapshot> Load() = 0;
  // Inserts or replaces a model (keeps its seq on replace); when `defaults` is given, also
  // writes the defaults of record.name in the same transaction.
  virtual Status PutModel(const ModelRecord& record, const DefaultRecord* defaults) = 0;
  // Removes a model and the aliases pointing at it, and writes `defaults` for its name.
  // kNotFound when the id is not stored.
  virtual Status DeleteModel(const std::string& id, const DefaultRecord& defaults) = 0;
  virtual Status SetDesiredLoaded(const std::string& id, bool desired_loaded) = 0;
  // kNotFound when the id is not stored.
  virtual Status SetPinned(const std::string& id, bool pinned) = 0;
  virtual Status PutDefaults(const std::string& name, const DefaultRecord& defaults) = 0;
  // version "" removes the alias.
  virtual Status PutAlias(const std::string& name, const std::string& alias,
                          const std::string& version) = 0;
  // Flushes and closes; later calls fail with kUnavailable. Idempotent.
  virtual void Close() = 0;
};

}  // namespace mlos::store
