// The per-request resource hints every front-end shares (api/common/request_options.h) and the
// keep_alive grammar under them (wire/keep_alive.h): tables of good and bad values, the
// messages that name the header or parameter, and the deadline rule.
#include "api/common/request_options.h"

#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wire/keep_alive.h"

namespace mlos::api {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using nlohmann::json;

TEST(KeepAlive, ParsesOllamaDurations) {
  const struct {
    const char* text;
    int64_t ms;
  } good[] = {
      {"5m", 300000},       {"30s", 30000},     {"0", 0},           {"-1", -1},
      {"-1m", -1},          {"-0", 0},          {"300", 300000},    {"1h30m", 5400000},
      {"500ms", 500},       {"2s500ms", 2500},  {"1d", 86400000},   {"1w", 604800000},
      {" 10s ", 10000},     {"0s", 0},          {"0m0s", 0},        {"-999999", -1},
      {"90m", 5400000},     {"1h", 3600000},    {"12h", 43200000},
  };
  for (const auto& g : good) {
    auto r = wire::ParseKeepAlive(g.text);
    ASSERT_TRUE(r.ok()) << g.text << ": " << r.status().message();
    EXPECT_EQ(r->count(), g.ms) << g.text;
  }
}

TEST(KeepAlive, RefusesWhatItCannotRead) {
  const char* bad[] = {"",     " ",    "-",      "5x",   "m",   "5 m",  "1.5h", "1m30",
                       "+5m",  "5M",   "abc",    "--1",  "5m-", "0x10", "1e3",  "1h 30m",
                       "99999999999999999999", "9999999999999999d"};
  for (const char* b : bad) {
    auto r = wire::ParseKeepAlive(b);
    ASSERT_FALSE(r.ok()) << "'" << b << "' parsed as " << r->count();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = r.status().message();
    EXPECT_TRUE(m.find("invalid duration") != std::string::npos ||
                m.find("too long") != std::string::npos ||
                m.find("duration is empty") != std::string::npos)
        << m;
  }
}

TEST(KeepAlive, FormatReadsBack) {
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(-1)), "-1");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(-60000)), "-1");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(0)), "0");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(300000)), "5m");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(5400000)), "1h30m");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(2500)), "2s500ms");
  EXPECT_EQ(wire::FormatKeepAlive(milliseconds(172800000)), "48h");
  for (int64_t ms : {int64_t{1}, int64_t{999}, int64_t{61001}, int64_t{86400000 * 3 + 7},
                     std::numeric_limits<int64_t>::max() / 2}) {
    auto back = wire::ParseKeepAlive(wire::FormatKeepAlive(milliseconds(ms)));
    ASSERT_TRUE(back.ok()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

Result<RequestOptions> Param(const char* name, const ParameterValue& v) {
  RequestOptions o;
  MLOS_ASSIGN_OR_RETURN(bool ours, ParseRequestParameter(name, v, o));
  if (!ours) return NotFound("not ours");
  return o;
}

TEST(RequestParameters, GoodValues) {
  auto p = Param("priority", ParameterValue::Int(1));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->priority, 1);
  p = Param("priority", ParameterValue::Int(0));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->priority, 0);
  p = Param("timeout", ParameterValue::Int(250000));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->timeout, microseconds(250000));
  p = Param("timeout", ParameterValue::Int(0));  // 0 = no timeout of its own
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->timeout.has_value());
  p = Param("timeout", ParameterValue::Int(std::numeric_limits<int64_t>::max()));  // = none
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->timeout.has_value());
  p = Param("keep_alive", ParameterValue::String("5m"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keep_alive, milliseconds(300000));
  p = Param("keep_alive", ParameterValue::Int(30));  // seconds
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keep_alive, milliseconds(30000));
  p = Param("keep_alive", ParameterValue::Int(-1));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keep_alive, milliseconds(-1));
  p = Param("keep_alive", ParameterValue::Double(1.5));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keep_alive, milliseconds(1500));
  p = Param("keep_alive", ParameterValue::Double(-0.5));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->keep_alive, milliseconds(-1));
  // Not ours: untouched, no error.
  p = Param("binary_data_output", ParameterValue::Bool(true));
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
}

TEST(RequestParameters, BadValuesNameTheParameter) {
  const struct {
    const char* name;
    ParameterValue value;
    const char* message;
  } bad[] = {
      {"priority", ParameterValue::Int(-1), "parameter 'priority': must be an integer >= 0"},
      {"priority", ParameterValue::String("2"), "parameter 'priority': must be an integer >= 0"},
      {"priority", ParameterValue::Double(2.0), "parameter 'priority': must be an integer >= 0"},
      {"priority", ParameterValue::Bool(true), "parameter 'priority': must be an integer >= 0"},
      {"priority", ParameterValue::Int(int64_t{1} << 40),
       "parameter 'priority': must be at most 2147483647"},
      {"timeout", ParameterValue::Int(-5),
       "parameter 'timeout': must be an integer number of microseconds >= 0"},
      {"timeout", ParameterValue::String("5s"),
       "parameter 'timeout': must be an integer number of microseconds >= 0"},
      {"keep_alive", ParameterValue::String("5x"), "parameter 'keep_alive': invalid duration '5x'"},
      {"keep_alive", ParameterValue::String(""), "parameter 'keep_alive': duration is empty"},
      {"keep_alive", ParameterValue::Bool(false),
       "parameter 'keep_alive': must be a duration string"},
      {"keep_alive", ParameterValue::Int(std::numeric_limits<int64_t>::max()),
       "parameter 'keep_alive': is too long"},
      {"keep_alive", ParameterValue::Double(1e300), "parameter 'keep_alive': is too long"},
      {"keep_alive", ParameterValue{}, "parameter 'keep_alive': must be a duration string"},
  };
  for (const auto& b : bad) {
    auto p = Param(b.name, b.value);
    ASSERT_FALSE(p.ok()) << b.message;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(p.status().message().rfind(b.message, 0), 0u) << p.status().message();
  }
}

TEST(RequestParameters, JsonObject) {
  RequestOptions o;
  ASSERT_TRUE(ParseJsonParameters(
                  json::parse(R"({"priority": 2, "timeout": 1000, "keep_alive": "-1",
                                  "binary_data_output": true, "other": [1]})"),
                  o)
                  .ok());
  EXPECT_EQ(o.priority, 2);
  EXPECT_EQ(o.timeout, microseconds(1000));
  EXPECT_EQ(o.keep_alive, milliseconds(-1));
  RequestOptions u;
  ASSERT_TRUE(ParseJsonParameters(json::parse(R"({"priority": 18446744073709551615})"), u)
                  .ok() == false);
  RequestOptions k;
  ASSERT_TRUE(ParseJsonParameters(json::parse(R"({"keep_alive": 2.5})"), k).ok());
  EXPECT_EQ(k.keep_alive, milliseconds(2500));
  Status st = ParseJsonParameters(json::parse(R"({"priority": null})"), k);
  EXPECT_EQ(st.message(), "parameter 'priority': must be an integer >= 0");
  st = ParseJsonParameters(json::parse("[]"), k);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

TEST(RequestHeaders, GoodAndBad) {
  RequestHeaders h;
  EXPECT_TRUE(h.empty());
  h.priority = "3";
  h.timeout_ms = "250";
  h.keep_alive = "10m";
  auto o = ParseRequestHeaders(h);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->priority, 3);
  EXPECT_EQ(o->timeout, microseconds(250000));
  EXPECT_EQ(o->keep_alive, milliseconds(600000));
  h = {};
  h.timeout_ms = "0";
  o = ParseRequestHeaders(h);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->timeout.has_value());

  const struct {
    RequestHeaders headers;
    const char* message;
  } bad[] = {
      {{"-1", {}, {}}, "header 'X-MLOS-Priority': must be an integer >= 0"},
      {{"", {}, {}}, "header 'X-MLOS-Priority': must be an integer >= 0"},
      {{"high", {}, {}}, "header 'X-MLOS-Priority': must be an integer >= 0"},
      {{"+1", {}, {}}, "header 'X-MLOS-Priority': must be an integer >= 0"},
      {{"1.0", {}, {}}, "header 'X-MLOS-Priority': must be an integer >= 0"},
      {{"99999999999", {}, {}}, "header 'X-MLOS-Priority': must be at most 2147483647"},
      {{{}, "-1", {}}, "header 'X-MLOS-Timeout-Ms': must be an integer number of milliseconds"},
      {{{}, "1s", {}}, "header 'X-MLOS-Timeout-Ms': must be an integer number of milliseconds"},
      {{{}, {}, "forever"}, "header 'X-MLOS-Keep-Alive': invalid duration 'forever'"},
      {{{}, {}, ""}, "header 'X-MLOS-Keep-Alive': duration is empty"},
  };
  for (const auto& b : bad) {
    auto r = ParseRequestHeaders(b.headers);
    ASSERT_FALSE(r.ok()) << b.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(b.message, 0), 0u) << r.status().message();
  }
}

TEST(RequestOptionsRule, MergeAndApply) {
  RequestOptions headers;
  headers.priority = 5;
  headers.timeout = microseconds(1000);
  headers.keep_alive = milliseconds(0);
  RequestOptions body;
  body.priority = 1;
  body.timeout = microseconds(5000);
  headers.Merge(body);
  EXPECT_EQ(headers.priority, 1);                  // the later one wins
  EXPECT_EQ(headers.keep_alive, milliseconds(0));  // kept: the body did not say
  EXPECT_EQ(headers.timeout, microseconds(1000));  // the shorter wins

  service::RequestContext ctx;
  ApplyRequestOptions(RequestOptions{}, ctx);
  EXPECT_EQ(ctx.priority, 0);
  EXPECT_FALSE(ctx.keep_alive.has_value());
  EXPECT_FALSE(ctx.client_deadline.has_value());

  ApplyRequestOptions(headers, ctx);
  EXPECT_EQ(ctx.priority, 1);
  EXPECT_EQ(ctx.keep_alive, milliseconds(0));
  ASSERT_TRUE(ctx.client_deadline.has_value());
  EXPECT_EQ(*ctx.client_deadline, ctx.received + microseconds(1000));

  // A deadline the context already has (gRPC's, IPC's timeout_us) wins when it is earlier...
  service::RequestContext early;
  early.client_deadline = early.received + microseconds(10);
  ApplyRequestOptions(headers, early);
  EXPECT_EQ(*early.client_deadline, early.received + microseconds(10));
  // ...and gives way when it is later.
  service::RequestContext late;
  late.client_deadline = late.received + std::chrono::seconds(60);
  ApplyRequestOptions(headers, late);
  EXPECT_EQ(*late.client_deadline, late.received + microseconds(1000));
}

TEST(RequestOptionsRule, IpcPriority) {
  EXPECT_EQ(*CheckPriority(0, "INFER priority"), 0);
  EXPECT_EQ(*CheckPriority(7, "INFER priority"), 7);
  auto r = CheckPriority(0xFFFFFFFFll, "INFER priority");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "INFER priority: must be at most 2147483647");
}

}  // namespace
}  // namespace mlos::api
