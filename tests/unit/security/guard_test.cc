// Guard: the Authorization header, authentication in both modes (tokens, revoked and expired
// ones, client-certificate CNs, Unix peers), role and model checks with patterns and manifest
// ACLs, model roots with symlinks, the first admin token, and a token revoked by another
// connection (as `mlosd token revoke` beside the daemon) taking effect within a poll.
#include "security/guard.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "security/token.h"

namespace mlos::security {
namespace {

namespace fs = std::filesystem;

TEST(ParseAuthorization, BearerInAnyCaseElseAnotherScheme) {
  Credentials a;
  ParseAuthorization("Bearer  mlos_abc ", a);
  EXPECT_EQ(a.bearer, "mlos_abc");
  EXPECT_FALSE(a.other_scheme);
  Credentials b;
  ParseAuthorization("bEaReR x", b);
  EXPECT_EQ(b.bearer, "x");
  Credentials c;
  ParseAuthorization("Basic dXNlcjpwYXNz", c);
  EXPECT_TRUE(c.bearer.empty());
  EXPECT_TRUE(c.other_scheme);
  Credentials d;
  ParseAuthorization("", d);
  EXPECT_TRUE(d.bearer.empty());
  EXPECT_FALSE(d.other_scheme);
}

class GuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "mlos_guard_test_");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Guard> Make(bool required, SecurityOptions o = {}) {
    o.auth_required = required;
    o.token_db = dir_ / "registry.db";
    o.audit.path = dir_ / "audit.log";
    o.token_poll = std::chrono::milliseconds(50);
    auto g = Guard::Create(o);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? std::move(g).value() : nullptr;
  }

  static Credentials Token(const std::string& t) {
    Credentials c;
    c.bearer = t;
    return c;
  }

  fs::path dir_;
};

TEST_F(GuardTest, AuthOffMakesEveryCallerAnAdminNamedByItsTransport) {
  auto g = Make(false);
  ASSERT_NE(g, nullptr);
  auto who = g->Authenticate(Token("mlos_not_a_token_at_all_xxxxxxxxxx"), "uid:1000");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ((*who)->name, "uid:1000");
  EXPECT_EQ((*who)->role, Role::kAdmin);
}

TEST_F(GuardTest, TokensAuthenticateUntilRevokedOrExpired) {
  auto g = Make(true);
  ASSERT_NE(g, nullptr);
  auto none = g->Authenticate({}, "anonymous");
  EXPECT_EQ(none.status().code(), StatusCode::kUnauthenticated);
  auto unknown = g->Authenticate(Token(GenerateToken()), "anonymous");
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(unknown.status().message().find("unknown token"), std::string::npos);
  Credentials basic;
  basic.other_scheme = true;
  EXPECT_EQ(g->Authenticate(basic, "anonymous").status().code(), StatusCode::kUnauthenticated);

  auto alice = g->CreateToken({"alice", Role::kUser, {"team/*"}, 0});
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  auto who = g->Authenticate(Token(alice->first), "anonymous");
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ((*who)->name, "alice");
  EXPECT_EQ((*who)->method, "token");
  EXPECT_EQ((*who)->models, std::vector<std::string>{"team/*"});

  ASSERT_TRUE(g->RevokeToken("alice").ok());
  auto revoked = g->Authenticate(Token(alice->first), "anonymous");
  EXPECT_EQ(revoked.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);
  EXPECT_EQ(revoked.status().message().find(alice->first), std::string::npos);

  auto brief = g->CreateToken({"brief", Role::kReader, {}, 1});
  ASSERT_TRUE(brief.ok());
  EXPECT_TRUE(g->Authenticate(Token(brief->first), "anonymous").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto expired = g->Authenticate(Token(brief->first), "anonymous");
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
}

TEST_F(GuardTest, AnotherConnectionsRevocationIsSeenWithinAPoll) {
  auto g = Make(true);
  ASSERT_NE(g, nullptr);
  auto bob = g->CreateToken({"bob", Role::kReader, {}, 0});
  ASSERT_TRUE(bob.ok());
  auto other = TokenStore::Open(dir_ / "registry.db");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Revoke("bob").ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (g->Authenticate(Token(bob->first), "anonymous").ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(g->Authenticate(Token(bob->first), "anonymous").ok());
}

TEST_F(GuardTest, CertificatesAndUnixPeersMapToConfiguredPrincipals) {
  SecurityOptions o;
  o.principals["ops-cert"] = {Role::kOperator, {}};
  o.unix_principals[1000] = "alice";
  o.unix_principals[0] = "admin";  // named after a role: has that role
  o.principals["alice"] = {Role::kUser, {"team/*"}};
  auto g = Make(true, o);
  ASSERT_NE(g, nullptr);
  Credentials cert;
  cert.tls_cn = "ops-cert";
  auto ops = g->Authenticate(cert, "anonymous");
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ((*ops)->role, Role::kOperator);
  EXPECT_EQ((*ops)->method, "mtls");
  cert.tls_cn = "stranger";
  EXPECT_EQ(g->Authenticate(cert, "anonymous").status().code(), StatusCode::kUnauthenticated);
  Credentials peer;
  peer.peer_uid = 1000;
  auto alice = g->Authenticate(peer, "uid:1000");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ((*alice)->name, "alice");
  EXPECT_EQ((*alice)->method, "peercred");
  peer.peer_uid = 0;
  auto root = g->Authenticate(peer, "uid:0");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ((*root)->role, Role::kAdmin);
  peer.peer_uid = 4242;
  EXPECT_EQ(g->Authenticate(peer, "uid:4242").status().code(), StatusCode::kUnauthenticated);
}

TEST_F(GuardTest, RolesPatternsAndManifestAclsDecideWithMessagesThatNameEverything) {
  auto g = Make(true);
  ASSERT_NE(g, nullptr);
  Identity reader{"rita", Role::kReader, "token", {}};
  Identity user{"ulla", Role::kUser, "token", {"team/*"}};
  Identity admin{"root", Role::kAdmin, "token", {"nothing/*"}};
  const std::vector<std::string> acl_principals = {"ulla"}, acl_roles, none;
  const ModelRef open{"team/clf", "team/clf@1", &none, &none};
  const ModelRef locked{"team/clf", "team/clf@1", &acl_principals, &acl_roles};
  const ModelRef elsewhere{"other/clf", "other/clf@1", &none, &none};

  Status st = g->AuthorizeModel(reader, Action::kInfer, open);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("'rita' (role reader) may not infer"), std::string::npos)
      << st.message();
  EXPECT_TRUE(g->AuthorizeModel(reader, Action::kMetadata, open).ok());
  EXPECT_FALSE(g->AuthorizeModel(reader, Action::kMetadata, locked).ok()) << "not in the ACL";
  EXPECT_TRUE(g->AuthorizeModel(user, Action::kInfer, locked).ok());
  st = g->AuthorizeModel(user, Action::kInfer, elsewhere);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("other/clf@1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("patterns"), std::string::npos) << st.message();
  EXPECT_FALSE(g->AuthorizeModel(user, Action::kUnload, open).ok()) << "users do not unload";
  EXPECT_TRUE(g->AuthorizeModel(admin, Action::kUnload, locked).ok()) << "admins pass";
  EXPECT_TRUE(g->AuthorizeModel(admin, Action::kUnload, elsewhere).ok());
  EXPECT_FALSE(g->MaySee(reader, locked));
  EXPECT_TRUE(g->MaySee(user, locked));
}

TEST_F(GuardTest, ModelRootsResolveSymlinks) {
  fs::create_directories(dir_ / "root" / "pkg");
  fs::create_directories(dir_ / "outside" / "pkg");
  fs::create_directory_symlink(dir_ / "outside" / "pkg", dir_ / "root" / "link");
  SecurityOptions o;
  o.model_roots = {dir_ / "root"};
  auto g = Make(false, o);
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->ResolveUnderModelRoot(dir_ / "root" / "pkg").ok());
  auto resolved = g->ResolveUnderModelRoot(dir_ / "root" / "pkg" / ".." / "pkg");
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(*resolved, fs::canonical(dir_ / "root" / "pkg")) << "the core gets the resolved path";
  Status out = g->ResolveUnderModelRoot(dir_ / "outside" / "pkg").status();
  EXPECT_EQ(out.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(out.message().find((dir_ / "root").string()), std::string::npos) << out.message();
  EXPECT_EQ(g->ResolveUnderModelRoot(dir_ / "root" / "link").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(g->ResolveUnderModelRoot(dir_ / "root" / ".." / "outside" / "pkg").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(g->ResolveUnderModelRoot(dir_ / "rootless").status().code(), StatusCode::kPermissionDenied)
      << "a sibling whose name starts with the root's is outside it";
}

TEST_F(GuardTest, TheFirstAdminTokenIsWrittenOnceWithMode0600) {
  auto g = Make(true);
  ASSERT_NE(g, nullptr);
  const fs::path file = dir_ / "admin.token";
  auto wrote = g->EnsureAdminToken(file);
  ASSERT_TRUE(wrote.ok()) << wrote.status().ToString();
  EXPECT_TRUE(*wrote);
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(file);
  std::string token;
  in >> token;
  auto who = g->Authenticate(Token(token), "anonymous");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ((*who)->role, Role::kAdmin);
  auto again = g->EnsureAdminToken(file);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "an admin token exists: nothing new";
}

}  // namespace
}  // namespace mlos::security
