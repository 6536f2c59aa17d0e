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
                          "http://[::1", "http://::1:80", "grpc://h:-1"}) {
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
