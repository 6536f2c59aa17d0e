// The HTTP router and its request-target handling: http::MatchRoute (method from the first
// byte, the rest is the target), PercentDecode, SplitPath and DecodeModelId over every range
// of segments. A matched route must carry an id that decodes.
#include <cstdio>
#include <cstdlib>

#include "api/http/router.h"
#include "api/http/url.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using mlos::http::Method;
  static const Method kMethods[] = {Method::kGet,    Method::kHead,    Method::kPost,
                                    Method::kPut,    Method::kDelete,  Method::kOptions,
                                    Method::kOther};
  const Method method = kMethods[data[0] % 7];
  const std::string_view target = mlos::fuzz::View(data + 1, size - 1);
  const mlos::http::RouteMatch m = mlos::http::MatchRoute(method, target);
  if (m.route != mlos::http::Route::kNone && m.error_status != 0) {
    std::fprintf(stderr, "route %d matched with error %d\n", static_cast<int>(m.route),
                 m.error_status);
    std::abort();
  }
  (void)mlos::http::IsBlockingRoute(m.route);
  (void)mlos::http::PercentDecode(target);
  (void)mlos::http::QueryString(target);
  const auto segments = mlos::http::SplitPath(target);
  const size_t n = segments.size() < 6 ? segments.size() : 6;
  for (size_t first = 0; first < n; ++first) {
    for (size_t last = first + 1; last <= n; ++last) {
      (void)mlos::http::DecodeModelId(segments, first, last);
    }
  }
  return 0;
}
