#include "axon/ref.h"

#include <gtest/gtest.h>

namespace mlos::axon {
namespace {

struct RefCase {
  const char* text;
  const char* ns;
  const char* name;
  const char* version;
  bool version_given;
};

TEST(ModelRefTest, ParsesLikeTheOriginalAxon) {
  const RefCase cases[] = {
      {"hf/bert-base-uncased", "hf", "bert-base-uncased", "latest", false},
      {"hf/microsoft/resnet-50@1.0.0", "hf", "microsoft/resnet-50", "1.0.0", true},
      {"microsoft/resnet-50", "hf", "microsoft/resnet-50", "latest", false},  // hf is the catch-all
      {"bert-base-uncased@main", "hf", "bert-base-uncased", "main", true},
      {"ms/damo/nlp_model@v1.0", "modelscope", "damo/nlp_model", "v1.0", true},
      {"modelscope/damo/x", "modelscope", "damo/x", "latest", false},
      {"torch/vision/resnet50", "pytorch", "vision/resnet50", "latest", false},
      {"pytorch/vision/resnet50@v0.15.0", "pytorch", "vision/resnet50", "v0.15.0", true},
      {"tf/google/bert/tensorFlow2/en/3", "tfhub", "google/bert/tensorFlow2/en/3", "latest", false},
      {"kaggle/google/gemma/gguf/2b", "tfhub", "google/gemma/gguf/2b", "latest", false},
      {"hf/org/name@0123456789abcdef0123456789abcdef01234567", "hf", "org/name",
       "0123456789abcdef0123456789abcdef01234567", true},
      {"hf/org/name@1.0.0+build.5", "hf", "org/name", "1.0.0+build.5", true},
      {"hf", "hf", "hf", "latest", false},  // a lone known namespace is a repo name
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto r = ParseModelRef(c.text);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->ns, c.ns);
    EXPECT_EQ(r->name, c.name);
    EXPECT_EQ(r->version, c.version);
    EXPECT_EQ(r->version_given, c.version_given);
  }
}

TEST(ModelRefTest, RegistryNamespacesComeFromTheConfig) {
  auto plain = ParseModelRef("team/classifier@2.0.0");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->ns, "hf");
  auto reg = ParseModelRef("team/classifier@2.0.0", {"team"});
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg->ns, "team");
  EXPECT_EQ(reg->name, "classifier");
  EXPECT_EQ(reg->Id(), "team/classifier@2.0.0");
}

TEST(ModelRefTest, RejectsUnsafeOrMalformedRefs) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"hf/../etc", "invalid name segment \"..\""},
      {"hf/./x", "invalid name segment \".\""},
      {"hf//x", "invalid name segment \"\""},
      {"/abs", "invalid name segment \"\""},
      {"hf/x@", "invalid version \"\""},
      {"hf/x@a/b", "invalid version \"a/b\""},
      {"hf/x@..", "invalid version \"..\""},
      {"hf/na me", "invalid name segment \"na me\""},
      {"hf/x\\y", "invalid name segment"},
  };
  for (const auto& [text, msg] : cases) {
    SCOPED_TRACE(text);
    auto r = ParseModelRef(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(msg), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace mlos::axon
