// GGUF file names: quantisation tags, whole-token matching, split sets, and the choice of one
// variant (--quant, the default preference, the smallest; incomplete split sets refused).
#include "axon/hub/gguf_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlos::axon {
namespace {

using ::testing::HasSubstr;

std::vector<RemoteFile> Files(const std::vector<std::pair<std::string, uint64_t>>& entries) {
  std::vector<RemoteFile> out;
  for (const auto& [path, size] : entries) {
    RemoteFile f;
    f.path = path;
    f.size = size;
    out.push_back(f);
  }
  return out;
}

std::vector<std::string> Paths(const GgufVariant& v) {
  std::vector<std::string> out;
  for (const auto& f : v.files) out.push_back(f.path);
  return out;
}

TEST(GgufQuantTagTest, Table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "Q4_K_M"},
      {"Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"},
      {"qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"},
      {"qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"},
      {"sub/dir/model-f16.gguf", "F16"},
      {"model.BF16.gguf", "BF16"},
      {"Qwen3-0.6B-UD-Q4_K_XL.gguf", "Q4_K_XL"},
      {"model.IQ4_XS.gguf", "IQ4_XS"},
      {"model_q5_k_s.gguf", "Q5_K_S"},
      {"ggml-model-Q4_0_4_4.gguf", "Q4_0_4_4"},
      {"model-TQ1_0.gguf", "TQ1_0"},
      {"qwen2-1.5b.gguf", ""},
      {"Q4_K_M.gguf", "Q4_K_M"},
      {"mmproj-model-f16.gguf", "F16"},
      {"model.Q4_K_M.imatrix.gguf", "Q4_K_M"},
      {"Meta-Llama-3-8B-Instruct.gguf", ""},
  };
  for (const auto& [path, want] : cases) EXPECT_EQ(GgufQuantTag(path), want) << path;
}

TEST(GgufQuantMatchesTest, WholeTokenCaseInsensitive) {
  EXPECT_TRUE(GgufQuantMatches("llama.Q4_K_M.gguf", "q4_k_m"));
  EXPECT_TRUE(GgufQuantMatches("llama-q4_k_m.gguf", "Q4_K_M"));
  EXPECT_TRUE(GgufQuantMatches("llama_Q4_K_M.gguf", "Q4_K_M"));
  EXPECT_TRUE(GgufQuantMatches("m-Q4_K_M-00002-of-00003.gguf", "Q4_K_M"));
  EXPECT_TRUE(GgufQuantMatches("m-Q4_K_M-imat.gguf", "Q4_K_M"));
  EXPECT_TRUE(GgufQuantMatches("dir.Q8_0/m.Q8_0.gguf", "Q8_0"));
  EXPECT_FALSE(GgufQuantMatches("llama.Q4_K_M.gguf", "Q4_K"));   // not a prefix of a longer tag
  EXPECT_FALSE(GgufQuantMatches("llama.IQ4_XS.gguf", "Q4_XS"));  // not inside another tag
  EXPECT_FALSE(GgufQuantMatches("llama.Q4_K_M.gguf", ""));
  EXPECT_FALSE(GgufQuantMatches("Q8_0/llama.Q4_K_M.gguf", "Q8_0"));  // the file name only
}

TEST(GgufSplitNameTest, Parses) {
  GgufSplitName s = ParseGgufSplitName("dir/m-Q4_K_M-00002-of-00003.gguf");
  EXPECT_EQ(s.key, "dir/m-Q4_K_M.gguf");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
  s = ParseGgufSplitName("M-00001-OF-00002.GGUF");
  EXPECT_EQ(s.key, "M.GGUF");
  EXPECT_EQ(s.index, 1);
  s = ParseGgufSplitName("m.Q4_K_M.gguf");
  EXPECT_EQ(s.key, "m.Q4_K_M.gguf");
  EXPECT_EQ(s.index, 0);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(ParseGgufSplitName("m-0001-of-0002.gguf").index, 0);  // not the llama.cpp form
}

TEST(ChooseGgufVariantTest, DefaultPreferenceOrder) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, uint64_t>> repo;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"Q4_K_M first",
       {{"m.Q2_K.gguf", 1}, {"m.Q4_K_S.gguf", 2}, {"m.Q4_K_M.gguf", 3}, {"m.Q8_0.gguf", 4}},
       "m.Q4_K_M.gguf"},
      {"then Q4_K_S", {{"m.Q4_K_S.gguf", 5}, {"m.Q5_K_M.gguf", 3}, {"m.Q8_0.gguf", 1}},
       "m.Q4_K_S.gguf"},
      {"then Q5_K_M", {{"m.Q5_K_M.gguf", 5}, {"m.Q8_0.gguf", 1}, {"m.Q2_K.gguf", 1}},
       "m.Q5_K_M.gguf"},
      {"then Q8_0", {{"m.F16.gguf", 9}, {"m.Q8_0.gguf", 5}, {"m.Q6_K.gguf", 4}}, "m.Q8_0.gguf"},
      {"else the smallest", {{"m.F16.gguf", 9}, {"m.Q6_K.gguf", 4}, {"m.IQ2_M.gguf", 2}},
       "m.IQ2_M.gguf"},
      {"case-insensitive names", {{"m.q4_k_m.gguf", 9}, {"m.q8_0.gguf", 1}}, "m.q4_k_m.gguf"},
      {"projectors are not candidates",
       {{"mmproj-Q4_K_M.gguf", 1}, {"m.Q8_0.gguf", 5}, {"m.F16.gguf", 9}}, "m.Q8_0.gguf"},
      {"non-gguf files ignored", {{"README.md", 1}, {"m.F16.gguf", 9}}, "m.F16.gguf"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto v = ChooseGgufVariant(Files(c.repo), "");
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->files.front().path, c.want);
  }
}

TEST(ChooseGgufVariantTest, ExplicitQuant) {
  auto repo = Files({{"m.Q4_K_M.gguf", 3}, {"m.Q8_0.gguf", 5}, {"m.IQ4_XS.gguf", 2}});
  auto v = ChooseGgufVariant(repo, "q8_0");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(Paths(*v), std::vector<std::string>{"m.Q8_0.gguf"});
  EXPECT_EQ(v->quant, "Q8_0");
  EXPECT_EQ(v->bytes, 5u);
  v = ChooseGgufVariant(repo, "IQ4_XS");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->files.front().path, "m.IQ4_XS.gguf");

  v = ChooseGgufVariant(repo, "Q5_K_M");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(v.status().message(),
            "no GGUF file matches quantization \"Q5_K_M\"; available: IQ4_XS (m.IQ4_XS.gguf), "
            "Q4_K_M (m.Q4_K_M.gguf), Q8_0 (m.Q8_0.gguf)");
  v = ChooseGgufVariant(repo, "Q4_K");  // a prefix of a tag is not that tag
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kNotFound);
}

TEST(ChooseGgufVariantTest, SplitSetsAreOneVariant) {
  auto repo = Files({{"m-Q8_0-00002-of-00002.gguf", 6},
                     {"m-Q8_0-00001-of-00002.gguf", 5},
                     {"m-Q4_K_M-00001-of-00003.gguf", 1},
                     {"m-Q4_K_M-00002-of-00003.gguf", 1},
                     {"m-Q4_K_M-00003-of-00003.gguf", 1},
                     {"m.F16.gguf", 4}});
  auto v = ChooseGgufVariant(repo, "");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(Paths(*v), (std::vector<std::string>{"m-Q4_K_M-00001-of-00003.gguf",
                                                  "m-Q4_K_M-00002-of-00003.gguf",
                                                  "m-Q4_K_M-00003-of-00003.gguf"}));
  EXPECT_EQ(v->key, "m-Q4_K_M.gguf");
  EXPECT_EQ(v->bytes, 3u);
  v = ChooseGgufVariant(repo, "Q8_0");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Paths(*v), (std::vector<std::string>{"m-Q8_0-00001-of-00002.gguf",
                                                  "m-Q8_0-00002-of-00002.gguf"}));
  EXPECT_EQ(v->bytes, 11u);

  // The smallest by total size: the F16 file (4) beats the Q8_0 set (11) when no preferred tag.
  auto no_pref = Files({{"m-Q6_K-00001-of-00002.gguf", 3},
                        {"m-Q6_K-00002-of-00002.gguf", 3},
                        {"m.F16.gguf", 4}});
  v = ChooseGgufVariant(no_pref, "");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->files.front().path, "m.F16.gguf");

  auto err = ChooseGgufVariant(repo, "Q2_K");
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr("Q8_0 (m-Q8_0-00001-of-00002.gguf, 2 shards)"));
}

TEST(ChooseGgufVariantTest, IncompleteSplitSetsAreRefusedOrSkipped) {
  auto repo = Files({{"m-Q4_K_M-00001-of-00003.gguf", 1},
                     {"m-Q4_K_M-00003-of-00003.gguf", 1},
                     {"m.Q8_0.gguf", 5}});
  auto v = ChooseGgufVariant(repo, "Q4_K_M");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(v.status().message(),
              HasSubstr("split GGUF set \"m-Q4_K_M.gguf\" is incomplete: shard(s) 2 of 3 missing"));
  // Without --quant the incomplete preferred set is passed over.
  v = ChooseGgufVariant(repo, "");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->files.front().path, "m.Q8_0.gguf");

  auto mixed = Files({{"m-00001-of-00002.gguf", 1}, {"m-00002-of-00003.gguf", 1}});
  v = ChooseGgufVariant(mixed, "");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("disagree"));

  EXPECT_EQ(ChooseGgufVariant(Files({{"README.md", 1}}), "").status().code(),
            StatusCode::kNotFound);
}

TEST(ChooseGgufVariantTest, UnknownSizesSortLast) {
  auto repo = Files({{"a.F16.gguf", 100}, {"b.F32.gguf", 1}});
  repo[1].size_known = false;
  auto v = ChooseGgufVariant(repo, "");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->files.front().path, "a.F16.gguf");
}

}  // namespace
}  // namespace mlos::axon
