// The audit log: line format and escaping, redaction, file mode, concurrent writers (group
// commit), rotation.
#include "security/audit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "security/token.h"

namespace mlos::security {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "mlos_audit_test_");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
    path_ = dir_ / "audit.log";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<AuditLog> Open(uint64_t max_bytes = 64ull << 20, int keep = 5) {
    AuditOptions o;
    o.path = path_;
    o.max_bytes = max_bytes;
    o.keep = keep;
    auto log = AuditLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  static AuditEvent Event(const std::string& principal, const std::string& reason = "") {
    AuditEvent e;
    e.principal = principal;
    e.method = "token";
    e.protocol = "http";
    e.peer = "127.0.0.1:50412";
    e.action = "unload";
    e.model = "team/clf@1";
    e.outcome = reason.empty() ? "ok" : "denied";
    e.reason = reason;
    return e;
  }

  static std::vector<std::string> Lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  fs::path dir_, path_;
};

TEST_F(AuditLogTest, LineFormat) {
  auto log = Open();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->path(), path_);
  ASSERT_TRUE(log->Record(Event("alice")).ok());
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  const std::string head = "{\"time\":\"";
  const std::string tail =
      "\",\"principal\":\"alice\",\"method\":\"token\",\"protocol\":\"http\","
      "\"peer\":\"127.0.0.1:50412\",\"action\":\"unload\",\"model\":\"team/clf@1\","
      "\"outcome\":\"ok\",\"reason\":\"\"}";
  const size_t kTimeLength = std::string("2026-12-03T20:41:07.123Z").size();
  ASSERT_EQ(line.size(), head.size() + kTimeLength + tail.size()) << line;
  EXPECT_EQ(line.substr(0, head.size()), head);
  EXPECT_EQ(line.substr(head.size() + kTimeLength), tail);
  // The time: digits where the pattern has 9s, the rest literal.
  const std::string time = line.substr(head.size(), kTimeLength);
  const std::string pattern = "9999-99-99T99:99:99.999Z";
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '9') {
      EXPECT_TRUE(time[i] >= '0' && time[i] <= '9') << time;
    } else {
      EXPECT_EQ(time[i], pattern[i]) << time;
    }
  }
}

TEST_F(AuditLogTest, EscapesEverythingIntoValidJson) {
  auto log = Open();
  ASSERT_TRUE(log);
  AuditEvent e = Event("quote\"back\\slash");
  e.peer = "line\nbreak\ttab\r\x01\x1f";
  e.model = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // valid UTF-8 passes through
  e.action = "bad\xff\xc3(utf8\xed\xa0\x80";  // ill-formed: replaced
  e.reason = "</script>{}[],:";
  ASSERT_TRUE(log->Record(e).ok());
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 1u);
  json j = json::parse(lines[0]);
  EXPECT_EQ(j["principal"], e.principal);
  EXPECT_EQ(j["peer"], e.peer);
  EXPECT_EQ(j["model"], e.model);
  EXPECT_EQ(j["reason"], e.reason);
  EXPECT_EQ(j["action"], "bad\xef\xbf\xbd\xef\xbf\xbd(utf8\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST_F(AuditLogTest, RedactsTokensInTheReason) {
  auto log = Open();
  ASSERT_TRUE(log);
  const std::string token = GenerateToken();
  ASSERT_TRUE(
      log->Record(Event("anonymous", "unknown token " + token + " (header 'Bearer abc')")).ok());
  auto bytes = ReadFile(path_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->find(token), std::string::npos);
  EXPECT_EQ(bytes->find("abc"), std::string::npos);
  json j = json::parse(Lines(path_).at(0));
  EXPECT_EQ(j["reason"], "unknown token [redacted] (header 'Bearer [redacted]')");
}

TEST_F(AuditLogTest, FileIsPrivate) {
  {
    auto log = Open();
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->Record(Event("alice")).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // An existing, wider file is narrowed and appended to.
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto log = Open();
  ASSERT_TRUE(log);
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(log->Record(Event("bob")).ok());
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["principal"], "alice");
  EXPECT_EQ(json::parse(lines[1])["principal"], "bob");
}

// A process killed in the middle of writing a record left half a line: the next process's
// first record starts a line of its own (tests/torture).
TEST_F(AuditLogTest, HalfLineLeftByAKilledWriterStaysApart) {
  std::ofstream(path_) << "{\"time\":\"2026-12-04T21:00:00Z\",\"principal\":\"al";
  auto log = Open();
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Record(Event("bob")).ok());
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1])["principal"], "bob");
}

TEST_F(AuditLogTest, OpenFailureNamesThePath) {
  AuditOptions o;
  o.path = dir_ / "missing" / "audit.log";
  auto log = AuditLog::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(log.status().message().find(o.path.string()), std::string::npos);
}

TEST_F(AuditLogTest, ConcurrentRecordsAllLand) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  {
    auto log = Open();
    ASSERT_TRUE(log);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          AuditEvent e = Event("t" + std::to_string(t));
          e.reason = std::to_string(i);
          if (!log->Record(e).ok()) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    // Record returned for all of them, so everything is in the file before the log closes.
    EXPECT_EQ(Lines(path_).size(), static_cast<size_t>(kThreads * kPerThread));
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const std::string& line : Lines(path_)) {
    json j = json::parse(line);  // throws (fails the test) on a torn line
    seen.emplace(j["principal"].get<std::string>(), j["reason"].get<std::string>());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(AuditLogTest, RotatesBySizeAndKeepsAtMostKeep) {
  const std::string one_line = [&] {
    auto log = Open();
    EXPECT_TRUE(log->Record(Event("probe")).ok());
    return Lines(path_).at(0);
  }();
  fs::remove(path_);
  const uint64_t line_bytes = one_line.size() + 1;
  // Three lines per file (lines differ by at most a few bytes: principals p00..p29).
  const uint64_t max_bytes = 3 * line_bytes + 2;
  constexpr int kKeep = 2;
  {
    auto log = Open(max_bytes, kKeep);
    ASSERT_TRUE(log);
    for (int i = 0; i < 30; ++i) {
      const std::string name = (i < 10 ? "p0" : "p") + std::to_string(i);
      ASSERT_TRUE(log->Record(Event(name)).ok());
    }
  }
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_TRUE(fs::exists(dir_ / "audit.log.1"));
  EXPECT_TRUE(fs::exists(dir_ / "audit.log.2"));
  EXPECT_FALSE(fs::exists(dir_ / "audit.log.3"));
  // Newest in audit.log, older ones in .1 then .2; each file within max_bytes and whole lines.
  std::vector<std::string> principals;
  for (const fs::path& p : {dir_ / "audit.log.2", dir_ / "audit.log.1", path_}) {
    EXPECT_LE(fs::file_size(p), max_bytes) << p;
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
    for (const std::string& line : Lines(p)) {
      principals.push_back(json::parse(line)["principal"].get<std::string>());
    }
  }
  ASSERT_FALSE(principals.empty());
  EXPECT_EQ(principals.back(), "p29");
  EXPECT_EQ(principals.size(), 9u);  // three files of three lines
  for (size_t i = 1; i < principals.size(); ++i) EXPECT_LT(principals[i - 1], principals[i]);
}

TEST_F(AuditLogTest, LineLongerThanMaxBytesStillWritten) {
  {
    auto log = Open(/*max_bytes=*/64, /*keep=*/1);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->Record(Event("first")).ok());
    ASSERT_TRUE(log->Record(Event("second")).ok());
  }
  EXPECT_EQ(json::parse(Lines(path_).at(0))["principal"], "second");
  EXPECT_EQ(json::parse(Lines(dir_ / "audit.log.1").at(0))["principal"], "first");
  EXPECT_FALSE(fs::exists(dir_ / "audit.log.2"));
}

}  // namespace
}  // namespace mlos::security
