// The SDK's security over every transport, against fake servers that speak the wire formats
// (no daemon): the token calls (the same values and StatusCodes over https://, grpcs:// and
// unix://), the bearer token on each (HTTP header, gRPC metadata, the IPC AUTH op), mutual TLS
// with a client certificate, and Retry-After / the `retry-after` trailer.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../http/test_certs.h"
#include "api/http/server.h"
#include "mlos/client.h"
#include "mlos_management.grpc.pb.h"
#include "wire/ipc_protocol.h"

namespace mlos::client {
namespace {

using nlohmann::json;
using mlos::testing::TestCerts;

constexpr const char* kAdminToken = "mlos_admin_secret";
constexpr const char* kNewToken = "mlos_new_secret";

// The one fake token store the three fake front-ends answer from.
json Doc(const std::string& name, bool revoked) {
  return {{"name", name},
          {"role", "user"},
          {"models", {"ns/*"}},
          {"created_at", "2026-12-03T20:41:07Z"},
          {"expires_at", "2027-01-02T20:41:07Z"},
          {"last_used_at", nullptr},
          {"revoked_at", revoked ? json("2026-12-04T08:00:00Z") : json()}};
}

// What a fake answers a create: the request's fields echoed, or an error.
struct Answer {
  StatusCode code = StatusCode::kOk;
  std::string message;
  json doc;
};

struct FakeStore {
  std::mutex mu;
  json last_create;  // the create request as the server decoded it

  Answer Create(const json& request) {
    std::lock_guard lock(mu);
    last_create = request;
    if (request.value("name", "") == "taken") {
      return {StatusCode::kAlreadyExists, "token 'taken' already exists (revoke it first)", {}};
    }
    json doc = Doc(request.value("name", ""), false);
    doc["role"] = request.value("role", "");
    doc["models"] = request.value("models", json::array());
    doc["token"] = kNewToken;
    return {StatusCode::kOk, "", doc};
  }
  Answer List() {
    return {StatusCode::kOk, "", {{"tokens", {Doc("bob", false), Doc("eve", true)}}}};
  }
  Answer Revoke(const std::string& name) {
    if (name == "limited") return {StatusCode::kResourceExhausted, "rate limit exceeded", {}};
    if (name != "bob") return {StatusCode::kNotFound, "no active token named '" + name + "'", {}};
    return {StatusCode::kOk, "", Doc("bob", true)};
  }
};

// ---- HTTPS -----------------------------------------------------------------------------------

int HttpStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnauthenticated: return 401;
    default: return 500;
  }
}

http::Server::Handler HttpFake(FakeStore& store) {
  return [&store](const http::RouteMatch&, const http::HttpRequest& req, http::HttpResponse& res) {
    Answer a;
    const std::string target(req.target);
    if (req.authorization != std::string("Bearer ") + kAdminToken) {
      a = {StatusCode::kUnauthenticated, "missing or invalid bearer token", {}};
    } else if (req.method == http::Method::kPost && target == "/tokens") {
      a = store.Create(json::parse(req.body, nullptr, false));
    } else if (req.method == http::Method::kGet && target == "/tokens") {
      a = store.List();
    } else if (req.method == http::Method::kDelete && target.starts_with("/tokens/")) {
      a = store.Revoke(target.substr(8));
    } else {
      a = {StatusCode::kNotFound, "no route " + target, {}};
    }
    res.status = HttpStatus(a.code);
    res.body = a.code == StatusCode::kOk ? a.doc.dump() : json{{"error", a.message}}.dump();
    if (a.code == StatusCode::kResourceExhausted) res.retry_after_s = 7;
  };
}

// ---- gRPC over TLS ---------------------------------------------------------------------------

void ToProto(const json& d, mlos::v1::TokenInfo* t) {
  auto str = [&](const char* k) { return d[k].is_string() ? d[k].get<std::string>() : ""; };
  t->set_name(str("name"));
  t->set_role(str("role"));
  for (const auto& m : d["models"]) t->add_models(m.get<std::string>());
  t->set_created_at(str("created_at"));
  t->set_expires_at(str("expires_at"));
  t->set_last_used_at(str("last_used_at"));
  t->set_revoked_at(str("revoked_at"));
}

class GrpcFake final : public mlos::v1::Management::Service {
 public:
  explicit GrpcFake(FakeStore& store) : store_(store) {}
  grpc::Status CreateToken(grpc::ServerContext* ctx, const mlos::v1::CreateTokenRequest* req,
                           mlos::v1::CreateTokenResponse* res) override {
    json request = {{"name", req->name()}, {"role", req->role()}};
    if (req->models_size()) {
      request["models"] = json::array();
      for (const std::string& m : req->models()) request["models"].push_back(m);
    }
    if (!req->expires().empty()) request["expires"] = req->expires();
    Answer a = Authorized(ctx) ? store_.Create(request) : Unauthenticated();
    if (a.code == StatusCode::kOk) {
      res->set_token(a.doc["token"].get<std::string>());
      ToProto(a.doc, res->mutable_info());
    }
    return Finish(ctx, a);
  }
  grpc::Status ListTokens(grpc::ServerContext* ctx, const mlos::v1::ListTokensRequest*,
                          mlos::v1::ListTokensResponse* res) override {
    Answer a = Authorized(ctx) ? store_.List() : Unauthenticated();
    if (a.code == StatusCode::kOk) {
      for (const json& d : a.doc["tokens"]) ToProto(d, res->add_tokens());
    }
    return Finish(ctx, a);
  }
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const mlos::v1::RevokeTokenRequest* req,
                           mlos::v1::TokenInfo* res) override {
    Answer a = Authorized(ctx) ? store_.Revoke(req->name()) : Unauthenticated();
    if (a.code == StatusCode::kOk) ToProto(a.doc, res);
    return Finish(ctx, a);
  }

 private:
  static bool Authorized(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    return it != ctx->client_metadata().end() &&
           std::string(it->second.data(), it->second.size()) ==
               std::string("Bearer ") + kAdminToken;
  }
  static Answer Unauthenticated() {
    return {StatusCode::kUnauthenticated, "missing or invalid bearer token", {}};
  }
  static grpc::Status Finish(grpc::ServerContext* ctx, const Answer& a) {
    switch (a.code) {
      case StatusCode::kOk: return grpc::Status::OK;
      case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, a.message};
      case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, a.message};
      case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, a.message};
      case StatusCode::kResourceExhausted:
        ctx->AddTrailingMetadata("retry-after", "7");
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, a.message};
      default: return {grpc::StatusCode::INTERNAL, a.message};
    }
  }
  FakeStore& store_;
};

// ---- IPC -------------------------------------------------------------------------------------

// A unix-socket server that answers HELLO, AUTH and the token ops, one connection at a time.
class IpcFake {
 public:
  IpcFake(FakeStore& store, std::string path) : store_(store), path_(std::move(path)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~IpcFake() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
    ::unlink(path_.c_str());
  }
  // The token the last AUTH carried.
  std::string last_auth() {
    std::lock_guard lock(mu_);
    return last_auth_;
  }

 private:
  void Serve() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      Connection(fd);
      ::close(fd);
    }
  }
  void Connection(int fd) {
    bool authenticated = false;
    ipc::FrameHeader h;
    std::string payload;
    while (ipc::RecvFrame(fd, h, payload).ok()) {
      std::string out;
      Answer a;
      ipc::Reader r(payload);
      switch (static_cast<ipc::Op>(h.op)) {
        case ipc::Op::kHello: {
          ipc::Writer w(out);
          w.U16(1);
          w.U32(ipc::kMaxPayload);
          w.Str("fake");
          break;
        }
        case ipc::Op::kAuth: {
          const std::string token(r.Str());
          {
            std::lock_guard lock(mu_);
            last_auth_ = token;
          }
          // As mlosd: the token is kept even when refused, and every later call fails.
          authenticated = token == kAdminToken;
          if (authenticated) {
            ipc::Writer w(out);
            w.Str("admin");
            w.Str("admin");
          } else {
            a = {StatusCode::kUnauthenticated, "missing or invalid bearer token", {}};
          }
          break;
        }
        case ipc::Op::kTokenCreate:
        case ipc::Op::kTokenList:
        case ipc::Op::kTokenRevoke:
          if (!authenticated) {
            a = {StatusCode::kUnauthenticated, "missing or invalid bearer token", {}};
          } else if (static_cast<ipc::Op>(h.op) == ipc::Op::kTokenCreate) {
            a = store_.Create(json::parse(payload, nullptr, false));
          } else if (static_cast<ipc::Op>(h.op) == ipc::Op::kTokenList) {
            a = store_.List();
          } else {
            a = store_.Revoke(std::string(r.Str()));
          }
          if (a.code == StatusCode::kOk) out = a.doc.dump();
          break;
        default:
          a = {StatusCode::kUnimplemented, "ipc: unknown operation " + std::to_string(h.op), {}};
      }
      ipc::FrameHeader rh;
      rh.op = h.op;
      rh.request_id = h.request_id;
      rh.status = static_cast<uint32_t>(a.code);
      if (a.code != StatusCode::kOk) out = a.message;
      rh.length = static_cast<uint32_t>(out.size());
      if (!ipc::SendFrame(fd, rh, out).ok()) return;
    }
  }

  FakeStore& store_;
  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::string last_auth_;
};

// ---- the tests -------------------------------------------------------------------------------

class ClientSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TestCerts(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  // Every fake requires mutual TLS (client certificate CN=alice) where there is TLS.
  void SetUp() override {
    ASSERT_TRUE(certs_->ok());
    http::ServerOptions ho;
    ho.port = 0;
    ho.io_threads = 1;
    ho.tls = {certs_->server_cert(), certs_->server_key(), certs_->ca()};
    http_ = std::make_unique<http::Server>(HttpFake(store_), ho);
    Status st = http_->Start();
    ASSERT_TRUE(st.ok()) << st.message();

    grpc::SslServerCredentialsOptions so(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    so.pem_root_certs = Read(certs_->ca());
    so.pem_key_cert_pairs.push_back({Read(certs_->server_key()), Read(certs_->server_cert())});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(so), &grpc_port_);
    builder.RegisterService(&grpc_fake_);
    grpc_ = builder.BuildAndStart();
    ASSERT_TRUE(grpc_ && grpc_port_ > 0);

    ipc_ = std::make_unique<IpcFake>(store_, certs_->Path("mlosd.sock"));
  }
  void TearDown() override {
    if (grpc_) grpc_->Shutdown();
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::string> Urls() const {
    return {"https://127.0.0.1:" + std::to_string(http_->port()),
            "grpcs://127.0.0.1:" + std::to_string(grpc_port_),
            "unix://" + certs_->Path("mlosd.sock")};
  }
  // Options for `url`: the admin token, and for TLS the CA and alice's certificate.
  static ClientOptions Options(const std::string& url, const std::string& token = kAdminToken,
                               bool client_cert = true) {
    ClientOptions o;
    o.timeout = std::chrono::seconds(10);
    o.bearer_token = token;
    if (!url.starts_with("unix://")) {
      o.tls.ca_file = certs_->ca();
      if (client_cert) {
        o.tls.cert_file = certs_->client_cert();
        o.tls.key_file = certs_->client_key();
      }
    }
    return o;
  }

  static TestCerts* certs_;
  FakeStore store_;
  std::unique_ptr<http::Server> http_;
  GrpcFake grpc_fake_{store_};
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<IpcFake> ipc_;
};

TestCerts* ClientSecurityTest::certs_ = nullptr;

TEST_F(ClientSecurityTest, TokenCallsAnswerTheSameOverEveryTransport) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    auto c = Client::Connect(url, Options(url));
    ASSERT_TRUE(c.ok()) << c.status().message();

    auto created = (*c)->CreateToken("bob", "user", {"ns/*", "other/m"}, "30d");
    ASSERT_TRUE(created.ok()) << created.status().message();
    EXPECT_EQ(created->token, kNewToken);
    EXPECT_EQ(created->info.name, "bob");
    EXPECT_EQ(created->info.role, "user");
    EXPECT_EQ(created->info.models, (std::vector<std::string>{"ns/*", "other/m"}));
    EXPECT_EQ(created->info.created_at, "2026-12-03T20:41:07Z");
    EXPECT_EQ(created->info.expires_at, "2027-01-02T20:41:07Z");
    EXPECT_EQ(created->info.last_used_at, "");
    EXPECT_EQ(created->info.revoked_at, "");
    {
      std::lock_guard lock(store_.mu);
      EXPECT_EQ(store_.last_create, (json{{"name", "bob"}, {"role", "user"},
                                          {"models", {"ns/*", "other/m"}}, {"expires", "30d"}}));
    }
    // Optional fields stay out of the request.
    ASSERT_TRUE((*c)->CreateToken("carol", "reader").ok());
    {
      std::lock_guard lock(store_.mu);
      EXPECT_EQ(store_.last_create, (json{{"name", "carol"}, {"role", "reader"}}));
    }

    auto list = (*c)->ListTokens();
    ASSERT_TRUE(list.ok()) << list.status().message();
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].name, "bob");
    EXPECT_EQ((*list)[0].revoked_at, "");
    EXPECT_EQ((*list)[1].name, "eve");
    EXPECT_EQ((*list)[1].revoked_at, "2026-12-04T08:00:00Z");

    auto revoked = (*c)->RevokeToken("bob");
    ASSERT_TRUE(revoked.ok()) << revoked.status().message();
    EXPECT_EQ(revoked->revoked_at, "2026-12-04T08:00:00Z");

    auto taken = (*c)->CreateToken("taken", "user");
    EXPECT_EQ(taken.status().code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(taken.status().message(), "token 'taken' already exists (revoke it first)");
    auto unknown = (*c)->RevokeToken("nobody");
    EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(unknown.status().message(), "no active token named 'nobody'");
    auto empty = (*c)->RevokeToken("");
    EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(empty.status().message(), "token name is empty");

    auto limited = (*c)->RevokeToken("limited");
    EXPECT_EQ(limited.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(limited.status().message(), "rate limit exceeded");
    // HTTP's Retry-After and gRPC's trailer; IPC frames have no place for it.
    EXPECT_EQ(limited.status().retry_after_s(), url.starts_with("unix://") ? 0u : 7u);
  }
  EXPECT_EQ(ipc_->last_auth(), kAdminToken);
}

TEST_F(ClientSecurityTest, IpcTokenForAServerWithoutTokensIsUnimplemented) {
  // A server that predates AUTH answers it like any unknown op.
  const std::string path = certs_->Path("old.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  std::thread old([fd] {
    const int conn = ::accept(fd, nullptr, nullptr);
    ipc::FrameHeader h;
    std::string payload;
    while (ipc::RecvFrame(conn, h, payload).ok()) {
      std::string out;
      ipc::FrameHeader rh;
      rh.op = h.op;
      rh.request_id = h.request_id;
      if (h.op == static_cast<uint16_t>(ipc::Op::kHello)) {
        ipc::Writer w(out);
        w.U16(1);
        w.U32(ipc::kMaxPayload);
        w.Str("old");
      } else {
        rh.status = static_cast<uint32_t>(StatusCode::kUnimplemented);
        out = "ipc: unknown operation " + std::to_string(h.op);
      }
      rh.length = static_cast<uint32_t>(out.size());
      if (!ipc::SendFrame(conn, rh, out).ok()) break;
    }
    ::close(conn);
  });
  auto c = Client::Connect("unix://" + path, Options("unix://" + path));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(c.status().message().find("does not take bearer tokens"), std::string::npos)
      << c.status().message();
  old.join();
  ::close(fd);
  ::unlink(path.c_str());
}

TEST_F(ClientSecurityTest, AWrongOrMissingTokenIsUnauthenticated) {
  for (const std::string& url : Urls()) {
    SCOPED_TRACE(url);
    for (const std::string token : {"mlos_wrong", ""}) {
      // A refused token does not fail Connect (IPC included): the calls fail, with the
      // server's words.
      auto c = Client::Connect(url, Options(url, token));
      ASSERT_TRUE(c.ok()) << c.status().message();
      Status st = (*c)->ListTokens().status();
      EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st.message();
      EXPECT_EQ(st.message(), "missing or invalid bearer token");
    }
  }
}

TEST_F(ClientSecurityTest, MutualTlsWithoutAClientCertificateIsUnavailable) {
  for (const std::string& url : {Urls()[0], Urls()[1]}) {
    SCOPED_TRACE(url);
    auto c = Client::Connect(url, Options(url, kAdminToken, /*client_cert=*/false));
    ASSERT_TRUE(c.ok()) << c.status().message();  // both connect lazily
    auto r = (*c)->ListTokens();
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().message();
    EXPECT_NE(r.status().message().find(url), std::string::npos) << r.status().message();
  }
}

TEST_F(ClientSecurityTest, AServerCertificateFromAnUnknownCaIsUnavailable) {
  for (const std::string& url : {Urls()[0], Urls()[1]}) {
    SCOPED_TRACE(url);
    ClientOptions o = Options(url);
    o.tls.ca_file = certs_->Path("rogue-ca.pem");
    auto c = Client::Connect(url, o);
    ASSERT_TRUE(c.ok()) << c.status().message();
    auto r = (*c)->ListTokens();
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().message();
  }
}

}  // namespace
}  // namespace mlos::client
