// The web console (docs/console.md): its static files under /ui, built into the binary from
// ui/ (ui/embed.cmake generates the byte arrays), and the two JSON routes only it needs:
// GET /stats/live (the last minute of requests by model, memory) and GET /audit (recent audit
// events, admins). The files are public (the page asks for a token and sends it with every data
// call); they go out with a strict Content-Security-Policy (no inline script or style, nothing
// from another origin) and Cache-Control: no-cache.
#pragma once

#include <cstddef>
#include <string_view>

#include "api/http/api.h"

namespace mlos::http::console {

struct Asset {
  std::string_view name;          // "index.html", "console.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view data;
};

// The embedded files (the generated ui_assets_data.cc), sorted by name.
extern const Asset kAssets[];
extern const size_t kAssetCount;

// The asset named `name`, or nullptr.
const Asset* FindAsset(std::string_view name);

// The Content-Security-Policy every console file is sent with.
extern const char kContentSecurityPolicy[];

// Answers Route::kUi, Route::kStatsLive and Route::kAudit.
void Handle(service::Service& service, const RouteMatch& m, const HttpRequest& req,
            HttpResponse& res);

}  // namespace mlos::http::console
