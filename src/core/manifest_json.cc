#include "core/manifest_json.h"

#include <nlohmann/json.hpp>

namespace mlos::core {
namespace {

nlohmann::json Scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: a string whatever it looks like
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  try {
    size_t pos = 0;
    long long i = std::stoll(s, &pos);
    if (pos == s.size()) return i;
    double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (...) {
  }
  return s;
}

nlohmann::json Convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return Scalar(n);
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(Convert(e));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = Convert(kv.second);
      return o;
    }
    default: return nullptr;
  }
}

}  // namespace

std::string ManifestJson(const mpf::Manifest& manifest) {
  try {
    YAML::Node doc = manifest.original;
    if (!doc || !doc.IsMap()) doc = YAML::Load(mpf::EmitManifest(manifest));
    return Convert(doc).dump();
  } catch (...) {
    return "";
  }
}

}  // namespace mlos::core
