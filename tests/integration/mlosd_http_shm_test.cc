// KServe's system shared-memory extension over HTTP against the real mlosd: a POSIX shm object
// created here, registered by key, used for inputs and outputs of a KServe infer, status and
// unregister.
#include <fcntl.h>
#include <sys/mman.h>

#include <cmath>
#include <cstring>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

std::vector<float> Input(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 3.1);
  return v;
}

class MlosdHttpShmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    key_ = "/mlos-http-shm-" + std::to_string(::getpid());
    fd_ = ::shm_open(key_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd_, 0);
    ASSERT_EQ(::ftruncate(fd_, kSize), 0);
    base_ = static_cast<uint8_t*>(
        ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    ASSERT_NE(base_, MAP_FAILED);
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state");
    ASSERT_TRUE(daemon_->Start());
    Package p = MlpPackage();
    Reply r = daemon_->Post("/models/register", RegisterBody(p, WritePackage(tmp_.path(), p)));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void TearDown() override {
    if (base_ && base_ != MAP_FAILED) ::munmap(base_, kSize);
    if (fd_ >= 0) ::close(fd_);
    ::shm_unlink(key_.c_str());
  }

  static constexpr size_t kSize = 16384;
  TempDir tmp_;
  std::string key_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(MlosdHttpShmTest, RegisterInferStatusUnregister) {
  EXPECT_NE(daemon_->Get("/v2").body.find("system_shared_memory"), std::string::npos);
  // Region "in" = [0, 8192), "out" = [8192, 16384) of the object.
  Reply r = daemon_->Post("/v2/systemsharedmemory/region/in/register",
                          json{{"key", key_}, {"offset", 0}, {"byte_size", 8192}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/out/register",
                    json{{"key", key_}, {"offset", 8192}, {"byte_size", 8192}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/in/register",
                    json{{"key", key_}, {"offset", 0}, {"byte_size", 64}}.dump());
  EXPECT_EQ(r.status, 409) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/x/register",
                    json{{"key", "/mlos-no-such-shm"}, {"byte_size", 64}}.dump());
  EXPECT_EQ(r.status, 404) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/x/register",
                    json{{"key", key_}, {"offset", 16000}, {"byte_size", 1000}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/x/register", json{{"key", key_}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.Error().find("byte_size"), std::string::npos);

  r = daemon_->Get("/v2/systemsharedmemory/status");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().size(), 2u);
  r = daemon_->Get("/v2/systemsharedmemory/region/out/status");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()[0]["key"], key_);
  EXPECT_EQ(r.Json()[0]["offset"], 8192);
  EXPECT_EQ(r.Json()[0]["byte_size"], 8192);

  const std::vector<float> in = Input(2);
  // Reference answer with JSON data.
  json ref_body = {{"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {2, 16}},
                                {"data", in}}}}};
  Reply ref = daemon_->Post("/v2/models/test%2Fmlp/infer", ref_body.dump());
  ASSERT_EQ(ref.status, 200) << ref.body;

  std::memcpy(base_ + 128, in.data(), in.size() * 4);
  std::memset(base_ + 8192, 0, 8192);
  json body = {
      {"inputs",
       {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {2, 16}},
         {"parameters",
          {{"shared_memory_region", "in"}, {"shared_memory_offset", 128},
           {"shared_memory_byte_size", in.size() * 4}}}}}},
      {"outputs",
       {{{"name", "logits"},
         {"parameters", {{"shared_memory_region", "out"}, {"shared_memory_byte_size", 64}}}},
        {{"name", "probs"},
         {"parameters",
          {{"shared_memory_region", "out"}, {"shared_memory_offset", 256},
           {"shared_memory_byte_size", 64}}}}}}};
  r = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.Json();
  ASSERT_EQ(j["outputs"].size(), 2u);
  const json ref_json = ref.Json();  // a range-for over ref.Json()[...] would read a dead temporary
  for (const json& o : j["outputs"]) {
    // As Triton: neither data nor parameters; the bytes are where the request said.
    EXPECT_FALSE(o.contains("data")) << o.dump();
    EXPECT_FALSE(o.contains("parameters")) << o.dump();
    const size_t at = 8192 + (o["name"] == "probs" ? 256 : 0);
    std::vector<float> got(8);
    std::memcpy(got.data(), base_ + at, 32);
    for (const json& ro : ref_json["outputs"]) {
      if (ro["name"] == o["name"]) {
        EXPECT_EQ(got, ro["data"].get<std::vector<float>>()) << o;
      }
    }
  }
  // Out of bounds and size mismatches are refused with a clear error.
  body["inputs"][0]["parameters"]["shared_memory_offset"] = 8192 - 64;
  r = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.Error().find("exceeds its 8192 bytes"), std::string::npos) << r.body;
  body["inputs"][0]["parameters"]["shared_memory_offset"] = 128;
  body["inputs"][0]["parameters"]["shared_memory_byte_size"] = 100;
  r = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  body["inputs"][0]["parameters"]["shared_memory_byte_size"] = in.size() * 4;
  body["outputs"][0]["parameters"]["shared_memory_byte_size"] = 16;
  r = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  EXPECT_NE(r.status, 200) << r.body;
  EXPECT_NE(r.Error().find("do not fit"), std::string::npos) << r.body;
  body["outputs"][0]["parameters"]["shared_memory_region"] = "nope";
  r = daemon_->Post("/v2/models/test%2Fmlp/infer", body.dump());
  EXPECT_EQ(r.status, 404) << r.body;

  // Unregister one, then all.
  r = daemon_->Post("/v2/systemsharedmemory/region/in/unregister");
  EXPECT_EQ(r.status, 200) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/region/in/unregister");
  EXPECT_EQ(r.status, 404) << r.body;
  r = daemon_->Get("/v2/systemsharedmemory/region/in/status");
  EXPECT_EQ(r.status, 404) << r.body;
  r = daemon_->Post("/v2/systemsharedmemory/unregister");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(daemon_->Get("/v2/systemsharedmemory/status").Json().size(), 0u);
  EXPECT_EQ(daemon_->Get("/v2/systemsharedmemory/region/in/register").status, 405);
}

}  // namespace
}  // namespace mlostest
