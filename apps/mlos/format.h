// Output for the mlos CLI: tables for people, JSON for scripts.
#pragma once

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

nlohmann::json ToJson(const client::ModelInfo& m);
nlohmann::json ToJson(const client::PluginInfo& p);
nlohmann::json ToJson(const client::TensorInfo& t);
// All values as a flat JSON array (numbers, booleans or strings).
nlohmann::json TensorValues(const client::Tensor& t);

}  // namespace mlos::cli
