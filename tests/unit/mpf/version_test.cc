// IsSemver and VersionSatisfies (npm semantics for ^ and ~; partial versions mean .0).
#include <string>

#include <gtest/gtest.h>

#include "mpf/manifest.h"

namespace mlos::mpf {
namespace {

TEST(IsSemverTest, Table) {
  struct Case {
    const char* version;
    bool want;
  };
  const Case cases[] = {
      {"1.2.3", true},
      {"0.0.0", true},
      {"10.20.30", true},
      {"1.0.0-alpha", true},
      {"1.0.0-alpha.1", true},
      {"1.0.0-0.3.7", true},
      {"1.0.0-x-y.z", true},
      {"1.0.0+build.5", true},
      {"1.0.0-rc.1+sha.abc", true},
      {"1.2", false},
      {"1", false},
      {"", false},
      {"v1.2.3", false},
      {"01.2.3", false},
      {"1.02.3", false},
      {"1.2.3-01", false},
      {"1.2.3-", false},
      {"1.2.3-a..b", false},
      {"1.2.3.4", false},
      {"latest", false},
      {"1.2.x", false},
      {"1.2.3+", false},
      {"a.b.c", false},
      {" 1.2.3", false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsSemver(c.version), c.want) << c.version;
}

TEST(VersionSatisfiesTest, Table) {
  struct Case {
    const char* version;
    const char* constraint;
    bool want;
  };
  const Case cases[] = {
      // Empty and wildcard constraints match anything, even non-semver revisions.
      {"1.2.3", "", true},
      {"latest", "", true},
      {"1.2.3", "*", true},
      // Exact.
      {"1.2.3", "1.2.3", true},
      {"1.2.3", "=1.2.3", true},
      {"1.2.3", "==1.2.3", true},
      {"1.2.4", "=1.2.3", false},
      {"1.2.0", "1.2", true},  // partial = .0
      {"1.2.1", "=1.2", false},
      {"1.2.3+build", "1.2.3", true},  // build metadata is ignored
      {"v1.2.3", "1.2.3", true},
      // Comparisons.
      {"1.2.0", ">=1.2", true},
      {"1.1.9", ">=1.2", false},
      {"2.0.0", ">1", true},
      {"1.0.0", ">1", false},
      {"1.0.1", ">1", true},
      {"1.9.9", "<2.0.0", true},
      {"2.0.0", "<2.0.0", false},
      {"2.0.0", "<=2.0.0", true},
      {"2.0.1", "<=2", false},
      // Conjunctions, with and without spaces after the operator, comma-separated.
      {"1.5.0", ">=1.2.0 <2.0.0", true},
      {"2.0.0", ">=1.2.0 <2.0.0", false},
      {"1.5.0", ">= 1.2.0 < 2.0.0", true},
      {"1.5.0", ">=1.2.0, <2.0.0", true},
      {"1.1.0", ">=1.2.0 <2.0.0", false},
      // Disjunctions.
      {"3.1.0", "^1.0 || ^3.0", true},
      {"2.1.0", "^1.0 || ^3.0", false},
      // Caret (npm).
      {"1.2.3", "^1.2.3", true},
      {"1.9.0", "^1.2.3", true},
      {"2.0.0", "^1.2.3", false},
      {"1.2.2", "^1.2.3", false},
      {"1.2.0", "^1.2", true},
      {"1.9.9", "^1", true},
      {"0.2.5", "^0.2.3", true},
      {"0.3.0", "^0.2.3", false},
      {"0.0.3", "^0.0.3", true},
      {"0.0.4", "^0.0.3", false},
      {"0.0.9", "^0.0", true},
      {"0.1.0", "^0.0", false},
      {"0.9.0", "^0", true},
      {"1.0.0", "^0", false},
      // Tilde (npm).
      {"1.4.9", "~1.4.0", true},
      {"1.5.0", "~1.4.0", false},
      {"1.4.0", "~1.4", true},
      {"1.4.7", "~1.4", true},
      {"1.3.9", "~1.4", false},
      {"1.9.0", "~1", true},
      {"2.0.0", "~1", false},
      {"0.2.9", "~0.2", true},
      {"0.3.0", "~0.2", false},
      // Pre-releases: ordering and npm's same-tuple rule.
      {"1.0.0-alpha", "<1.0.0", false},  // no comparator names a 1.0.0 pre-release
      {"1.0.0-beta", ">=1.0.0-alpha", true},
      {"1.0.0-alpha", ">=1.0.0-beta", false},
      {"1.0.0-alpha.2", ">1.0.0-alpha.1", true},
      {"1.0.0-alpha.10", ">1.0.0-alpha.9", true},    // numeric identifiers compare as numbers
      {"1.0.0-alpha.beta", ">1.0.0-alpha.1", true},  // alphanumeric > numeric
      {"1.0.0", ">1.0.0-rc.1", true},
      {"1.3.0-beta", "^1.2.0", false},
      {"2.0.0-rc.1", "^1.2.0", false},
      {"1.2.4-rc.1", ">=1.2.4-rc.0 <2.0.0", true},
      {"1.2.4-rc.1", "^1.2.4-rc.0", true},
      // Versions that are not versions only match an unconstrained dependency.
      {"latest", ">=1.0", false},
      {"main", "^1", false},
  };
  for (const Case& c : cases) {
    Result<bool> r = VersionSatisfies(c.version, c.constraint);
    ASSERT_TRUE(r.ok()) << c.version << " " << c.constraint << ": " << r.status().ToString();
    EXPECT_EQ(*r, c.want) << "\"" << c.version << "\" vs \"" << c.constraint << "\"";
  }
}

TEST(VersionSatisfiesTest, MalformedConstraints) {
  const char* cases[] = {">=",      "^",      "1.2.3.4", "latest", ">=1.x", "1.2-beta",
                         "~>1.2",   "||",     "^1 ||",   "<<1",    "01.2",  "1.2.3 - 2.0.0",
                         "!=1.0.0", ">=a.b.c"};
  for (const char* c : cases) {
    Result<bool> r = VersionSatisfies("1.2.3", c);
    EXPECT_FALSE(r.ok()) << c;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c;
      EXPECT_NE(r.status().message().find("malformed version constraint"), std::string::npos)
          << r.status().message();
    }
  }
  // Malformed even when the version is not a version.
  EXPECT_FALSE(VersionSatisfies("latest", ">=foo").ok());
}

}  // namespace
}  // namespace mlos::mpf
