// The generation path every front-end shares (OpenAI, Ollama, KServe generate, gRPC, IPC):
// check -> deadline until the first token -> core (the plugin streams on this thread) -> count
// and log.
#include "service/metrics.h"
#include "service/service.h"
#include "wire/utf8.h"

namespace mlos::service {

Result<core::GenerateResponse> Service::Generate(const RequestContext& ctx, GenerateCall& call) {
  // The id the request runs on, for the metrics (the core resolves again, under its lock).
  std::string model_id;
  if (!call.model.empty()) {
    if (auto r = core_.Resolve(call.model, call.version); r.ok()) model_id = r->id;
  }
  auto finish = [&](Result<core::GenerateResponse> r) {
    if (r.ok()) model_id = r->model_id;
    if (metrics_) {
      const double seconds = std::chrono::duration<double>(Clock::now() - ctx.received).count();
      metrics_->RecordRequest(model_id.empty() ? std::string_view("unknown") : model_id,
                              ProtocolName(ctx.protocol), r.ok() ? StatusCode::kOk : r.status().code(),
                              seconds);
    }
    if (!r.ok()) LogFailure(ctx, "generate", model_id.empty() ? call.model : model_id, r.status());
    return r;
  };
  if (Status st = CheckModelId(call.model, "model name"); !st.ok()) return finish(st);

  core::GenerateRequest gr;
  gr.model = call.model;
  gr.version = call.version;
  gr.prompt = std::move(call.prompt);
  gr.params_json = std::move(call.params_json);
  gr.principal = ctx.principal.name;
  gr.protocol = ProtocolName(ctx.protocol);
  gr.priority = ctx.priority;
  gr.keep_alive = ctx.keep_alive;
  Gate gate;
  auto admit = OpenGate(ctx, call.model, gate, &gr.principal);
  if (!admit.ok()) return finish(admit.status());
  gr.admit = std::move(*admit);
  // The earlier of the client's deadline and the server's limit, until the first token.
  gr.deadline = ctx.client_deadline;
  if (options_.request_timeout.count() > 0) {
    const Clock::time_point server = ctx.received + options_.request_timeout;
    if (!gr.deadline || server < *gr.deadline) gr.deadline = server;
  }
  // Chunks are UTF-8 on every protocol: a model can emit bytes that never form a character
  // (byte tokens); each such byte becomes U+FFFD here, once, for every front-end.
  if (call.on_token) {
    gr.on_token = [sink = std::move(call.on_token)](std::string_view text) {
      if (wire::IsValidUtf8(text)) return sink(text);
      return sink(wire::ValidUtf8(text));
    };
  }

  const std::string active = model_id;  // the gauge's label, decremented with the same one
  if (metrics_ && !active.empty()) metrics_->GenerationStarted(active);
  Result<core::GenerateResponse> r = core_.Generate(std::move(gr));
  if (metrics_ && !active.empty()) metrics_->GenerationEnded(active);
  CloseGate(gate);
  if (r.ok() && !wire::IsValidUtf8(r->text)) r->text = wire::ValidUtf8(r->text);
  if (r.ok() && metrics_) {
    const double first =
        r->first_token_us
            ? std::chrono::duration<double>(Clock::now() - ctx.received).count() -
                  static_cast<double>(r->generate_time_us - r->first_token_us) / 1e6
            : 0.0;
    metrics_->RecordGeneration(r->model_id, r->prompt_tokens, r->completion_tokens, first);
  }
  return finish(std::move(r));
}

}  // namespace mlos::service
