// Token generation, hashing, comparison, redaction and the duration/name/time helpers
// (security/token.h).
#include "security/token.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mlos::security {
namespace {

bool IsBase64Url(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

TEST(GenerateTokenTest, PrefixAnd43Base64UrlCharacters) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string t = GenerateToken();
    ASSERT_EQ(t.size(), kTokenPrefix.size() + 43) << t;
    EXPECT_EQ(t.substr(0, kTokenPrefix.size()), kTokenPrefix);
    for (char c : t.substr(kTokenPrefix.size())) EXPECT_TRUE(IsBase64Url(c)) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(HashTokenTest, Sha256LowerHex) {
  EXPECT_EQ(HashToken(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string t = GenerateToken();
  EXPECT_EQ(HashToken(t), HashToken(t));
  EXPECT_NE(HashToken(t), HashToken(t + "x"));
  EXPECT_EQ(HashToken(t).size(), 64u);
}

TEST(ConstantTimeEqualTest, Compares) {
  EXPECT_TRUE(ConstantTimeEqual("", ""));
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEqual("", "a"));
  EXPECT_FALSE(ConstantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RedactSecretsTest, Tokens) {
  const std::string t = GenerateToken();
  EXPECT_EQ(RedactSecrets("token " + t + " denied"), "token [redacted] denied");
  EXPECT_EQ(RedactSecrets(t), "[redacted]");
  EXPECT_EQ(RedactSecrets("a=" + t + "&b=" + t), "a=[redacted]&b=[redacted]");
  // 20 characters after the prefix look like a token, 19 do not.
  EXPECT_EQ(RedactSecrets("mlos_" + std::string(20, 'x')), "[redacted]");
  EXPECT_EQ(RedactSecrets("mlos_" + std::string(19, 'x')), "mlos_" + std::string(19, 'x'));
  EXPECT_EQ(RedactSecrets("mlos_short mlos_"), "mlos_short mlos_");
  EXPECT_EQ(RedactSecrets("\"" + t + "\""), "\"[redacted]\"");
}

TEST(RedactSecretsTest, BearerCredentials) {
  EXPECT_EQ(RedactSecrets("Authorization: Bearer abc.def"), "Authorization: Bearer [redacted]");
  EXPECT_EQ(RedactSecrets("bearer xyz rest"), "bearer [redacted] rest");
  EXPECT_EQ(RedactSecrets("header \"Bearer s3cr3t\" refused"),
            "header \"Bearer [redacted]\" refused");
  EXPECT_EQ(RedactSecrets("'Bearer q'"), "'Bearer [redacted]'");
  EXPECT_EQ(RedactSecrets("Bearer " + GenerateToken()), "Bearer [redacted]");
  EXPECT_EQ(RedactSecrets("Bearer a\tb"), "Bearer [redacted]\tb");
  // Nothing after the scheme: nothing to hide.
  EXPECT_EQ(RedactSecrets("Bearer "), "Bearer ");
  EXPECT_EQ(RedactSecrets("no secrets here"), "no secrets here");
  EXPECT_EQ(RedactSecrets(""), "");
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDuration("90"), 90);
  EXPECT_EQ(*ParseDuration("90s"), 90);
  EXPECT_EQ(*ParseDuration("15m"), 15 * 60);
  EXPECT_EQ(*ParseDuration("12h"), 12 * 3600);
  EXPECT_EQ(*ParseDuration("30d"), 30 * 86400);
  EXPECT_EQ(*ParseDuration("2w"), 2 * 7 * 86400);
}

TEST(ParseDurationTest, Errors) {
  for (const char* bad : {"", "0", "0s", "s", "-5s", "+5", "5x", "5 s", " 5", "1.5h", "5S", "h5",
                          "99999999999999999999", "9223372036854775807w", "106751991167301d"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    if (*bad) {
      EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
    }
  }
  // The largest that still fits in milliseconds.
  EXPECT_TRUE(ParseDuration("9223372036854775s").ok());
  EXPECT_FALSE(ParseDuration("9223372036854776s").ok());
}

TEST(ValidateTokenNameTest, AcceptsAndRejects) {
  for (const char* ok : {"alice", "ci-bot_2", "svc.team@prod:1", "a"}) {
    EXPECT_TRUE(ValidateTokenName(ok).ok()) << ok;
  }
  EXPECT_TRUE(ValidateTokenName(std::string(64, 'x')).ok());
  for (const std::string& bad : {std::string(), std::string(65, 'x'), std::string("a b"),
                                 std::string("a/b"), std::string("a\nb"), std::string("é")}) {
    Status st = ValidateTokenName(bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(st.message().find('\n'), std::string::npos);
  }
}

TEST(TimeTest, FormatUnixMs) {
  EXPECT_EQ(FormatUnixMs(1796330467000), "2026-12-03T20:41:07Z");
  EXPECT_EQ(FormatUnixMs(1796330467999), "2026-12-03T20:41:07Z");
  EXPECT_EQ(FormatUnixMs(1), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUnixMs(0), "");
  EXPECT_GT(NowUnixMs(), 1700000000000);  // after 2023
}

}  // namespace
}  // namespace mlos::security
