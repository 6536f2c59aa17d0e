// Manifest -> YAML. Deterministic: the bytes depend only on the struct and on `original`
// (signatures cover them). Keys come in the schema's order, then unknown keys in their original
// order. A modelled key whose value is empty/default is written only when the original had it.
#include <charconv>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "mpf/manifest.h"

namespace mlos::mpf {
namespace {

YAML::Node StrNode(const std::string& s) {
  YAML::Node n(s);
  n.SetTag("!");  // a string: quoted on output when it would otherwise read as another type
  return n;
}

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

template <typename T>
bool ParsesTo(const YAML::Node& n, T want) {
  if (!n.IsDefined() || !n.IsScalar()) return false;
  const std::string& s = n.Scalar();
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && v == want;
}

// Builds one mapping from modelled values over the original mapping (which may be undefined).
class MapOut {
 public:
  explicit MapOut(const YAML::Node& original) : out_(YAML::NodeType::Map) {
    if (original.IsDefined() && original.IsMap()) orig_ = original;
  }

  bool Had(const char* key) const { return orig_.IsDefined() && orig_[key].IsDefined(); }
  YAML::Node Orig(const char* key) const {
    if (!Had(key)) return YAML::Node(YAML::NodeType::Undefined);
    return orig_[key];
  }

  void Put(const char* key, const YAML::Node& value) {
    done_.insert(key);
    out_[key] = value;
  }
  // Puts a built mapping or sequence unless it is empty and the original lacked the key.
  void PutUnlessEmpty(const char* key, const YAML::Node& value) {
    done_.insert(key);
    if (value.size() == 0 && !Had(key)) return;
    out_[key] = value;
  }

  void Str(const char* key, const std::string& v, bool always = false) {
    done_.insert(key);
    if (v.empty() && !always && !Had(key)) return;
    YAML::Node o = Orig(key);
    if (o.IsDefined() && ((o.IsScalar() && o.Scalar() == v) || (o.IsNull() && v.empty()))) {
      out_[key] = YAML::Clone(o);
    } else {
      out_[key] = StrNode(v);
    }
  }

  template <typename T>
  void Int(const char* key, T v, bool always = false) {
    done_.insert(key);
    if (v == 0 && !always && !Had(key)) return;
    YAML::Node o = Orig(key);
    out_[key] = ParsesTo<T>(o, v) ? YAML::Clone(o) : YAML::Node(std::to_string(v));
  }

  void Double(const char* key, double v) {
    done_.insert(key);
    if (v == 0 && !Had(key)) return;
    YAML::Node o = Orig(key);
    out_[key] = ParsesTo<double>(o, v) ? YAML::Clone(o) : YAML::Node(FormatDouble(v));
  }

  void Bool(const char* key, bool v, bool always = false) {
    done_.insert(key);
    if (!v && !always && !Had(key)) return;
    YAML::Node o = Orig(key);
    static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "NO"};
    if (o.IsDefined() && o.IsScalar() && (v ? kTrue : kFalse).count(o.Scalar())) {
      out_[key] = YAML::Clone(o);
    } else {
      out_[key] = YAML::Node(v ? "true" : "false");
    }
  }

  void StrList(const char* key, const std::vector<std::string>& v) {
    done_.insert(key);
    if (v.empty() && !Had(key)) return;
    YAML::Node o = Orig(key);
    if (o.IsDefined() && o.IsSequence() && o.size() == v.size()) {
      bool same = true;
      for (size_t i = 0; i < v.size() && same; ++i) {
        same = o[i].IsScalar() && o[i].Scalar() == v[i];
      }
      if (same) {
        out_[key] = YAML::Clone(o);
        return;
      }
    }
    YAML::Node seq(YAML::NodeType::Sequence);
    if (o.IsDefined() && o.IsSequence()) seq.SetStyle(o.Style());
    for (const std::string& s : v) seq.push_back(StrNode(s));
    out_[key] = seq;
  }

  // A free-form value (performance, preprocessing.config): written when set or originally there.
  void Free(const char* key, const YAML::Node& v) {
    done_.insert(key);
    bool empty = !v.IsDefined() || v.IsNull();
    if (empty && !Had(key)) return;
    out_[key] = empty ? YAML::Node(YAML::NodeType::Null) : YAML::Clone(v);
  }

  // A modelled key that is unset in the struct: not written, and not copied from the original.
  void Drop(const char* key) { done_.insert(key); }

  // The result: modelled keys in call order, then the original's other keys in their order.
  YAML::Node Finish() {
    if (orig_.IsDefined()) {
      for (auto it = orig_.begin(); it != orig_.end(); ++it) {
        if (it->first.IsScalar() && done_.count(it->first.Scalar())) continue;
        out_[YAML::Clone(it->first)] = YAML::Clone(it->second);
      }
    }
    return out_;
  }

 private:
  YAML::Node orig_{YAML::NodeType::Undefined};
  YAML::Node out_;
  std::set<std::string> done_;
};

// The element of the original sequence `seq` that is a mapping whose `field` equals `value`.
YAML::Node FindEntry(const YAML::Node& seq, const char* field, const std::string& value) {
  if (seq.IsDefined() && seq.IsSequence()) {
    for (size_t i = 0; i < seq.size(); ++i) {
      YAML::Node e = seq[i];
      if (e.IsMap() && e[field].IsDefined() && e[field].IsScalar() && e[field].Scalar() == value) {
        return e;
      }
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// A sequence of mappings, each built by fn(item, original_entry) over the entry of the original
// sequence that has the same `field`.
template <typename T, typename Fn>
void MapList(MapOut* parent, const char* key, const std::vector<T>& items, const char* field,
             std::string T::*id, Fn fn) {
  YAML::Node orig = parent->Orig(key);
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const T& item : items) {
    MapOut e(FindEntry(orig, field, item.*id));
    fn(item, &e);
    seq.push_back(e.Finish());
  }
  parent->PutUnlessEmpty(key, seq);
}

YAML::Node EmitMetadata(const Metadata& md, const YAML::Node& orig) {
  MapOut o(orig);
  o.Str("name", md.name, true);
  o.Str("namespace", md.namespace_, true);
  o.Str("version", md.version, true);
  o.Str("description", md.description);
  MapList(&o, "authors", md.authors, "name", &Author::name, [](const Author& a, MapOut* e) {
    e->Str("name", a.name);
    e->Str("email", a.email);
    e->Str("organization", a.organization);
  });
  o.Str("license", md.license);
  o.Str("homepage", md.homepage);
  o.Str("documentation", md.documentation);
  o.Str("created", md.created);
  o.Str("updated", md.updated);
  o.StrList("tags", md.tags);
  o.Str("pipeline_tag", md.pipeline_tag);
  o.Str("source", md.source);
  return o.Finish();
}

YAML::Node EmitShape(const std::vector<int64_t>& shape, const YAML::Node& orig) {
  if (orig.IsDefined() && orig.IsSequence() && orig.size() == shape.size()) {
    bool same = true;
    for (size_t i = 0; i < shape.size() && same; ++i) same = ParsesTo<int64_t>(orig[i], shape[i]);
    if (same) return YAML::Clone(orig);
  }
  YAML::Node seq(YAML::NodeType::Sequence);
  seq.SetStyle(YAML::EmitterStyle::Flow);
  for (int64_t d : shape) seq.push_back(YAML::Node(std::to_string(d)));
  return seq;
}

void EmitTensors(MapOut* io, const char* key, const std::vector<TensorSpec>& tensors) {
  MapList(io, key, tensors, "name", &TensorSpec::name, [](const TensorSpec& t, MapOut* e) {
    e->Str("name", t.name, true);
    e->Str("dtype", t.dtype, true);
    e->Put("shape", EmitShape(t.shape, e->Orig("shape")));
    e->Str("description", t.description);
    if (t.preprocessing.has_value()) {
      const Preprocessing& p = *t.preprocessing;
      MapOut po(e->Orig("preprocessing"));
      po.Str("type", p.type);
      po.Str("tokenizer", p.tokenizer);
      po.Str("tokenizer_type", p.tokenizer_type);
      po.Free("config", p.config);
      e->Put("preprocessing", po.Finish());
    } else {
      e->Free("preprocessing", YAML::Node());
    }
  });
}

YAML::Node EmitRequirements(const Requirements& r, const YAML::Node& orig) {
  MapOut o(orig);
  MapOut compute(o.Orig("compute"));
  MapOut cpu(compute.Orig("cpu"));
  cpu.Int("min_cores", r.min_cores);
  cpu.Int("recommended_cores", r.recommended_cores);
  compute.PutUnlessEmpty("cpu", cpu.Finish());
  MapOut mem(compute.Orig("memory"));
  mem.Double("min_gb", r.memory_min_gb);
  mem.Double("recommended_gb", r.memory_recommended_gb);
  compute.PutUnlessEmpty("memory", mem.Finish());
  MapOut gpu(compute.Orig("gpu"));
  gpu.Bool("required", r.gpu_required);
  gpu.Bool("recommended", r.gpu_recommended);
  gpu.Double("min_vram_gb", r.gpu_min_vram_gb);
  gpu.Str("cuda_version", r.cuda_version);
  compute.PutUnlessEmpty("gpu", gpu.Finish());
  o.PutUnlessEmpty("compute", compute.Finish());
  MapOut storage(o.Orig("storage"));
  storage.Double("min_gb", r.storage_min_gb);
  storage.Double("recommended_gb", r.storage_recommended_gb);
  o.PutUnlessEmpty("storage", storage.Finish());
  return o.Finish();
}

// spec.llm: every field is written (a reader sees 0 / "" / false rather than guessing).
YAML::Node EmitLlm(const Llm& l, const YAML::Node& orig) {
  MapOut o(orig);
  o.Str("architecture", l.architecture, true);
  o.Int("context_length", l.context_length, true);
  o.Int("embedding_length", l.embedding_length, true);
  o.Int("parameter_count", l.parameter_count, true);
  o.Str("quantization", l.quantization, true);
  o.Str("chat_template", l.chat_template, true);
  o.Bool("embedding", l.embedding, true);
  return o.Finish();
}

YAML::Node EmitDependencies(const Dependencies& d, const YAML::Node& orig) {
  MapOut o(orig);
  YAML::Node orig_models = o.Orig("models");
  YAML::Node models(YAML::NodeType::Sequence);
  for (const ModelDependency& dep : d.models) {
    YAML::Node entry = FindEntry(orig_models, "id", dep.id);
    if (!entry.IsDefined() && dep.constraint.empty()) {
      models.push_back(StrNode(dep.id));  // the plain form "ns/name[@version]"
      continue;
    }
    MapOut e(entry);
    e.Str("id", dep.id, true);
    e.Str("version", dep.constraint);
    models.push_back(e.Finish());
  }
  o.PutUnlessEmpty("models", models);
  MapList(&o, "packages", d.packages, "name", &PackageDependency::name,
          [](const PackageDependency& p, MapOut* e) {
            e->Str("name", p.name, true);
            e->Str("version", p.version);
          });
  return o.Finish();
}

YAML::Node EmitSpec(const Manifest& m, const YAML::Node& orig) {
  MapOut o(orig);
  MapOut fw(o.Orig("framework"));
  fw.Str("name", m.framework.name, true);
  fw.Str("version", m.framework.version);
  o.Put("framework", fw.Finish());

  const Format& f = m.format;
  MapOut format(o.Orig("format"));
  format.Str("type", f.type);
  format.Str("execution_format", f.execution_format);
  format.Bool("multi_encoder", f.multi_encoder);
  MapList(&format, "files", f.files, "path", &FileEntry::path, [](const FileEntry& fe, MapOut* e) {
    e->Str("path", fe.path, true);
    e->Int("size", fe.size, true);
    e->Str("sha256", fe.sha256);
  });
  MapList(&format, "execution_files", f.execution_files, "path", &ExecutionFile::path,
          [](const ExecutionFile& ef, MapOut* e) {
            e->Str("path", ef.path, true);
            e->Str("format", ef.format);
            e->Str("type", ef.type);
          });
  o.PutUnlessEmpty("format", format.Finish());

  MapOut io(o.Orig("io"));
  EmitTensors(&io, "inputs", m.io.inputs);
  EmitTensors(&io, "outputs", m.io.outputs);
  o.PutUnlessEmpty("io", io.Finish());
  if (m.llm.has_value()) {
    o.Put("llm", EmitLlm(*m.llm, o.Orig("llm")));
  } else {
    o.Drop("llm");
  }

  o.PutUnlessEmpty("requirements", EmitRequirements(m.requirements, o.Orig("requirements")));
  o.Free("performance", m.performance);
  o.PutUnlessEmpty("dependencies", EmitDependencies(m.dependencies, o.Orig("dependencies")));
  return o.Finish();
}

YAML::Node EmitDistribution(const Distribution& d, const YAML::Node& orig) {
  MapOut o(orig);
  MapOut pkg(o.Orig("package"));
  pkg.Str("url", d.package_url);
  pkg.Int("size", d.package_size);
  pkg.Str("sha256", d.package_sha256);
  pkg.StrList("mirrors", d.mirrors);
  o.PutUnlessEmpty("package", pkg.Finish());
  MapOut reg(o.Orig("registry"));
  reg.Str("url", d.registry_url);
  reg.Str("namespace", d.registry_namespace);
  o.PutUnlessEmpty("registry", reg.Finish());
  return o.Finish();
}

YAML::Node EmitSecurity(const Security& s, const YAML::Node& orig) {
  MapOut o(orig);
  MapOut access(o.Orig("access"));
  access.StrList("principals", s.allowed_principals);
  access.StrList("roles", s.allowed_roles);
  o.PutUnlessEmpty("access", access.Finish());
  MapOut quotas(o.Orig("quotas"));
  quotas.Int("max_concurrency", s.max_concurrency);
  quotas.Double("rate_limit", s.rate_limit);
  YAML::Node mem = quotas.Orig("max_memory");
  Result<uint64_t> orig_mem =
      mem.IsDefined() && mem.IsScalar() ? ParseByteSize(mem.Scalar()) : Result<uint64_t>(0);
  if (orig_mem.ok() && *orig_mem == s.max_memory && mem.IsDefined() && mem.IsScalar()) {
    quotas.Put("max_memory", YAML::Clone(mem));  // keeps "2GiB" as written
  } else {
    quotas.Int("max_memory", s.max_memory);
  }
  o.PutUnlessEmpty("quotas", quotas.Finish());
  if (s.sandbox != SandboxMode::kNone || o.Had("sandbox")) {
    o.Str("sandbox", SandboxModeName(s.sandbox), true);
  } else {
    o.Str("sandbox", "");
  }
  return o.Finish();
}

// Whether a plain scalar `s` would be read back as something other than a string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::set<std::string> kWords = {
      "~",     "null", "Null",  "NULL",  "true", "True", "TRUE", "false", "False",
      "FALSE", "yes",  "Yes",   "YES",   "no",   "No",   "NO",   "on",    "On",
      "ON",    "off",  "Off",   "OFF",   "y",    "Y",    "n",    "N",     ".inf",
      ".Inf",  ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN"};
  if (kWords.count(s)) return true;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && s[i] == '.') ++i;
  return i < s.size() && s[i] >= '0' && s[i] <= '9';  // number-like: 1, -2, .5, 1.0.0, 2024-..
}

void EmitNode(YAML::Emitter& e, const YAML::Node& n) {
  const std::string& tag = n.Tag();
  if (!tag.empty() && tag != "?" && tag != "!") {
    static const std::string kCore = "tag:yaml.org,2002:";
    if (tag.compare(0, kCore.size(), kCore) == 0) {
      e << YAML::SecondaryTag(tag.substr(kCore.size()));
    } else {
      e << YAML::VerbatimTag(tag);
    }
  }
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      if (tag == "!" && NeedsQuotes(n.Scalar())) e << YAML::DoubleQuoted;
      e << n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      if (n.Style() == YAML::EmitterStyle::Flow) e << YAML::Flow;
      e << YAML::BeginSeq;
      for (size_t i = 0; i < n.size(); ++i) EmitNode(e, n[i]);
      e << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      if (n.Style() == YAML::EmitterStyle::Flow) e << YAML::Flow;
      e << YAML::BeginMap;
      for (auto it = n.begin(); it != n.end(); ++it) {
        e << YAML::Key;
        EmitNode(e, it->first);
        e << YAML::Value;
        EmitNode(e, it->second);
      }
      e << YAML::EndMap;
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      e << YAML::Null;
      break;
  }
}

}  // namespace

std::string EmitManifest(const Manifest& m) {
  MapOut top(m.original);
  top.Str("apiVersion", m.api_version, true);
  top.Str("kind", m.kind, true);
  top.Put("metadata", EmitMetadata(m.metadata, top.Orig("metadata")));
  top.Put("spec", EmitSpec(m, top.Orig("spec")));
  top.PutUnlessEmpty("distribution", EmitDistribution(m.distribution, top.Orig("distribution")));
  top.PutUnlessEmpty("security", EmitSecurity(m.security, top.Orig("security")));
  YAML::Node doc = top.Finish();

  YAML::Emitter e;
  e.SetIndent(2);
  e.SetMapFormat(YAML::Block);
  e.SetSeqFormat(YAML::Block);
  EmitNode(e, doc);
  std::string out = e.c_str();
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

}  // namespace mlos::mpf
