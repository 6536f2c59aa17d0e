// The LLM routes: OpenAI-compatible (openai_api.cc), Ollama-compatible (ollama_api.cc) and the
// KServe/Triton generate extension (generate_api.cc), dispatched from Api::Dispatch. Each only
// decodes (llm_request.h), calls service::Service (so authentication, quotas and metrics are
// those of every other route) and encodes in its API's own shape, errors included. Generation
// runs in the response's streamer (HttpResponse::stream) on the server's generation pool:
// streamed answers write as tokens come, the others collect the text; both stop the generation
// within one token once the client went away.
//
// What the three share is here (llm_api.cc).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/api.h"
#include "api/http/llm_request.h"
#include "core/core.h"
#include "service/service.h"

namespace mlos::http::llm {

void HandleOpenAI(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                  HttpResponse& res);
void HandleOllama(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                  HttpResponse& res);
void HandleKServeGenerate(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                          HttpResponse& res);

// ---- shared by the three (llm_api.cc) ----

// The model a request names, for the error checks every API makes before generating:
// kNotFound for an unknown one, kInvalidArgument when `want_embedding` does not match what the
// model is (a generator asked for embeddings, an embedding model asked to generate).
Result<core::ModelStatus> ResolveLlm(service::Service& service,
                                     const service::RequestContext& ctx, const std::string& id,
                                     bool want_embedding);

// Runs `call` through the service on this (pool) thread. Every non-empty chunk of text goes to
// `on_text` (false = stop); the generation also stops when `writer` reports the client gone.
// `on_text` unset: the text is collected into the response's text.
Result<core::GenerateResponse> RunGeneration(service::Service& service,
                                             const service::RequestContext& ctx,
                                             service::GenerateCall& call, ChunkWriter& writer,
                                             std::function<bool(std::string_view)> on_text);

// One embedding per input (an embedding model: input "text" string [-1], output "embedding"
// float32 [-1, n_embd]) through Service::Infer.
struct Embeddings {
  std::vector<std::vector<float>> vectors;
  // Not reported by the infer path: an estimate, the inputs' bytes / 4 (at least 1 each).
  uint64_t prompt_tokens = 0;
  std::string model_id;
  uint64_t inference_time_us = 0;
  uint64_t queue_time_us = 0;
};
Result<Embeddings> RunEmbeddings(service::Service& service, const service::RequestContext& ctx,
                                 const std::string& model_id,
                                 const std::vector<std::string>& inputs);

// The request's context with the X-MLOS-* headers and the body's options applied.
Result<service::RequestContext> LlmContext(const HttpRequest& req,
                                           const api::RequestOptions& options);

// Counts a request that failed before it reached the service (bad JSON, bad fields) as Infer's
// failures are counted; returns `error`.
Status CountFailure(service::Service& service, const service::RequestContext& ctx,
                    const std::string& model, Status error);

}  // namespace mlos::http::llm
