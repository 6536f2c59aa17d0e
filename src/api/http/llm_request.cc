#include "api/http/llm_request.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "api/common/json_writer.h"
#include "wire/utf8.h"

namespace mlos::http::llm {
namespace {

using nlohmann::json;

// Records the failing field for OpenAI's `param` and returns the error.
Status Bad(std::string* param, std::string_view field, std::string message) {
  if (param) *param = std::string(field);
  return InvalidArgument(std::move(message));
}

Result<json> ParseObject(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("the request body is not valid JSON");
  if (!doc.is_object()) return InvalidArgument("the request body must be a JSON object");
  return doc;
}

// The member `key` unless absent or null.
const json* Find(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status GetString(const json& obj, std::string_view key, std::string& out, std::string* param,
                 bool required) {
  const json* v = Find(obj, key);
  if (!v) {
    if (required) {
      return Bad(param, key, "field '" + std::string(key) + "' is required");
    }
    return Status::Ok();
  }
  if (!v->is_string()) return Bad(param, key, "field '" + std::string(key) + "' must be a string");
  out = v->get<std::string>();
  return Status::Ok();
}

Status GetBool(const json& obj, std::string_view key, bool& out, std::string* param) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  if (!v->is_boolean()) {
    return Bad(param, key, "field '" + std::string(key) + "' must be a boolean");
  }
  out = v->get<bool>();
  return Status::Ok();
}

Status GetDouble(const json& obj, std::string_view key, std::optional<double>& out,
                 std::string* param, double min, double max) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  if (!v->is_number()) return Bad(param, key, "field '" + std::string(key) + "' must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    char range[96];
    std::snprintf(range, sizeof range, "must be between %g and %g", min, max);
    return Bad(param, key, "field '" + std::string(key) + "' " + range);
  }
  out = d;
  return Status::Ok();
}

Status GetInt(const json& obj, std::string_view key, std::optional<int64_t>& out,
              std::string* param, int64_t min) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  int64_t i = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    i = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
            ? std::numeric_limits<int64_t>::max()
            : static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    i = v->get<int64_t>();
  } else if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>() &&
             std::fabs(v->get<double>()) < 9e18) {
    i = static_cast<int64_t>(v->get<double>());
  } else {
    return Bad(param, key, "field '" + std::string(key) + "' must be an integer");
  }
  if (i < min) {
    return Bad(param, key,
               "field '" + std::string(key) + "' must be >= " + std::to_string(min) +
                   " (got " + std::to_string(i) + ")");
  }
  out = i;
  return Status::Ok();
}

// `stop`: a string or an array of strings (OpenAI allows up to 4; any number here).
Status GetStop(const json& obj, std::string_view key, std::vector<std::string>& out,
               std::string* param) {
  const json* v = Find(obj, key);
  if (!v) return Status::Ok();
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
    return Status::Ok();
  }
  if (!v->is_array()) {
    return Bad(param, key,
               "field '" + std::string(key) + "' must be a string or an array of strings");
  }
  for (const json& s : *v) {
    if (!s.is_string()) {
      return Bad(param, key, "field '" + std::string(key) + "' must contain only strings");
    }
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return Status::Ok();
}

// A message's content: a string, or OpenAI's array of parts (the "text" parts, joined).
Status MessageContent(const json& msg, size_t index, std::string& out, std::string* param) {
  const std::string field = "messages[" + std::to_string(index) + "].content";
  const json* c = Find(msg, "content");
  if (!c) return Status::Ok();  // an assistant turn with tool calls only
  if (c->is_string()) {
    out = c->get<std::string>();
    return Status::Ok();
  }
  if (!c->is_array()) {
    return Bad(param, "messages", "field '" + field + "' must be a string or an array");
  }
  for (const json& part : *c) {
    if (part.is_string()) {
      out += part.get<std::string>();
      continue;
    }
    if (!part.is_object()) {
      return Bad(param, "messages", "field '" + field + "' has a part that is not an object");
    }
    const json* type = Find(part, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "text") {
      return Bad(param, "messages",
                 "field '" + field + "': only text parts are supported");
    }
    const json* text = Find(part, "text");
    if (!text || !text->is_string()) {
      return Bad(param, "messages", "field '" + field + "': a text part needs 'text'");
    }
    out += text->get<std::string>();
  }
  return Status::Ok();
}

Status ParseMessages(const json& doc, std::vector<ChatMessage>& out, std::string* param,
                     bool allow_empty) {
  const json* msgs = Find(doc, "messages");
  if (!msgs) {
    if (allow_empty) return Status::Ok();
    return Bad(param, "messages", "field 'messages' is required");
  }
  if (!msgs->is_array()) return Bad(param, "messages", "field 'messages' must be an array");
  if (msgs->empty() && !allow_empty) {
    return Bad(param, "messages", "field 'messages' must not be empty");
  }
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    if (!m.is_object()) {
      return Bad(param, "messages",
                 "field 'messages[" + std::to_string(i) + "]' must be an object");
    }
    ChatMessage msg;
    const json* role = Find(m, "role");
    if (!role || !role->is_string()) {
      return Bad(param, "messages",
                 "field 'messages[" + std::to_string(i) + "].role' is required (a string)");
    }
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for it
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool") {
      return Bad(param, "messages",
                 "field 'messages[" + std::to_string(i) + "].role': unknown role '" + msg.role +
                     "' (system, developer, user, assistant, tool)");
    }
    MLOS_RETURN_IF_ERROR(MessageContent(m, i, msg.content, param));
    out.push_back(std::move(msg));
  }
  return Status::Ok();
}

// keep_alive as Ollama sends it: a duration string or a number of seconds.
Status GetKeepAlive(const json& doc, api::RequestOptions& options) {
  const json* v = Find(doc, "keep_alive");
  if (!v) return Status::Ok();
  json params = json::object();
  params["keep_alive"] = *v;
  return api::ParseJsonParameters(params, options);
}

// OpenAI's sampling fields (chat and completions).
Status OpenAISampling(const json& doc, GenerationRequest& r, std::string* param) {
  SamplingParams& s = r.sampling;
  MLOS_RETURN_IF_ERROR(GetInt(doc, "max_tokens", s.max_tokens, param, 0));
  std::optional<int64_t> max_completion;
  MLOS_RETURN_IF_ERROR(GetInt(doc, "max_completion_tokens", max_completion, param, 0));
  if (max_completion) s.max_tokens = max_completion;
  MLOS_RETURN_IF_ERROR(GetDouble(doc, "temperature", s.temperature, param, 0, 2));
  MLOS_RETURN_IF_ERROR(GetDouble(doc, "top_p", s.top_p, param, 0, 1));
  MLOS_RETURN_IF_ERROR(GetInt(doc, "seed", s.seed, param, std::numeric_limits<int64_t>::min()));
  MLOS_RETURN_IF_ERROR(GetStop(doc, "stop", s.stop, param));
  // Accepted and checked, not applied: llama.cpp's repeat penalty is multiplicative, these are
  // additive (OpenAI's range is [-2, 2]).
  std::optional<double> ignored;
  MLOS_RETURN_IF_ERROR(GetDouble(doc, "frequency_penalty", ignored, param, -2, 2));
  MLOS_RETURN_IF_ERROR(GetDouble(doc, "presence_penalty", ignored, param, -2, 2));
  std::optional<int64_t> n;
  MLOS_RETURN_IF_ERROR(GetInt(doc, "n", n, param, 1));
  if (n && *n != 1) return Bad(param, "n", "field 'n': only 1 choice per request is supported");
  MLOS_RETURN_IF_ERROR(GetBool(doc, "stream", r.stream, param));
  if (const json* so = Find(doc, "stream_options")) {
    if (!so->is_object()) {
      return Bad(param, "stream_options", "field 'stream_options' must be an object");
    }
    MLOS_RETURN_IF_ERROR(GetBool(*so, "include_usage", r.include_usage, param));
  }
  return Status::Ok();
}

// Ollama's `options` object.
Status OllamaOptions(const json& doc, SamplingParams& s) {
  const json* o = Find(doc, "options");
  if (!o) return Status::Ok();
  if (!o->is_object()) return InvalidArgument("field 'options' must be an object");
  std::optional<int64_t> num_predict;
  MLOS_RETURN_IF_ERROR(GetInt(*o, "num_predict", num_predict, nullptr, -2));
  if (num_predict && *num_predict >= 0) s.max_tokens = num_predict;  // -1 / -2: no limit
  MLOS_RETURN_IF_ERROR(GetDouble(*o, "temperature", s.temperature, nullptr, 0, 100));
  MLOS_RETURN_IF_ERROR(GetInt(*o, "top_k", s.top_k, nullptr, 0));
  MLOS_RETURN_IF_ERROR(GetDouble(*o, "top_p", s.top_p, nullptr, 0, 1));
  MLOS_RETURN_IF_ERROR(GetDouble(*o, "min_p", s.min_p, nullptr, 0, 1));
  MLOS_RETURN_IF_ERROR(GetDouble(*o, "repeat_penalty", s.repeat_penalty, nullptr, 0, 100));
  MLOS_RETURN_IF_ERROR(GetInt(*o, "repeat_last_n", s.repeat_last_n, nullptr, -1));
  MLOS_RETURN_IF_ERROR(GetInt(*o, "seed", s.seed, nullptr, std::numeric_limits<int64_t>::min()));
  MLOS_RETURN_IF_ERROR(GetStop(*o, "stop", s.stop, nullptr));
  return Status::Ok();
}

// The common part of Ollama's chat and generate.
Status OllamaCommon(const json& doc, GenerationRequest& r) {
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", r.model, nullptr, true));
  if (r.model.empty()) return InvalidArgument("field 'model' must not be empty");
  r.stream = true;
  MLOS_RETURN_IF_ERROR(GetBool(doc, "stream", r.stream, nullptr));
  MLOS_RETURN_IF_ERROR(OllamaOptions(doc, r.sampling));
  MLOS_RETURN_IF_ERROR(GetKeepAlive(doc, r.options));
  const json* format = Find(doc, "format");
  if (format && !(format->is_string() && format->get<std::string>().empty())) {
    return InvalidArgument("field 'format': structured outputs are not supported");
  }
  return Status::Ok();
}

Status EmbeddingInputs(const json& v, std::string_view field, std::vector<std::string>& out,
                       std::string* param) {
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return Status::Ok();
  }
  if (!v.is_array()) {
    return Bad(param, field,
               "field '" + std::string(field) + "' must be a string or an array of strings");
  }
  if (v.empty()) return Bad(param, field, "field '" + std::string(field) + "' must not be empty");
  for (const json& s : v) {
    if (!s.is_string()) {
      return Bad(param, field,
                 "field '" + std::string(field) +
                     "' must contain only strings (token arrays are not supported)");
    }
    out.push_back(s.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

std::string OllamaModelId(std::string_view name) {
  if (name.find('@') != std::string_view::npos) return std::string(name);
  const size_t colon = name.rfind(':');
  // A ':' before the last '/' is a host:port prefix, not a tag.
  const size_t slash = name.rfind('/');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) {
    return std::string(name);
  }
  const std::string_view base = name.substr(0, colon);
  const std::string_view tag = name.substr(colon + 1);
  if (tag.empty() || tag == "latest") return std::string(base);
  return std::string(base) + "@" + std::string(tag);
}

std::string OllamaModelName(const std::string& name, const std::string& version,
                            bool is_default) {
  return name + ":" + (is_default ? std::string("latest") : version);
}

Result<GenerationRequest> ParseOpenAIChat(std::string_view body, std::string* param) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  GenerationRequest r;
  r.chat = true;
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", r.model, param, true));
  if (r.model.empty()) return Bad(param, "model", "field 'model' must not be empty");
  MLOS_RETURN_IF_ERROR(ParseMessages(doc, r.messages, param, false));
  MLOS_RETURN_IF_ERROR(OpenAISampling(doc, r, param));
  if (const json* f = Find(doc, "response_format")) {
    const json* type = f->is_object() ? Find(*f, "type") : nullptr;
    if (!type || !type->is_string() || type->get<std::string>() != "text") {
      return Bad(param, "response_format",
                 "field 'response_format': only type 'text' is supported");
    }
  }
  return r;
}

Result<GenerationRequest> ParseOpenAICompletion(std::string_view body, std::string* param) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  GenerationRequest r;
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", r.model, param, true));
  if (r.model.empty()) return Bad(param, "model", "field 'model' must not be empty");
  const json* prompt = Find(doc, "prompt");
  if (!prompt) return Bad(param, "prompt", "field 'prompt' is required");
  if (prompt->is_string()) {
    r.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    r.prompt = (*prompt)[0].get<std::string>();
  } else {
    return Bad(param, "prompt",
               "field 'prompt' must be a string (or an array of one string; token arrays and "
               "batches are not supported)");
  }
  MLOS_RETURN_IF_ERROR(OpenAISampling(doc, r, param));
  // The legacy endpoint's default is 16 tokens.
  if (!r.sampling.max_tokens) r.sampling.max_tokens = 16;
  bool echo = false;
  MLOS_RETURN_IF_ERROR(GetBool(doc, "echo", echo, param));
  if (echo) return Bad(param, "echo", "field 'echo' is not supported");
  return r;
}

Result<EmbeddingRequest> ParseOpenAIEmbeddings(std::string_view body, std::string* param) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  EmbeddingRequest r;
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", r.model, param, true));
  if (r.model.empty()) return Bad(param, "model", "field 'model' must not be empty");
  const json* input = Find(doc, "input");
  if (!input) return Bad(param, "input", "field 'input' is required");
  MLOS_RETURN_IF_ERROR(EmbeddingInputs(*input, "input", r.inputs, param));
  std::string format = "float";
  MLOS_RETURN_IF_ERROR(GetString(doc, "encoding_format", format, param, false));
  if (format != "float" && format != "base64") {
    return Bad(param, "encoding_format", "field 'encoding_format' must be 'float' or 'base64'");
  }
  r.base64 = format == "base64";
  if (Find(doc, "dimensions")) {
    return Bad(param, "dimensions", "field 'dimensions' is not supported");
  }
  return r;
}

Result<GenerationRequest> ParseOllamaChat(std::string_view body) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  GenerationRequest r;
  r.chat = true;
  MLOS_RETURN_IF_ERROR(OllamaCommon(doc, r));
  // No messages (or none at all): Ollama loads the model and answers done_reason "load".
  MLOS_RETURN_IF_ERROR(ParseMessages(doc, r.messages, nullptr, true));
  if (Find(doc, "tools")) return InvalidArgument("field 'tools': tool calling is not supported");
  return r;
}

Result<GenerationRequest> ParseOllamaGenerate(std::string_view body) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  GenerationRequest r;
  MLOS_RETURN_IF_ERROR(OllamaCommon(doc, r));
  MLOS_RETURN_IF_ERROR(GetString(doc, "prompt", r.prompt, nullptr, false));
  MLOS_RETURN_IF_ERROR(GetString(doc, "system", r.system, nullptr, false));
  MLOS_RETURN_IF_ERROR(GetBool(doc, "raw", r.raw, nullptr));
  if (const json* images = Find(doc, "images"); images && !images->empty()) {
    return InvalidArgument("field 'images': images are not supported");
  }
  std::string suffix;
  MLOS_RETURN_IF_ERROR(GetString(doc, "suffix", suffix, nullptr, false));
  if (!suffix.empty()) return InvalidArgument("field 'suffix' is not supported");
  return r;
}

Result<EmbeddingRequest> ParseOllamaEmbed(std::string_view body) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  EmbeddingRequest r;
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", r.model, nullptr, true));
  if (r.model.empty()) return InvalidArgument("field 'model' must not be empty");
  if (const json* input = Find(doc, "input")) {
    MLOS_RETURN_IF_ERROR(EmbeddingInputs(*input, "input", r.inputs, nullptr));
  } else if (const json* prompt = Find(doc, "prompt")) {
    if (!prompt->is_string()) return InvalidArgument("field 'prompt' must be a string");
    r.inputs.push_back(prompt->get<std::string>());
  } else {
    return InvalidArgument("field 'input' is required");
  }
  MLOS_RETURN_IF_ERROR(GetKeepAlive(doc, r.options));
  return r;
}

Result<std::string> ParseOllamaModelField(std::string_view body) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  std::string model;
  MLOS_RETURN_IF_ERROR(GetString(doc, "model", model, nullptr, false));
  if (model.empty()) MLOS_RETURN_IF_ERROR(GetString(doc, "name", model, nullptr, false));
  if (model.empty()) return InvalidArgument("field 'model' is required");
  return model;
}

Result<GenerationRequest> ParseKServeGenerate(std::string_view body) {
  MLOS_ASSIGN_OR_RETURN(json doc, ParseObject(body));
  GenerationRequest r;
  const json* text = Find(doc, "text_input");
  if (!text) return InvalidArgument("field 'text_input' is required");
  if (text->is_string()) {
    r.prompt = text->get<std::string>();
  } else if (text->is_array() && text->size() == 1 && (*text)[0].is_string()) {
    r.prompt = (*text)[0].get<std::string>();  // a BYTES tensor of one element
  } else {
    return InvalidArgument("field 'text_input' must be a string");
  }
  // Sampling keys at the top level (TensorRT-LLM style) or in `parameters` (vLLM style); the
  // parameters win.
  auto sampling = [&r](const json& o) -> Status {
    SamplingParams& s = r.sampling;
    MLOS_RETURN_IF_ERROR(GetInt(o, "max_tokens", s.max_tokens, nullptr, 0));
    MLOS_RETURN_IF_ERROR(GetDouble(o, "temperature", s.temperature, nullptr, 0, 100));
    MLOS_RETURN_IF_ERROR(GetDouble(o, "top_p", s.top_p, nullptr, 0, 1));
    MLOS_RETURN_IF_ERROR(GetInt(o, "top_k", s.top_k, nullptr, 0));
    MLOS_RETURN_IF_ERROR(GetDouble(o, "min_p", s.min_p, nullptr, 0, 1));
    MLOS_RETURN_IF_ERROR(GetDouble(o, "repeat_penalty", s.repeat_penalty, nullptr, 0, 100));
    MLOS_RETURN_IF_ERROR(GetInt(o, "repeat_last_n", s.repeat_last_n, nullptr, -1));
    MLOS_RETURN_IF_ERROR(
        GetInt(o, "seed", s.seed, nullptr, std::numeric_limits<int64_t>::min()));
    if (Find(o, "stop")) {
      s.stop.clear();
      MLOS_RETURN_IF_ERROR(GetStop(o, "stop", s.stop, nullptr));
    } else if (Find(o, "stop_words")) {
      s.stop.clear();
      MLOS_RETURN_IF_ERROR(GetStop(o, "stop_words", s.stop, nullptr));
    }
    return Status::Ok();
  };
  MLOS_RETURN_IF_ERROR(sampling(doc));
  if (const json* p = Find(doc, "parameters")) {
    if (!p->is_object()) return InvalidArgument("field 'parameters' must be an object");
    MLOS_RETURN_IF_ERROR(sampling(*p));
    MLOS_RETURN_IF_ERROR(api::ParseJsonParameters(*p, r.options));
  }
  return r;
}

std::string ParamsJson(const GenerationRequest& r) {
  std::string out;
  api::JsonWriter w(out);
  w.BeginObject();
  const SamplingParams& s = r.sampling;
  auto number = [&w](const char* key, const auto& v) {
    if (!v) return;
    w.Key(key);
    if constexpr (std::is_same_v<std::decay_t<decltype(*v)>, double>) {
      w.Double(*v);
    } else {
      w.Int(*v);
    }
  };
  number("max_tokens", s.max_tokens);
  number("temperature", s.temperature);
  number("top_p", s.top_p);
  number("top_k", s.top_k);
  number("min_p", s.min_p);
  number("repeat_penalty", s.repeat_penalty);
  number("repeat_last_n", s.repeat_last_n);
  number("seed", s.seed);
  if (!s.stop.empty()) {
    w.Key("stop");
    w.BeginArray();
    for (const std::string& stop : s.stop) w.String(stop);
    w.EndArray();
  }
  if (r.chat) {
    w.Key("messages");
    w.BeginArray();
    for (const ChatMessage& m : r.messages) {
      w.BeginObject();
      w.Key("role");
      w.String(m.role);
      w.Key("content");
      w.String(m.content);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return out;
}

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  const time_t secs = static_cast<time_t>(std::chrono::floor<std::chrono::seconds>(ns).count());
  const long frac = static_cast<long>(ns.count() - static_cast<int64_t>(secs) * 1000000000LL);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string ParameterSize(uint64_t n) {
  if (n == 0) return "";
  struct Unit {
    double scale;
    const char* suffix;
  };
  static const Unit kUnits[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
  for (const Unit& u : kUnits) {
    if (static_cast<double>(n) >= u.scale) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f%s", static_cast<double>(n) / u.scale, u.suffix);
      return buf;
    }
  }
  return std::to_string(n);
}

std::string ValidUtf8(std::string_view text) { return wire::ValidUtf8(text); }

const char* OpenAIFinishReason(const std::string& finish_reason) {
  return finish_reason == "length" ? "length" : "stop";
}

}  // namespace mlos::http::llm
