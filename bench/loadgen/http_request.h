// KServe v2 inference requests over HTTP for the bench tools: the whole request (request line,
// headers, body) encoded once from a Workload, and the check of a response. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http_client.h"
#include "workload.h"

namespace mlos::bench {

struct HttpInferOptions {
  bool binary = true;  // KServe binary tensor extension (else JSON; needs InputTensor::json)
  // Extra header lines, each "Name: value\r\n" (e.g. "X-MLOS-Priority: 1\r\n"); "" for none.
  std::string extra_headers;
};

// "POST {prefix}/v2/models/{model}/infer" with the workload's inputs (and its outputs when it
// names them), ready to send on a keep-alive connection to `url`. `model` is the id as the
// server takes it ("ns/name@version"), percent-encoded here.
std::string EncodeHttpInferRequest(const HttpUrl& url, const std::string& model,
                                   const Workload& w, const HttpInferOptions& options);

// "" when `res` (status 200) holds a KServe v2 response (JSON, or binary with
// Inference-Header-Content-Length) naming every output in `want`, else the problem (for
// another status: "HTTP <status>: <the server's error message>").
std::string CheckHttpInferResponse(const HttpResponse& res, bool binary,
                                   const std::vector<std::string>& want);

// "" when the KServe JSON `json` names every output in `want`, else the problem.
std::string CheckJsonOutputs(std::string_view json, const std::vector<std::string>& want);

// The server's error message from a non-200 body ({"error": "..."}), else the body itself,
// as "HTTP <status>[: message]".
std::string ErrorFromBody(int status, std::string_view body);

}  // namespace mlos::bench
