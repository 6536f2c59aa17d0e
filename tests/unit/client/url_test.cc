#include <gtest/gtest.h>

#include "mlos/client.h"

namespace mlos::client {
namespace {

TEST(ParseUrlTest, Schemes) {
  auto h = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->scheme, Endpoint::Scheme::kHttp);
  EXPECT_EQ(h->host, "127.0.0.1");
  EXPECT_EQ(h->port, 8080);
  EXPECT_EQ(h->ToString(), "http://127.0.0.1:8080");

  auto g = ParseUrl("grpc://localhost:9000/");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->scheme, Endpoint::Scheme::kGrpc);
  EXPECT_EQ(g->host, "localhost");
  EXPECT_EQ(g->port, 9000);

  auto u = ParseUrl("unix:///run/mlos/mlosd.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, Endpoint::Scheme::kUnix);
  EXPECT_EQ(u->path, "/run/mlos/mlosd.sock");
  EXPECT_EQ(u->ToString(), "unix:///run/mlos/mlosd.sock");

  auto v6 = ParseUrl("http://[::1]:81");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 81);
  EXPECT_EQ(v6->ToString(), "http://[::1]:81");
}

TEST(ParseUrlTest, TlsSchemes) {
  auto h = ParseUrl("https://127.0.0.1:8443");
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->scheme, Endpoint::Scheme::kHttp);
  EXPECT_TRUE(h->tls);
  EXPECT_EQ(h->host, "127.0.0.1");
  EXPECT_EQ(h->port, 8443);
  EXPECT_EQ(h->ToString(), "https://127.0.0.1:8443");

  auto g = ParseUrl("grpcs://mlos.example.com:9443/");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->scheme, Endpoint::Scheme::kGrpc);
  EXPECT_TRUE(g->tls);
  EXPECT_EQ(g->host, "mlos.example.com");
  EXPECT_EQ(g->port, 9443);
  EXPECT_EQ(g->ToString(), "grpcs://mlos.example.com:9443");

  auto v6 = ParseUrl("grpcs://[::1]:81");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "grpcs://[::1]:81");

  // The port defaults are mlosd's, whatever the scheme.
  EXPECT_EQ(ParseUrl("https://example.com")->port, 8080);
  EXPECT_EQ(ParseUrl("grpcs://example.com")->port, 8081);
  // Plaintext schemes and bare host:port are not TLS.
  for (const char* plain : {"http://h:1", "grpc://h:1", "h:1", "unix:///s.sock"}) {
    EXPECT_FALSE(ParseUrl(plain)->tls) << plain;
  }
}

TEST(ParseUrlTest, DefaultsAndBareHostPort) {
  auto bare = ParseUrl("example.com:1234");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->scheme, Endpoint::Scheme::kHttp);
  EXPECT_EQ(bare->port, 1234);
  EXPECT_EQ(ParseUrl("http://example.com")->port, 8080);
  EXPECT_EQ(ParseUrl("grpc://example.com")->port, 8081);
}

TEST(ParseUrlTest, Refused) {
  for (const char* bad : {"", "ftp://x:1", "http://", "http://:80", "http://h:0", "http://h:65536",
                          "http://h:8x", "http://h:80/path", "unix://relative.sock", "unix://",
                          "http://[::1", "http://::1:80", "grpc://h:-1", "https://", "grpcs://",
                          "https://h:80/path", "HTTPS://h:1", "unixs:///s.sock", "http+tls://h:1",
                          "grpcs://:81", "https://h:99999"}) {
    auto r = ParseUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ConnectTest, BadUrlIsInvalidArgument) {
  auto c = Client::Connect("nope://x");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
}

TEST(ConnectTest, TlsOptionsAreChecked) {
  ClientOptions o;
  o.tls.ca_file = "/nonexistent/ca.pem";
  // A TLS file with a plaintext URL would silently not be used: refused.
  for (const char* plain : {"http://127.0.0.1:1", "grpc://127.0.0.1:1", "unix:///tmp/x.sock"}) {
    auto c = Client::Connect(plain, o);
    ASSERT_FALSE(c.ok()) << plain;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << plain;
    EXPECT_NE(c.status().message().find("https:// or grpcs://"), std::string::npos)
        << c.status().message();
  }
  // An unreadable file is named, over both TLS schemes.
  for (const char* tls : {"https://127.0.0.1:1", "grpcs://127.0.0.1:1"}) {
    auto c = Client::Connect(tls, o);
    ASSERT_FALSE(c.ok()) << tls;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << tls;
    EXPECT_NE(c.status().message().find("/nonexistent/ca.pem"), std::string::npos)
        << c.status().message();
  }
  // A client certificate needs its key, and the reverse.
  ClientOptions cert_only;
  cert_only.tls.cert_file = "/etc/hostname";
  auto c = Client::Connect("https://127.0.0.1:1", cert_only);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("needs its key"), std::string::npos) << c.status().message();
  ClientOptions key_only;
  key_only.tls.key_file = "/etc/hostname";
  c = Client::Connect("grpcs://127.0.0.1:1", key_only);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("needs its certificate"), std::string::npos)
      << c.status().message();
}

TEST(ConnectTest, UnreachableHttpsServerIsUnavailable) {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  auto c = Client::Connect("https://127.0.0.1:1", o);
  ASSERT_TRUE(c.ok());  // HTTPS connects lazily too
  auto live = (*c)->Live();
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(live.status().message().find("https://127.0.0.1:1"), std::string::npos)
      << live.status().message();
}

TEST(ConnectTest, EmptyTokenNameIsRefusedBeforeSending) {
  // RevokeToken("") cannot travel in an HTTP path; every transport refuses it the same way,
  // without a server.
  for (const char* url : {"http://127.0.0.1:1", "grpc://127.0.0.1:1"}) {
    auto c = Client::Connect(url);
    ASSERT_TRUE(c.ok()) << url;
    auto r = (*c)->RevokeToken("");
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(r.status().message(), "token name is empty") << url;
  }
}

TEST(ConnectTest, UnreachableHttpServerIsUnavailable) {
  ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(2000);
  auto c = Client::Connect("http://127.0.0.1:1", o);
  ASSERT_TRUE(c.ok());  // HTTP connects lazily
  auto live = (*c)->Live();
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(live.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST(DtypeTest, Sizes) {
  EXPECT_EQ(DtypeSize("float32"), 4u);
  EXPECT_EQ(DtypeSize("float16"), 2u);
  EXPECT_EQ(DtypeSize("int64"), 8u);
  EXPECT_EQ(DtypeSize("bool"), 1u);
  EXPECT_EQ(DtypeSize("string"), 0u);
  EXPECT_TRUE(IsKnownDtype("string"));
  EXPECT_FALSE(IsKnownDtype("FP32"));
  EXPECT_EQ(ElementCount({}), 1);
  EXPECT_EQ(ElementCount({2, 0}), 0);
  EXPECT_EQ(ElementCount({-1, 2}), -1);
}

TEST(SharedMemoryTest, MemfdIsSealedAndBoundsChecked) {
  auto m = SharedMemory::CreateMemfd("t", 64);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE((*m)->is_system());
  const char msg[] = "hello";
  ASSERT_TRUE((*m)->Write(10, msg, 5).ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>((*m)->data()) + 10, 5), "hello");
  EXPECT_FALSE((*m)->Write(60, msg, 5).ok());
  EXPECT_FALSE((*m)->Read(65, 0).ok());
  EXPECT_EQ((*m)->Read(10, 5)->size(), 5u);
}

}  // namespace
}  // namespace mlos::client
