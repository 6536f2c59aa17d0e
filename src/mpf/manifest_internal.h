// Private to src/mpf: what manifest_parse.cc and manifest.cc (validation) share; Quote also
// serves the archive code (archive_internal.h).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "mpf/manifest.h"

namespace mlos::mpf::internal {

// One problem: the field path ("spec.io.inputs[1].dtype") and what is wrong with it.
struct Problem {
  std::string path, message;
  std::string Text() const { return path.empty() ? message : path + ": " + message; }
};

inline std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}
inline std::string Join(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
inline std::string Index(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// Applies the semantic rules to `m`; legacy forms go to *warnings, or to *errors when strict.
void CheckManifest(const Manifest& m, const ParseOptions& options, std::vector<Problem>* errors,
                   std::vector<Problem>* warnings);

// Appends the warnings' texts to *warning_texts (when given) and returns InvalidArgument with
// the errors joined by "; ", or OK when there are none.
Status ProblemsToStatus(const std::vector<Problem>& errors, const std::vector<Problem>& warnings,
                        std::vector<std::string>* warning_texts);

}  // namespace mlos::mpf::internal
