// manifest.yaml -> Manifest: YAML syntax and type checks (wrong YAML types name the field), then
// the rules of manifest.cc. Fields with a type error are not reported again by the rules.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "common/fs.h"
#include "mpf/manifest.h"
#include "wire/keep_alive.h"
#include "mpf/manifest_internal.h"

namespace mlos::mpf {
namespace {

using internal::Index;
using internal::Join;
using internal::Problem;
using internal::Quote;

// YAML -> Manifest. Only type errors here; the rules are in manifest.cc (CheckManifest).

class Reader {
 public:
  std::vector<Problem> errors;
  std::vector<std::string> bad_paths;  // fields with type errors: validation skips them

  void Error(const std::string& path, const std::string& message) {
    errors.push_back({path, message});
    bad_paths.push_back(path);
  }

  // The value under `key`, or an undefined node when absent or null.
  static YAML::Node Get(const YAML::Node& map, const char* key) {
    if (!map.IsDefined() || !map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    return n;
  }

  // The mapping under `key` (undefined when absent; an error when not a mapping).
  YAML::Node Map(const YAML::Node& parent, const char* key, const std::string& path) {
    YAML::Node n = Get(parent, key);
    if (n.IsDefined() && !n.IsMap()) {
      Error(path, "expected a mapping");
      return YAML::Node(YAML::NodeType::Undefined);
    }
    return n;
  }

  YAML::Node Seq(const YAML::Node& parent, const char* key, const std::string& path) {
    YAML::Node n = Get(parent, key);
    if (n.IsDefined() && !n.IsSequence()) {
      Error(path, "expected a sequence");
      return YAML::Node(YAML::NodeType::Undefined);
    }
    return n;
  }

  void Str(const YAML::Node& parent, const char* key, const std::string& base, std::string* out) {
    YAML::Node n = Get(parent, key);
    if (!n.IsDefined()) return;
    ScalarString(n, Join(base, key), out);
  }

  bool ScalarString(const YAML::Node& n, const std::string& path, std::string* out) {
    if (!n.IsScalar()) {
      Error(path, "expected a string");
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  void StrList(const YAML::Node& parent, const char* key, const std::string& base,
               std::vector<std::string>* out) {
    std::string path = Join(base, key);
    YAML::Node seq = Seq(parent, key, path);
    if (!seq.IsDefined()) return;
    for (size_t i = 0; i < seq.size(); ++i) {
      std::string s;
      if (ScalarString(seq[i], Index(path, i), &s)) out->push_back(std::move(s));
    }
  }

  template <typename T>
  void Int(const YAML::Node& parent, const char* key, const std::string& base, T* out) {
    YAML::Node n = Get(parent, key);
    if (!n.IsDefined()) return;
    std::string path = Join(base, key);
    const char* what =
        std::is_signed_v<T> ? "expected an integer" : "expected a non-negative integer";
    if (!n.IsScalar()) return Error(path, what);
    const std::string& s = n.Scalar();
    T v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
      return Error(path, std::string(what) + " (got " + Quote(s) + ")");
    }
    *out = v;
  }

  void Double(const YAML::Node& parent, const char* key, const std::string& base, double* out) {
    YAML::Node n = Get(parent, key);
    if (!n.IsDefined()) return;
    std::string path = Join(base, key);
    if (!n.IsScalar()) return Error(path, "expected a number");
    const std::string& s = n.Scalar();
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
      return Error(path, "expected a number (got " + Quote(s) + ")");
    }
    *out = v;
  }

  void Bool(const YAML::Node& parent, const char* key, const std::string& base, bool* out) {
    YAML::Node n = Get(parent, key);
    if (!n.IsDefined()) return;
    std::string path = Join(base, key);
    if (!n.IsScalar()) return Error(path, "expected true or false");
    static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "NO"};
    if (kTrue.count(n.Scalar())) {
      *out = true;
    } else if (kFalse.count(n.Scalar())) {
      *out = false;
    } else {
      Error(path, "expected true or false (got " + Quote(n.Scalar()) + ")");
    }
  }

  // A count (spec.llm): a non-negative integer that fits in 64 bits.
  void Count(const YAML::Node& parent, const char* key, const std::string& base, uint64_t* out) {
    YAML::Node n = Get(parent, key);
    if (!n.IsDefined()) return;
    std::string path = Join(base, key);
    const std::string s = n.IsScalar() ? n.Scalar() : "";
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      return Error(path, n.IsScalar() ? "must be a non-negative integer (got " + Quote(s) + ")"
                                      : std::string("must be a non-negative integer"));
    }
    *out = v;
  }

  // Each element of the sequence under `key` must be a mapping; calls fn(element, path).
  template <typename Fn>
  void EachMap(const YAML::Node& parent, const char* key, const std::string& base, Fn fn) {
    std::string path = Join(base, key);
    YAML::Node seq = Seq(parent, key, path);
    if (!seq.IsDefined()) return;
    for (size_t i = 0; i < seq.size(); ++i) {
      std::string item = Index(path, i);
      YAML::Node e = seq[i];
      if (!e.IsMap()) {
        Error(item, "expected a mapping");
        continue;
      }
      fn(e, item);
    }
  }

  void ReadMetadata(const YAML::Node& doc, Metadata* md) {
    const std::string p = "metadata";
    YAML::Node n = Map(doc, "metadata", p);
    if (!n.IsDefined()) return;
    Str(n, "name", p, &md->name);
    Str(n, "namespace", p, &md->namespace_);
    Str(n, "version", p, &md->version);
    Str(n, "description", p, &md->description);
    EachMap(n, "authors", p, [&](const YAML::Node& e, const std::string& ep) {
      Author a;
      Str(e, "name", ep, &a.name);
      Str(e, "email", ep, &a.email);
      Str(e, "organization", ep, &a.organization);
      md->authors.push_back(std::move(a));
    });
    Str(n, "license", p, &md->license);
    Str(n, "homepage", p, &md->homepage);
    Str(n, "documentation", p, &md->documentation);
    Str(n, "created", p, &md->created);
    Str(n, "updated", p, &md->updated);
    StrList(n, "tags", p, &md->tags);
    Str(n, "pipeline_tag", p, &md->pipeline_tag);
    Str(n, "source", p, &md->source);
  }

  void ReadTensors(const YAML::Node& io, const char* key, const std::string& base,
                   std::vector<TensorSpec>* out) {
    EachMap(io, key, base, [&](const YAML::Node& e, const std::string& ep) {
      TensorSpec t;
      Str(e, "name", ep, &t.name);
      Str(e, "dtype", ep, &t.dtype);
      std::string sp = Join(ep, "shape");
      YAML::Node shape = Seq(e, "shape", sp);
      if (shape.IsDefined()) {
        for (size_t i = 0; i < shape.size(); ++i) {
          YAML::Node d = shape[i];
          std::string dp = Index(sp, i);
          int64_t v = 0;
          const std::string s = d.IsScalar() ? d.Scalar() : "";
          auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
          if (!d.IsScalar() || s.empty() || ec != std::errc() || end != s.data() + s.size()) {
            Error(dp, d.IsScalar() ? "expected an integer (got " + Quote(s) + ")"
                                   : std::string("expected an integer"));
            continue;
          }
          t.shape.push_back(v);
        }
      }
      Str(e, "description", ep, &t.description);
      std::string pp = Join(ep, "preprocessing");
      YAML::Node pre = Map(e, "preprocessing", pp);
      if (pre.IsDefined()) {
        Preprocessing p;
        Str(pre, "type", pp, &p.type);
        Str(pre, "tokenizer", pp, &p.tokenizer);
        Str(pre, "tokenizer_type", pp, &p.tokenizer_type);
        YAML::Node config = Get(pre, "config");
        if (config.IsDefined()) p.config.reset(YAML::Clone(config));
        t.preprocessing = std::move(p);
      }
      out->push_back(std::move(t));
    });
  }

  void ReadResources(const YAML::Node& spec, Resources* r) {
    const std::string p = "spec.resources";
    YAML::Node n = Map(spec, "resources", p);
    if (!n.IsDefined()) return;
    YAML::Node ka = Get(n, "keep_alive");
    if (ka.IsDefined()) {
      const std::string kp = Join(p, "keep_alive");
      if (!ka.IsScalar()) {
        Error(kp, "expected a duration (\"5m\", \"30s\", 0, -1)");
      } else {
        auto ms = wire::ParseKeepAlive(ka.Scalar());
        if (ms.ok()) {
          r->keep_alive_ms = ms->count();
        } else {
          Error(kp, ms.status().message());
        }
      }
    }
    Int(n, "priority", p, &r->priority);
    if (r->priority < 0 || r->priority > 1000) Error(Join(p, "priority"), "must be between 1 and 1000");
  }

  void ReadRequirements(const YAML::Node& spec, Requirements* r) {
    const std::string p = "spec.requirements";
    YAML::Node n = Map(spec, "requirements", p);
    if (!n.IsDefined()) return;
    const std::string cp = Join(p, "compute");
    YAML::Node compute = Map(n, "compute", cp);
    if (compute.IsDefined()) {
      const std::string cpu_p = Join(cp, "cpu");
      YAML::Node cpu = Map(compute, "cpu", cpu_p);
      Int(cpu, "min_cores", cpu_p, &r->min_cores);
      Int(cpu, "recommended_cores", cpu_p, &r->recommended_cores);
      const std::string mem_p = Join(cp, "memory");
      YAML::Node mem = Map(compute, "memory", mem_p);
      Double(mem, "min_gb", mem_p, &r->memory_min_gb);
      Double(mem, "recommended_gb", mem_p, &r->memory_recommended_gb);
      const std::string gpu_p = Join(cp, "gpu");
      YAML::Node gpu = Map(compute, "gpu", gpu_p);
      Bool(gpu, "required", gpu_p, &r->gpu_required);
      Bool(gpu, "recommended", gpu_p, &r->gpu_recommended);
      Double(gpu, "min_vram_gb", gpu_p, &r->gpu_min_vram_gb);
      Str(gpu, "cuda_version", gpu_p, &r->cuda_version);
    }
    const std::string sp = Join(p, "storage");
    YAML::Node storage = Map(n, "storage", sp);
    Double(storage, "min_gb", sp, &r->storage_min_gb);
    Double(storage, "recommended_gb", sp, &r->storage_recommended_gb);
  }

  void ReadLlm(const YAML::Node& spec, std::optional<Llm>* out) {
    const std::string p = "spec.llm";
    YAML::Node n = Map(spec, "llm", p);
    if (!n.IsDefined()) return;
    Llm l;
    Str(n, "architecture", p, &l.architecture);
    Count(n, "context_length", p, &l.context_length);
    Count(n, "embedding_length", p, &l.embedding_length);
    Count(n, "parameter_count", p, &l.parameter_count);
    Str(n, "quantization", p, &l.quantization);
    Str(n, "chat_template", p, &l.chat_template);
    Bool(n, "embedding", p, &l.embedding);
    *out = std::move(l);
  }

  void ReadDependencies(const YAML::Node& spec, Dependencies* d) {
    const std::string p = "spec.dependencies";
    YAML::Node n = Map(spec, "dependencies", p);
    if (!n.IsDefined()) return;
    const std::string mp = Join(p, "models");
    YAML::Node models = Seq(n, "models", mp);
    if (models.IsDefined()) {
      for (size_t i = 0; i < models.size(); ++i) {
        YAML::Node e = models[i];
        std::string ep = Index(mp, i);
        ModelDependency dep;
        if (e.IsScalar()) {
          dep.id = e.Scalar();
        } else if (e.IsMap()) {
          Str(e, "id", ep, &dep.id);
          Str(e, "version", ep, &dep.constraint);
        } else {
          Error(ep, "expected a string \"namespace/name[@version]\" or a mapping {id, version}");
          continue;
        }
        d->models.push_back(std::move(dep));
      }
    }
    EachMap(n, "packages", p, [&](const YAML::Node& e, const std::string& ep) {
      PackageDependency pkg;
      Str(e, "name", ep, &pkg.name);
      Str(e, "version", ep, &pkg.version);
      d->packages.push_back(std::move(pkg));
    });
  }

  void ReadSpec(const YAML::Node& doc, Manifest* m) {
    const std::string p = "spec";
    YAML::Node spec = Map(doc, "spec", p);
    if (!spec.IsDefined()) return;
    const std::string fwp = Join(p, "framework");
    YAML::Node fw = Map(spec, "framework", fwp);
    Str(fw, "name", fwp, &m->framework.name);
    Str(fw, "version", fwp, &m->framework.version);

    const std::string fp = Join(p, "format");
    YAML::Node format = Map(spec, "format", fp);
    if (format.IsDefined()) {
      Format& f = m->format;
      Str(format, "type", fp, &f.type);
      Str(format, "execution_format", fp, &f.execution_format);
      Bool(format, "multi_encoder", fp, &f.multi_encoder);
      EachMap(format, "files", fp, [&](const YAML::Node& e, const std::string& ep) {
        FileEntry fe;
        Str(e, "path", ep, &fe.path);
        Int(e, "size", ep, &fe.size);
        Str(e, "sha256", ep, &fe.sha256);
        f.files.push_back(std::move(fe));
      });
      EachMap(format, "execution_files", fp, [&](const YAML::Node& e, const std::string& ep) {
        ExecutionFile ef;
        Str(e, "path", ep, &ef.path);
        Str(e, "format", ep, &ef.format);
        Str(e, "type", ep, &ef.type);
        f.execution_files.push_back(std::move(ef));
      });
    }

    const std::string iop = Join(p, "io");
    YAML::Node io = Map(spec, "io", iop);
    if (io.IsDefined()) {
      ReadTensors(io, "inputs", iop, &m->io.inputs);
      ReadTensors(io, "outputs", iop, &m->io.outputs);
    }
    ReadLlm(spec, &m->llm);
    ReadRequirements(spec, &m->requirements);
    ReadResources(spec, &m->resources);
    YAML::Node perf = Get(spec, "performance");
    if (perf.IsDefined()) m->performance.reset(YAML::Clone(perf));
    ReadDependencies(spec, &m->dependencies);
  }

  void ReadDistribution(const YAML::Node& doc, Distribution* d) {
    const std::string p = "distribution";
    YAML::Node n = Map(doc, "distribution", p);
    if (!n.IsDefined()) return;
    const std::string pp = Join(p, "package");
    YAML::Node pkg = Map(n, "package", pp);
    Str(pkg, "url", pp, &d->package_url);
    Int(pkg, "size", pp, &d->package_size);
    Str(pkg, "sha256", pp, &d->package_sha256);
    StrList(pkg, "mirrors", pp, &d->mirrors);
    const std::string rp = Join(p, "registry");
    YAML::Node reg = Map(n, "registry", rp);
    Str(reg, "url", rp, &d->registry_url);
    Str(reg, "namespace", rp, &d->registry_namespace);
  }

  void ReadSecurity(const YAML::Node& doc, Security* s) {
    const std::string p = "security";
    YAML::Node n = Map(doc, "security", p);
    if (!n.IsDefined()) return;
    const std::string ap = Join(p, "access");
    YAML::Node access = Map(n, "access", ap);
    StrList(access, "principals", ap, &s->allowed_principals);
    StrList(access, "roles", ap, &s->allowed_roles);
    const std::string qp = Join(p, "quotas");
    YAML::Node quotas = Map(n, "quotas", qp);
    Int(quotas, "max_concurrency", qp, &s->max_concurrency);
    Double(quotas, "rate_limit", qp, &s->rate_limit);
    YAML::Node mem = Get(quotas, "max_memory");
    if (mem.IsDefined()) {
      std::string mp = Join(qp, "max_memory");
      if (!mem.IsScalar()) {
        Error(mp, "expected a byte size");
      } else {
        Result<uint64_t> bytes = ParseByteSize(mem.Scalar());
        if (bytes.ok()) {
          s->max_memory = *bytes;
        } else {
          Error(mp, bytes.status().message());
        }
      }
    }
    YAML::Node sandbox = Get(n, "sandbox");
    if (sandbox.IsDefined()) {
      std::string sp = Join(p, "sandbox");
      std::string v;
      if (ScalarString(sandbox, sp, &v)) {
        if (v == "none") {
          s->sandbox = SandboxMode::kNone;
        } else if (v == "process") {
          s->sandbox = SandboxMode::kProcess;
        } else if (v == "strict") {
          s->sandbox = SandboxMode::kStrict;
        } else {
          Error(sp, "must be one of none, process, strict (got " + Quote(v) + ")");
        }
      }
    }
  }

  void ReadAll(const YAML::Node& doc, Manifest* m) {
    m->api_version.clear();
    m->kind.clear();
    Str(doc, "apiVersion", "", &m->api_version);
    Str(doc, "kind", "", &m->kind);
    ReadMetadata(doc, &m->metadata);
    ReadSpec(doc, m);
    ReadDistribution(doc, &m->distribution);
    ReadSecurity(doc, &m->security);
  }
};

bool Under(const std::string& path, const std::string& bad) {
  if (path.compare(0, bad.size(), bad) != 0) return false;
  return path.size() == bad.size() || path[bad.size()] == '.' || path[bad.size()] == '[';
}

}  // namespace

Result<Manifest> ParseManifest(const std::string& yaml_text, const ParseOptions& options,
                               std::vector<std::string>* warnings) {
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("YAML syntax error at line " + std::to_string(e.mark.line + 1) +
                           ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!doc.IsDefined() || doc.IsNull()) return InvalidArgument("manifest: empty document");
  if (!doc.IsMap()) return InvalidArgument("manifest: expected a mapping at the top level");

  Manifest m;
  Reader reader;
  try {
    reader.ReadAll(doc, &m);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("manifest: malformed YAML structure: ") + e.what());
  }
  std::vector<Problem> checks, warns;
  internal::CheckManifest(m, options, &checks, &warns);
  std::vector<Problem> errors = reader.errors;
  for (Problem& p : checks) {
    bool suppressed = false;
    for (const std::string& bad : reader.bad_paths) suppressed = suppressed || Under(p.path, bad);
    if (!suppressed) errors.push_back(std::move(p));
  }
  MLOS_RETURN_IF_ERROR(internal::ProblemsToStatus(errors, warns, warnings));
  if (m.kind.empty()) m.kind = kKind;
  m.original.reset(doc);
  return m;
}

Result<Manifest> LoadManifestFile(const std::string& path, const ParseOptions& options,
                                  std::vector<std::string>* warnings) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  Result<Manifest> m = ParseManifest(*text, options, warnings);
  if (!m.ok()) return m.status().WithPrefix(path);
  return m;
}

}  // namespace mlos::mpf
