// spec.llm: parse, validate (messages name the path), emit, and round trips (a chat template with
// newlines, quotes, Jinja braces and non-ASCII text survives byte for byte).
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mpf/manifest.h"

namespace mlos::mpf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Doc(const std::string& llm_block) {
  return "apiVersion: axon.mlos.io/v1\n"
         "kind: Model\n"
         "metadata:\n  name: m\n  namespace: local\n  version: 1.0.0\n"
         "spec:\n  framework:\n    name: gguf\n" +
         llm_block;
}

std::string ErrorOf(const std::string& yaml) {
  Result<Manifest> m = ParseManifest(yaml);
  if (m.ok()) return "<ok>";
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  return m.status().message();
}

const char* kTemplate =
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] }}"
    "{% endfor %}\n{% if add_generation_prompt %}<|assistant|>\n  {% endif %} \"q\" 'x' é: #1\t";

Manifest Built() {
  Manifest m;
  m.metadata.name = "tiny";
  m.metadata.namespace_ = "local";
  m.metadata.version = "1.0.0";
  m.framework.name = "gguf";
  m.format.execution_format = "gguf";
  Llm l;
  l.architecture = "llama";
  l.context_length = 4096;
  l.embedding_length = 2048;
  l.parameter_count = 1100048384;
  l.quantization = "Q4_K_M";
  l.chat_template = kTemplate;
  l.embedding = false;
  m.llm = l;
  return m;
}

TEST(ManifestLlmTest, ParsesEveryField) {
  auto m = ParseManifest(Doc("  llm:\n"
                             "    architecture: llama\n"
                             "    context_length: 2048\n"
                             "    embedding_length: 64\n"
                             "    parameter_count: 123456789012\n"
                             "    quantization: Q8_0\n"
                             "    chat_template: \"{{ messages }}\\n\"\n"
                             "    embedding: false\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->llm.has_value());
  EXPECT_EQ(m->llm->architecture, "llama");
  EXPECT_EQ(m->llm->context_length, 2048u);
  EXPECT_EQ(m->llm->embedding_length, 64u);
  EXPECT_EQ(m->llm->parameter_count, 123456789012u);
  EXPECT_EQ(m->llm->quantization, "Q8_0");
  EXPECT_EQ(m->llm->chat_template, "{{ messages }}\n");
  EXPECT_FALSE(m->llm->embedding);
}

TEST(ManifestLlmTest, AbsentOrNullMeansNoLlmAndOnlyArchitectureIsRequired) {
  auto m = ParseManifest(Doc(""));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->llm.has_value());
  m = ParseManifest(Doc("  llm: ~\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->llm.has_value());
  m = ParseManifest(Doc("  llm:\n    architecture: bert\n    embedding: yes\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->llm.has_value());
  EXPECT_TRUE(m->llm->embedding);
  EXPECT_EQ(m->llm->context_length, 0u);
  EXPECT_EQ(m->llm->chat_template, "");
}

TEST(ManifestLlmTest, ErrorsNameThePath) {
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: llama\n    context_length: -1\n")),
            "spec.llm.context_length: must be a non-negative integer (got \"-1\")");
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: llama\n    embedding_length: 1.5\n")),
            "spec.llm.embedding_length: must be a non-negative integer (got \"1.5\")");
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: llama\n    parameter_count: [1]\n")),
            "spec.llm.parameter_count: must be a non-negative integer");
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: llama\n    embedding: maybe\n")),
            "spec.llm.embedding: expected true or false (got \"maybe\")");
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    context_length: 10\n")), "spec.llm.architecture: required");
  EXPECT_EQ(ErrorOf(Doc("  llm: [llama]\n")), "spec.llm: expected a mapping");
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: {a: 1}\n")),
            "spec.llm.architecture: expected a string");
  EXPECT_THAT(ErrorOf(Doc("  llm:\n    architecture: \"ll ama\"\n")),
              HasSubstr("spec.llm.architecture: invalid architecture \"ll ama\""));
  EXPECT_THAT(ErrorOf(Doc("  llm:\n    architecture: llama\n    quantization: Q4 K\n")),
              HasSubstr("spec.llm.quantization: invalid quantization \"Q4 K\""));
  EXPECT_EQ(ErrorOf(Doc("  llm:\n    architecture: llama\n    context_length: "
                        "99999999999999999999999\n")),
            "spec.llm.context_length: must be a non-negative integer (got "
            "\"99999999999999999999999\")");
  // Two problems: both reported.
  std::string both = ErrorOf(Doc("  llm:\n    context_length: x\n"));
  EXPECT_THAT(both, HasSubstr("spec.llm.context_length: must be a non-negative integer"));
  EXPECT_THAT(both, HasSubstr("spec.llm.architecture: required"));
}

TEST(ManifestLlmTest, ValidateInCodeSameRules) {
  Manifest m = Built();
  EXPECT_TRUE(ValidateManifest(m).ok());
  m.llm->architecture.clear();
  m.llm->chat_template.assign((1 << 20) + 1, 'x');
  Status st = ValidateManifest(m);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("spec.llm.architecture: required"));
  EXPECT_THAT(st.message(), HasSubstr("spec.llm.chat_template: longer than 1048576 bytes"));
}

TEST(ManifestLlmTest, EmitThenParseRoundTripsExactly) {
  const Manifest m = Built();
  std::string yaml = EmitManifest(m);
  EXPECT_THAT(yaml, HasSubstr("  llm:\n    architecture: llama\n    context_length: 4096\n"));
  EXPECT_THAT(yaml, HasSubstr("    embedding: false\n"));
  auto back = ParseManifest(yaml, {.strict = false});
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << yaml;
  ASSERT_TRUE(back->llm.has_value());
  EXPECT_EQ(back->llm->architecture, m.llm->architecture);
  EXPECT_EQ(back->llm->context_length, m.llm->context_length);
  EXPECT_EQ(back->llm->embedding_length, m.llm->embedding_length);
  EXPECT_EQ(back->llm->parameter_count, m.llm->parameter_count);
  EXPECT_EQ(back->llm->quantization, m.llm->quantization);
  EXPECT_EQ(back->llm->chat_template, kTemplate);
  EXPECT_EQ(back->llm->embedding, m.llm->embedding);
  // Stable: emitting the parsed manifest gives the same bytes.
  EXPECT_EQ(EmitManifest(*back), yaml);

  // An embedding model with no chat template.
  Manifest e = Built();
  e.llm->architecture = "nomic-bert";
  e.llm->chat_template.clear();
  e.llm->quantization = "F16";
  e.llm->embedding = true;
  auto eback = ParseManifest(EmitManifest(e));
  ASSERT_TRUE(eback.ok()) << eback.status().ToString();
  EXPECT_TRUE(eback->llm->embedding);
  EXPECT_EQ(eback->llm->chat_template, "");
  EXPECT_EQ(eback->llm->quantization, "F16");
}

TEST(ManifestLlmTest, RewriteKeepsUnknownLlmKeysAndDropsAClearedSection) {
  auto m = ParseManifest(Doc("  llm:\n    architecture: qwen2\n    rope_scaling: yarn\n"
                             "    context_length: 32768\n"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  m->llm->context_length = 8192;
  std::string yaml = EmitManifest(*m);
  EXPECT_THAT(yaml, HasSubstr("context_length: 8192"));
  EXPECT_THAT(yaml, HasSubstr("rope_scaling: yarn"));
  m->llm.reset();
  yaml = EmitManifest(*m);
  EXPECT_THAT(yaml, Not(HasSubstr("llm")));
  auto back = ParseManifest(yaml);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->llm.has_value());
}

TEST(ManifestLlmTest, NoLlmSectionIsNotWritten) {
  Manifest m = Built();
  m.llm.reset();
  EXPECT_THAT(EmitManifest(m), Not(HasSubstr("llm")));
}

}  // namespace
}  // namespace mlos::mpf
