// The inference path every front-end shares: check -> bind shared memory -> deadline -> core
// -> count and log.
#include <algorithm>
#include <cstring>

#include "service/metrics.h"
#include "service/service.h"
#include "wire/bytes_codec.h"

namespace mlos::service {

Result<InferResult> Service::Infer(const RequestContext& ctx, InferCall& call) {
  std::string model_id;
  Result<InferResult> r = InferUnmetered(ctx, call, &model_id);
  Record(ctx, call, std::move(model_id), r.ok() ? Status::Ok() : r.status(),
         r.ok() ? &r->response : nullptr);
  return r;
}

Status Service::Fail(const RequestContext& ctx, const InferCall& call, Status error) {
  Record(ctx, call, "", error);
  return error;
}

void Service::Record(const RequestContext& ctx, const InferCall& call, std::string model_id,
                     const Status& status, const core::InferResponse* response) {
  if (!status.ok() && model_id.empty() && !call.model.empty()) {
    // Count the failure under the model's id when it names one (bounded label values).
    const std::string ref = call.version.empty() ? call.model : call.model + "@" + call.version;
    if (auto known = core_.Get(ref); known.ok()) model_id = known->id;
  }
  const auto elapsed = Clock::now() - ctx.received;
  if (metrics_) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    metrics_->RecordRequest(model_id.empty() ? std::string_view("unknown") : model_id,
                            ProtocolName(ctx.protocol), status.code(), seconds);
  }
  if (!model_id.empty()) {
    const int64_t elapsed_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
    const auto ns = static_cast<uint64_t>(std::max<int64_t>(0, elapsed_ns));
    if (status.ok() && response) {
      model_stats_.RecordSuccess(model_id, ns, response->queue_time_us * 1000,
                                 response->inference_time_us * 1000);
    } else if (!status.ok()) {
      model_stats_.RecordFailure(model_id, ns);
    }
  }
  if (!status.ok()) LogFailure(ctx, "infer", model_id.empty() ? call.model : model_id, status);
}

// Security: who is calling (only when it matters: auth required or principal limits), then,
// once the core has resolved the version, the model's access lists and the quotas. With auth
// off and no limits anywhere this costs one call that returns at once.
Result<Service::AdmitFn> Service::OpenGate(const RequestContext& ctx, const std::string& model,
                                           Gate& gate, std::string* principal) {
  gate.ctx = &ctx;
  if (!guard_) return AdmitFn();
  if (guard_->auth_required() || guard_->principal_limits()) {
    MLOS_ASSIGN_OR_RETURN(gate.who, Check(ctx, security::Action::kInfer, model));
    *principal = gate.who->name;
  }
  return AdmitFn([this, g = &gate](const std::string& id, const std::string& name,
                                   const core::ModelPolicy& policy) -> Status {
    security::Guard& guard = *guard_;
    const security::ModelQuota quota{policy.rate_limit, policy.max_concurrency};
    Status st;
    if (g->who && guard.auth_required()) {
      st = guard.AuthorizeModel(*g->who, security::Action::kInfer,
                                {name, id, &policy.principals, &policy.roles});
    }
    if (st.ok() && (g->who || !quota.Unlimited())) {
      auto ticket = g->who ? guard.Admit(g->who->name, g->who->role, id, quota, g->bytes)
                           : guard.Admit(g->ctx->principal.name, security::Role::kAdmin, id,
                                         quota, g->bytes);
      if (ticket.ok()) {
        g->ticket = std::move(*ticket);
      } else {
        st = ticket.status();
      }
    }
    if (!st.ok()) {
      g->refused = st;
      g->refused_model = id;
    }
    return st;
  });
}

void Service::CloseGate(const Gate& gate) {
  if (!gate.refused.ok()) {
    Deny(*gate.ctx, gate.who.get(), security::Action::kInfer, gate.refused_model, gate.refused);
  }
}

Result<InferResult> Service::InferUnmetered(const RequestContext& ctx, InferCall& call,
                                            std::string* model_id) {
  MLOS_RETURN_IF_ERROR(CheckModelId(call.model, "model name"));
  InferResult result;
  core::InferRequest ir;
  ir.model = call.model;
  ir.version = call.version;
  ir.principal = ctx.principal.name;
  ir.protocol = ProtocolName(ctx.protocol);
  ir.priority = ctx.priority;
  ir.keep_alive = ctx.keep_alive;

  Gate gate;
  MLOS_ASSIGN_OR_RETURN(ir.admit, OpenGate(ctx, call.model, gate, &ir.principal));
  if (guard_ && guard_->principal_limits()) {
    // Input bytes: only a principal's max_request_bytes reads them (model quotas count calls).
    for (size_t i = 0; i < call.inputs.size(); ++i) {
      const core::Tensor& t = call.inputs[i];
      if (i < call.input_shm.size() && call.input_shm[i]) {
        gate.bytes += call.input_shm[i]->byte_size;
      } else if (t.dtype == core::DataType::kString) {
        for (const std::string& str : t.strings) gate.bytes += str.size();
      } else {
        gate.bytes += t.byte_size();
      }
    }
  }
  ir.inputs = std::move(call.inputs);

  // Inputs in shared memory: read in place.
  if (!call.input_shm.empty() && call.input_shm.size() != ir.inputs.size()) {
    return Internal("input_shm must have one entry per input");
  }
  for (size_t i = 0; i < call.input_shm.size(); ++i) {
    if (!call.input_shm[i]) continue;
    const ShmRef& ref = *call.input_shm[i];
    core::Tensor& t = ir.inputs[i];
    const int64_t count = core::ElementCount(t.shape);
    if (count < 0) return InvalidArgument("input '" + t.name + "': bad shape");
    if (t.dtype == core::DataType::kString) {
      // Serialized in the region (u32 length + bytes per element): decoded into the tensor.
      auto view = ResolveShm(ctx, ref);
      if (!view.ok()) return view.status().WithPrefix("input '" + t.name + "'");
      t.strings.clear();
      MLOS_RETURN_IF_ERROR(wire::DecodeBytesElements(
          std::string_view(reinterpret_cast<const char*>(view->data), view->size), t.name, count,
          t.shape, &t.strings));
      continue;
    }
    const uint64_t want = static_cast<uint64_t>(count) * core::DataTypeSize(t.dtype);
    if (ref.byte_size != want) {
      return InvalidArgument("input '" + t.name + "': shared_memory_byte_size " +
                             std::to_string(ref.byte_size) + " does not match its shape (" +
                             std::to_string(want) + " bytes)");
    }
    auto view = ResolveShm(ctx, ref);
    if (!view.ok()) return view.status().WithPrefix("input '" + t.name + "'");
    t.data.clear();
    t.external = view->data;
    t.external_size = view->size;
    result.views.push_back(std::move(*view));
  }

  // Outputs: the ones in shared memory are checked before the model runs.
  ir.outputs.reserve(call.outputs.size());
  std::vector<std::pair<const OutputRequest*, ShmView>> shm_outputs;
  for (const OutputRequest& o : call.outputs) {
    ir.outputs.push_back(o.name);
    if (!o.shm) continue;
    auto view = ResolveShm(ctx, *o.shm);
    if (!view.ok()) return view.status().WithPrefix("output '" + o.name + "'");
    shm_outputs.emplace_back(&o, std::move(*view));
  }
  Status alloc_error;
  if (!shm_outputs.empty() || call.inline_allocator) {
    ir.output_allocator = [&](const std::string& name, core::DataType,
                              const std::vector<int64_t>&, uint64_t byte_size) -> void* {
      for (auto& [o, view] : shm_outputs) {
        if (o->name != name) continue;
        if (byte_size > view.size) {
          alloc_error = InvalidArgument("output '" + name + "': " + std::to_string(byte_size) +
                                        " bytes do not fit shared_memory_byte_size " +
                                        std::to_string(view.size));
          return nullptr;
        }
        return view.data;
      }
      if (call.inline_allocator) return call.inline_allocator(name, byte_size);
      return result.inline_buffers.emplace_back(byte_size).data();
    };
  }

  // The earlier of the client's deadline and the server's limit.
  ir.deadline = ctx.client_deadline;
  if (options_.request_timeout.count() > 0) {
    const Clock::time_point server = ctx.received + options_.request_timeout;
    if (!ir.deadline || server < *ir.deadline) ir.deadline = server;
  }

  auto out = core_.Infer(std::move(ir));
  CloseGate(gate);
  if (!out.ok()) return alloc_error.ok() ? out.status() : alloc_error;
  *model_id = out->model_id;
  result.response = std::move(out).value();
  if (!shm_outputs.empty()) {
    result.output_shm.resize(result.response.outputs.size());
    for (size_t i = 0; i < result.response.outputs.size(); ++i) {
      const core::Tensor& t = result.response.outputs[i];
      const bool is_string = t.dtype == core::DataType::kString;
      if (is_string && !call.string_outputs_to_shm) continue;  // travels inline
      for (auto& [o, view] : shm_outputs) {
        if (o->name != t.name) continue;
        result.output_shm[i] = o->shm;
        if (!is_string) continue;
        std::string bytes;
        wire::AppendBytesElements(t.strings, bytes);
        if (bytes.size() > view.size) {
          return InvalidArgument("output '" + t.name + "': " + std::to_string(bytes.size()) +
                                 " bytes do not fit shared_memory_byte_size " +
                                 std::to_string(view.size));
        }
        if (!bytes.empty()) std::memcpy(view.data, bytes.data(), bytes.size());
        result.output_shm[i]->byte_size = bytes.size();
      }
    }
    for (auto& [o, view] : shm_outputs) result.views.push_back(std::move(view));
  }
  return result;
}

}  // namespace mlos::service
