// HTTP client for the hub adapters (libcurl): small API calls and verified, resumable downloads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "axon/hub/hub.h"
#include "common/status.h"

namespace mlos::axon {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";  // GET | HEAD | POST
  std::string url;
  HttpHeaders headers;
  std::string body;            // for POST
  // "Bearer <tok>" or "Basic <b64>": sent to the URL's host only, never after a redirect to
  // another host (scheme+host+port compared).
  std::string authorization;
  bool follow_redirects = true;  // at most 10
  int timeout_s = 300;
  uint64_t max_body_bytes = 64ull << 20;  // larger bodies fail with ResourceExhausted
  // https:// (PEM files, "" = unset): the CA that signed the server's certificate (default: the
  // system's trust store) and a client certificate + key for mutual TLS. Used on every hop.
  std::string ca_file, cert_file, key_file;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  HttpHeaders headers;        // of the final response; names lowercased
  std::string effective_url;  // after redirects
  // Value of the first header named `name` (case-insensitive), or "".
  std::string Header(const std::string& name) const;
};

// Performs one request. Network failures give kUnavailable with the URL and curl's message;
// any HTTP status is returned as a response (the caller maps statuses to errors).
Result<HttpResponse> HttpFetch(const HttpRequest& request);

struct DownloadSpec {
  std::string url;
  HttpHeaders headers;
  std::string authorization;     // same rule as HttpRequest::authorization
  uint64_t expected_size = 0;
  bool size_known = false;
  std::string expected_sha256;   // "" = not checked
  int max_retries = 5;           // per download; the counter resets whenever bytes arrive
  int timeout_s = 300;
  // Maps a non-2xx answer to an error (e.g. HF X-Error-Code); nullptr = generic message.
  std::function<Status(const HttpResponse&)> error_mapper;
};

// Downloads spec.url into `partial`. If `partial` exists, its bytes are hashed and the download
// resumes with `Range: bytes=<n>-`; a 200 answer to a Range request truncates and starts over.
// A cut connection is retried (with Range) up to max_retries. Size and sha256 are checked as the
// bytes arrive and at the end; on a mismatch the partial file is deleted and kDataLoss returned
// naming the file. On success `partial` holds exactly the expected bytes (fsynced).
Status DownloadToFile(const DownloadSpec& spec, const std::filesystem::path& partial,
                      const ProgressFn& progress);

// Percent-encodes one path segment / a path (keeping '/').
std::string UrlEncodeSegment(const std::string& s);
std::string UrlEncodePath(const std::string& s);

}  // namespace mlos::axon
