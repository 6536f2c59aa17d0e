// Output for the mlos CLI: tables for people, JSON for scripts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlos/client.h"

namespace mlos::cli {

// Prints rows as an aligned table under `header` (to stdout).
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

std::string ShapeString(const std::vector<int64_t>& shape);
// The first `max` values of a tensor, "[0.1, 0.2, ... (n values)]".
std::string ValuesPreview(const client::Tensor& t, size_t max = 8);

// Model resource columns for people. MemoryMiB: "12.3 MiB" ("40 KiB" under 1 MiB), "-" for 0
// (not loaded).
// LastUsed: "12s ago", "5m ago", "3h ago", "2d ago", "never" for 0 (`now_ms`: Unix ms).
// KeepAliveLabel: "forever" for a negative value, "0", else "5m", "1h30m", "250ms".
std::string MemoryMiB(uint64_t bytes);
std::string LastUsed(int64_t last_used_unix_ms, int64_t now_unix_ms);
std::string KeepAliveLabel(int64_t keep_alive_ms);
// Milliseconds since the Unix epoch, now.
int64_t NowUnixMs();

nlohmann::json ToJson(const client::ModelInfo& m);
nlohmann::json ToJson(const client::PluginInfo& p);
nlohmann::json ToJson(const client::TensorInfo& t);
// All values as a flat JSON array (numbers, booleans or strings).
nlohmann::json TensorValues(const client::Tensor& t);

}  // namespace mlos::cli
