// Security end to end, against the real daemon with `security.auth: required` on HTTP, gRPC and
// IPC at once: one matrix of principals x actions where every cell must get its expected
// outcome and the same error category on all three protocols; model roots (symlinks too); a
// rate limit (429 + Retry-After, other principals unaffected); revocation from the CLI while
// the daemon runs; the audit log; and no token in any log, audit line or error.
#include <sys/stat.h>

#include <cstdlib>
#include <set>

#include <gtest/gtest.h>

#include "mlos/client.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

namespace client = mlos::client;
using mlos::StatusCode;

enum class Act {
  kLive, kReady, kList, kMetadata, kInfer, kRegister, kLoad, kUnload, kSetDefault, kRollback,
  kAlias, kShm, kUnregister, kTokenCreate,
};
constexpr Act kActs[] = {Act::kLive,     Act::kReady,      Act::kList,     Act::kMetadata,
                         Act::kInfer,    Act::kRegister,   Act::kLoad,     Act::kUnload,
                         Act::kSetDefault, Act::kRollback, Act::kAlias,    Act::kShm,
                         Act::kUnregister, Act::kTokenCreate};

const char* ActName(Act a) {
  switch (a) {
    case Act::kLive: return "live";
    case Act::kReady: return "ready";
    case Act::kList: return "list";
    case Act::kMetadata: return "metadata";
    case Act::kInfer: return "infer";
    case Act::kRegister: return "register";
    case Act::kLoad: return "load";
    case Act::kUnload: return "unload";
    case Act::kSetDefault: return "set_default";
    case Act::kRollback: return "rollback";
    case Act::kAlias: return "alias";
    case Act::kShm: return "shared_memory";
    case Act::kUnregister: return "unregister";
    case Act::kTokenCreate: return "tokens";
  }
  return "?";
}

// Who calls: the principal's kind decides the expected outcome.
enum class Kind { kAnonymous, kReader, kUser, kNarrowed, kExcluded, kOperator, kAdmin, kRevoked,
                  kExpired };

StatusCode Expected(Kind k, Act a) {
  if (a == Act::kLive || a == Act::kReady) return StatusCode::kOk;
  switch (k) {
    case Kind::kAnonymous:
    case Kind::kRevoked:
    case Kind::kExpired:
      return StatusCode::kUnauthenticated;
    case Kind::kAdmin:
      return StatusCode::kOk;
    case Kind::kOperator:
      return a == Act::kTokenCreate ? StatusCode::kPermissionDenied : StatusCode::kOk;
    case Kind::kReader:
      return a == Act::kList || a == Act::kMetadata ? StatusCode::kOk
                                                    : StatusCode::kPermissionDenied;
    case Kind::kUser:
      return a == Act::kList || a == Act::kMetadata || a == Act::kInfer
                 ? StatusCode::kOk
                 : StatusCode::kPermissionDenied;
    case Kind::kNarrowed:
    case Kind::kExcluded:
      // They may list (without seeing the model); the model itself is out of their reach.
      return a == Act::kList ? StatusCode::kOk : StatusCode::kPermissionDenied;
  }
  return StatusCode::kInternal;
}

struct Caller {
  std::string name;   // principal ("" = anonymous)
  Kind kind;
  std::string token;  // "" = none
};

class SecurityTest : public ::testing::Test {
 protected:
  static constexpr const char* kModel = "sec/locked";

  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    const std::string help = MlosdHelp();
    if (help.find("--grpc") == std::string::npos || help.find("--ipc") == std::string::npos) {
      GTEST_SKIP() << "mlosd was built without gRPC or IPC";
    }
    pkgs_ = tmp_.path() / "pkgs";
    fs::create_directories(pkgs_);
    const fs::path cfg = tmp_.path() / "mlosd.yaml";
    std::ofstream(cfg) << "security:\n"
                          "  auth: required\n"
                          "  limits:\n"
                          "    principals:\n"
                          "      limited: {rate: 0.001, burst: 3}\n";
    const uint16_t grpc_port = FreePort();
    const fs::path sock = tmp_.path() / "mlosd.sock";
    daemon_ = std::make_unique<Daemon>(
        tmp_.path() / "state",
        std::vector<std::string>{"--grpc", "127.0.0.1:" + std::to_string(grpc_port), "--ipc",
                                 sock.string(), "--config", cfg.string(), "--model-root",
                                 pkgs_.string()});
    ASSERT_TRUE(daemon_->Start());
    urls_ = {"http://127.0.0.1:" + std::to_string(daemon_->port()),
             "grpc://127.0.0.1:" + std::to_string(grpc_port), "unix://" + sock.string()};
    const fs::path admin_file = tmp_.path() / "state" / "admin.token";
    ASSERT_TRUE(fs::exists(admin_file));
    struct stat st{};
    ASSERT_EQ(::stat(admin_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    admin_ = ReadFileBytes(admin_file);
    while (!admin_.empty() && std::isspace(static_cast<unsigned char>(admin_.back()))) {
      admin_.pop_back();
    }
    ASSERT_EQ(admin_.rfind("mlos_", 0), 0u);
    tokens_.push_back(admin_);
    EXPECT_NE(daemon_->Log().find("admin.token"), std::string::npos);
  }

  // A client of `url` with `token` ("" = none); waits for a listener that is still starting.
  std::unique_ptr<client::Client> Connect(const std::string& url, const std::string& token) {
    client::ClientOptions o;
    o.bearer_token = token;
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url, o);
      if (c.ok()) return std::move(c).value();
      if (attempt >= 50 || c.status().code() != StatusCode::kUnavailable) {
        ADD_FAILURE() << url << ": " << c.status().message();
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // The locked model: usable by the principals its manifest lists (and admins).
  fs::path WriteLocked(const std::string& version) {
    Package p = CelsiusPackage(version);
    p.ns = "sec";
    p.name = "locked";
    p.security_yaml =
        "  access:\n    principals: [reader1, user1, narrow1, operator1, limited]\n";
    return WritePackage(pkgs_, p);
  }

  std::string NewToken(client::Client& admin, const std::string& name, const std::string& role,
                       const std::vector<std::string>& models = {},
                       const std::string& expires = "") {
    auto t = admin.CreateToken(name, role, models, expires);
    EXPECT_TRUE(t.ok()) << name << ": " << t.status().message();
    if (!t.ok()) return "";
    tokens_.push_back(t->token);
    return t->token;
  }

  client::InferRequest CelsiusRequest(const std::string& model) {
    client::InferRequest r;
    r.model = model;
    r.inputs.push_back(client::Tensor::From<float>("celsius", "float32", {2}, {0.f, 100.f}));
    return r;
  }

  // Runs one action; the status it ended with.
  mlos::Status Run(client::Client& c, Act a, const std::string& tag) {
    const std::string v1 = std::string(kModel) + "@1.0.0";
    const std::string v3 = std::string(kModel) + "@3.0.0";
    switch (a) {
      case Act::kLive: {
        auto r = c.Live();
        return r.ok() && !*r ? mlos::Internal("not live") : r.status();
      }
      case Act::kReady: {
        auto r = c.Ready();
        return r.ok() && !*r ? mlos::Internal("not ready") : r.status();
      }
      case Act::kList: {
        auto r = c.ListModels();
        if (r.ok()) last_list_ = *r;
        return r.status();
      }
      case Act::kMetadata:
        return c.GetModelMetadata(v1).status();
      case Act::kInfer: {
        auto r = c.Infer(CelsiusRequest(v1));
        if (r.ok() && (r->outputs.size() != 1 || r->outputs[0].As<float>().at(1) != 212.f)) {
          return mlos::Internal("wrong answer");
        }
        return r.status();
      }
      case Act::kRegister: {
        client::RegisterRequest r;
        r.model_id = v3;
        r.path = locked_v3_.string();
        return c.Register(r).status();
      }
      case Act::kLoad:
        return c.Load(v3).status();
      case Act::kUnload:
        return c.Unload(v3).status();
      case Act::kSetDefault:
        return c.SetDefault(std::string(kModel) + "@2.0.0").status();
      case Act::kRollback:
        return c.Rollback(kModel).status();
      case Act::kAlias:
        return c.SetAlias(kModel, "stable", "1.0.0").status();
      case Act::kShm: {
        auto mem = client::SharedMemory::CreateSystem("/mlos-sec-" + tag, 64);
        if (!mem.ok()) return mlos::Internal("shm: " + mem.status().message());
        mlos::Status st = c.RegisterSharedMemory("r-" + tag, **mem, 0, 64);
        if (st.ok()) st = c.UnregisterSharedMemory("r-" + tag);
        return st;
      }
      case Act::kUnregister:
        return c.Unregister(v3);
      case Act::kTokenCreate:
        return c.CreateToken("made-" + tag, "reader").status();
    }
    return mlos::Internal("unknown action");
  }

  std::vector<json> AuditLines() {
    std::vector<json> out;
    std::ifstream in(tmp_.path() / "state" / "audit.log");
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << line;
      out.push_back(std::move(j));
    }
    return out;
  }

  // No token ever created in this test appears in `text`.
  void ExpectNoToken(const std::string& text, const std::string& where) {
    for (const std::string& t : tokens_) {
      if (t.empty()) continue;
      EXPECT_EQ(text.find(t), std::string::npos) << "a token leaked into " << where;
      EXPECT_EQ(text.find(t.substr(5, 20)), std::string::npos)
          << "part of a token leaked into " << where;
    }
  }

  TempDir tmp_;
  fs::path pkgs_;
  fs::path locked_v3_;
  std::unique_ptr<Daemon> daemon_;
  std::vector<std::string> urls_;  // http, grpc, unix
  std::string admin_;
  std::vector<std::string> tokens_;
  std::vector<client::ModelInfo> last_list_;
};

TEST_F(SecurityTest, EveryPrincipalGetsTheSameAnswerToEveryActionOnEveryProtocol) {
  auto admin = Connect(urls_[0], admin_);
  ASSERT_NE(admin, nullptr);
  for (const char* v : {"1.0.0", "2.0.0"}) {
    client::RegisterRequest r;
    r.model_id = std::string(kModel) + "@" + v;
    r.path = WriteLocked(v).string();
    auto m = admin->Register(r);
    ASSERT_TRUE(m.ok()) << m.status().message();
  }
  locked_v3_ = WriteLocked("3.0.0");
  ASSERT_TRUE(admin->Load(std::string(kModel) + "@1.0.0").ok());

  std::vector<Caller> callers = {
      {"", Kind::kAnonymous, ""},
      {"reader1", Kind::kReader, NewToken(*admin, "reader1", "reader")},
      {"user1", Kind::kUser, NewToken(*admin, "user1", "user")},
      {"narrow1", Kind::kNarrowed, NewToken(*admin, "narrow1", "user", {"other/*"})},
      {"carol", Kind::kExcluded, NewToken(*admin, "carol", "user")},
      {"operator1", Kind::kOperator, NewToken(*admin, "operator1", "operator")},
      {"admin", Kind::kAdmin, admin_},
      {"gone", Kind::kRevoked, NewToken(*admin, "gone", "admin")},
      {"brief", Kind::kExpired, NewToken(*admin, "brief", "admin", {}, "1s")},
  };
  auto revoked = admin->RevokeToken("gone");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  EXPECT_FALSE(revoked->revoked_at.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // "brief" expires

  // outcome[caller][act][protocol]
  std::map<std::string, std::map<Act, std::vector<StatusCode>>> outcome;
  std::string errors;  // every error message, for the token grep
  const char* protocols[] = {"http", "grpc", "ipc"};
  for (size_t p = 0; p < urls_.size(); ++p) {
    for (const Caller& caller : callers) {
      SCOPED_TRACE(std::string(protocols[p]) + " " + (caller.name.empty() ? "anonymous" : caller.name));
      auto c = Connect(urls_[p], caller.token);
      ASSERT_NE(c, nullptr);
      for (Act a : kActs) {
        const std::string tag = std::string(protocols[p]) + "-" + caller.name + "-" +
                                std::to_string(static_cast<int>(a));
        const mlos::Status st = Run(*c, a, tag);
        outcome[caller.name][a].push_back(st.code());
        errors += st.message() + "\n";
        EXPECT_EQ(st.code(), Expected(caller.kind, a))
            << ActName(a) << ": " << mlos::StatusCodeName(st.code()) << " " << st.message();
        if (st.code() == StatusCode::kPermissionDenied && !caller.name.empty()) {
          // 403 names the principal and the action.
          EXPECT_NE(st.message().find(caller.name), std::string::npos) << st.message();
        }
        if (a == Act::kList && st.ok()) {
          bool sees = false;
          for (const auto& m : last_list_) sees |= m.name == kModel;
          const bool may = caller.kind != Kind::kNarrowed && caller.kind != Kind::kExcluded;
          EXPECT_EQ(sees, may) << "list shows a principal only what it may use";
        }
      }
    }
  }
  // The same category on all three protocols, cell by cell.
  for (const auto& [name, acts] : outcome) {
    for (const auto& [a, codes] : acts) {
      ASSERT_EQ(codes.size(), 3u);
      EXPECT_TRUE(codes[0] == codes[1] && codes[1] == codes[2])
          << (name.empty() ? "anonymous" : name) << " " << ActName(a) << ": "
          << mlos::StatusCodeName(codes[0]) << " / " << mlos::StatusCodeName(codes[1]) << " / "
          << mlos::StatusCodeName(codes[2]);
    }
  }

  // The audit log holds every refusal and every management action of the matrix.
  const std::vector<json> audit = AuditLines();
  auto count = [&](const std::string& protocol, const std::string& principal,
                   const std::string& action, const std::string& outcome_name) {
    size_t n = 0;
    for (const json& j : audit) {
      if (j.value("protocol", "") == protocol && j.value("action", "") == action &&
          j.value("outcome", "") == outcome_name &&
          (principal.empty() || j.value("principal", "") == principal)) {
        ++n;
      }
    }
    return n;
  };
  const std::set<Act> management = {Act::kRegister, Act::kLoad,   Act::kUnload,
                                    Act::kSetDefault, Act::kRollback, Act::kAlias,
                                    Act::kShm,      Act::kUnregister, Act::kTokenCreate};
  for (size_t p = 0; p < 3; ++p) {
    for (const Caller& caller : callers) {
      for (Act a : kActs) {
        const StatusCode want = Expected(caller.kind, a);
        const std::string who = caller.kind == Kind::kAnonymous || want == StatusCode::kUnauthenticated
                                    ? ""
                                    : caller.name;
        if (want == StatusCode::kUnauthenticated) {
          EXPECT_GE(count(protocols[p], "", ActName(a), "unauthenticated"), 1u)
              << protocols[p] << " " << caller.name << " " << ActName(a);
        } else if (want == StatusCode::kPermissionDenied) {
          EXPECT_GE(count(protocols[p], who, ActName(a), "denied"), 1u)
              << protocols[p] << " " << caller.name << " " << ActName(a);
        } else if (management.count(a)) {
          EXPECT_GE(count(protocols[p], who, ActName(a), "ok"), 1u)
              << protocols[p] << " " << caller.name << " " << ActName(a);
        }
      }
    }
  }
  for (const json& j : audit) {
    for (const char* field : {"time", "principal", "method", "protocol", "peer", "action", "model",
                              "outcome", "reason"}) {
      EXPECT_TRUE(j.contains(field)) << j.dump();
    }
  }

  // No token in the daemon's log, the audit log or any error.
  ExpectNoToken(daemon_->Log(), "the daemon's log");
  ExpectNoToken(ReadFileBytes(tmp_.path() / "state" / "audit.log"), "the audit log");
  ExpectNoToken(errors, "an error message");
}

TEST_F(SecurityTest, RegisterOutsideTheModelRootsIsRefusedSymlinksIncluded) {
  auto admin = Connect(urls_[0], admin_);
  ASSERT_NE(admin, nullptr);
  const fs::path outside = tmp_.path() / "outside";
  Package p = CelsiusPackage("1.0.0");
  p.ns = "sec";
  p.name = "outside";
  const fs::path dir = WritePackage(outside, p);
  // Straight outside, and through a symlink under the root that points outside.
  const fs::path link = pkgs_ / "sneaky";
  fs::create_directory_symlink(dir, link);
  for (const fs::path& path : {dir, link}) {
    SCOPED_TRACE(path.string());
    for (const std::string& url : urls_) {
      auto c = Connect(url, admin_);
      ASSERT_NE(c, nullptr);
      client::RegisterRequest r;
      r.model_id = p.Id();
      r.path = path.string();
      auto m = c->Register(r);
      ASSERT_FALSE(m.ok()) << url;
      EXPECT_EQ(m.status().code(), StatusCode::kPermissionDenied) << url;
      EXPECT_NE(m.status().message().find(pkgs_.string()), std::string::npos)
          << "names the roots: " << m.status().message();
    }
  }
  const Reply http = daemon_->Post("/models/register", RegisterBody(p, link),
                                   {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(http.status, 403) << http.body;
  EXPECT_NE(http.Error().find("model roots"), std::string::npos) << http.body;
  auto list = admin->ListModels();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty()) << "a refused register changes nothing";
  // Inside the root it works.
  const fs::path inside = WritePackage(pkgs_, p);
  client::RegisterRequest r;
  r.model_id = p.Id();
  r.path = inside.string();
  EXPECT_TRUE(admin->Register(r).ok());
}

TEST_F(SecurityTest, ABurstOverTheRateLimitGets429WithRetryAfterAndOthersAreUnaffected) {
  auto admin = Connect(urls_[0], admin_);
  ASSERT_NE(admin, nullptr);
  client::RegisterRequest r;
  r.model_id = std::string(kModel) + "@1.0.0";
  r.path = WriteLocked("1.0.0").string();
  ASSERT_TRUE(admin->Register(r).ok());
  ASSERT_TRUE(admin->Load(r.model_id).ok());
  const std::string limited = NewToken(*admin, "limited", "user");
  const std::string other = NewToken(*admin, "user1", "user");
  const std::string body =
      R"({"inputs":[{"name":"celsius","datatype":"FP32","shape":[1],"data":[37.0]}]})";
  const std::string path = "/v2/models/sec/locked/versions/1.0.0/infer";
  // Burst 3: three pass, the fourth is refused with a Retry-After.
  for (int i = 0; i < 3; ++i) {
    const Reply ok = daemon_->Post(path, body, {{"Authorization", "Bearer " + limited}});
    EXPECT_EQ(ok.status, 200) << i << ": " << ok.body;
  }
  const Reply refused = daemon_->Post(path, body, {{"Authorization", "Bearer " + limited}});
  EXPECT_EQ(refused.status, 429) << refused.body;
  ASSERT_TRUE(refused.headers.count("retry-after")) << refused.body;
  EXPECT_GE(std::stoi(refused.headers.at("retry-after")), 1);
  EXPECT_NE(refused.Error().find("rate limit"), std::string::npos) << refused.body;
  EXPECT_NE(refused.Error().find("limited"), std::string::npos) << refused.body;
  // gRPC and IPC say the same (RESOURCE_EXHAUSTED); another principal is unaffected.
  for (const std::string& url : {urls_[1], urls_[2]}) {
    auto c = Connect(url, limited);
    ASSERT_NE(c, nullptr);
    auto res = c->Infer(CelsiusRequest(r.model_id));
    EXPECT_EQ(res.status().code(), StatusCode::kResourceExhausted) << url;
  }
  const Reply fine = daemon_->Post(path, body, {{"Authorization", "Bearer " + other}});
  EXPECT_EQ(fine.status, 200) << fine.body;
  // Counted in /metrics.
  const Reply metrics = daemon_->Get("/metrics");
  EXPECT_EQ(metrics.status, 401);
  const Reply m =
      Http(daemon_->port(), "GET", "/metrics", "", {{"Authorization", "Bearer " + admin_}});
  EXPECT_NE(m.body.find("mlos_security_denials_total{action=\"infer\",protocol=\"http\","
                        "reason=\"rate_limited\"}"),
            std::string::npos)
      << m.body.substr(0, 4000);
  const std::vector<json> audit = AuditLines();
  bool limited_audited = false;
  for (const json& j : audit) {
    limited_audited |= j.value("outcome", "") == "limited" && j.value("principal", "") == "limited";
  }
  EXPECT_TRUE(limited_audited);
}

TEST_F(SecurityTest, TokensRevokedFromTheCommandLineStopWorkingWithinASecond) {
  auto admin = Connect(urls_[0], admin_);
  ASSERT_NE(admin, nullptr);
  // Created beside the running daemon: it prints the token and nothing else.
  const std::string state = (tmp_.path() / "state").string();
  FILE* p = ::popen((kMlosd.string() + " token create --state-dir " + state +
                     " --name cli-made --role reader --expires 1h").c_str(),
                    "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  std::string out;
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0);
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  const std::string token = out.substr(0, out.size() - 1);
  tokens_.push_back(token);
  EXPECT_EQ(token.rfind("mlos_", 0), 0u);
  EXPECT_GE(token.size(), 5u + 22u) << "at least 128 random bits";
  auto waiting = [&](bool want_ok) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (;;) {
      const Reply r = Http(daemon_->port(), "GET", "/models", "", {{"Authorization", "Bearer " + token}});
      if ((r.status == 200) == want_ok) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  EXPECT_TRUE(waiting(true)) << "a token created by the CLI works within a second";
  // The list never shows a token.
  const std::string list_cmd = kMlosd.string() + " token list --state-dir " + state;
  p = ::popen(list_cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  out.clear();
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_NE(out.find("cli-made"), std::string::npos) << out;
  ExpectNoToken(out, "mlosd token list");
  ASSERT_EQ(std::system((kMlosd.string() + " token revoke cli-made --state-dir " + state +
                         " > /dev/null").c_str()),
            0);
  EXPECT_TRUE(waiting(false)) << "revoked from the CLI: refused within a second";
  const Reply r = Http(daemon_->port(), "GET", "/models", "", {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.Error().find("revoked"), std::string::npos) << r.body;
  // Bad input to the CLI: one readable line, non-zero exit, nothing changed.
  EXPECT_NE(std::system((kMlosd.string() + " token create --state-dir " + state +
                         " --name x --role root 2> /dev/null").c_str()),
            0);
  auto list = admin->ListTokens();
  ASSERT_TRUE(list.ok()) << list.status().message();
  for (const auto& t : *list) EXPECT_NE(t.name, "x");
}

}  // namespace
}  // namespace mlostest

namespace mlostest {
namespace {

// The output and exit status of a shell command.
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, out};
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST_F(SecurityTest, ClisTakeATokenAndAModelQuotaLimitsEveryCaller) {
  const fs::path mlos = fs::path(MLOS_BINARY_DIR) / "bin" / "mlos";
  const fs::path axon = fs::path(MLOS_BINARY_DIR) / "bin" / "axon";
  ASSERT_TRUE(fs::exists(mlos) && fs::exists(axon));
  const std::string url = urls_[0];
  // mlos: no token -> one readable line and a non-zero exit; with --token it works, and
  // `tokens create` prints the token and nothing else.
  auto [rc, out] = Shell("MLOS_TOKEN= '" + mlos.string() + "' --url " + url + " models list 2>&1");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("authentication required"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::tie(rc, out) = Shell("'" + mlos.string() + "' --url " + urls_[1] + " --token " + admin_ +
                            " tokens create cli-reader --role reader");
  ASSERT_EQ(rc, 0) << out;
  ASSERT_EQ(out.rfind("mlos_", 0), 0u) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "only the token: " << out;
  tokens_.push_back(out.substr(0, out.size() - 1));
  std::tie(rc, out) = Shell("MLOS_TOKEN=" + admin_ + " '" + mlos.string() + "' --url " + urls_[2] +
                            " tokens list 2>&1");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("cli-reader"), std::string::npos) << out;
  ExpectNoToken(out, "mlos tokens list");

  // A model whose manifest quota allows one request at a time for everyone: axon registers it
  // (with a token), and a burst from two different principals shares that one quota.
  Package p = CelsiusPackage("1.0.0");
  p.ns = "sec";
  p.name = "scarce";
  p.security_yaml = "  quotas:\n    rate_limit: 0.001\n";
  const fs::path home = tmp_.path() / "axon-home";
  const fs::path dir = WritePackage(tmp_.path() / "src", p);
  // The package is installed into axon's cache under the model root, then registered.
  std::tie(rc, out) = Shell("AXON_HOME=" + home.string() + " '" + axon.string() + "' install " +
                            dir.string() + " --name sec/scarce@1.0.0 2>&1");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = Shell("AXON_HOME=" + home.string() + " MLOS_TOKEN= '" + axon.string() +
                            "' register sec/scarce@1.0.0 --endpoint " + url + " 2>&1");
  EXPECT_NE(rc, 0) << "no token: refused";
  EXPECT_NE(out.find("401"), std::string::npos) << out;
  std::tie(rc, out) = Shell("AXON_HOME=" + home.string() + " '" + axon.string() +
                            "' register sec/scarce@1.0.0 --endpoint " + url + " --token " + admin_ +
                            " 2>&1");
  // The cache is outside this daemon's model roots: refused with 403 naming them.
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("model roots"), std::string::npos) << out;
  ExpectNoToken(out, "axon's output");
  // Registered from under the root instead.
  auto admin = Connect(url, admin_);
  ASSERT_NE(admin, nullptr);
  client::RegisterRequest r;
  r.model_id = p.Id();
  r.path = WritePackage(pkgs_, p).string();
  ASSERT_TRUE(admin->Register(r).ok());
  auto first = admin->Infer(CelsiusRequest(p.Id()));
  EXPECT_TRUE(first.ok()) << first.status().message();
  auto second = admin->Infer(CelsiusRequest(p.Id()));
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(second.status().message().find("sec/scarce@1.0.0"), std::string::npos)
      << second.status().message();
}

// Over IPC, the peer's uid is the principal when security.unix_principals maps it.
TEST(SecurityUnixTest, AMappedPeerUidIsThePrincipalOverIpc) {
  std::string why;
  if (!Prerequisites(&why)) GTEST_SKIP() << why;
  if (MlosdHelp().find("--ipc") == std::string::npos) GTEST_SKIP() << "no IPC";
  TempDir tmp;
  const fs::path cfg = tmp.path() / "mlosd.yaml";
  std::ofstream(cfg) << "security:\n  auth: required\n  unix_principals: {\"" << ::getuid()
                     << "\": local-ops}\n  principals:\n    local-ops: {role: reader}\n";
  const fs::path sock = tmp.path() / "mlosd.sock";
  Daemon d(tmp.path() / "state", {"--ipc", sock.string(), "--config", cfg.string()});
  ASSERT_TRUE(d.Start());
  std::unique_ptr<client::Client> c;
  for (int i = 0; i < 50 && !c; ++i) {
    auto r = client::Client::Connect("unix://" + sock.string());
    if (r.ok()) c = std::move(r).value();
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->ListModels().ok()) << "a reader may list";
  auto load = c->Load("test/none@1.0.0");
  EXPECT_EQ(load.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(load.status().message().find("local-ops"), std::string::npos) << load.status().message();
  // The uid mapping is IPC's: over HTTP the same process is anonymous.
  EXPECT_EQ(d.Get("/models").status, 401);
  const std::string audit = ReadFileBytes(tmp.path() / "state" / "audit.log");
  EXPECT_NE(audit.find("\"principal\":\"local-ops\",\"method\":\"peercred\""), std::string::npos)
      << audit;
}

}  // namespace
}  // namespace mlostest
