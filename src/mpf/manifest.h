// MPF manifest: the schema of manifest.yaml, its parser, validator and writer.
//
// Compatible with the original Axon's manifest (apiVersion, kind, metadata, spec.framework,
// spec.format{type, execution_format, files, execution_files}, spec.io, spec.requirements,
// spec.performance, spec.dependencies, distribution) plus the MLOS `security` section and
// version constraints in spec.dependencies.models. Unknown fields are preserved on rewrite.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/status.h"

namespace mlos::mpf {

inline constexpr const char* kApiVersion = "axon.mlos.io/v1";
inline constexpr const char* kKind = "Model";

struct Author {
  std::string name, email, organization;
};

struct Metadata {
  std::string name;       // required; may contain '/', e.g. "microsoft/resnet-50"
  std::string namespace_; // required; "hf", "modelscope", "pytorch", "tfhub", "local", ...
  std::string version;    // required; semver, a hub revision, or "latest" (legacy, warning)
  std::string description;
  std::vector<Author> authors;
  std::string license, homepage, documentation, created, updated;
  std::vector<std::string> tags;
  std::string pipeline_tag;  // MLOS: hub pipeline, e.g. "image-classification"
  std::string source;        // MLOS: where it came from, e.g. "hf://org/name@<commit>"
};

struct Framework {
  std::string name;  // "onnx", "pytorch", "gguf", "tensorflow", "transformers", ...
  std::string version;
};

struct FileEntry {
  std::string path;   // relative, no "..", no leading '/'
  uint64_t size = 0;
  std::string sha256; // 64 lowercase hex; empty only in legacy manifests (warning)
};

struct ExecutionFile {
  std::string path;
  std::string format;  // onnx | gguf | torchscript | tflite | coreml | ...
  std::string type;    // single | encoder | decoder | text_encoder | vision_encoder
};

struct Format {
  std::string type;               // the package's source format, e.g. "onnx", "pytorch"
  std::string execution_format;   // onnx | gguf | torchscript | tflite | none
  bool multi_encoder = false;
  std::vector<FileEntry> files;
  std::vector<ExecutionFile> execution_files;
};

// Element types allowed in spec.io (the ONNX/KServe set).
// float32 float64 float16 bfloat16 int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool string
bool IsKnownDtype(const std::string& dtype);

struct Preprocessing {
  std::string type, tokenizer, tokenizer_type;
  YAML::Node config;  // free-form
};

struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;  // -1 = dynamic; empty = scalar
  std::string description;
  std::optional<Preprocessing> preprocessing;
};

struct Io {
  std::vector<TensorSpec> inputs, outputs;
};

struct Requirements {
  // compute.cpu
  int min_cores = 0, recommended_cores = 0;
  // compute.memory (GiB, may be fractional)
  double memory_min_gb = 0, memory_recommended_gb = 0;
  // compute.gpu
  bool gpu_required = false, gpu_recommended = false;
  double gpu_min_vram_gb = 0;
  std::string cuda_version;
  // storage
  double storage_min_gb = 0, storage_recommended_gb = 0;
};

// spec.resources: how the resource manager treats the model unless the server's config says
// otherwise (docs/resources.md).
struct Resources {
  std::optional<int64_t> keep_alive_ms;  // spec.resources.keep_alive (wire::ParseKeepAlive); -1 = never
  int priority = 0;                      // spec.resources.priority: 1 (highest) .. ; 0 = unset
};

struct ModelDependency {
  std::string id;          // "ns/name" (no version) or "ns/name@version"
  std::string constraint;  // e.g. ">=1.2.0 <2.0.0", "^1.2", "~1.4.0", "=1.0.0"; empty = any
};

struct PackageDependency {
  std::string name, version;
};

struct Dependencies {
  std::vector<ModelDependency> models;  // entries may be a plain string "ns/name@ver" in YAML
  std::vector<PackageDependency> packages;
};

struct Distribution {
  std::string package_url;
  uint64_t package_size = 0;
  std::string package_sha256;
  std::vector<std::string> mirrors;
  std::string registry_url, registry_namespace;
};

enum class SandboxMode { kNone, kProcess, kStrict };

struct Security {
  std::vector<std::string> allowed_principals;  // security.access.principals
  std::vector<std::string> allowed_roles;       // security.access.roles
  int max_concurrency = 0;                      // security.quotas.max_concurrency, 0 = unlimited
  double rate_limit = 0;                        // security.quotas.rate_limit (requests/s), 0 = none
  uint64_t max_memory = 0;                      // security.quotas.max_memory in bytes ("2GiB" ok)
  SandboxMode sandbox = SandboxMode::kNone;     // security.sandbox: none | process | strict
};

// spec.llm: what a GGUF language or embedding model is (axon fills it from the GGUF metadata).
struct Llm {
  std::string architecture;       // general.architecture
  uint64_t context_length = 0;
  uint64_t embedding_length = 0;
  uint64_t parameter_count = 0;
  std::string quantization;       // "Q4_K_M", "Q8_0", "F16", ...
  std::string chat_template;      // tokenizer.chat_template ("" = none)
  bool embedding = false;         // true: an embedding model (pooling), not a generator
};

struct Manifest {
  std::string api_version = kApiVersion;
  std::string kind = kKind;
  Metadata metadata;
  Framework framework;
  Format format;
  Io io;
  Requirements requirements;
  Resources resources;
  YAML::Node performance;  // spec.performance, free-form
  Dependencies dependencies;
  Distribution distribution;
  Security security;
  std::optional<Llm> llm;  // spec.llm

  // The document as parsed. Emit() starts from it so fields this struct does not model are
  // preserved; fields it models are overwritten from the struct.
  YAML::Node original;

  std::string Id() const { return metadata.namespace_ + "/" + metadata.name + "@" + metadata.version; }
};

struct ParseOptions {
  // Legacy manifests (apiVersion v1, version "latest", empty file hashes) are errors instead of
  // warnings.
  bool strict = false;
};

// Parses and validates. On failure the status message names the field path and the problem,
// e.g. `spec.io.inputs[1].dtype: unknown dtype "flaot32"`. Several problems are joined with "; ".
// Warnings (legacy forms accepted when !strict) are appended to *warnings when given.
Result<Manifest> ParseManifest(const std::string& yaml_text, const ParseOptions& options = {},
                               std::vector<std::string>* warnings = nullptr);
Result<Manifest> LoadManifestFile(const std::string& path, const ParseOptions& options = {},
                                  std::vector<std::string>* warnings = nullptr);

// Validates a manifest built in code (same rules and messages as ParseManifest).
Status ValidateManifest(const Manifest& m, const ParseOptions& options = {},
                        std::vector<std::string>* warnings = nullptr);

// Serialises to YAML (keys in the canonical order, unknown fields from `original` kept).
std::string EmitManifest(const Manifest& m);

// Parses a byte size as security.quotas.max_memory accepts it: a non-negative integer (bytes) or
// a number with a unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024), e.g.
// "512MiB", "2GiB", "1GB", "1.5GiB" (fractions are rounded down to whole bytes).
Result<uint64_t> ParseByteSize(const std::string& text);

// "none", "process" or "strict".
const char* SandboxModeName(SandboxMode mode);

// Version constraint check used for spec.dependencies.models ("" matches anything).
// Supports: "1.2.3", "=1.2.3", ">=1.2", ">1", "<2.0.0", "<=", "^1.2.0", "~1.4", and
// space-separated conjunctions. Returns InvalidArgument for a malformed constraint.
Result<bool> VersionSatisfies(const std::string& version, const std::string& constraint);
bool IsSemver(const std::string& version);

}  // namespace mlos::mpf
