#include <gtest/gtest.h>

#include "api/http/router.h"

namespace mlos::http {
namespace {

TEST(Router, OriginalApiRoutes) {
  EXPECT_EQ(MatchRoute(Method::kGet, "/health").route, Route::kHealth);
  EXPECT_EQ(MatchRoute(Method::kGet, "/health?x=1").route, Route::kHealth);
  EXPECT_EQ(MatchRoute(Method::kGet, "/stats").route, Route::kStats);
  EXPECT_EQ(MatchRoute(Method::kGet, "/plugins").route, Route::kPlugins);
  EXPECT_EQ(MatchRoute(Method::kGet, "/metrics").route, Route::kMetrics);
  EXPECT_EQ(MatchRoute(Method::kGet, "/models").route, Route::kModelsList);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/register").route, Route::kModelsRegister);
  auto get = MatchRoute(Method::kGet, "/models/hf%2Fbert-base-uncased%40latest");
  EXPECT_EQ(get.route, Route::kModelGet);
  EXPECT_EQ(get.model, "hf/bert-base-uncased@latest");
  EXPECT_EQ(MatchRoute(Method::kDelete, "/models/a%2Fb%401").route, Route::kModelDelete);
  auto inf = MatchRoute(Method::kPost, "/models/hf%2Fbert%40latest/inference");
  EXPECT_EQ(inf.route, Route::kModelInference);
  EXPECT_EQ(inf.model, "hf/bert@latest");
  auto raw = MatchRoute(Method::kPost, "/models/hf/bert@1/load");
  EXPECT_EQ(raw.route, Route::kModelLoad);
  EXPECT_EQ(raw.model, "hf/bert@1");
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%2Fb/unload").route, Route::kModelUnload);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%2Fb/rollback").route, Route::kModelRollback);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%2Fb%402/default").route, Route::kModelDefault);
}

TEST(Router, PinRoutesFollowLoad) {
  auto pin = MatchRoute(Method::kPost, "/models/hf%2Fbert%401/pin");
  EXPECT_EQ(pin.route, Route::kModelPin);
  EXPECT_EQ(pin.model, "hf/bert@1");
  auto raw = MatchRoute(Method::kPost, "/models/hf/bert@1/unpin");
  EXPECT_EQ(raw.route, Route::kModelUnpin);
  EXPECT_EQ(raw.model, "hf/bert@1");
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%2Fb/pin").model, "a/b");
  auto get = MatchRoute(Method::kGet, "/models/a%2Fb/pin");
  EXPECT_EQ(get.error_status, 405);
  EXPECT_STREQ(get.allow, "POST");
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/..%2Fx/pin").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%00b/unpin").error_status, 400);
  // Pins write to the registry: off the io threads, as load is.
  EXPECT_TRUE(IsBlockingRoute(Route::kModelPin));
  EXPECT_TRUE(IsBlockingRoute(Route::kModelUnpin));
  EXPECT_FALSE(IsInferRoute(Route::kModelPin));
}

TEST(Router, KServeRoutes) {
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2").route, Route::kV2Server);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/health/live").route, Route::kV2Live);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/health/ready").route, Route::kV2Ready);
  auto md = MatchRoute(Method::kGet, "/v2/models/ns%2Fmlp");
  EXPECT_EQ(md.route, Route::kV2ModelMetadata);
  EXPECT_EQ(md.model, "ns/mlp");
  EXPECT_TRUE(md.version.empty());
  auto mv = MatchRoute(Method::kGet, "/v2/models/ns%2Fmlp/versions/1.0.0/ready");
  EXPECT_EQ(mv.route, Route::kV2ModelReady);
  EXPECT_EQ(mv.version, "1.0.0");
  auto inf = MatchRoute(Method::kPost, "/v2/models/ns%2Fmlp/versions/2/infer");
  EXPECT_EQ(inf.route, Route::kV2ModelInfer);
  EXPECT_EQ(inf.model, "ns/mlp");
  EXPECT_EQ(inf.version, "2");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/models/ns/mlp/infer").model, "ns/mlp");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/repository/index").route, Route::kV2RepoIndex);
  auto load = MatchRoute(Method::kPost, "/v2/repository/models/ns%2Fmlp/load");
  EXPECT_EQ(load.route, Route::kV2RepoLoad);
  EXPECT_EQ(load.model, "ns/mlp");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/repository/models/ns%2Fmlp/unload").route,
            Route::kV2RepoUnload);
}

// Triton's statistics and configuration routes, with the name raw (tritonclient quotes it with
// Python's quote, which keeps '/') or encoded, with and without a version.
TEST(Router, KServeStatsConfigAndSlashNames) {
  auto all = MatchRoute(Method::kGet, "/v2/models/stats");
  EXPECT_EQ(all.route, Route::kV2ModelStats);
  EXPECT_TRUE(all.model.empty());
  for (const char* target : {"/v2/models/local/cls/stats", "/v2/models/local%2Fcls/stats"}) {
    auto m = MatchRoute(Method::kGet, target);
    EXPECT_EQ(m.route, Route::kV2ModelStats) << target;
    EXPECT_EQ(m.model, "local/cls") << target;
  }
  auto sv = MatchRoute(Method::kGet, "/v2/models/local/cls/versions/1.0.0/stats");
  EXPECT_EQ(sv.route, Route::kV2ModelStats);
  EXPECT_EQ(sv.model, "local/cls");
  EXPECT_EQ(sv.version, "1.0.0");
  auto cfg = MatchRoute(Method::kGet, "/v2/models/local/cls/config");
  EXPECT_EQ(cfg.route, Route::kV2ModelConfig);
  EXPECT_EQ(cfg.model, "local/cls");
  auto cv = MatchRoute(Method::kGet, "/v2/models/local/cls/versions/2/config");
  EXPECT_EQ(cv.route, Route::kV2ModelConfig);
  EXPECT_EQ(cv.version, "2");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/models/local/cls/config").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/models/stats").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/config").error_status, 404);
  // Every other route tritonclient builds from a name, raw.
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/local/cls").model, "local/cls");
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/local/cls/versions/1.0.0").version, "1.0.0");
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/local/cls/ready").model, "local/cls");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/models/local/cls/versions/1.0.0/infer").model,
            "local/cls");
  EXPECT_EQ(MatchRoute(Method::kPost, "/v2/repository/models/local/cls/unload").model,
            "local/cls");
  // Triton's trace extension is not offered: a 404 that says so, not "model .../trace".
  auto trace = MatchRoute(Method::kGet, "/v2/models/local/cls/trace/setting");
  EXPECT_EQ(trace.error_status, 404);
  EXPECT_NE(trace.error.find("trace extension"), std::string::npos) << trace.error;
}

TEST(Router, Errors) {
  EXPECT_EQ(MatchRoute(Method::kGet, "/nope").error_status, 404);
  EXPECT_EQ(MatchRoute(Method::kGet, "/").error_status, 404);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/nope").error_status, 404);
  auto m = MatchRoute(Method::kPost, "/health");
  EXPECT_EQ(m.error_status, 405);
  EXPECT_STREQ(m.allow, "GET");
  EXPECT_EQ(MatchRoute(Method::kGet, "/models/register").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kGet, "/models/a/inference").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/m/infer").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kPut, "/models/a%2Fb").error_status, 405);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/..%2Fetc/inference").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%2F..%2Fb/inference").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a/../b/inference").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%00b/inference").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kPost, "/models/a%zz/inference").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kGet, "/v2/models/a/versions/..%2F..").error_status, 400);
  EXPECT_EQ(MatchRoute(Method::kGet, "relative").error_status, 400);
}

TEST(Router, BlockingRoutes) {
  EXPECT_TRUE(IsBlockingRoute(Route::kModelLoad));
  EXPECT_TRUE(IsBlockingRoute(Route::kModelsRegister));
  EXPECT_FALSE(IsBlockingRoute(Route::kModelInference));
  EXPECT_FALSE(IsBlockingRoute(Route::kHealth));
}

}  // namespace
}  // namespace mlos::http
