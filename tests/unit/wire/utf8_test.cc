// wire/utf8.h: which byte sequences are well-formed UTF-8, and how the others are replaced (the
// one rule the gRPC and IPC front-ends and the SDK's HTTP event streams share).
#include "wire/utf8.h"

#include <gtest/gtest.h>

namespace mlos::wire {
namespace {

TEST(Utf8Test, WellFormedSequencesPass) {
  for (const char* s : {"", "plain ascii", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80",
                        "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ValidUtf8(s), s);
  }
}

TEST(Utf8Test, IllFormedBytesBecomeReplacementCharacters) {
  const std::string r = "\xEF\xBF\xBD";
  struct Case {
    std::string in, out;
  } cases[] = {
      {"a\xFB" "b", "a" + r + "b"},          // never valid
      {"\x80", r},                           // a lone continuation byte
      {"\xC3", r},                           // cut short
      {"\xC0\xAF", r + r},                   // overlong
      {"\xE0\x80\xAF", r + r + r},           // overlong, three bytes
      {"\xED\xA0\x80", r + r + r},           // a surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},   // above U+10FFFF
      {"\xE2\x82" "x", r + r + "x"},         // a character cut by an ASCII byte
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(IsValidUtf8(c.in));
    EXPECT_EQ(ValidUtf8(c.in), c.out);
    EXPECT_TRUE(IsValidUtf8(ValidUtf8(c.in)));
  }
}

}  // namespace
}  // namespace mlos::wire
