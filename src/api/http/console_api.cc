#include "api/http/console_api.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "api/http/url.h"

namespace mlos::http::console {
namespace {

using api::JsonWriter;

constexpr size_t kDefaultAuditEvents = 100;
constexpr size_t kMaxAuditEvents = 1000;

// Sent with every console file. The page is one origin's static files and fetch calls to the
// same origin: no inline script or style, no eval, no frames, no forms posted anywhere.
const std::pair<const char*, const char*> kAssetHeaders[] = {
    {"Cache-Control", "no-cache"},
    {"Content-Security-Policy", kContentSecurityPolicy},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};

void Optional(JsonWriter& w, const std::optional<double>& v) {
  if (v) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

void ServeAsset(const RouteMatch& m, const HttpRequest& req, HttpResponse& res) {
  const Asset* asset = FindAsset(m.region);
  if (!asset) {
    const std::string_view path = req.target.substr(0, req.target.find_first_of("?#"));
    return Api::Error(res, 404, "no route for " + std::string(path.substr(0, 200)));
  }
  // content_type is a const char*: every generated type is a NUL-terminated literal.
  res.content_type = asset->content_type.data();
  res.body.assign(asset->data);
  res.headers = kAssetHeaders;
  res.header_count = std::size(kAssetHeaders);
}

void WriteModelStats(JsonWriter& w, const service::LiveModelStats& m) {
  w.BeginObject();
  w.Key("model");
  w.String(m.model);
  w.Key("requests");
  w.UInt(m.requests);
  w.Key("errors");
  w.UInt(m.errors);
  w.Key("requests_per_s");
  w.Double(m.requests_per_s);
  w.Key("p50_ms");
  Optional(w, m.p50_ms);
  w.Key("p99_ms");
  Optional(w, m.p99_ms);
  w.Key("requests_total");
  w.UInt(m.requests_total);
  w.Key("errors_total");
  w.UInt(m.errors_total);
  w.EndObject();
}

void EncodeLive(const service::LiveSnapshot& s, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("now_unix_ms");
  w.Int(s.now_unix_ms);
  w.Key("window_s");
  w.Int(s.window_s);
  w.Key("memory_budget_bytes");
  w.UInt(s.memory_budget_bytes);
  w.Key("memory_used_bytes");
  w.UInt(s.memory_used_bytes);
  w.Key("models");
  w.BeginArray();
  for (const service::LiveModelStats& m : s.models) WriteModelStats(w, m);
  w.EndArray();
  w.Key("total");
  WriteModelStats(w, s.total);
  // Columns, one entry per second, oldest first.
  w.Key("series");
  w.BeginObject();
  w.Key("unix_s");
  w.BeginArray();
  for (const service::LivePoint& p : s.series) w.Int(p.unix_s);
  w.EndArray();
  w.Key("requests");
  w.BeginArray();
  for (const service::LivePoint& p : s.series) w.UInt(p.requests);
  w.EndArray();
  w.Key("errors");
  w.BeginArray();
  for (const service::LivePoint& p : s.series) w.UInt(p.errors);
  w.EndArray();
  w.Key("p50_ms");
  w.BeginArray();
  for (const service::LivePoint& p : s.series) Optional(w, p.p50_ms);
  w.EndArray();
  w.Key("p99_ms");
  w.BeginArray();
  for (const service::LivePoint& p : s.series) Optional(w, p.p99_ms);
  w.EndArray();
  w.EndObject();
  w.EndObject();
}

// ?limit=N (1..1000); kDefaultAuditEvents without one.
Result<size_t> AuditLimit(std::string_view target) {
  MLOS_ASSIGN_OR_RETURN(uint64_t limit,
                        QueryUInt(target, "limit", 1, kMaxAuditEvents, kDefaultAuditEvents));
  return static_cast<size_t>(limit);
}

void Audit(service::Service& service, const HttpRequest& req, HttpResponse& res) {
  auto limit = AuditLimit(req.target);
  if (!limit.ok()) return Api::Error(res, limit.status());
  auto lines = service.RecentAudit(Api::Context(req), *limit);
  if (!lines.ok()) return Api::Error(res, lines.status());
  JsonWriter w(res.body);
  w.BeginObject();
  w.Key("events");
  w.BeginArray();
  size_t count = 0;
  for (const std::string& line : *lines) {
    // The log's own lines, passed through once they parse (a damaged line is left out).
    if (!nlohmann::json::accept(line)) continue;
    w.Raw(line);
    ++count;
  }
  w.EndArray();
  w.Key("count");
  w.UInt(count);
  w.EndObject();
}

}  // namespace

const char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const Asset* FindAsset(std::string_view name) {
  const Asset* end = kAssets + kAssetCount;
  const Asset* it = std::lower_bound(kAssets, end, name,
                                     [](const Asset& a, std::string_view n) { return a.name < n; });
  return it != end && it->name == name ? it : nullptr;
}

void Handle(service::Service& service, const RouteMatch& m, const HttpRequest& req,
            HttpResponse& res) {
  switch (m.route) {
    case Route::kUi:
      return ServeAsset(m, req, res);
    case Route::kStatsLive: {
      auto snap = service.LiveStatistics(Api::Context(req));
      if (!snap.ok()) return Api::Error(res, snap.status());
      return EncodeLive(*snap, res.body);
    }
    case Route::kAudit:
      return Audit(service, req, res);
    default:
      return Api::Error(res, 404, "no route");
  }
}

}  // namespace mlos::http::console
