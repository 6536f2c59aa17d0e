// The embedded registry store: one SQLite database (<state_dir>/registry.db) in WAL mode.
#pragma once

#include <filesystem>
#include <memory>

#include "store/store.h"

namespace mlos::store {

// Opens (creating the file and schema if needed) the registry at `db_path` with
// journal_mode=WAL, synchronous=NORMAL and a busy timeout. Errors: kUnavailable when the file
// cannot be opened, kDataLoss when it is not a registry database.
Result<std::unique_ptr<RegistryStore>> OpenSqliteStore(const std::filesystem::path& db_path);

}  // namespace mlos::store
