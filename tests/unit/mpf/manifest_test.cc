// ParseManifest / ValidateManifest / EmitManifest: valid and invalid manifests, legacy forms,
// round trips with unknown fields, the security section and dependencies.
#include "mpf/manifest.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mlos::mpf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kFixtures = std::string(MLOS_SOURCE_DIR) + "/tests/fixtures/manifests/";

constexpr const char* kSha1 = "0000000000000000000000000000000000000000000000000000000000000001";
constexpr const char* kSha2 = "0000000000000000000000000000000000000000000000000000000000000002";

std::string Indent(const std::string& block) {
  std::string out, line;
  for (char c : block) {
    line += c;
    if (c == '\n') {
      out += "  " + line;
      line.clear();
    }
  }
  if (!line.empty()) out += "  " + line + "\n";
  return out;
}

const char* kDefaultMetadata = "name: m\nnamespace: local\nversion: 1.0.0\n";
const char* kDefaultSpec = "framework:\n  name: onnx\n";

// A manifest with the given metadata and spec blocks (written at indentation 0) and extra
// top-level text.
std::string Doc(const std::string& metadata = kDefaultMetadata,
                const std::string& spec = kDefaultSpec, const std::string& top = "") {
  return "apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n" + Indent(metadata) + "spec:\n" +
         Indent(spec) + top;
}

std::string Spec(const std::string& extra) {
  return std::string(kDefaultSpec) + extra;
}

std::string ErrorOf(const std::string& yaml, ParseOptions options = {}) {
  Result<Manifest> m = ParseManifest(yaml, options);
  if (m.ok()) return "<ok>";
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  return m.status().message();
}

// The modelled content only (original dropped): equal strings = equal modelled values.
std::string Modelled(Manifest m) {
  m.original.reset();  // not `=`: that would write through to the node shared with the source
  return EmitManifest(m);
}

TEST(ManifestParseTest, FullFixture) {
  std::vector<std::string> warnings;
  Result<Manifest> r = LoadManifestFile(kFixtures + "full.yaml", {.strict = true}, &warnings);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(warnings.empty());
  const Manifest& m = *r;
  EXPECT_EQ(m.api_version, "axon.mlos.io/v1");
  EXPECT_EQ(m.kind, "Model");
  EXPECT_EQ(m.Id(), "hf/microsoft/resnet-50@1.0.0");
  EXPECT_EQ(m.metadata.description, "ResNet-50 image classifier");
  ASSERT_EQ(m.metadata.authors.size(), 1u);
  EXPECT_EQ(m.metadata.authors[0].name, "Jane Doe");
  EXPECT_EQ(m.metadata.authors[0].email, "jane@example.com");
  EXPECT_EQ(m.metadata.authors[0].organization, "Example Labs");
  EXPECT_EQ(m.metadata.license, "apache-2.0");
  EXPECT_EQ(m.metadata.created, "2024-01-01T00:00:00Z");
  EXPECT_EQ(m.metadata.tags, (std::vector<std::string>{"vision", "classification"}));
  EXPECT_EQ(m.metadata.pipeline_tag, "image-classification");
  EXPECT_EQ(m.metadata.source, "hf://microsoft/resnet-50@0123456789abcdef");
  EXPECT_EQ(m.framework.name, "onnx");
  EXPECT_EQ(m.framework.version, "1.17");
  EXPECT_EQ(m.format.type, "onnx");
  EXPECT_EQ(m.format.execution_format, "onnx");
  EXPECT_FALSE(m.format.multi_encoder);
  ASSERT_EQ(m.format.files.size(), 2u);
  EXPECT_EQ(m.format.files[1].path, "config/config.json");
  EXPECT_EQ(m.format.files[1].size, 512u);
  EXPECT_EQ(m.format.files[1].sha256, kSha2);
  ASSERT_EQ(m.format.execution_files.size(), 1u);
  EXPECT_EQ(m.format.execution_files[0].path, "model.onnx");
  EXPECT_EQ(m.format.execution_files[0].type, "single");
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "pixel_values");
  EXPECT_EQ(m.io.inputs[0].shape, (std::vector<int64_t>{-1, 3, 224, 224}));
  ASSERT_TRUE(m.io.inputs[0].preprocessing.has_value());
  EXPECT_EQ(m.io.inputs[0].preprocessing->type, "image");
  EXPECT_EQ(m.io.inputs[0].preprocessing->config["resize"].as<int>(), 256);
  EXPECT_FALSE(m.io.outputs[0].preprocessing.has_value());
  EXPECT_EQ(m.requirements.min_cores, 2);
  EXPECT_EQ(m.requirements.recommended_cores, 4);
  EXPECT_DOUBLE_EQ(m.requirements.memory_min_gb, 1.5);
  EXPECT_DOUBLE_EQ(m.requirements.memory_recommended_gb, 4);
  EXPECT_FALSE(m.requirements.gpu_required);
  EXPECT_TRUE(m.requirements.gpu_recommended);
  EXPECT_DOUBLE_EQ(m.requirements.gpu_min_vram_gb, 2);
  EXPECT_EQ(m.requirements.cuda_version, "11.8");
  EXPECT_DOUBLE_EQ(m.requirements.storage_min_gb, 0.5);
  EXPECT_EQ(m.performance["inference_time"].as<std::string>(), "12ms");
  EXPECT_EQ(m.distribution.package_size, 2048000u);
  EXPECT_EQ(m.distribution.mirrors.size(), 1u);
  EXPECT_EQ(m.distribution.registry_namespace, "hf");
}

TEST(ManifestParseTest, MinimalFixtureAndDefaults) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "minimal.yaml", {.strict = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Id(), "local/tiny@0.1.0");
  EXPECT_TRUE(r->format.files.empty());
  EXPECT_EQ(r->security.sandbox, SandboxMode::kNone);
  EXPECT_EQ(r->security.max_memory, 0u);
}

TEST(ManifestParseTest, DependenciesStringAndMapForms) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "full.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Dependencies& d = r->dependencies;
  ASSERT_EQ(d.models.size(), 3u);
  EXPECT_EQ(d.models[0].id, "hf/microsoft/resnet-tokenizer@1.0.0");
  EXPECT_EQ(d.models[0].constraint, "");
  EXPECT_EQ(d.models[1].id, "hf/org/base");
  EXPECT_EQ(d.models[1].constraint, "^1.2");
  EXPECT_EQ(d.models[2].id, "hf/org/any");
  EXPECT_EQ(d.models[2].constraint, "");
  ASSERT_EQ(d.packages.size(), 1u);
  EXPECT_EQ(d.packages[0].name, "onnxruntime");
  EXPECT_EQ(d.packages[0].version, ">=1.17");

  // Written back in the form they were read: plain strings stay strings.
  YAML::Node out = YAML::Load(EmitManifest(*r));
  YAML::Node models = out["spec"]["dependencies"]["models"];
  ASSERT_TRUE(models.IsSequence());
  EXPECT_TRUE(models[0].IsScalar());
  EXPECT_EQ(models[0].Scalar(), "hf/microsoft/resnet-tokenizer@1.0.0");
  EXPECT_TRUE(models[1].IsMap());
  EXPECT_EQ(models[1]["version"].Scalar(), "^1.2");

  // A dependency given a constraint in code becomes a mapping.
  Manifest m = *r;
  m.dependencies.models[2].constraint = ">=2.0.0 <3";
  out = YAML::Load(EmitManifest(m));
  EXPECT_EQ(out["spec"]["dependencies"]["models"][2]["id"].Scalar(), "hf/org/any");
  EXPECT_EQ(out["spec"]["dependencies"]["models"][2]["version"].Scalar(), ">=2.0.0 <3");
}

TEST(ManifestParseTest, SecuritySection) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "full.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Security& s = r->security;
  EXPECT_EQ(s.allowed_principals, (std::vector<std::string>{"alice", "service:ci"}));
  EXPECT_EQ(s.allowed_roles, (std::vector<std::string>{"ml-engineer"}));
  EXPECT_EQ(s.max_concurrency, 8);
  EXPECT_DOUBLE_EQ(s.rate_limit, 12.5);
  EXPECT_EQ(s.max_memory, 2ull << 30);
  EXPECT_EQ(s.sandbox, SandboxMode::kProcess);

  struct Case {
    const char* yaml;
    uint64_t max_memory;
    SandboxMode sandbox;
  };
  const Case cases[] = {
      {"security:\n  quotas:\n    max_memory: 1048576\n", 1048576, SandboxMode::kNone},
      {"security:\n  quotas:\n    max_memory: 512MiB\n", 512ull << 20, SandboxMode::kNone},
      {"security:\n  quotas:\n    max_memory: 1GB\n  sandbox: strict\n", 1000000000ull,
       SandboxMode::kStrict},
      {"security:\n  sandbox: none\n", 0, SandboxMode::kNone},
      {"security:\n  sandbox: process\n", 0, SandboxMode::kProcess},
  };
  for (const Case& c : cases) {
    Result<Manifest> m = ParseManifest(Doc(kDefaultMetadata, kDefaultSpec, c.yaml));
    ASSERT_TRUE(m.ok()) << c.yaml << m.status().ToString();
    EXPECT_EQ(m->security.max_memory, c.max_memory) << c.yaml;
    EXPECT_EQ(m->security.sandbox, c.sandbox) << c.yaml;
  }
}

TEST(ManifestParseTest, ByteSizes) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  const Case ok[] = {{"0", 0},
                     {"123", 123},
                     {"10B", 10},
                     {"1KB", 1000},
                     {"1KiB", 1024},
                     {"3MB", 3000000},
                     {"512MiB", 512ull << 20},
                     {"1GB", 1000000000ull},
                     {"2GiB", 2ull << 30},
                     {"1.5GiB", 3ull << 29},
                     {"2 GiB", 2ull << 30},
                     {"1TiB", 1ull << 40}};
  for (const Case& c : ok) {
    Result<uint64_t> r = ParseByteSize(c.text);
    ASSERT_TRUE(r.ok()) << c.text;
    EXPECT_EQ(*r, c.bytes) << c.text;
  }
  for (const char* bad : {"", "lots", "-1", "1XB", "GiB", "1.", ".5GiB", "1gib", "1e3",
                          "99999999999999999999", "20000000TiB"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(ManifestParseTest, InvalidManifests) {
  struct Case {
    const char* name;
    std::string yaml;
    std::string want;  // substring of the error message
  };
  const std::string io2 =
      "io:\n  inputs:\n    - name: a\n      dtype: float32\n      shape: [1]\n"
      "    - name: b\n      dtype: flaot32\n      shape: [1]\n";
  const std::string files3 = std::string("format:\n  files:\n") +
                             "    - {path: a.onnx, size: 1, sha256: " + kSha1 + "}\n" +
                             "    - {path: b.onnx, size: 1, sha256: " + kSha2 + "}\n" +
                             "    - {path: ../x, size: 1, sha256: " + kSha2 + "}\n";
  const Case cases[] = {
      {"name required", Doc("namespace: local\nversion: 1.0.0\n"), "metadata.name: required"},
      {"namespace required", Doc("name: m\nversion: 1.0.0\n"), "metadata.namespace: required"},
      {"version required", Doc("name: m\nnamespace: local\n"), "metadata.version: required"},
      {"metadata missing",
       "apiVersion: axon.mlos.io/v1\nkind: Model\nspec:\n  framework:\n    name: onnx\n",
       "metadata.name: required"},
      {"bad name", Doc("name: ../x\nnamespace: local\nversion: 1.0.0\n"),
       "metadata.name: invalid name \"../x\""},
      {"bad namespace", Doc("name: m\nnamespace: a/b\nversion: 1.0.0\n"),
       "metadata.namespace: invalid namespace \"a/b\""},
      {"bad version", Doc("name: m\nnamespace: local\nversion: 1.0 beta\n"),
       "metadata.version: invalid version \"1.0 beta\""},
      {"metadata not a map", Doc("[1, 2]\n"), "metadata: expected a mapping"},
      {"tags not a sequence", Doc(std::string(kDefaultMetadata) + "tags: vision\n"),
       "metadata.tags: expected a sequence"},
      {"tag not a string", Doc(std::string(kDefaultMetadata) + "tags: [a, [b]]\n"),
       "metadata.tags[1]: expected a string"},
      {"author not a map", Doc(std::string(kDefaultMetadata) + "authors: [bob]\n"),
       "metadata.authors[0]: expected a mapping"},
      {"api version", "apiVersion: axon.mlos.io/v2\n" + Doc().substr(Doc().find('\n') + 1),
       "apiVersion: unsupported \"axon.mlos.io/v2\""},
      {"api version missing", Doc().substr(Doc().find('\n') + 1), "apiVersion: required"},
      {"kind",
       "apiVersion: axon.mlos.io/v1\nkind: Dataset\nmetadata:\n" + Indent(kDefaultMetadata) +
           "spec:\n" + Indent(kDefaultSpec),
       "kind: must be \"Model\" (got \"Dataset\")"},
      {"framework required", Doc(kDefaultMetadata, "format:\n  type: onnx\n"),
       "spec.framework.name: required"},
      {"spec not a map", Doc(kDefaultMetadata, "- a\n"), "spec: expected a mapping"},
      {"unknown dtype", Doc(kDefaultMetadata, Spec(io2)),
       "spec.io.inputs[1].dtype: unknown dtype \"flaot32\""},
      {"dtype alias rejected",
       Doc(kDefaultMetadata, Spec("io:\n  outputs:\n    - {name: y, dtype: float, shape: []}\n")),
       "spec.io.outputs[0].dtype: unknown dtype \"float\""},
      {"dtype required", Doc(kDefaultMetadata, Spec("io:\n  inputs:\n    - {name: x}\n")),
       "spec.io.inputs[0].dtype: required"},
      {"tensor name required",
       Doc(kDefaultMetadata, Spec("io:\n  inputs:\n    - {dtype: int64}\n")),
       "spec.io.inputs[0].name: required"},
      {"inputs not a sequence", Doc(kDefaultMetadata, Spec("io:\n  inputs: {name: x}\n")),
       "spec.io.inputs: expected a sequence"},
      {"io not a map", Doc(kDefaultMetadata, Spec("io: [1]\n")), "spec.io: expected a mapping"},
      {"duplicate tensor",
       Doc(kDefaultMetadata, Spec("io:\n  inputs:\n    - {name: x, dtype: int64}\n"
                                  "    - {name: x, dtype: int32}\n")),
       "spec.io.inputs[1].name: duplicate tensor name \"x\" (also in spec.io.inputs[0])"},
      {"shape below -1",
       Doc(kDefaultMetadata,
           Spec("io:\n  inputs:\n    - {name: x, dtype: int64, shape: [1, -2]}\n")),
       "spec.io.inputs[0].shape[1]: must be -1 (dynamic) or >= 0 (got -2)"},
      {"shape not an integer",
       Doc(kDefaultMetadata, Spec("io:\n  inputs:\n    - {name: x, dtype: int64, shape: [abc]}\n")),
       "spec.io.inputs[0].shape[0]: expected an integer (got \"abc\")"},
      {"shape not a sequence",
       Doc(kDefaultMetadata, Spec("io:\n  inputs:\n    - {name: x, dtype: int64, shape: 3}\n")),
       "spec.io.inputs[0].shape: expected a sequence"},
      {"bad sha256",
       Doc(kDefaultMetadata, Spec("format:\n  files:\n    - {path: a, size: 1, sha256: zz}\n")),
       "spec.format.files[0].sha256: not a sha256 hex digest \"zz\""},
      {"uppercase sha256",
       Doc(kDefaultMetadata, Spec("format:\n  files:\n    - {path: a, size: 1, sha256: ABCDEF" +
                                  std::string(58, '0') + "}\n")),
       "spec.format.files[0].sha256: not a sha256 hex digest"},
      {"unsafe path", Doc(kDefaultMetadata, Spec(files3)),
       "spec.format.files[2].path: unsafe path \"../x\""},
      {"absolute path",
       Doc(kDefaultMetadata, Spec("format:\n  files:\n    - {path: /etc/passwd, size: 1, sha256: " +
                                  std::string(kSha1) + "}\n")),
       "spec.format.files[0].path: unsafe path \"/etc/passwd\""},
      {"file path required",
       Doc(kDefaultMetadata,
           Spec("format:\n  files:\n    - {size: 1, sha256: " + std::string(kSha1) + "}\n")),
       "spec.format.files[0].path: required"},
      {"duplicate file",
       Doc(kDefaultMetadata,
           Spec("format:\n  files:\n    - {path: a.onnx, size: 1, sha256: " + std::string(kSha1) +
                "}\n    - {path: a.onnx, size: 2, sha256: " + std::string(kSha2) + "}\n")),
       "spec.format.files[1].path: duplicate path \"a.onnx\" (also in spec.format.files[0])"},
      {"negative size",
       Doc(kDefaultMetadata, Spec("format:\n  files:\n    - {path: a, size: -1, sha256: " +
                                  std::string(kSha1) + "}\n")),
       "spec.format.files[0].size: expected a non-negative integer (got \"-1\")"},
      {"files not a sequence", Doc(kDefaultMetadata, Spec("format:\n  files: a.onnx\n")),
       "spec.format.files: expected a sequence"},
      {"execution file not listed",
       Doc(kDefaultMetadata,
           Spec("format:\n  files:\n    - {path: a.onnx, size: 1, sha256: " + std::string(kSha1) +
                "}\n  execution_files:\n    - {path: b.onnx, format: onnx}\n")),
       "spec.format.execution_files[0].path: \"b.onnx\" is not listed in spec.format.files"},
      {"execution file unsafe",
       Doc(kDefaultMetadata, Spec("format:\n  execution_files:\n    - {path: ../b.onnx}\n")),
       "spec.format.execution_files[0].path: unsafe path \"../b.onnx\""},
      {"execution file type",
       Doc(kDefaultMetadata, Spec("format:\n  execution_files:\n    - {path: b.onnx, type: x}\n")),
       "spec.format.execution_files[0].type: must be one of single, encoder, decoder, "
       "text_encoder, vision_encoder (got \"x\")"},
      {"multi_encoder not bool", Doc(kDefaultMetadata, Spec("format:\n  multi_encoder: maybe\n")),
       "spec.format.multi_encoder: expected true or false (got \"maybe\")"},
      {"gpu.required not bool",
       Doc(kDefaultMetadata, Spec("requirements:\n  compute:\n    gpu:\n      required: [1]\n")),
       "spec.requirements.compute.gpu.required: expected true or false"},
      {"memory not a number",
       Doc(kDefaultMetadata, Spec("requirements:\n  compute:\n    memory:\n      min_gb: lots\n")),
       "spec.requirements.compute.memory.min_gb: expected a number (got \"lots\")"},
      {"negative cores",
       Doc(kDefaultMetadata, Spec("requirements:\n  compute:\n    cpu:\n      min_cores: -2\n")),
       "spec.requirements.compute.cpu.min_cores: must be >= 0"},
      {"storage not a map", Doc(kDefaultMetadata, Spec("requirements:\n  storage: 3\n")),
       "spec.requirements.storage: expected a mapping"},
      {"dependency id", Doc(kDefaultMetadata, Spec("dependencies:\n  models: [noslash]\n")),
       "spec.dependencies.models[0].id: invalid model id \"noslash\""},
      {"dependency id version",
       Doc(kDefaultMetadata, Spec("dependencies:\n  models: [\"a/b@bad version\"]\n")),
       "spec.dependencies.models[0].id: invalid model id \"a/b@bad version\""},
      {"dependency constraint",
       Doc(kDefaultMetadata, Spec("dependencies:\n  models:\n    - {id: a/b, version: ^^1}\n")),
       "spec.dependencies.models[0].version: malformed version constraint \"^^1\""},
      {"dependency both versions",
       Doc(kDefaultMetadata,
           Spec("dependencies:\n  models:\n    - {id: a/b@1.0.0, version: \">=1\"}\n")),
       "spec.dependencies.models[0].version: the id \"a/b@1.0.0\" already names a version"},
      {"dependency id required",
       Doc(kDefaultMetadata, Spec("dependencies:\n  models:\n    - {version: \">=1\"}\n")),
       "spec.dependencies.models[0].id: required"},
      {"dependency wrong type",
       Doc(kDefaultMetadata, Spec("dependencies:\n  models:\n    - [a]\n")),
       "spec.dependencies.models[0]: expected a string \"namespace/name[@version]\" or a "
       "mapping {id, version}"},
      {"package name",
       Doc(kDefaultMetadata, Spec("dependencies:\n  packages:\n    - {version: \"1\"}\n")),
       "spec.dependencies.packages[0].name: required"},
      {"distribution sha256",
       Doc(kDefaultMetadata, kDefaultSpec, "distribution:\n  package:\n    sha256: abc\n"),
       "distribution.package.sha256: not a sha256 hex digest \"abc\""},
      {"distribution size",
       Doc(kDefaultMetadata, kDefaultSpec, "distribution:\n  package:\n    size: big\n"),
       "distribution.package.size: expected a non-negative integer (got \"big\")"},
      {"sandbox", Doc(kDefaultMetadata, kDefaultSpec, "security:\n  sandbox: docker\n"),
       "security.sandbox: must be one of none, process, strict (got \"docker\")"},
      {"sandbox type", Doc(kDefaultMetadata, kDefaultSpec, "security:\n  sandbox: [strict]\n"),
       "security.sandbox: expected a string"},
      {"max_memory",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  quotas:\n    max_memory: lots\n"),
       "security.quotas.max_memory: invalid byte size \"lots\""},
      {"max_concurrency type",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  quotas:\n    max_concurrency: many\n"),
       "security.quotas.max_concurrency: expected an integer (got \"many\")"},
      {"max_concurrency negative",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  quotas:\n    max_concurrency: -1\n"),
       "security.quotas.max_concurrency: must be >= 0"},
      {"rate_limit negative",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  quotas:\n    rate_limit: -0.5\n"),
       "security.quotas.rate_limit: must be a finite number >= 0"},
      {"principals type",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  access:\n    principals: alice\n"),
       "security.access.principals: expected a sequence"},
      {"empty role",
       Doc(kDefaultMetadata, kDefaultSpec, "security:\n  access:\n    roles: [\"\"]\n"),
       "security.access.roles[0]: empty role"},
      {"security not a map", Doc(kDefaultMetadata, kDefaultSpec, "security: strict\n"),
       "security: expected a mapping"},
      {"top level sequence", "- a\n- b\n", "manifest: expected a mapping at the top level"},
      {"empty document", "", "manifest: empty document"},
      {"syntax error", "apiVersion: v1\nmetadata: {name: x\n", "YAML syntax error at line "},
      {"bad indentation", "apiVersion: v1\n  kind: Model\n kind: x\n", "YAML syntax error"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ErrorOf(c.yaml), HasSubstr(c.want)) << c.name << "\n" << c.yaml;
  }
}

TEST(ManifestParseTest, SyntaxErrorNamesLineAndColumn) {
  std::string msg = ErrorOf("apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata: [a, b\n");
  EXPECT_THAT(msg, HasSubstr("YAML syntax error at line 4, column 1"));
  msg = ErrorOf("a: 1\nb: c: d\n");
  EXPECT_THAT(msg, HasSubstr("YAML syntax error at line 2, column 5"));
}

TEST(ManifestParseTest, ReportsAllProblemsJoined) {
  std::string yaml = Doc("namespace: local\nversion: 1.0.0\n",
                         Spec("io:\n  inputs:\n    - {name: x, dtype: flaot32}\n"),
                         "security:\n  sandbox: docker\n");
  std::string msg = ErrorOf(yaml);
  EXPECT_THAT(msg, HasSubstr("metadata.name: required"));
  EXPECT_THAT(msg, HasSubstr("spec.io.inputs[0].dtype: unknown dtype \"flaot32\""));
  EXPECT_THAT(msg, HasSubstr("security.sandbox: must be one of none, process, strict"));
  EXPECT_EQ(std::count(msg.begin(), msg.end(), ';'), 2) << msg;
}

TEST(ManifestParseTest, TypeErrorIsNotAlsoReportedAsMissing) {
  std::string msg = ErrorOf(Doc("name: [a]\nnamespace: local\nversion: 1.0.0\n"));
  EXPECT_EQ(msg, "metadata.name: expected a string");
  msg = ErrorOf(Doc("[1]\n"));
  EXPECT_EQ(msg, "metadata: expected a mapping");
  msg = ErrorOf(Doc(kDefaultMetadata, "framework: onnx\n"));
  EXPECT_EQ(msg, "spec.framework: expected a mapping");
}

TEST(ManifestParseTest, LegacyAxonManifestWarnsOrFailsInStrictMode) {
  std::vector<std::string> warnings;
  Result<Manifest> r = LoadManifestFile(kFixtures + "legacy_axon.yaml", {}, &warnings);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Id(), "hf/bert-base-uncased@latest");
  EXPECT_EQ(r->api_version, "v1");
  EXPECT_THAT(warnings, ::testing::UnorderedElementsAre(
                            HasSubstr("apiVersion: legacy apiVersion \"v1\""),
                            HasSubstr("metadata.version: \"latest\" is not a pinned version"),
                            HasSubstr("spec.format.files[0].sha256: empty"),
                            HasSubstr("spec.format.files[1].sha256: empty")));

  warnings.clear();
  Result<Manifest> strict =
      LoadManifestFile(kFixtures + "legacy_axon.yaml", {.strict = true}, &warnings);
  ASSERT_FALSE(strict.ok());
  const std::string& msg = strict.status().message();
  EXPECT_THAT(msg, HasSubstr("legacy_axon.yaml: "));  // errors from a file name the file
  EXPECT_THAT(msg, HasSubstr("apiVersion: legacy apiVersion \"v1\" not accepted in strict mode"));
  EXPECT_THAT(msg, HasSubstr("metadata.version: \"latest\" is not a pinned version"));
  EXPECT_THAT(msg, HasSubstr("spec.format.files[0].sha256: required"));
  EXPECT_THAT(msg, HasSubstr("spec.format.files[1].sha256: required"));
  EXPECT_TRUE(warnings.empty());
}

TEST(ManifestParseTest, VersionsAndKind) {
  struct Case {
    std::string version;
    bool warns;
  };
  // Semver and hub revision names are fine; "latest" warns.
  for (const Case& c : std::vector<Case>{{"1.0.0", false},
                                         {"2.1.0-rc.1+build.7", false},
                                         {"v1.0", false},
                                         {"main", false},
                                         {"0123456789abcdef0123456789abcdef01234567", false},
                                         {"2024_01.release-1", false},
                                         {"latest", true}}) {
    std::vector<std::string> warnings;
    Result<Manifest> r = ParseManifest(
        Doc("name: m\nnamespace: local\nversion: \"" + c.version + "\"\n"), {}, &warnings);
    ASSERT_TRUE(r.ok()) << c.version << ": " << r.status().ToString();
    EXPECT_EQ(r->metadata.version, c.version);
    EXPECT_EQ(warnings.size(), c.warns ? 1u : 0u) << c.version;
  }

  // A missing kind is read as Model with a warning; strict mode requires it.
  std::string no_kind = "apiVersion: axon.mlos.io/v1\nmetadata:\n" + Indent(kDefaultMetadata) +
                        "spec:\n" + Indent(kDefaultSpec);
  std::vector<std::string> warnings;
  Result<Manifest> r = ParseManifest(no_kind, {}, &warnings);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, "Model");
  EXPECT_THAT(warnings, ::testing::ElementsAre("kind: missing, assuming \"Model\""));
  EXPECT_EQ(ErrorOf(no_kind, {.strict = true}), "kind: required");
}

TEST(ManifestParseTest, ExecutionFilesWithoutFileListAreAccepted) {
  Result<Manifest> r =
      ParseManifest(Doc(kDefaultMetadata, Spec("format:\n  execution_files:\n    - {path: m.onnx, "
                                               "format: onnx, type: single}\n")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format.execution_files.size(), 1u);
}

TEST(ManifestParseTest, NullValuesReadAsAbsent) {
  Result<Manifest> r =
      ParseManifest(Doc(std::string(kDefaultMetadata) + "description:\ntags:\nauthors: ~\n",
                        Spec("io:\n  inputs:\n")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->metadata.description, "");
  EXPECT_TRUE(r->metadata.tags.empty());
  EXPECT_TRUE(r->io.inputs.empty());
}

TEST(ManifestValidateTest, BuiltInCodeSameRules) {
  Manifest m;
  m.metadata.name = "org/model";
  m.metadata.namespace_ = "hf";
  m.metadata.version = "1.2.0";
  m.framework.name = "onnx";
  m.format.files.push_back({"model.onnx", 10, kSha1});
  m.format.execution_files.push_back({"model.onnx", "onnx", "single"});
  m.io.inputs.push_back({"x", "float32", {-1, 4}, "", std::nullopt});
  std::vector<std::string> warnings;
  EXPECT_TRUE(ValidateManifest(m, {.strict = true}, &warnings).ok());
  EXPECT_TRUE(warnings.empty());

  m.io.inputs.push_back({"x", "flaot32", {-3}, "", std::nullopt});
  m.format.files.push_back({"../evil", 1, "zz"});
  m.security.max_concurrency = -1;
  Status s = ValidateManifest(m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("spec.io.inputs[1].name: duplicate tensor name \"x\""));
  EXPECT_THAT(s.message(), HasSubstr("spec.io.inputs[1].dtype: unknown dtype \"flaot32\""));
  EXPECT_THAT(s.message(), HasSubstr("spec.io.inputs[1].shape[0]: must be -1 (dynamic) or >= 0"));
  EXPECT_THAT(s.message(), HasSubstr("spec.format.files[1].path: unsafe path \"../evil\""));
  EXPECT_THAT(s.message(),
              HasSubstr("spec.format.files[1].sha256: not a sha256 hex digest \"zz\""));
  EXPECT_THAT(s.message(), HasSubstr("security.quotas.max_concurrency: must be >= 0"));

  Manifest empty;
  s = ValidateManifest(empty);
  EXPECT_THAT(s.message(), HasSubstr("metadata.name: required; metadata.namespace: required; "
                                     "metadata.version: required"));
}

TEST(ManifestParseTest, KnownDtypes) {
  for (const char* d : {"float32", "float64", "float16", "bfloat16", "int8", "int16", "int32",
                        "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string"}) {
    EXPECT_TRUE(IsKnownDtype(d)) << d;
  }
  for (const char* d : {"float", "double", "half", "fp32", "fp16", "Float32", "", "complex64"}) {
    EXPECT_FALSE(IsKnownDtype(d)) << d;
  }
}

TEST(ManifestParseTest, MissingFile) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "does-not-exist.yaml");
  EXPECT_FALSE(r.ok());
}

// ------------------------------------------------------------------------------------------
// EmitManifest

TEST(ManifestEmitTest, RoundTripKeepsUnknownFields) {
  Result<Manifest> first = LoadManifestFile(kFixtures + "unknown_fields.yaml", {.strict = true});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::string text = EmitManifest(*first);
  Result<Manifest> second = ParseManifest(text, {.strict = true});
  ASSERT_TRUE(second.ok()) << second.status().ToString() << "\n" << text;

  // Unknown fields at several levels survive.
  YAML::Node doc = YAML::Load(text);
  EXPECT_EQ(doc["x-top-level"]["keep"].Scalar(), "me");
  EXPECT_EQ(doc["x-top-level"]["list"][1].as<int>(), 2);
  EXPECT_EQ(doc["x-trailer"].Scalar(), "last");
  EXPECT_EQ(doc["metadata"]["labels"]["team"].Scalar(), "vision");
  EXPECT_EQ(doc["spec"]["framework"]["build"].Scalar(), "cuda");
  EXPECT_EQ(doc["spec"]["x-spec-extra"].as<int>(), 42);
  EXPECT_EQ(doc["spec"]["format"]["files"][0]["x-file-note"].Scalar(), "quantized");
  EXPECT_TRUE(doc["spec"]["format"]["files"][0]["compressed"].as<bool>());
  EXPECT_EQ(doc["spec"]["io"]["inputs"][0]["x-tensor-extra"].Scalar(), "yes");
  EXPECT_EQ(doc["security"]["x-policy"].Scalar(), "custom");

  // Modelled values equal.
  EXPECT_EQ(Modelled(*first), Modelled(*second));
  EXPECT_EQ(second->metadata.version, "2.1.0-rc.1");
  EXPECT_EQ(second->format.files[0].size, 4000000000u);
  EXPECT_EQ(second->security.sandbox, SandboxMode::kStrict);
  EXPECT_TRUE(second->io.inputs[0].shape.empty());

  // Canonical key order: modelled keys first, then unknown ones in their original order.
  std::vector<std::string> keys;
  for (auto it = doc.begin(); it != doc.end(); ++it) keys.push_back(it->first.Scalar());
  EXPECT_EQ(keys, (std::vector<std::string>{"apiVersion", "kind", "metadata", "spec", "security",
                                            "x-top-level", "x-trailer"}));
  std::vector<std::string> md_keys;
  for (auto it = doc["metadata"].begin(); it != doc["metadata"].end(); ++it) {
    md_keys.push_back(it->first.Scalar());
  }
  EXPECT_EQ(md_keys, (std::vector<std::string>{"name", "namespace", "version", "labels"}));

  // Emitting is a fixed point after one pass and byte-stable.
  EXPECT_EQ(EmitManifest(*second), text);
  EXPECT_EQ(EmitManifest(*first), text);
}

TEST(ManifestEmitTest, RoundTripFixtures) {
  for (const char* name :
       {"full.yaml", "legacy_axon.yaml", "minimal.yaml", "unknown_fields.yaml"}) {
    Result<Manifest> a = LoadManifestFile(kFixtures + name);
    ASSERT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    std::string text = EmitManifest(*a);
    Result<Manifest> b = ParseManifest(text);
    ASSERT_TRUE(b.ok()) << name << ": " << b.status().ToString() << "\n" << text;
    EXPECT_EQ(Modelled(*a), Modelled(*b)) << name;
    EXPECT_EQ(EmitManifest(*b), text) << name;
  }
}

TEST(ManifestEmitTest, KeepsFormattingOfUnchangedValues) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "full.yaml");
  ASSERT_TRUE(r.ok());
  std::string text = EmitManifest(*r);
  EXPECT_THAT(text, HasSubstr("max_memory: 2GiB"));
  EXPECT_THAT(text, HasSubstr("shape: [-1, 3, 224, 224]"));
  EXPECT_THAT(text, HasSubstr("version: \"1.17\""));  // a string that looks like a number
  EXPECT_THAT(text, HasSubstr("min_gb: 1.5"));

  // Legacy empty values that were present stay present.
  Result<Manifest> legacy = LoadManifestFile(kFixtures + "legacy_axon.yaml");
  ASSERT_TRUE(legacy.ok());
  YAML::Node doc = YAML::Load(EmitManifest(*legacy));
  EXPECT_TRUE(doc["spec"]["framework"]["version"].IsDefined());
  EXPECT_EQ(doc["spec"]["format"]["files"][0]["sha256"].Scalar(), "");
  EXPECT_EQ(doc["distribution"]["package"]["size"].as<int>(), 0);
  EXPECT_EQ(doc["apiVersion"].Scalar(), "v1");  // not silently upgraded
}

TEST(ManifestEmitTest, ChangesInTheStructWin) {
  Result<Manifest> r = LoadManifestFile(kFixtures + "unknown_fields.yaml");
  ASSERT_TRUE(r.ok());
  Manifest m = *r;
  m.metadata.version = "2.1.0";
  m.format.files[0].sha256 = std::string(64, 'a');
  m.format.files.push_back({"tokenizer.json", 12, std::string(64, 'b')});
  m.security.sandbox = SandboxMode::kProcess;
  m.security.max_memory = 512ull << 20;
  m.security.allowed_roles = {"admin"};
  m.metadata.tags = {"1.0", "true", "plain"};
  std::string text = EmitManifest(m);
  Result<Manifest> back = ParseManifest(text, {.strict = true});
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
  EXPECT_EQ(Modelled(m), Modelled(*back));
  EXPECT_EQ(back->metadata.version, "2.1.0");
  ASSERT_EQ(back->format.files.size(), 2u);
  EXPECT_EQ(back->format.files[0].sha256, std::string(64, 'a'));
  EXPECT_EQ(back->format.files[1].path, "tokenizer.json");
  EXPECT_EQ(back->security.sandbox, SandboxMode::kProcess);
  EXPECT_EQ(back->security.max_memory, 512ull << 20);
  EXPECT_EQ(back->security.allowed_roles, (std::vector<std::string>{"admin"}));
  EXPECT_EQ(back->metadata.tags, (std::vector<std::string>{"1.0", "true", "plain"}));
  YAML::Node doc = YAML::Load(text);
  // The unknown field of the first file stays with that file.
  EXPECT_EQ(doc["spec"]["format"]["files"][0]["x-file-note"].Scalar(), "quantized");
  EXPECT_FALSE(doc["spec"]["format"]["files"][1]["x-file-note"].IsDefined());
  EXPECT_EQ(doc["security"]["x-policy"].Scalar(), "custom");
  // Strings that look like other types are quoted so that any YAML reader gets strings.
  EXPECT_THAT(text, HasSubstr("\"true\""));
  EXPECT_THAT(text, HasSubstr("\"1.0\""));
}

TEST(ManifestEmitTest, ManifestBuiltInCode) {
  Manifest m;
  m.metadata.name = "org/model";
  m.metadata.namespace_ = "hf";
  m.metadata.version = "1.0";
  m.framework.name = "onnx";
  m.format.files.push_back({"model.onnx", 10, kSha1});
  m.io.inputs.push_back({"x", "float32", {-1, 4}, "", std::nullopt});
  m.dependencies.models.push_back({"hf/org/base", "^1.2"});
  m.dependencies.models.push_back({"hf/org/other@2.0.0", ""});
  m.security.max_concurrency = 4;
  m.security.rate_limit = 0.1;
  m.requirements.memory_min_gb = 0.3;
  ASSERT_TRUE(ValidateManifest(m, {.strict = true}).ok());
  std::string text = EmitManifest(m);
  EXPECT_EQ(text, EmitManifest(m));  // stable
  // Empty modelled fields that were never there are not written.
  EXPECT_THAT(text, Not(HasSubstr("description")));
  EXPECT_THAT(text, Not(HasSubstr("distribution")));
  EXPECT_THAT(text, Not(HasSubstr("sandbox")));
  EXPECT_THAT(text, Not(HasSubstr("outputs")));
  EXPECT_THAT(text, HasSubstr("rate_limit: 0.1\n"));
  EXPECT_THAT(text, HasSubstr("min_gb: 0.3\n"));
  EXPECT_EQ(text.rfind("apiVersion: axon.mlos.io/v1\nkind: Model\nmetadata:\n", 0), 0u) << text;

  Result<Manifest> back = ParseManifest(text, {.strict = true});
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
  EXPECT_EQ(Modelled(m), Modelled(*back));
  EXPECT_EQ(back->metadata.version, "1.0");
  EXPECT_EQ(back->dependencies.models[0].constraint, "^1.2");
  EXPECT_EQ(back->dependencies.models[1].id, "hf/org/other@2.0.0");
  EXPECT_DOUBLE_EQ(back->security.rate_limit, 0.1);
}

TEST(ManifestResourcesTest, SpecResourcesKeepAliveAndPriority) {
  auto m = ParseManifest(Doc(kDefaultMetadata, Spec("resources:\n  keep_alive: 5m\n  priority: 2\n")));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->resources.keep_alive_ms.has_value());
  EXPECT_EQ(*m->resources.keep_alive_ms, 300000);
  EXPECT_EQ(m->resources.priority, 2);
  auto none = ParseManifest(Doc());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->resources.keep_alive_ms.has_value());
  EXPECT_EQ(none->resources.priority, 0);
  // Kept on a rewrite.
  EXPECT_THAT(EmitManifest(*m), HasSubstr("keep_alive: 5m"));
  EXPECT_THAT(ErrorOf(Doc(kDefaultMetadata, Spec("resources:\n  keep_alive: soon\n"))),
              HasSubstr("spec.resources.keep_alive"));
  EXPECT_THAT(ErrorOf(Doc(kDefaultMetadata, Spec("resources:\n  priority: -1\n"))),
              HasSubstr("spec.resources.priority"));
}

}  // namespace
}  // namespace mlos::mpf
