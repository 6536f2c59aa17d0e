// A disk that fills up under mlosd (docs/reliability.md, "Load and faults"): the state directory
// (registry database, audit log) on a small tmpfs, filled to the last byte while the daemon
// runs. Management calls that must write get a clear error and change nothing; inference goes
// on; once space is back the same calls succeed, and a restart finds exactly what was
// acknowledged. Mounting a tmpfs needs CAP_SYS_ADMIN (root on CI); without it the test says so
// and skips.
#include <sys/mount.h>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

class MlosdDiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    state_ = tmp_.path() / "state";
    fs::create_directories(state_);
    if (::mount("mlos-diskfull", state_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=8m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs (needs CAP_SYS_ADMIN): " << std::strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    daemon_.reset();
    if (mounted_) ::umount2(state_.c_str(), MNT_DETACH);
  }

  // Fills the file system to the last block with `filler` (written until ENOSPC).
  void Fill() {
    FILE* f = std::fopen((state_ / "filler").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::setvbuf(f, nullptr, _IONBF, 0);
    const std::string block(4096, 'x');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) {
    }
    while (std::fwrite("x", 1, 1, f) == 1) {
    }
    std::fclose(f);
  }
  void Free() { fs::remove(state_ / "filler"); }

  Reply Register(const Package& p) {
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    return daemon_->Post("/models/register", RegisterBody(p, dir));
  }
  std::vector<std::string> Ids() {
    std::vector<std::string> ids;
    const Reply r = daemon_->Get("/models");
    EXPECT_EQ(r.status, 200) << r.body;
    const json doc = r.Json();
    for (const json& m : doc["models"]) ids.push_back(m["id"]);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  Reply Infer(const Package& p) {
    return daemon_->Post("/v2/models/" + Encode(p.Id()) + "/infer",
                         R"({"inputs":[{"name":"celsius","shape":[1],"datatype":"FP32",)"
                         R"("data":[100.0]}]})");
  }

  TempDir tmp_;
  fs::path state_;
  bool mounted_ = false;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(MlosdDiskFullTest, WritesFailClearlyChangeNothingAndRecover) {
  daemon_ = std::make_unique<Daemon>(state_);
  ASSERT_TRUE(daemon_->Start());
  const Package a = CelsiusPackage("1.0.0");
  const Package b = CelsiusPackage("2.0.0");
  ASSERT_EQ(Register(a).status, 200);
  ASSERT_EQ(Infer(a).status, 200);
  const std::vector<std::string> before = Ids();

  Fill();
  // Writes that need the disk: a clear error each (a 5xx naming the cause), nothing applied.
  for (int i = 0; i < 3; ++i) {
    Reply r = Register(b);
    EXPECT_GE(r.status, 500) << r.body;
    EXPECT_NE(r.Error().find("full"), std::string::npos) << r.body;
    if (i == 0) std::printf("register on a full disk: %d %s\n", r.status, r.body.c_str());
  }
  const std::string alias_path = "/models/" + Encode("test/celsius") + "/alias";
  const std::string alias_body = R"({"alias":"stable","version":"1.0.0"})";
  Reply alias = daemon_->Post(alias_path, alias_body);
  EXPECT_GE(alias.status, 500) << alias.body;
  EXPECT_EQ(Ids(), before);
  auto aliases = [&] {
    const json doc = daemon_->Get("/models/" + Encode(a.Id())).Json();
    std::vector<std::string> out;
    for (const json& x : doc["aliases"]) out.push_back(x);
    return out;
  };
  const auto has_stable = [](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), "stable") != v.end();
  };
  EXPECT_FALSE(has_stable(aliases())) << "an alias the registry could not store";
  // Serving does not need the disk: inference, health and metrics go on.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Infer(a).status, 200) << i;
  EXPECT_EQ(daemon_->Get("/v2/health/ready").status, 200);
  EXPECT_EQ(daemon_->Get("/metrics").status, 200);

  // Space again: the same calls succeed.
  Free();
  Reply ok = Register(b);
  ASSERT_EQ(ok.status, 200) << ok.body;
  alias = daemon_->Post(alias_path, alias_body);
  ASSERT_EQ(alias.status, 200) << alias.body;
  const std::vector<std::string> after = Ids();
  ASSERT_EQ(after.size(), 2u);

  // A restart finds exactly what was acknowledged.
  ASSERT_EQ(daemon_->Stop(), 0);
  daemon_ = std::make_unique<Daemon>(state_);
  ASSERT_TRUE(daemon_->Start());
  EXPECT_EQ(Ids(), after);
  EXPECT_TRUE(has_stable(aliases()));
  EXPECT_EQ(Infer(a).status, 200);
}

TEST_F(MlosdDiskFullTest, StartOnAFullDiskFailsClearlyAndLosesNothing) {
  daemon_ = std::make_unique<Daemon>(state_);
  ASSERT_TRUE(daemon_->Start());
  const Package a = CelsiusPackage("1.0.0");
  ASSERT_EQ(Register(a).status, 200);
  ASSERT_EQ(daemon_->Stop(), 0);
  Fill();
  // SQLite cannot open its write-ahead log on a full disk: mlosd says so and exits.
  daemon_ = std::make_unique<Daemon>(state_);
  EXPECT_FALSE(daemon_->Start());
  EXPECT_NE(daemon_->Log().find("is full"), std::string::npos) << daemon_->Log();
  daemon_.reset();
  Free();
  daemon_ = std::make_unique<Daemon>(state_);
  ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
  EXPECT_EQ(Ids(), std::vector<std::string>{a.Id()});
  EXPECT_EQ(Infer(a).status, 200);
}

}  // namespace
}  // namespace mlostest
