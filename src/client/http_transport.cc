// HTTP transport: the original MLOS API for management and tokens, KServe v2 REST for health,
// metadata, inference (binary tensor data extension both ways) and system shared memory. libcurl
// easy handles are pooled so that connections are kept alive and reused across requests and
// threads. https:// is the same over TLS (libcurl verifies the server; ClientOptions::tls).
#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/http_io.h"
#include "client/internal.h"
#include "common/buffer.h"
#include "wire/utf8.h"

namespace mlos::client::internal {
namespace {

using nlohmann::json;

Result<json> ParseJson(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Internal("server sent malformed JSON: " + body.substr(0, 200));
  return j;
}

class HttpClient final : public Client {
 public:
  HttpClient(Endpoint ep, ClientOptions options)
      : ep_(std::move(ep)), options_(std::move(options)), base_(ep_.ToString()) {}
  ~HttpClient() override {
    for (CURL* h : pool_) curl_easy_cleanup(h);
  }

  const Endpoint& endpoint() const override { return ep_; }

  Result<bool> Live() override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/v2/health/live"));
    return j.value("live", false);
  }
  // GET /v2/health/ready answers 503 {"ready": false, ...} while the registry is restored:
  // that is an answer, not an error.
  Result<bool> Ready() override {
    MLOS_ASSIGN_OR_RETURN(Reply reply, Send("GET", "/v2/health/ready", "", std::nullopt));
    if (reply.status == 503) {
      json j = json::parse(reply.body, nullptr, false);
      if (j.is_object() && j.contains("ready") && j["ready"].is_boolean()) {
        return j["ready"].get<bool>();
      }
    }
    MLOS_RETURN_IF_ERROR(ErrorOf(reply));
    MLOS_ASSIGN_OR_RETURN(json j, ParseJson(reply.body));
    return j.value("ready", false);
  }
  // A registered model that is not READY answers 503 (false); an unknown one 404 (an error).
  Result<bool> ModelReady(const std::string& model) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(model, "model name"));
    MLOS_ASSIGN_OR_RETURN(Reply reply,
                          Send("GET", "/v2/models/" + segment + "/ready", "", std::nullopt));
    if (reply.status == 503) return false;
    MLOS_RETURN_IF_ERROR(ErrorOf(reply));
    MLOS_ASSIGN_OR_RETURN(json j, ParseJson(reply.body));
    return j.value("ready", false);
  }
  Result<ServerMetadata> GetServerMetadata() override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/v2"));
    return ServerMetadataFromJson(j);
  }
  Result<ModelMetadata> GetModelMetadata(const std::string& model) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(model, "model name"));
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/v2/models/" + segment));
    return ModelMetadataFromJson(j);
  }

  Result<std::vector<ModelInfo>> ListModels() override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/models"));
    return ModelListFromJson(j);
  }
  Result<ModelInfo> GetModel(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/models/" + segment));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Register(const RegisterRequest& r) override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/register", RegisterBody(r)));
    if (j.contains("model")) return ModelInfoFromJson(j["model"]);
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Load(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/load"));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Unload(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/unload"));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> SetDefault(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/default"));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Rollback(const std::string& name) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(name));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/rollback"));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> SetAlias(const std::string& name, const std::string& alias,
                             const std::string& version) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(name, "model name"));
    const json body = {{"alias", alias}, {"version", version}};
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/alias", body.dump()));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Pin(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/pin"));
    return ModelInfoFromJson(j);
  }
  Result<ModelInfo> Unpin(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    MLOS_ASSIGN_OR_RETURN(json j, Call("POST", "/models/" + segment + "/unpin"));
    return ModelInfoFromJson(j);
  }
  Status Unregister(const std::string& id) override {
    MLOS_ASSIGN_OR_RETURN(std::string segment, Segment(id));
    return Call("DELETE", "/models/" + segment).status();
  }
  Result<std::vector<PluginInfo>> ListPlugins() override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/plugins"));
    return PluginListFromJson(j);
  }

  Result<InferResult> Infer(const InferRequest& req) override {
    MLOS_RETURN_IF_ERROR(CheckInferOptions(req.options));
    json header = json::object();
    if (!req.id.empty()) header["id"] = req.id;
    header["parameters"] = {{"binary_data_output", true}};
    const InferOptions& o = req.options;
    if (o.priority > 0) header["parameters"]["priority"] = o.priority;
    if (o.timeout.count() > 0) {
      header["parameters"]["timeout"] =
          std::chrono::duration_cast<std::chrono::microseconds>(o.timeout).count();
    }
    if (o.keep_alive) header["parameters"]["keep_alive"] = KeepAliveText(*o.keep_alive);
    // The body goes out in pieces: the JSON, then each binary input's bytes from the tensor.
    std::vector<std::string_view> parts(1);
    std::vector<std::string> encoded;  // BYTES inputs, serialised
    encoded.reserve(req.inputs.size());
    json inputs = json::array();
    for (const Tensor& t : req.inputs) {
      MLOS_RETURN_IF_ERROR(CheckTensor(t));
      json in = {{"name", t.name}, {"datatype", KServeDtype(t.dtype)}, {"shape", t.shape}};
      if (t.shm.used()) {
        in["parameters"] = {{"shared_memory_region", t.shm.region},
                            {"shared_memory_offset", t.shm.offset},
                            {"shared_memory_byte_size", t.shm.byte_size}};
      } else if (t.dtype == "string") {
        const std::string& bytes = encoded.emplace_back(SerializeBytes(t));
        in["parameters"] = {{"binary_data_size", bytes.size()}};
        parts.push_back(bytes);
      } else {
        in["parameters"] = {{"binary_data_size", t.data.size()}};
        parts.emplace_back(reinterpret_cast<const char*>(t.data.data()), t.data.size());
      }
      inputs.push_back(std::move(in));
    }
    header["inputs"] = std::move(inputs);
    if (!req.outputs.empty()) {
      json outs = json::array();
      for (const OutputSpec& o : req.outputs) {
        json spec = {{"name", o.name}};
        if (o.shm.used()) {
          spec["parameters"] = {{"shared_memory_region", o.shm.region},
                                {"shared_memory_offset", o.shm.offset},
                                {"shared_memory_byte_size", o.shm.byte_size}};
        } else {
          spec["parameters"] = {{"binary_data", true}};
        }
        outs.push_back(std::move(spec));
      }
      header["outputs"] = std::move(outs);
    }
    const std::string head_json = header.dump();
    parts[0] = head_json;
    std::string path = "/v2/models/" + EncodeSegment(req.model);
    if (!req.version.empty()) path += "/versions/" + EncodeSegment(req.version);
    path += "/infer";
    MLOS_ASSIGN_OR_RETURN(Reply reply,
                          Send("POST", path, {}, head_json.size(), &parts, /*into_buffer=*/true));
    // With view_outputs the outputs point into the answer's buffer, which they then keep.
    std::shared_ptr<Buffer> kept;
    if (o.view_outputs) kept = std::make_shared<Buffer>(std::move(reply.buffer));
    std::shared_ptr<const void> storage = kept;
    if (kept) reply.buffer_view = kept->view().substr(reply.buffer_offset);
    MLOS_RETURN_IF_ERROR(ErrorOf(reply));
    const std::string_view all = reply.text();
    std::string_view head = all, bin;
    if (reply.header_length) {
      if (*reply.header_length > all.size()) {
        return Internal("Inference-Header-Content-Length exceeds the response body");
      }
      head = all.substr(0, *reply.header_length);
      bin = all.substr(*reply.header_length);
    }
    json j = json::parse(head, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Internal("server sent a malformed infer response");
    InferResult result;
    result.model_name = j.value("model_name", "");
    result.model_version = j.value("model_version", "");
    result.id = j.value("id", "");
    size_t pos = 0;
    if (!j.contains("outputs") || !j["outputs"].is_array()) {
      return Internal("infer response has no outputs array");
    }
    for (const json& o : j["outputs"]) {
      Tensor t;
      t.name = o.value("name", "");
      t.dtype = DtypeFromKServe(o.value("datatype", ""));
      if (o.contains("shape")) t.shape = o["shape"].get<std::vector<int64_t>>();
      const json params = o.value("parameters", json::object());
      if (params.contains("shared_memory_region")) {
        t.shm.region = params["shared_memory_region"].get<std::string>();
        t.shm.offset = params.value("shared_memory_offset", uint64_t{0});
        t.shm.byte_size = params.value("shared_memory_byte_size", uint64_t{0});
      } else if (params.contains("binary_data_size")) {
        const uint64_t n = params["binary_data_size"].get<uint64_t>();
        if (bin.size() - pos < n) return Internal("binary output data truncated");
        MLOS_RETURN_IF_ERROR(DeserializeOutput(bin.substr(pos, n), t, storage));
        pos += n;
      } else if (o.contains("data")) {
        MLOS_RETURN_IF_ERROR(FromJsonData(o["data"], t));
      } else {
        // Requested into shared memory: the server writes it where the request said and
        // answers name, datatype and shape only (as Triton does).
        for (const OutputSpec& spec : req.outputs) {
          if (spec.name != t.name || !spec.shm.used()) continue;
          t.shm = spec.shm;
          if (const uint64_t size = DtypeSize(t.dtype); size > 0) {
            uint64_t n = 1;
            for (int64_t d : t.shape) n *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
            t.shm.byte_size = n * size;  // BYTES: the region's size (the strings say theirs)
          }
        }
      }
      result.outputs.push_back(std::move(t));
    }
    return result;
  }

  Status RegisterSharedMemory(const std::string& region, const SharedMemory& memory,
                              uint64_t offset, uint64_t byte_size) override {
    if (!memory.is_system()) {
      return InvalidArgument("a memfd region can only be registered over IPC (unix://); use "
                             "SharedMemory::CreateSystem over HTTP");
    }
    json body = {{"key", memory.key()}, {"offset", offset}, {"byte_size", byte_size}};
    return Call("POST", "/v2/systemsharedmemory/region/" + EncodeSegment(region) + "/register",
                body.dump())
        .status();
  }
  Status UnregisterSharedMemory(const std::string& region) override {
    return Call("POST",
                "/v2/systemsharedmemory/region/" + EncodeSegment(region) + "/unregister")
        .status();
  }
  Result<CreatedToken> CreateToken(const std::string& name, const std::string& role,
                                   const std::vector<std::string>& models,
                                   const std::string& expires) override {
    MLOS_ASSIGN_OR_RETURN(json j,
                          Call("POST", "/tokens", TokenCreateBody(name, role, models, expires)));
    return CreatedTokenFromJson(j);
  }
  Result<std::vector<TokenInfo>> ListTokens() override {
    MLOS_ASSIGN_OR_RETURN(json j, Call("GET", "/tokens"));
    return TokenListFromJson(j);
  }
  Result<TokenInfo> RevokeToken(const std::string& name) override {
    MLOS_RETURN_IF_ERROR(CheckTokenName(name));
    MLOS_ASSIGN_OR_RETURN(json j, Call("DELETE", "/tokens/" + EncodeSegment(name)));
    return TokenInfoFromJson(j);
  }

  Result<std::vector<ShmRegionInfo>> SharedMemoryStatus(const std::string& region) override {
    MLOS_ASSIGN_OR_RETURN(
        json j, Call("GET", region.empty() ? std::string("/v2/systemsharedmemory/status")
                                           : "/v2/systemsharedmemory/region/" +
                                                 EncodeSegment(region) + "/status"));
    const json* arr = &j;
    if (j.is_object() && j.contains("regions")) arr = &j["regions"];
    if (arr->is_object()) return ShmRegionsFromJson(json::array({*arr}));
    return ShmRegionsFromJson(*arr);
  }

 private:
  static Status FromJsonData(const json& data, Tensor& t) {
    if (!data.is_array()) return Internal("output '" + t.name + "': data is not an array");
    const uint64_t size = DtypeSize(t.dtype);
    for (const json& v : data) {
      if (t.dtype == "string") {
        t.strings.push_back(v.get<std::string>());
        continue;
      }
      uint8_t buf[8] = {};
      if (t.dtype == "float32") { float f = v.get<float>(); std::memcpy(buf, &f, 4); }
      else if (t.dtype == "float64") { double d = v.get<double>(); std::memcpy(buf, &d, 8); }
      else if (t.dtype == "bool") { buf[0] = v.get<bool>() ? 1 : 0; }
      else if (t.dtype.starts_with("uint")) { uint64_t u = v.get<uint64_t>(); std::memcpy(buf, &u, size); }
      else if (t.dtype.starts_with("int")) { int64_t i = v.get<int64_t>(); std::memcpy(buf, &i, size); }
      else return Internal("output '" + t.name + "': JSON data for dtype " + t.dtype);
      t.data.insert(t.data.end(), buf, buf + size);
    }
    return Status::Ok();
  }

  // Generation over server-sent events: KServe's POST /v2/models/{model}/generate_stream
  // ({"text_input", "parameters"}; each event {"text_output": chunk}, the last one
  // {"finish_reason", usage}), or for chat OpenAI's POST /v1/chat/completions with "stream":
  // true (each event {"choices": [{"delta": {"content": chunk}, "finish_reason"}]}, usage in
  // the last one, then [DONE]). An error before the stream starts is the usual JSON error
  // answer; one in the stream is an event {"error": "..."}. Cancelling closes the connection.
  // ClientOptions::timeout limits the time without a byte from the server.
  Result<GenerateResult> Generate(const GenerateOptions& o, TokenCallback on_token) override {
    std::string path;
    json body;
    const bool chat = !o.messages.empty();
    if (chat) {
      path = "/v1/chat/completions";
      body = GenerateParams(o);
      body["model"] = o.model;
      body["messages"] = ChatMessagesJson(o.messages);
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    } else {
      MLOS_ASSIGN_OR_RETURN(std::string model, Segment(o.model));
      path = "/v2/models/" + model + "/generate_stream";
      body = {{"text_input", o.prompt}, {"parameters", GenerateParams(o)}};
    }
    SseStream stream;
    stream.chat = chat;
    stream.on_token = &on_token;
    const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);

    CURL* h = Take();
    if (!h) return Internal("curl_easy_init failed");
    curl_easy_reset(h);
    const std::string url = base_ + path;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    // No limit on the whole transfer: a stalled stream (no byte for `timeout`) is the limit.
    const long idle_s = std::max<long>(1, static_cast<long>(options_.timeout.count() / 1000));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, idle_s);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnSse);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &stream);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &stream.reply);
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    if (ep_.tls) SetTlsOptions(h);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: text/event-stream");
    std::string auth;
    if (!options_.bearer_token.empty()) {
      auth = "Authorization: Bearer " + options_.bearer_token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    stream.handle = h;
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // `error` goes out of scope
    if (rc != CURLE_OK) {
      curl_easy_cleanup(h);  // a connection cut mid-stream is not reused
      if (stream.cancelled) {
        stream.result.finish_reason = "cancelled";
        return stream.result;
      }
      if (!stream.error.ok()) return stream.error;
      std::string msg = "cannot reach mlosd at " + base_ + ": " + curl_easy_strerror(rc);
      if (ep_.tls && error[0] != '\0' && msg.find(error) == std::string::npos) {
        msg += std::string(" (") + error + ")";
      }
      return rc == CURLE_OPERATION_TIMEDOUT ? Status(StatusCode::kDeadlineExceeded, msg)
                                            : Unavailable(msg);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &stream.reply.status);
    Give(h);
    if (stream.reply.status < 200 || stream.reply.status >= 300) {
      stream.reply.body = std::move(stream.pending);
      // OpenAI's error object {"error": {"message", "type", ...}}: its message.
      json j = json::parse(stream.reply.body, nullptr, false);
      if (j.is_object() && j.contains("error") && j["error"].is_object() &&
          j["error"].contains("message") && j["error"]["message"].is_string()) {
        stream.reply.body = json{{"error", j["error"]["message"]}}.dump();
      }
      return ErrorOf(stream.reply);
    }
    stream.Flush();
    if (!stream.error.ok()) return stream.error;
    if (stream.result.finish_reason.empty()) {
      return Internal("the generation stream from " + base_ + " ended without its last event");
    }
    return stream.result;
  }

  // The state of one event stream.
  struct SseStream {
    bool chat = false;
    const TokenCallback* on_token = nullptr;
    CURL* handle = nullptr;
    Reply reply;
    std::string pending;      // bytes not yet split into events (the body on an error status)
    GenerateResult result;
    Status error;             // an error event
    bool cancelled = false;
    bool ok_status = false;   // the status line said 2xx (known once the first bytes come)
    bool status_known = false;

    // Handles one event's data; false stops the stream (cancelled or an error event).
    bool Event(std::string_view data) {
      if (data == "[DONE]") return true;
      // Generated text may hold bytes that are not UTF-8, which a JSON parser refuses: they
      // become U+FFFD, as the gRPC and IPC front-ends send them.
      json j = wire::IsValidUtf8(data) ? json::parse(data, nullptr, false)
                                       : json::parse(wire::ValidUtf8(data), nullptr, false);
      if (!j.is_object()) return true;  // a comment or keep-alive
      if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
        std::string message = e->is_string() ? e->get<std::string>()
                              : e->is_object() && e->contains("message") && (*e)["message"].is_string()
                                  ? (*e)["message"].get<std::string>()
                                  : e->dump();
        error = Status(StatusCode::kInternal, message);
        if (e->is_object() && e->contains("code") && (*e)["code"].is_number_integer()) {
          error = Status(CodeForHttp((*e)["code"].get<long>(), message), message);
        }
        return false;
      }
      std::string chunk;
      if (chat) {
        if (auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty()) {
          const json& choice = (*c)[0];
          if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
            if (auto t = d->find("content"); t != d->end() && t->is_string()) {
              chunk = t->get<std::string>();
            }
          }
          if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
            result.finish_reason = f->get<std::string>();
          }
        }
        if (auto m = j.find("model"); m != j.end() && m->is_string()) {
          result.model_id = m->get<std::string>();
        }
        if (auto u = j.find("usage"); u != j.end() && u->is_object()) ReadGenerateUsage(j, result);
      } else {
        if (auto t = j.find("text_output"); t != j.end() && t->is_string()) {
          chunk = t->get<std::string>();
        }
        ReadGenerateUsage(j, result);
        if (result.model_id.empty()) {
          auto name = j.find("model_name"), version = j.find("model_version");
          if (name != j.end() && name->is_string() && !name->get<std::string>().empty()) {
            result.model_id = name->get<std::string>();
            if (version != j.end() && version->is_string() && !version->get<std::string>().empty()) {
              result.model_id += "@" + version->get<std::string>();
            }
          }
        }
      }
      if (chunk.empty()) return true;
      result.text += chunk;
      if (*on_token && !(*on_token)(chunk)) {
        cancelled = true;
        return false;
      }
      return true;
    }

    // Splits the complete events off `pending`; false stops the stream.
    bool Split(bool at_end) {
      for (;;) {
        size_t end = pending.find("\n\n");
        size_t skip = 2;
        if (const size_t crlf = pending.find("\r\n\r\n"); crlf < end) {
          end = crlf;
          skip = 4;
        }
        if (end == std::string::npos) {
          if (!at_end || pending.empty()) return true;
          end = pending.size();
          skip = 0;
        }
        const std::string event = pending.substr(0, end);
        pending.erase(0, end + skip);
        std::string data;
        size_t pos = 0;
        while (pos < event.size()) {
          size_t nl = event.find('\n', pos);
          if (nl == std::string::npos) nl = event.size();
          std::string_view line(event.data() + pos, nl - pos);
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          if (line.starts_with("data:")) {
            line.remove_prefix(5);
            if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
            if (!data.empty()) data += '\n';
            data.append(line);
          }
          pos = nl + 1;
        }
        if (!data.empty() && !Event(data)) return false;
      }
    }
    void Flush() { Split(/*at_end=*/true); }
  };

  static size_t OnSse(char* p, size_t size, size_t n, void* user) {
    auto* s = static_cast<SseStream*>(user);
    if (!s->status_known) {
      long status = 0;
      curl_easy_getinfo(s->handle, CURLINFO_RESPONSE_CODE, &status);
      s->ok_status = status >= 200 && status < 300;
      s->status_known = true;
    }
    s->pending.append(p, size * n);
    if (!s->ok_status) return size * n;  // an error answer: read whole
    return s->Split(/*at_end=*/false) ? size * n : 0;  // 0 aborts the transfer
  }

  // The path segment that carries an id or a name. An empty one cannot travel in a URL path
  // (the server would see another route), so it is refused here, with the words of the server's
  // one id check (service::CheckModelId) that the other transports get: "<what> is empty".
  static Result<std::string> Segment(const std::string& s, const char* what = "model id") {
    if (s.empty()) return InvalidArgument(std::string(what) + " is empty");
    return EncodeSegment(s);
  }

  static Status ErrorOf(const Reply& r) {
    if (r.status >= 200 && r.status < 300) return Status::Ok();
    std::string message;
    const std::string_view body = r.text();
    json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      message = j["error"].get<std::string>();
    } else {
      message = "HTTP " + std::to_string(r.status) +
                (body.empty() ? "" : ": " + std::string(body.substr(0, 200)));
    }
    Status st(CodeForHttp(r.status, message), message);
    if (r.retry_after_s > 0) st = std::move(st).WithRetryAfter(r.retry_after_s);
    return st;
  }

  Result<json> Call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    MLOS_ASSIGN_OR_RETURN(Reply r, Send(method, path, body, std::nullopt));
    MLOS_RETURN_IF_ERROR(ErrorOf(r));
    if (r.body.empty()) return json::object();
    return ParseJson(r.body);
  }

  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pool_.empty()) {
        CURL* h = pool_.back();
        pool_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Give(CURL* h) {
    std::lock_guard<std::mutex> lock(mu_);
    pool_.push_back(h);
  }

  // `parts` (when set) is the body in pieces instead of `body`; `into_buffer` reads the answer
  // into Reply::buffer (infer answers, possibly large).
  Result<Reply> Send(const std::string& method, const std::string& path, const std::string& body,
                     std::optional<size_t> inference_header_length,
                     const std::vector<std::string_view>* parts = nullptr,
                     bool into_buffer = false) {
    CURL* h = Take();
    if (!h) return Internal("curl_easy_init failed");
    curl_easy_reset(h);
    Reply reply;
    reply.into_buffer = into_buffer;
    Upload upload{parts};
    std::string small_body;
    const std::string url = base_ + path;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    if (into_buffer) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    if (ep_.tls) SetTlsOptions(h);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Expect:");
    std::string auth, ihcl;
    if (!options_.bearer_token.empty()) {
      auth = "Authorization: Bearer " + options_.bearer_token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    if (method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      size_t total = 0;
      if (parts) {
        for (std::string_view p : *parts) total += p.size();
      }
      if (parts && total < kGatherSendBytes) {
        // A small body goes out in one piece with the head (a read callback makes libcurl send
        // the head first and the body in a second packet).
        for (std::string_view p : *parts) small_body.append(p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, small_body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(total));
      } else if (parts) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, OnUpload);
        curl_easy_setopt(h, CURLOPT_READDATA, &upload);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &upload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(total));
        if (total > kUploadBufferBytes / 4) {
          curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, kUploadBufferBytes);
        }
      } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      }
      if (inference_header_length) {
        ihcl = "Inference-Header-Content-Length: " + std::to_string(*inference_header_length);
        headers = curl_slist_append(headers, ihcl.c_str());
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      } else {
        headers = curl_slist_append(headers, "Content-Type: application/json");
      }
    } else if (method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    const CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      curl_easy_cleanup(h);
      std::string msg = "cannot reach mlosd at " + base_ + ": " + curl_easy_strerror(rc);
      // Over TLS curl's own words say what failed (the certificate, the handshake).
      if (ep_.tls && error[0] != '\0' && msg.find(error) == std::string::npos) {
        msg += std::string(" (") + error + ")";
      }
      return rc == CURLE_OPERATION_TIMEDOUT ? Status(StatusCode::kDeadlineExceeded, msg)
                                            : Unavailable(msg);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // `error` goes out of scope
    Give(h);
    return reply;
  }

  // https://: verify the server (always, against tls.ca_file when set, else the system's CAs)
  // and present the client certificate when there is one.
  void SetTlsOptions(CURL* h) const {
    const ClientOptions::Tls& tls = options_.tls;
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!tls.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca_file.c_str());
    if (!tls.cert_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, tls.cert_file.c_str());
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY, tls.key_file.c_str());
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
  }

  Endpoint ep_;
  ClientOptions options_;
  std::string base_;
  std::mutex mu_;
  std::vector<CURL*> pool_;
};

}  // namespace

Result<std::unique_ptr<Client>> NewHttpClient(const Endpoint& ep, const ClientOptions& options) {
  static const bool init = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!init) return Internal("curl_global_init failed");
  return std::unique_ptr<Client>(new HttpClient(ep, options));
}

StatusCode CodeForHttp(long status, const std::string& message) {
  switch (status) {
    case 400: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 405: return StatusCode::kUnimplemented;
    case 409:
      return message.find("already") != std::string::npos ? StatusCode::kAlreadyExists
                                                           : StatusCode::kFailedPrecondition;
    case 413:
    case 429: return StatusCode::kResourceExhausted;
    case 501: return StatusCode::kUnimplemented;
    case 503: return StatusCode::kUnavailable;
    case 504: return StatusCode::kDeadlineExceeded;
    default: return StatusCode::kInternal;
  }
}

}  // namespace mlos::client::internal
