// mlosd's `isolation:` config section, `security.trusted_keys` and the --isolation / --worker
// flags against the real daemon: a full valid section starts (and the daemon logs what it
// took), and every bad value is refused at start, exit code 2, naming the field.
#include <fstream>

#include "mlosd_harness.h"
#include "mpf/signature.h"

namespace mlostest {
namespace {

class MlosdIsolationConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kMlosd)) GTEST_SKIP() << "missing " << kMlosd;
    ASSERT_TRUE(mlos::mpf::GenerateKeyPair(tmp_.path() / "team.key", tmp_.path() / "team.pub")
                    .ok());
    std::ofstream(tmp_.path() / "junk.pub") << "not a key\n";
  }

  std::string WriteConfig(const std::string& yaml) {
    const fs::path p = tmp_.path() / ("config-" + std::to_string(++configs_) + ".yaml");
    std::ofstream(p) << yaml;
    return p.string();
  }

  std::string FullConfig() const {
    return "isolation:\n"
           "  default: process\n"
           "  models: {\"team/a\": in_process, \"team/b@2\": strict}\n"
           "  unsigned: process\n"
           "  worker: " + kMlosd.string() + "\n"
           "  watchdog: 30s\n"
           "  restart_limit: 3\n"
           "  restart_window: 2m\n"
           "  restart_backoff: 50ms\n"
           "  restart_backoff_max: 2s\n"
           "  channels: 8\n"
           "  user: nobody\n"
           "  pids_max: 32\n"
           "  file_size_max: 256MiB\n"
           "security:\n"
           "  trusted_keys: [" + (tmp_.path() / "team.pub").string() + "]\n";
  }

  TempDir tmp_;
  int configs_ = 0;
};

TEST_F(MlosdIsolationConfigTest, AFullSectionIsTaken) {
  Daemon d(tmp_.path() / "state", {"--config", WriteConfig(FullConfig())});
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(d.Get("/v2/health/live").status, 200);
  const std::string log = d.Log();
  EXPECT_NE(log.find("isolation: default process, 2 per-model setting(s), unsigned packages "
                     "process, 1 trusted key(s), worker " + kMlosd.string() +
                     ", watchdog 30000 ms, restarts 3 per 120000 ms"),
            std::string::npos)
      << log;
  EXPECT_EQ(d.Stop(), 0);
}

TEST_F(MlosdIsolationConfigTest, FlagsOverrideTheConfig) {
  Daemon d(tmp_.path() / "state",
           {"--config", WriteConfig(FullConfig()), "--isolation", "strict", "--worker",
            kMlosd.string()});
  ASSERT_TRUE(d.Start());
  const std::string log = d.Log();
  EXPECT_NE(log.find("isolation: default strict, 2 per-model setting(s)"), std::string::npos)
      << log;
  EXPECT_EQ(d.Stop(), 0);
  // The defaults: everything in-process, as before.
  Daemon plain(tmp_.path() / "state");
  ASSERT_TRUE(plain.Start());
  EXPECT_NE(plain.Log().find("isolation: default in_process, 0 per-model setting(s), unsigned "
                             "packages in_process, 0 trusted key(s), worker mlos-worker beside "
                             "mlosd, watchdog 60000 ms, restarts 5 per 60000 ms"),
            std::string::npos)
      << plain.Log();
}

TEST_F(MlosdIsolationConfigTest, BadValuesAreRefusedNamingTheField) {
  const std::string junk = (tmp_.path() / "junk.pub").string();
  const std::string good = (tmp_.path() / "team.pub").string();
  struct Case {
    std::string yaml;
    std::string error;
  } cases[] = {
      {"isolation:\n  colour: blue\n", "config field 'isolation.colour' is unknown"},
      {"isolation:\n  default: jail\n",
       "config field 'isolation.default' must be in_process, process or strict, got 'jail'"},
      {"isolation: process\n", "config field 'isolation' must be a mapping"},
      {"isolation:\n  models: {team/a: jail}\n", "config field 'isolation.models.team/a'"},
      {"isolation:\n  models: {mlp: process}\n", "config field 'isolation.models.mlp'"},
      {"isolation:\n  unsigned: strict\n", "config field 'isolation.unsigned'"},
      {"isolation:\n  watchdog: soon\n", "config field 'isolation.watchdog': invalid duration"},
      {"isolation:\n  restart_backoff: -1s\n",
       "config field 'isolation.restart_backoff' must not be negative"},
      {"isolation:\n  restart_window: 0\n", "config field 'isolation.restart_window'"},
      {"isolation:\n  restart_backoff: 10s\n", "config field 'isolation.restart_backoff_max'"},
      {"isolation:\n  restart_limit: many\n", "config field 'isolation.restart_limit'"},
      {"isolation:\n  channels: 0\n", "config field 'isolation.channels'"},
      {"isolation:\n  pids_max: -1\n", "config field 'isolation.pids_max'"},
      {"isolation:\n  file_size_max: lots\n", "config field 'isolation.file_size_max'"},
      {"isolation:\n  worker: /nonexistent/mlos-worker\n", "config field 'isolation.worker'"},
      {"security:\n  trusted_keys: [/nonexistent/team.pub]\n",
       "config field 'security.trusted_keys[0]': /nonexistent/team.pub: no such public key file"},
      {"security:\n  trusted_keys: [" + good + ", " + junk + "]\n",
       "config field 'security.trusted_keys[1]': " + junk + ": not an MLOS ed25519 public key"},
      {"security:\n  trusted_keys: " + good + "\n", "config field 'security.trusted_keys'"},
  };
  for (const Case& c : cases) {
    Daemon d(tmp_.path() / "bad", {"--config", WriteConfig(c.yaml)});
    EXPECT_FALSE(d.Start()) << c.yaml;
    EXPECT_EQ(d.Wait(), 2) << c.yaml;
    EXPECT_NE(d.Log().find(c.error), std::string::npos) << c.yaml << d.Log();
  }
}

TEST_F(MlosdIsolationConfigTest, BadFlagsAreRefused) {
  {
    Daemon d(tmp_.path() / "bad", {"--isolation", "jail"});
    EXPECT_FALSE(d.Start());
    EXPECT_NE(d.Wait(), 0);
    EXPECT_NE(d.Log().find("--isolation"), std::string::npos) << d.Log();
  }
  {
    Daemon d(tmp_.path() / "bad", {"--worker", (tmp_.path() / "junk.pub").string()});
    EXPECT_FALSE(d.Start());
    EXPECT_EQ(d.Wait(), 2);
    EXPECT_NE(d.Log().find("is not executable"), std::string::npos) << d.Log();
  }
}

}  // namespace
}  // namespace mlostest
