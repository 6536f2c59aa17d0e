// The KServe/Triton generate extension: POST /v2/models/{m}[/versions/{v}]/generate answers
// {"model_name", "model_version", "text_output"}; .../generate_stream sends one server-sent
// event per chunk of text and a last one with the finish reason and token counts. Errors are
// {"error": "..."} (before the first event with the HTTP status, after it as an event).
#include "api/common/json_writer.h"
#include "api/http/http_status.h"
#include "api/http/llm_api.h"

namespace mlos::http::llm {
namespace {

using api::JsonWriter;

struct Answer {
  std::string model_name, model_version;

  // {"model_name", "model_version", "text_output", ...}; `g` adds the closing fields.
  std::string Object(std::string_view text, const core::GenerateResponse* g) const {
    std::string out;
    JsonWriter w(out);
    w.BeginObject();
    w.Key("model_name");
    w.String(model_name);
    w.Key("model_version");
    w.String(model_version);
    w.Key("text_output");
    w.String(text);
    if (g) {
      w.Key("finish_reason");
      w.String(g->finish_reason);
      w.Key("prompt_tokens");
      w.UInt(g->prompt_tokens);
      w.Key("completion_tokens");
      w.UInt(g->completion_tokens);
    }
    w.EndObject();
    return out;
  }
};

std::string Event(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 8);
  out.append("data: ").append(json).append("\n\n");
  return out;
}

}  // namespace

void HandleKServeGenerate(service::Service& service, const RouteMatch& m, const HttpRequest& req,
                          HttpResponse& res) {
  const std::string id = m.version.empty() ? m.model : m.model + "@" + m.version;
  auto parsed = ParseKServeGenerate(req.body);
  if (!parsed.ok()) {
    return Api::Error(res, CountFailure(service, Api::Context(req), id, parsed.status()));
  }
  auto ctx = LlmContext(req, parsed->options);
  if (!ctx.ok()) {
    return Api::Error(res, CountFailure(service, Api::Context(req), id, ctx.status()));
  }
  auto model = ResolveLlm(service, *ctx, id, false);
  if (!model.ok()) return Api::Error(res, CountFailure(service, *ctx, id, model.status()));
  const bool stream = m.route == Route::kV2ModelGenerateStream;
  Answer answer{model->name, model->version};
  res.stream = [svc = &service, ctx = std::move(*ctx), r = std::move(*parsed), id, stream,
                answer](ChunkWriter& writer, HttpResponse& res) {
    service::GenerateCall call;
    call.model = id;
    call.prompt = r.prompt;
    call.params_json = ParamsJson(r);
    if (!stream) {
      auto out = RunGeneration(*svc, ctx, call, writer, nullptr);
      if (!out.ok()) return Api::Error(res, out.status());
      res.body = answer.Object(out->text, nullptr);
      return;
    }
    res.content_type = "text/event-stream";
    auto out = RunGeneration(*svc, ctx, call, writer, [&](std::string_view text) {
      return writer.Write(Event(answer.Object(text, nullptr)));
    });
    if (!out.ok()) {
      if (!writer.started()) return Api::Error(res, out.status());
      writer.Write(Event(ErrorBody(out.status().message())));
      return;
    }
    if (out->finish_reason == "cancelled" || !writer.Alive()) return;
    writer.Write(Event(answer.Object("", &*out)));
  };
}

}  // namespace mlos::http::llm
