// manifest.yaml validation (the semantic rules) and small shared helpers. Parsing YAML into
// the struct is in manifest_parse.cc, the writer in manifest_emit.cc, versions in version.cc.
#include "mpf/manifest.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "wire/dtype.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/manifest_internal.h"

namespace mlos::mpf {
namespace internal {
namespace {

// Validation of the struct (shared by ParseManifest and ValidateManifest).

bool AllChars(const std::string& s, const char* extra) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr(extra, c) == nullptr) {
      return false;
    }
  }
  return true;
}

bool IsValidNamespace(const std::string& s) {
  return !s.empty() && s.size() <= 128 && s != "." && s != ".." && AllChars(s, "._-");
}

bool IsValidModelName(const std::string& s) {
  return s.size() <= 512 && IsSafeRelativePath(s) && AllChars(s, "._-/");
}

bool IsValidVersionName(const std::string& s) {
  return !s.empty() && s.size() <= 128 && s != "." && s != ".." && AllChars(s, "._+-");
}

constexpr size_t kMaxChatTemplateBytes = 1 << 20;  // GGUF strings are capped at 1 MiB too

class Validator {
 public:
  Validator(const ParseOptions& options, std::vector<Problem>* errors,
            std::vector<Problem>* warnings)
      : options_(options), errors_(errors), warnings_(warnings) {}

  void Error(const std::string& path, const std::string& message) {
    errors_->push_back({path, message});
  }
  // A legacy form: a warning normally, an error in strict mode.
  void Legacy(const std::string& path, const std::string& warning, const std::string& strict) {
    if (options_.strict) {
      errors_->push_back({path, strict});
    } else {
      warnings_->push_back({path, warning});
    }
  }

  void Run(const Manifest& m) {
    if (m.api_version.empty()) {
      Error("apiVersion", "required");
    } else if (m.api_version == "v1") {
      Legacy("apiVersion", "legacy apiVersion \"v1\" (expected \"axon.mlos.io/v1\")",
             "legacy apiVersion \"v1\" not accepted in strict mode (expected \"axon.mlos.io/v1\")");
    } else if (m.api_version != kApiVersion) {
      Error("apiVersion",
            "unsupported " + Quote(m.api_version) + " (expected \"axon.mlos.io/v1\")");
    }
    if (m.kind.empty()) {
      Legacy("kind", "missing, assuming \"Model\"", "required");
    } else if (m.kind != kKind) {
      Error("kind", "must be \"Model\" (got " + Quote(m.kind) + ")");
    }
    Metadata(m.metadata);
    if (m.framework.name.empty()) Error("spec.framework.name", "required");
    Format(m.format);
    Tensors("spec.io.inputs", m.io.inputs);
    Tensors("spec.io.outputs", m.io.outputs);
    Requirements(m.requirements);
    Llm(m.llm);
    Dependencies(m.dependencies);
    Distribution(m.distribution);
    Security(m.security);
  }

 private:
  void Metadata(const mpf::Metadata& md) {
    if (md.name.empty()) {
      Error("metadata.name", "required");
    } else if (!IsValidModelName(md.name)) {
      Error("metadata.name", "invalid name " + Quote(md.name) +
                                 " (letters, digits, '.', '_', '-' and '/' between non-empty "
                                 "segments other than '.' and '..')");
    }
    if (md.namespace_.empty()) {
      Error("metadata.namespace", "required");
    } else if (!IsValidNamespace(md.namespace_)) {
      Error("metadata.namespace",
            "invalid namespace " + Quote(md.namespace_) + " (letters, digits, '.', '_', '-')");
    }
    if (md.version.empty()) {
      Error("metadata.version", "required");
    } else if (!IsValidVersionName(md.version)) {
      Error("metadata.version",
            "invalid version " + Quote(md.version) + " (letters, digits, '.', '_', '+', '-')");
    } else if (md.version == "latest") {
      Legacy("metadata.version", "\"latest\" is not a pinned version (legacy manifest)",
             "\"latest\" is not a pinned version (not accepted in strict mode)");
    }
    for (size_t i = 0; i < md.tags.size(); ++i) {
      if (md.tags[i].empty()) Error(Index("metadata.tags", i), "empty tag");
    }
  }

  void Format(const mpf::Format& f) {
    const std::string fp = "spec.format.files";
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < f.files.size(); ++i) {
      const FileEntry& e = f.files[i];
      std::string ep = Index(fp, i);
      if (e.path.empty()) {
        Error(ep + ".path", "required");
      } else if (!IsSafeRelativePath(e.path)) {
        Error(ep + ".path", "unsafe path " + Quote(e.path));
      } else if (auto [it, inserted] = seen.emplace(e.path, i); !inserted) {
        Error(ep + ".path",
              "duplicate path " + Quote(e.path) + " (also in " + Index(fp, it->second) + ")");
      }
      if (e.sha256.empty()) {
        Legacy(ep + ".sha256", "empty (legacy manifest; the file cannot be verified)", "required");
      } else if (!IsSha256Hex(e.sha256)) {
        Error(ep + ".sha256", "not a sha256 hex digest " + Quote(e.sha256));
      }
    }
    const std::string xp = "spec.format.execution_files";
    static const std::set<std::string> kTypes = {"single", "encoder", "decoder", "text_encoder",
                                                 "vision_encoder"};
    std::set<std::string> exec_seen;
    for (size_t i = 0; i < f.execution_files.size(); ++i) {
      const ExecutionFile& e = f.execution_files[i];
      std::string ep = Index(xp, i);
      if (e.path.empty()) {
        Error(ep + ".path", "required");
      } else if (!IsSafeRelativePath(e.path)) {
        Error(ep + ".path", "unsafe path " + Quote(e.path));
      } else if (!exec_seen.insert(e.path).second) {
        Error(ep + ".path", "duplicate path " + Quote(e.path));
      } else if (!f.files.empty() && seen.count(e.path) == 0) {
        Error(ep + ".path", Quote(e.path) + " is not listed in spec.format.files");
      }
      if (!e.type.empty() && kTypes.count(e.type) == 0) {
        Error(ep + ".type",
              "must be one of single, encoder, decoder, text_encoder, vision_encoder (got " +
                  Quote(e.type) + ")");
      }
    }
  }

  void Tensors(const std::string& base, const std::vector<TensorSpec>& tensors) {
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorSpec& t = tensors[i];
      std::string tp = Index(base, i);
      if (t.name.empty()) {
        Error(tp + ".name", "required");
      } else if (auto [it, inserted] = seen.emplace(t.name, i); !inserted) {
        Error(tp + ".name", "duplicate tensor name " + Quote(t.name) + " (also in " +
                                Index(base, it->second) + ")");
      }
      if (t.dtype.empty()) {
        Error(tp + ".dtype", "required");
      } else if (!IsKnownDtype(t.dtype)) {
        Error(tp + ".dtype", "unknown dtype " + Quote(t.dtype));
      }
      for (size_t d = 0; d < t.shape.size(); ++d) {
        if (t.shape[d] < -1) {
          Error(Index(tp + ".shape", d),
                "must be -1 (dynamic) or >= 0 (got " + std::to_string(t.shape[d]) + ")");
        }
      }
    }
  }

  void NonNegative(const std::string& path, double v) {
    if (v < 0) Error(path, "must be >= 0");
  }

  void Requirements(const mpf::Requirements& r) {
    const std::string c = "spec.requirements.compute";
    NonNegative(c + ".cpu.min_cores", r.min_cores);
    NonNegative(c + ".cpu.recommended_cores", r.recommended_cores);
    NonNegative(c + ".memory.min_gb", r.memory_min_gb);
    NonNegative(c + ".memory.recommended_gb", r.memory_recommended_gb);
    NonNegative(c + ".gpu.min_vram_gb", r.gpu_min_vram_gb);
    NonNegative("spec.requirements.storage.min_gb", r.storage_min_gb);
    NonNegative("spec.requirements.storage.recommended_gb", r.storage_recommended_gb);
  }

  // spec.llm. The counts are unsigned in the struct; the parser reports negative or non-integer
  // values as "must be a non-negative integer".
  void Llm(const std::optional<mpf::Llm>& l) {
    if (!l.has_value()) return;
    const std::string p = "spec.llm";
    if (l->architecture.empty()) {
      Error(p + ".architecture", "required");
    } else if (l->architecture.size() > 64 || !AllChars(l->architecture, "._-")) {
      Error(p + ".architecture", "invalid architecture " + Quote(l->architecture) +
                                     " (letters, digits, '.', '_', '-'; at most 64)");
    }
    if (l->quantization.size() > 32 || !AllChars(l->quantization, "_")) {
      Error(p + ".quantization", "invalid quantization " + Quote(l->quantization) +
                                     " (letters, digits and '_', e.g. \"Q4_K_M\")");
    }
    if (l->chat_template.size() > kMaxChatTemplateBytes) {
      Error(p + ".chat_template", "longer than " + std::to_string(kMaxChatTemplateBytes) +
                                      " bytes");
    }
  }

  void Dependencies(const mpf::Dependencies& d) {
    const std::string mp = "spec.dependencies.models";
    for (size_t i = 0; i < d.models.size(); ++i) {
      const ModelDependency& dep = d.models[i];
      std::string ep = Index(mp, i);
      bool has_version = false;
      if (dep.id.empty()) {
        Error(ep + ".id", "required");
      } else {
        std::string ref = dep.id, version;
        size_t at = ref.find('@');
        if (at != std::string::npos) {
          version = ref.substr(at + 1);
          ref.resize(at);
          has_version = true;
        }
        size_t slash = ref.find('/');
        bool ok = slash != std::string::npos && IsValidNamespace(ref.substr(0, slash)) &&
                  !ref.substr(slash + 1).empty() && IsValidModelName(ref.substr(slash + 1)) &&
                  (!has_version || IsValidVersionName(version));
        if (!ok) {
          Error(ep + ".id", "invalid model id " + Quote(dep.id) +
                                " (expected \"namespace/name\" or \"namespace/name@version\")");
        }
      }
      if (!dep.constraint.empty()) {
        if (has_version) {
          Error(ep + ".version", "the id " + Quote(dep.id) +
                                     " already names a version; give either one or the other");
        }
        Result<bool> r = VersionSatisfies("0.0.0", dep.constraint);
        if (!r.ok()) Error(ep + ".version", r.status().message());
      }
    }
    const std::string pp = "spec.dependencies.packages";
    for (size_t i = 0; i < d.packages.size(); ++i) {
      if (d.packages[i].name.empty()) Error(Index(pp, i) + ".name", "required");
    }
  }

  void Distribution(const mpf::Distribution& d) {
    if (!d.package_sha256.empty() && !IsSha256Hex(d.package_sha256)) {
      Error("distribution.package.sha256", "not a sha256 hex digest " + Quote(d.package_sha256));
    }
    for (size_t i = 0; i < d.mirrors.size(); ++i) {
      if (d.mirrors[i].empty()) Error(Index("distribution.package.mirrors", i), "empty URL");
    }
  }

  void Security(const mpf::Security& s) {
    for (size_t i = 0; i < s.allowed_principals.size(); ++i) {
      if (s.allowed_principals[i].empty()) {
        Error(Index("security.access.principals", i), "empty principal");
      }
    }
    for (size_t i = 0; i < s.allowed_roles.size(); ++i) {
      if (s.allowed_roles[i].empty()) Error(Index("security.access.roles", i), "empty role");
    }
    if (s.max_concurrency < 0) Error("security.quotas.max_concurrency", "must be >= 0");
    if (s.rate_limit < 0 || !std::isfinite(s.rate_limit)) {
      Error("security.quotas.rate_limit", "must be a finite number >= 0");
    }
  }

  const ParseOptions& options_;
  std::vector<Problem>* errors_;
  std::vector<Problem>* warnings_;
};

// True when `path` is `bad` or lies under it.

}  // namespace

void CheckManifest(const Manifest& m, const ParseOptions& options, std::vector<Problem>* errors,
                   std::vector<Problem>* warnings) {
  Validator(options, errors, warnings).Run(m);
}

Status ProblemsToStatus(const std::vector<Problem>& errors, const std::vector<Problem>& warns,
                        std::vector<std::string>* warning_texts) {
  if (warning_texts != nullptr) {
    for (const Problem& w : warns) warning_texts->push_back(w.Text());
  }
  if (errors.empty()) return Status::Ok();
  std::string msg;
  for (const Problem& e : errors) {
    if (!msg.empty()) msg += "; ";
    msg += e.Text();
  }
  return InvalidArgument(msg);
}

}  // namespace internal

using internal::Problem;
using internal::Quote;

bool IsKnownDtype(const std::string& dtype) { return wire::DtypeByName(dtype) != nullptr; }

const char* SandboxModeName(SandboxMode mode) {
  switch (mode) {
    case SandboxMode::kNone:
      return "none";
    case SandboxMode::kProcess:
      return "process";
    case SandboxMode::kStrict:
      return "strict";
  }
  return "none";
}

Result<uint64_t> ParseByteSize(const std::string& text) {
  auto bad = [&] {
    return InvalidArgument("invalid byte size " + Quote(text) +
                           " (expected bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB, "
                           "TiB)");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  if (number.empty() || number.front() == '.' || number.back() == '.') return bad();
  static const std::map<std::string, uint64_t> kUnits = {{"", 1},
                                                         {"B", 1},
                                                         {"KB", 1000ull},
                                                         {"MB", 1000ull * 1000},
                                                         {"GB", 1000ull * 1000 * 1000},
                                                         {"TB", 1000ull * 1000 * 1000 * 1000},
                                                         {"KiB", 1ull << 10},
                                                         {"MiB", 1ull << 20},
                                                         {"GiB", 1ull << 30},
                                                         {"TiB", 1ull << 40}};
  auto unit_it = kUnits.find(unit);
  if (unit_it == kUnits.end()) return bad();
  if (number.find('.') == std::string::npos) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (ec != std::errc() || end != number.data() + number.size()) return bad();
    if (v > std::numeric_limits<uint64_t>::max() / unit_it->second) return bad();
    return v * unit_it->second;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc() || end != number.data() + number.size()) return bad();
  double bytes = std::floor(v * static_cast<double>(unit_it->second));
  if (!(bytes < 1.8e19)) return bad();
  return static_cast<uint64_t>(bytes);
}

Status ValidateManifest(const Manifest& m, const ParseOptions& options,
                        std::vector<std::string>* warnings) {
  std::vector<Problem> errors, warns;
  internal::CheckManifest(m, options, &errors, &warns);
  return internal::ProblemsToStatus(errors, warns, warnings);
}

}  // namespace mlos::mpf
