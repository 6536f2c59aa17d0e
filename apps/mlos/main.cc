// mlos: the MLOS client CLI. Talks to mlosd over HTTP(S), gRPC (over TLS) or IPC (by --url /
// MLOS_URL). Exit codes: 0 success, 1 an error from the server or a file, 2 bad usage
// (commands.h). Global options (--url, --json, --timeout, --token, --cacert, --cert, --key) are
// accepted before or after the subcommand.
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/tensor_file.h"
#include "commands.h"
#include "format.h"
#include "mlos/client.h"
#include "wire/keep_alive.h"

namespace {

namespace fs = std::filesystem;
using mlos::Status;
using mlos::cli::Fail;
using mlos::cli::FailOpen;
using mlos::cli::Globals;
using mlos::cli::Open;
using nlohmann::json;
namespace client = mlos::client;

std::string Yes(bool b) { return b ? "yes" : "no"; }

int Health(const Globals& g) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto live = (*c)->Live();
  if (!live.ok()) return Fail(live.status());
  auto ready = (*c)->Ready();
  if (!ready.ok()) return Fail(ready.status());
  auto meta = (*c)->GetServerMetadata();
  if (!meta.ok()) return Fail(meta.status());
  if (g.json) {
    std::cout << json{{"url", (*c)->endpoint().ToString()}, {"live", *live}, {"ready", *ready},
                      {"server", meta->name}, {"version", meta->version},
                      {"extensions", meta->extensions}}.dump(2)
              << "\n";
  } else {
    std::cout << "server:   " << meta->name << " " << meta->version << " at "
              << (*c)->endpoint().ToString() << "\nlive:     " << Yes(*live)
              << "\nready:    " << Yes(*ready) << "\n";
  }
  return *live && *ready ? 0 : 1;
}

int Register(const Globals& g, const client::RegisterRequest& req) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->Register(req);
  if (!r.ok()) return Fail(r.status());
  mlos::cli::PrintModel(g, *r);
  return 0;
}

int Plugins(const Globals& g) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->ListPlugins();
  if (!r.ok()) return Fail(r.status());
  if (g.json) {
    json arr = json::array();
    for (const auto& p : *r) arr.push_back(mlos::cli::ToJson(p));
    std::cout << json{{"plugins", arr}, {"count", r->size()}}.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : *r) {
    std::string formats;
    for (const auto& f : p.execution_formats) formats += (formats.empty() ? "" : ",") + f;
    std::string caps;
    for (const auto& f : p.capabilities) caps += (caps.empty() ? "" : ",") + f;
    rows.push_back({p.name, p.version, p.framework, formats, caps});
  }
  mlos::cli::PrintTable({"NAME", "VERSION", "FRAMEWORK", "FORMATS", "CAPABILITIES"}, rows);
  return 0;
}

std::string FileNameFor(const std::string& tensor) {
  std::string out;
  for (char c : tensor) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'
                      ? c
                      : '_');
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out + ".npy";
}

// `mlos infer`'s own options, as given on the command line.
struct InferArgs {
  std::string model;
  std::vector<std::string> inputs;   // --input name=@file | name=<json>
  std::vector<std::string> outputs;  // --output
  std::string output_dir;
  std::string priority, timeout_ms, keep_alive;  // "" = not given
};

// A whole number >= 0 ("" and anything else: nullopt).
std::optional<int64_t> NonNegative(const std::string& text) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < 0) {
    return std::nullopt;
  }
  return v;
}

// --priority, --timeout-ms, --keep-alive -> InferOptions; a usage error message when one is bad.
std::optional<std::string> ParseInferOptions(const InferArgs& a, client::InferOptions& o) {
  if (!a.priority.empty()) {
    auto v = NonNegative(a.priority);
    if (!v || *v > std::numeric_limits<int>::max()) {
      return "bad --priority '" + a.priority +
             "': must be an integer >= 0 (1 = most urgent, 0 = the model's default)";
    }
    o.priority = static_cast<int>(*v);
  }
  if (!a.timeout_ms.empty()) {
    auto v = NonNegative(a.timeout_ms);
    if (!v) {
      return "bad --timeout-ms '" + a.timeout_ms +
             "': must be a whole number of milliseconds >= 0";
    }
    o.timeout = std::chrono::milliseconds(*v);
  }
  if (!a.keep_alive.empty()) {
    auto v = mlos::wire::ParseKeepAlive(a.keep_alive);
    if (!v.ok()) return "bad --keep-alive: " + v.status().message();
    o.keep_alive = *v;
  }
  return std::nullopt;
}

int Infer(const Globals& g, const InferArgs& args) {
  const std::string& model = args.model;
  const std::vector<std::string>& specs = args.inputs;
  const std::vector<std::string>& outputs = args.outputs;
  const std::string& output_dir = args.output_dir;
  client::InferRequest req;
  if (auto bad = ParseInferOptions(args, req.options)) {
    return mlos::cli::Usage(*bad, "mlos infer --help");
  }
  if (specs.empty()) {
    return mlos::cli::Usage("'mlos infer' needs at least one --input name=@file",
                            "mlos infer --help");
  }
  struct Spec {
    std::string name, value;
    bool file = false;
  };
  std::vector<Spec> parsed;
  bool need_hints = false;
  for (const std::string& s : specs) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
      return mlos::cli::Usage("bad --input '" + s +
                                  "': use name=@file.npy, name=@file.json or name=<json>",
                              "mlos infer --help");
    }
    Spec p{s.substr(0, eq), s.substr(eq + 1)};
    if (p.value.front() == '@') {
      p.file = true;
      p.value.erase(0, 1);
      need_hints |= fs::path(p.value).extension() == ".json";
    } else {
      need_hints = true;
    }
    parsed.push_back(std::move(p));
  }
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  std::map<std::string, std::string> hints;
  if (need_hints) {
    auto meta = (*c)->GetModelMetadata(model);
    if (!meta.ok()) return Fail(meta.status());
    for (const auto& i : meta->inputs) hints[i.name] = i.dtype;
  }
  req.model = model;
  for (const Spec& p : parsed) {
    const std::string hint = hints.count(p.name) ? hints[p.name] : "";
    auto t = p.file ? client::ReadTensorFile(p.value, p.name, hint)
                    : client::DecodeJsonTensor(p.value, p.name, hint);
    if (!t.ok()) return Fail(t.status());
    req.inputs.push_back(std::move(t).value());
  }
  for (const std::string& o : outputs) req.outputs.push_back({o, {}});
  auto r = (*c)->Infer(req);
  if (!r.ok()) return Fail(r.status());
  std::map<std::string, std::string> written;
  if (!output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(output_dir, ec);
    if (ec) return Fail(mlos::Internal("cannot create " + output_dir + ": " + ec.message()));
    for (const client::Tensor& t : r->outputs) {
      const fs::path path = fs::path(output_dir) / FileNameFor(t.name);
      Status st = client::WriteNpyFile(path, t);
      if (!st.ok()) return Fail(st);
      written[t.name] = path.string();
    }
  }
  if (g.json) {
    json outs = json::array();
    for (const client::Tensor& t : r->outputs) {
      json o = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}};
      if (written.count(t.name)) o["file"] = written[t.name];
      else o["data"] = mlos::cli::TensorValues(t);
      outs.push_back(std::move(o));
    }
    std::cout << json{{"model_name", r->model_name}, {"model_version", r->model_version},
                      {"outputs", outs}}.dump(2)
              << "\n";
    return 0;
  }
  std::cout << "model: " << r->model_name << "@" << r->model_version << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const client::Tensor& t : r->outputs) {
    rows.push_back({t.name, t.dtype, mlos::cli::ShapeString(t.shape),
                    written.count(t.name) ? written[t.name] : mlos::cli::ValuesPreview(t)});
  }
  mlos::cli::PrintTable({"OUTPUT", "DTYPE", "SHAPE", output_dir.empty() ? "VALUES" : "FILE"}, rows);
  return 0;
}

// --timeout: a number of seconds in (0, 1e6]; "" when valid, else why (CLI11's convention).
std::string TimeoutCheck(const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !(v > 0) || v > 1e6) {
    return "must be a number of seconds, more than 0 and at most 1000000 (got '" + value + "')";
  }
  return "";
}

}  // namespace

// The CLI's command line. Global options live on the main app, and every subcommand falls
// through to it, so they are accepted before or after the subcommand (as kubectl and docker
// accept them).
int main(int argc, char** argv) {
  CLI::App app{"mlos: the MLOS client (health, models, plugins, inference, generation, tokens) "
               "over HTTP, "
               "gRPC or IPC"};
  app.require_subcommand(1);
  app.fallthrough();  // inherited by the subcommands added below
  Globals g;
  const char* env_url = std::getenv("MLOS_URL");
  g.url = env_url && *env_url ? env_url : "http://127.0.0.1:8080";
  app.add_option("--url", g.url,
                 "server: http://host:port, https://host:port, grpc://host:port, "
                 "grpcs://host:port or unix:///path/mlosd.sock (default $MLOS_URL or "
                 "http://127.0.0.1:8080)");
  app.add_flag("--json", g.json, "print JSON instead of tables");
  app.add_option("--timeout", g.timeout_s, "request timeout in seconds (default 60)")
      ->check(CLI::Validator(TimeoutCheck, "SECONDS"));
  // The token is never echoed: no default is captured for --help.
  app.add_option("--token", g.token, "bearer token (default $MLOS_TOKEN)");
  app.add_option("--cacert", g.cacert,
                 "PEM file of the CA that signed the server's certificate (https://, grpcs://; "
                 "default: the system's trust store)");
  app.add_option("--cert", g.cert, "PEM client certificate for mutual TLS (with --key)");
  app.add_option("--key", g.key, "PEM private key of --cert");

  auto* health = app.add_subcommand("health", "server liveness, readiness and version");

  auto* models = app.add_subcommand("models", "list and manage models");
  std::vector<std::string> models_args;
  models->add_option("args", models_args, mlos::cli::ModelsHelp());

  auto* reg = app.add_subcommand("register", "register a model package directory");
  client::RegisterRequest rr;
  reg->add_option("path", rr.path, "package directory (holds manifest.yaml)")->required();
  reg->add_option("--id", rr.model_id, "model id ns/name@version")->required();
  reg->add_option("--name", rr.name, "model name");
  reg->add_option("--framework", rr.framework, "framework");
  reg->add_option("--format", rr.execution_format, "execution format");
  reg->add_option("--description", rr.description, "description");
  reg->add_option("--manifest", rr.manifest_path, "manifest path");

  auto* plugins = app.add_subcommand("plugins", "list the framework plugins mlosd loaded");

  auto* infer = app.add_subcommand("infer", "run one inference");
  InferArgs ia;
  infer->add_option("model", ia.model, "model id or name")->required();
  infer->add_option("-i,--input", ia.inputs,
                    "name=@file.npy, name=@file.json or name=<json> (repeatable)");
  infer->add_option("-o,--output", ia.outputs, "only return these outputs (repeatable)");
  infer->add_option("--output-dir", ia.output_dir, "write each output as <name>.npy here");
  infer->add_option("--priority", ia.priority,
                    "request priority: 1 = most urgent, larger = less (default: the model's)");
  infer->add_option("--timeout-ms", ia.timeout_ms,
                    "this request's own deadline in milliseconds (fails past it)");
  infer->add_option("--keep-alive", ia.keep_alive,
                    "keep the model loaded this long after the request: 5m, 30s, 1h30m, 0 "
                    "(unload right after), -1 (forever)");

  // mlos generate / mlos chat: sampling options are sent only when given.
  mlos::cli::GenerateArgs ga;
  int64_t max_tokens = 0, seed = 0;
  double temperature = 0, top_p = 0;
  int top_k = 0;
  std::vector<CLI::Option*> sampling;  // [max_tokens, temperature, top_p, top_k, seed] per command
  auto add_sampling = [&](CLI::App* cmd) {
    sampling.push_back(cmd->add_option("-n,--max-tokens", max_tokens,
                                       "most tokens to generate (-1 = up to the context)"));
    sampling.push_back(
        cmd->add_option("-t,--temperature", temperature, "sampling temperature (0 = greedy)"));
    sampling.push_back(cmd->add_option("--top-p", top_p, "nucleus sampling probability"));
    sampling.push_back(cmd->add_option("--top-k", top_k, "sample from the k likeliest tokens"));
    sampling.push_back(cmd->add_option("--seed", seed, "random seed (repeatable output)"));
    cmd->add_option("--stop", ga.stop, "stop sequence (repeatable: --stop A --stop B)")
        ->allow_extra_args(false);
    cmd->add_flag("-v,--stats", ga.stats, "print token counts on stderr after each answer");
  };
  auto* generate = app.add_subcommand("generate", "generate text, streamed as it comes");
  generate->add_option("model", ga.model, "model id or name")->required();
  generate->add_option("prompt", ga.prompt, "the prompt")->required();
  add_sampling(generate);
  auto* chat = app.add_subcommand(
      "chat", "chat with a model: each line of stdin is a turn, the replies stream to stdout");
  chat->add_option("model", ga.model, "model id or name")->required();
  chat->add_option("--system", ga.system, "system message");
  add_sampling(chat);

  auto* tokens = app.add_subcommand("tokens", "create, list and revoke bearer tokens (admins)");
  tokens->require_subcommand(1);
  auto* tokens_create = tokens->add_subcommand("create", "create a token; prints only the token");
  std::string token_name, token_role, token_expires;
  std::vector<std::string> token_models;
  tokens_create->add_option("name", token_name, "the principal the token identifies")
      ->required();
  tokens_create->add_option("--role", token_role, "admin | operator | user | reader")
      ->required();
  tokens_create->add_option("--model", token_models,
                            "model pattern the token may use (repeatable; default every model)");
  tokens_create->add_option("--expires", token_expires,
                            "lifetime: 30d, 12h, 90m or 3600s (default never)");
  auto* tokens_list = tokens->add_subcommand("list", "list tokens (never the tokens themselves)");
  auto* tokens_revoke = tokens->add_subcommand("revoke", "revoke a token at once");
  std::string revoke_name;
  tokens_revoke->add_option("name", revoke_name, "the token's name")->required();

  const std::string globals =
      "Global options --url, --json, --timeout, --token, --cacert, --cert and --key may come "
      "before or after '";
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->footer(globals + sub->get_name() + "' (see 'mlos --help').");
  }
  for (CLI::App* sub : tokens->get_subcommands({})) {
    sub->footer(globals + "tokens " + sub->get_name() + "' (see 'mlos --help').");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return mlos::cli::Usage(e.what());
  }
  try {
    if (health->parsed()) return Health(g);
    if (models->parsed()) return mlos::cli::Models(g, models_args);
    if (reg->parsed()) return Register(g, rr);
    if (plugins->parsed()) return Plugins(g);
    if (infer->parsed()) return Infer(g, ia);
    if (generate->parsed() || chat->parsed()) {
      const size_t base = generate->parsed() ? 0 : 5;
      if (sampling[base + 0]->count()) ga.max_tokens = max_tokens;
      if (sampling[base + 1]->count()) ga.temperature = temperature;
      if (sampling[base + 2]->count()) ga.top_p = top_p;
      if (sampling[base + 3]->count()) ga.top_k = top_k;
      if (sampling[base + 4]->count()) ga.seed = seed;
      return generate->parsed() ? mlos::cli::Generate(g, ga) : mlos::cli::Chat(g, ga);
    }
    if (tokens_create->parsed()) {
      if (token_name.empty()) {
        return mlos::cli::Usage("'mlos tokens create' needs a NAME, got ''", "mlos tokens --help");
      }
      return mlos::cli::TokensCreate(g, token_name, token_role, token_models, token_expires);
    }
    if (tokens_list->parsed()) return mlos::cli::TokensList(g);
    if (tokens_revoke->parsed()) {
      if (revoke_name.empty()) {
        return mlos::cli::Usage("'mlos tokens revoke' needs a NAME, got ''", "mlos tokens --help");
      }
      return mlos::cli::TokensRevoke(g, revoke_name);
    }
  } catch (const std::exception& e) {
    return Fail(mlos::Internal(e.what()));
  }
  return mlos::cli::Usage("no command");
}
