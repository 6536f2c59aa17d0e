// The SDK's decoding of the server's model document (HTTP and IPC share it) with the resource
// manager's fields, and the checks and text InferOptions travel as.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/internal.h"

namespace mlos::client::internal {
namespace {

using nlohmann::json;

TEST(ModelInfoJson, DecodesResourceFields) {
  const json j = json::parse(R"({
    "id": "ns/m@1", "name": "ns/m", "version": "1", "state": "READY",
    "memory_bytes": 67108864, "shared_memory_bytes": 1048576,
    "memory_estimate_bytes": 70000000, "load_kind": "warm", "pinned": true,
    "keep_alive_ms": 300000, "priority": 2, "last_used_unix_ms": 1764800000000,
    "evictions": 3, "unload_reason": "keep_alive", "isolation": "process",
    "worker_pid": 1234, "worker_state": "restarting", "worker_restarts": 2,
    "last_crash": "signal"})");
  auto m = ModelInfoFromJson(j);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->memory_bytes, 67108864u);
  EXPECT_EQ(m->shared_memory_bytes, 1048576u);
  EXPECT_EQ(m->memory_estimate_bytes, 70000000u);
  EXPECT_EQ(m->load_kind, "warm");
  EXPECT_TRUE(m->pinned);
  EXPECT_EQ(m->keep_alive_ms, 300000);
  EXPECT_EQ(m->priority, 2);
  EXPECT_EQ(m->last_used_unix_ms, 1764800000000);
  EXPECT_EQ(m->evictions, 3u);
  EXPECT_EQ(m->unload_reason, "keep_alive");
  EXPECT_EQ(m->isolation, "process");
  EXPECT_EQ(m->worker_pid, 1234);
  EXPECT_EQ(m->worker_state, "restarting");
  EXPECT_EQ(m->worker_restarts, 2u);
  EXPECT_EQ(m->last_crash, "signal");
}

TEST(ModelInfoJson, AnOlderServersDocumentKeepsTheDefaults) {
  auto m = ModelInfoFromJson(json::parse(R"({"id": "ns/m@1", "memory_bytes": 5})"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->memory_bytes, 5u);
  EXPECT_FALSE(m->pinned);
  EXPECT_EQ(m->keep_alive_ms, -1);  // never unloaded for idleness
  EXPECT_EQ(m->priority, 0);
  EXPECT_EQ(m->last_used_unix_ms, 0);
  EXPECT_TRUE(m->load_kind.empty());
  EXPECT_TRUE(m->unload_reason.empty());
  EXPECT_EQ(m->isolation, "in_process");  // a server without sandboxed workers
  EXPECT_EQ(m->worker_pid, 0);
  EXPECT_TRUE(m->worker_state.empty());
  EXPECT_EQ(m->worker_restarts, 0u);
  EXPECT_TRUE(m->last_crash.empty());
  // Forever is -1 on the wire.
  m = ModelInfoFromJson(json::parse(R"({"id": "ns/m@1", "keep_alive_ms": -1})"));
  EXPECT_EQ(m->keep_alive_ms, -1);
}

TEST(InferOptionsWire, ChecksAndText) {
  InferOptions o;
  EXPECT_TRUE(CheckInferOptions(o).ok());
  o.priority = 1;
  o.timeout = std::chrono::milliseconds(250);
  o.keep_alive = std::chrono::minutes(5);
  EXPECT_TRUE(CheckInferOptions(o).ok());
  o.priority = -1;
  Status st = CheckInferOptions(o);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("priority -1 must be >= 0"), std::string::npos) << st.message();
  o.priority = 0;
  o.timeout = std::chrono::milliseconds(-5);
  EXPECT_EQ(CheckInferOptions(o).code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(KeepAliveText(std::chrono::minutes(5)), "5m");
  EXPECT_EQ(KeepAliveText(std::chrono::milliseconds(0)), "0");
  EXPECT_EQ(KeepAliveText(std::chrono::milliseconds(-1)), "-1");
  EXPECT_EQ(KeepAliveText(std::chrono::milliseconds(-123456)), "-1");
  EXPECT_EQ(KeepAliveText(std::chrono::milliseconds(90500)), "1m30s500ms");
}

}  // namespace
}  // namespace mlos::client::internal
