// Roles, actions, model patterns and manifest access lists (security/policy.h). Named
// security_policy_test because tests/unit/core/policy_test.cc already owns "policy_test".
#include "security/policy.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <vector>

namespace mlos::security {
namespace {

constexpr Role kRoles[] = {Role::kNone, Role::kReader, Role::kUser, Role::kOperator, Role::kAdmin};
constexpr Action kActions[] = {Action::kList,       Action::kMetadata, Action::kInfer,
                               Action::kRegister,   Action::kUnregister, Action::kLoad,
                               Action::kUnload,     Action::kSetDefault, Action::kRollback,
                               Action::kAlias,      Action::kPin,
                               Action::kSharedMemory, Action::kTokens, Action::kAudit};

TEST(RoleTest, NamesRoundTrip) {
  EXPECT_STREQ(RoleName(Role::kNone), "none");
  EXPECT_STREQ(RoleName(Role::kReader), "reader");
  EXPECT_STREQ(RoleName(Role::kUser), "user");
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
  EXPECT_STREQ(RoleName(Role::kAdmin), "admin");
  for (Role r : kRoles) {
    auto parsed = ParseRole(RoleName(r));
    ASSERT_TRUE(parsed.has_value()) << RoleName(r);
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_FALSE(ParseRole("Admin").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("root").has_value());
}

TEST(ActionTest, Names) {
  const std::vector<std::string> expected = {
      "list",   "metadata",    "infer",    "register", "unregister",    "load",
      "unload", "set_default", "rollback", "alias",    "pin", "shared_memory", "tokens",
      "audit"};
  ASSERT_EQ(std::size(kActions), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(ActionName(kActions[i]), expected[i]);
}

TEST(RoleAllowsTest, RolesNestAsDocumented) {
  // The least role for each action, in kActions order.
  const Role least[] = {Role::kReader,   Role::kReader,   Role::kUser,     Role::kOperator,
                        Role::kOperator, Role::kOperator, Role::kOperator, Role::kOperator,
                        Role::kOperator, Role::kOperator, Role::kOperator, Role::kOperator,
                        Role::kAdmin,    Role::kAdmin};
  for (size_t i = 0; i < std::size(kActions); ++i) {
    for (Role r : kRoles) {
      const bool want = r != Role::kNone && r >= least[i];
      EXPECT_EQ(RoleAllows(r, kActions[i]), want)
          << RoleName(r) << " " << ActionName(kActions[i]);
    }
  }
}

TEST(RoleAllowsTest, Spotchecks) {
  EXPECT_TRUE(RoleAllows(Role::kReader, Action::kList));
  EXPECT_FALSE(RoleAllows(Role::kReader, Action::kInfer));
  EXPECT_TRUE(RoleAllows(Role::kUser, Action::kInfer));
  EXPECT_FALSE(RoleAllows(Role::kUser, Action::kLoad));
  EXPECT_TRUE(RoleAllows(Role::kOperator, Action::kSharedMemory));
  EXPECT_FALSE(RoleAllows(Role::kOperator, Action::kTokens));
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Action::kTokens));
  EXPECT_FALSE(RoleAllows(Role::kOperator, Action::kAudit));
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Action::kAudit));
  EXPECT_FALSE(RoleAllows(Role::kNone, Action::kList));
}

TEST(MatchModelPatternTest, WithoutVersionMatchesName) {
  EXPECT_TRUE(MatchModelPattern("team/*", "team/clf", "team/clf@1"));
  EXPECT_TRUE(MatchModelPattern("team/clf", "team/clf", "team/clf@1"));
  EXPECT_FALSE(MatchModelPattern("team/clf", "team/clf2", "team/clf2@1"));
  EXPECT_FALSE(MatchModelPattern("team/cl", "team/clf", "team/clf@1"));
  EXPECT_FALSE(MatchModelPattern("team/*", "other/clf", "other/clf@1"));
  EXPECT_TRUE(MatchModelPattern("*", "any/thing", "any/thing@3"));
  EXPECT_TRUE(MatchModelPattern("*/clf", "team/clf", "team/clf@1"));
  EXPECT_TRUE(MatchModelPattern("t*m/c*f", "team/clf", "team/clf@1"));
  // '*' crosses '/'.
  EXPECT_TRUE(MatchModelPattern("team*", "team/sub/clf", "team/sub/clf@1"));
}

TEST(MatchModelPatternTest, WithVersionMatchesId) {
  EXPECT_TRUE(MatchModelPattern("team/clf@2", "team/clf", "team/clf@2"));
  EXPECT_FALSE(MatchModelPattern("team/clf@2", "team/clf", "team/clf@1"));
  EXPECT_TRUE(MatchModelPattern("team/clf@*", "team/clf", "team/clf@7"));
  EXPECT_TRUE(MatchModelPattern("team/*@1", "team/x", "team/x@1"));
  EXPECT_FALSE(MatchModelPattern("team/*@1", "team/x", "team/x@10"));
  EXPECT_TRUE(MatchModelPattern("team/*@1*", "team/x", "team/x@10"));
}

TEST(MatchModelPatternTest, EdgeCases) {
  EXPECT_TRUE(MatchModelPattern("**", "", ""));
  EXPECT_FALSE(MatchModelPattern("", "a", "a@1"));
  EXPECT_TRUE(MatchModelPattern("a**b", "ab", "ab@1"));
  EXPECT_TRUE(MatchModelPattern("*a", "aaa", "aaa@1"));
  EXPECT_FALSE(MatchModelPattern("*a", "aab", "aab@1"));
}

TEST(MatchModelPatternTest, ManyStarsStayCheap) {
  // A recursive matcher takes exponential time here; the iterative one is quadratic at worst.
  const std::string text(5000, 'a');
  EXPECT_FALSE(MatchModelPattern("a*a*a*a*a*a*a*a*a*a*a*a*b", text, text + "@1"));
  EXPECT_TRUE(MatchModelPattern("a*a*a*a*a*a*a*a*a*a*a*a*a", text, text + "@1"));
}

TEST(MatchAnyPatternTest, EmptyMeansEveryModel) {
  EXPECT_TRUE(MatchAnyPattern({}, "team/clf", "team/clf@1"));
  EXPECT_TRUE(MatchAnyPattern({"other/*", "team/clf"}, "team/clf", "team/clf@1"));
  EXPECT_FALSE(MatchAnyPattern({"other/*", "team/clf@2"}, "team/clf", "team/clf@1"));
}

TEST(ValidateModelPatternTest, AcceptsAndRejects) {
  for (const char* ok : {"team/*", "team/classifier", "team/classifier@2", "*", "a.b_c-d/e@f*"}) {
    EXPECT_TRUE(ValidateModelPattern(ok).ok()) << ok;
  }
  EXPECT_TRUE(ValidateModelPattern(std::string(200, 'a')).ok());
  for (const std::string& bad :
       {std::string(), std::string(201, 'a'), std::string("team clf"), std::string("team/?"),
        std::string("a\nb"), std::string("a\\b"), std::string("caf\xc3\xa9")}) {
    Status st = ValidateModelPattern(bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
  }
  EXPECT_NE(ValidateModelPattern("team clf").message().find("'team clf'"), std::string::npos);
}

TEST(AccessAllowsTest, ManifestLists) {
  const std::vector<std::string> none;
  // Both lists empty: everyone.
  EXPECT_TRUE(AccessAllows(none, none, "bob", Role::kReader));
  // Named principals and roles, and admins.
  const std::vector<std::string> principals = {"alice"};
  const std::vector<std::string> roles = {"operator"};
  EXPECT_TRUE(AccessAllows(principals, roles, "alice", Role::kUser));
  EXPECT_TRUE(AccessAllows(principals, roles, "carol", Role::kOperator));
  EXPECT_TRUE(AccessAllows(principals, roles, "root", Role::kAdmin));
  EXPECT_FALSE(AccessAllows(principals, roles, "bob", Role::kUser));
  EXPECT_FALSE(AccessAllows(principals, none, "bob", Role::kOperator));
  EXPECT_TRUE(AccessAllows(none, {"user"}, "bob", Role::kUser));
  EXPECT_FALSE(AccessAllows(none, {"user"}, "bob", Role::kReader));
  // Role names are not principal names.
  EXPECT_FALSE(AccessAllows({"operator"}, none, "bob", Role::kOperator));
}

}  // namespace
}  // namespace mlos::security
