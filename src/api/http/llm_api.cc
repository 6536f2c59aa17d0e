#include "api/http/llm_api.h"

#include <cstring>

namespace mlos::http::llm {
namespace {

enum class Kind { kGenerator, kEmbedding, kUnknown };

// What the manifest's spec.llm says, else the IO schema (the llama plugin's: an "embedding"
// output, or a "text" output); unknown for a model without either (not loaded, no spec.llm):
// then the plugin decides.
Kind KindOf(const core::ModelStatus& m) {
  if (m.llm) return m.llm->embedding ? Kind::kEmbedding : Kind::kGenerator;
  for (const core::TensorInfo& o : m.outputs) {
    if (o.name == "embedding") return Kind::kEmbedding;
    if (o.name == "text") return Kind::kGenerator;
  }
  return Kind::kUnknown;
}

}  // namespace

Result<core::ModelStatus> ResolveLlm(service::Service& service,
                                     const service::RequestContext& ctx, const std::string& id,
                                     bool want_embedding) {
  MLOS_ASSIGN_OR_RETURN(core::ModelStatus model, service.Get(ctx, id));
  const Kind kind = KindOf(model);
  if (want_embedding && kind == Kind::kGenerator) {
    return InvalidArgument("model '" + id + "' is not an embedding model");
  }
  if (!want_embedding) {
    if (kind == Kind::kEmbedding) {
      return InvalidArgument("model '" + id + "' is an embedding model: it does not generate text");
    }
    if (!model.generates && !model.llm && model.execution_format != "gguf") {
      return InvalidArgument("model '" + id + "' does not generate text (execution format '" +
                             model.execution_format + "')");
    }
  }
  return model;
}

Result<core::GenerateResponse> RunGeneration(service::Service& service,
                                             const service::RequestContext& ctx,
                                             service::GenerateCall& call, ChunkWriter& writer,
                                             std::function<bool(std::string_view)> on_text) {
  std::string collected;
  call.on_token = [&](std::string_view text) -> bool {
    if (!writer.Alive()) return false;
    if (text.empty()) return true;
    // Chunks never split a character (smi.h), so each is checked on its own.
    const std::string valid = ValidUtf8(text);
    if (on_text) return on_text(valid);
    collected.append(valid);
    return true;
  };
  auto out = service.Generate(ctx, call);
  if (out.ok() && !on_text) out->text = std::move(collected);
  return out;
}

Result<Embeddings> RunEmbeddings(service::Service& service, const service::RequestContext& ctx,
                                 const std::string& model_id,
                                 const std::vector<std::string>& inputs) {
  service::InferCall call;
  call.model = model_id;
  core::Tensor text;
  text.name = "text";
  text.dtype = core::DataType::kString;
  text.shape = {static_cast<int64_t>(inputs.size())};
  text.strings = inputs;
  call.inputs.push_back(std::move(text));
  call.outputs.push_back({"embedding", std::nullopt});
  MLOS_ASSIGN_OR_RETURN(service::InferResult result, service.Infer(ctx, call));
  const core::Tensor* out = nullptr;
  for (const core::Tensor& t : result.response.outputs) {
    if (t.name == "embedding") out = &t;
  }
  if (!out) return Internal("model '" + model_id + "' returned no 'embedding' output");
  if (out->dtype != core::DataType::kFloat32 || out->shape.size() != 2 ||
      out->shape[0] != static_cast<int64_t>(inputs.size()) || out->shape[1] < 0 ||
      out->byte_size() != static_cast<uint64_t>(out->shape[0] * out->shape[1]) * sizeof(float)) {
    return Internal("model '" + model_id +
                    "' returned an 'embedding' output that is not float32 [inputs, n_embd]");
  }
  Embeddings e;
  e.model_id = result.response.model_id;
  e.queue_time_us = result.response.queue_time_us;
  e.inference_time_us = result.response.inference_time_us;
  const size_t dim = static_cast<size_t>(out->shape[1]);
  const uint8_t* bytes = out->bytes();
  e.vectors.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    e.vectors[i].resize(dim);
    std::memcpy(e.vectors[i].data(), bytes + i * dim * sizeof(float), dim * sizeof(float));
    e.prompt_tokens += std::max<uint64_t>(1, (inputs[i].size() + 3) / 4);
  }
  return e;
}

Result<service::RequestContext> LlmContext(const HttpRequest& req,
                                           const api::RequestOptions& options) {
  service::RequestContext ctx = Api::Context(req);
  MLOS_RETURN_IF_ERROR(Api::ApplyOptions(req, options, ctx));
  return ctx;
}

Status CountFailure(service::Service& service, const service::RequestContext& ctx,
                    const std::string& model, Status error) {
  service::InferCall call;
  call.model = model;
  return service.Fail(ctx, call, std::move(error));
}

}  // namespace mlos::http::llm
