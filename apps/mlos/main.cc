// mlos: the MLOS client CLI. Talks to mlosd over HTTP, gRPC or IPC (by --url / MLOS_URL).
// Exit codes: 0 success, 1 an error from the server or a file, 2 bad usage.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client/tensor_file.h"
#include "format.h"
#include "mlos/client.h"

namespace {

namespace fs = std::filesystem;
using mlos::Status;
using nlohmann::json;
namespace client = mlos::client;

int Fail(const Status& st) {
  std::cerr << "mlos: error: " << st.message() << "\n";
  return 1;
}

// A client that could not be created: a bad --url is a usage error.
int FailOpen(const Status& st) {
  std::cerr << "mlos: error: " << st.message() << "\n";
  return st.code() == mlos::StatusCode::kInvalidArgument ? 2 : 1;
}

struct Globals {
  std::string url;
  bool json = false;
  double timeout_s = 60;
};

mlos::Result<std::unique_ptr<client::Client>> Open(const Globals& g) {
  client::ClientOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000));
  if (const char* token = std::getenv("MLOS_TOKEN")) options.bearer_token = token;
  return client::Client::Connect(g.url, options);
}

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

void PrintModels(const Globals& g, const std::vector<client::ModelInfo>& models) {
  if (g.json) {
    json arr = json::array();
    for (const auto& m : models) arr.push_back(mlos::cli::ToJson(m));
    std::cout << json{{"models", arr}, {"count", models.size()}}.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : models) {
    rows.push_back({m.id, m.state, m.framework, m.plugin, m.is_default ? "*" : "",
                    std::to_string(m.memory_bytes / 1024) + " KiB"});
  }
  mlos::cli::PrintTable({"ID", "STATE", "FRAMEWORK", "PLUGIN", "DEFAULT", "MEMORY"}, rows);
}

void PrintModel(const Globals& g, const client::ModelInfo& m) {
  if (g.json) {
    std::cout << mlos::cli::ToJson(m).dump(2) << "\n";
    return;
  }
  std::cout << "id:          " << m.id << "\nstate:       " << m.state
            << (m.reason.empty() ? "" : " (" + m.reason + ")") << "\nframework:   " << m.framework
            << "\nformat:      " << m.execution_format << "\nplugin:      " << m.plugin
            << "\npath:        " << m.path << "\ndefault:     " << Yes(m.is_default) << "\n";
  if (!m.description.empty()) std::cout << "description: " << m.description << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : m.inputs) rows.push_back({"input", t.name, t.dtype, mlos::cli::ShapeString(t.shape)});
  for (const auto& t : m.outputs) rows.push_back({"output", t.name, t.dtype, mlos::cli::ShapeString(t.shape)});
  if (!rows.empty()) {
    std::cout << "\n";
    mlos::cli::PrintTable({"IO", "NAME", "DTYPE", "SHAPE"}, rows);
  }
}

int Models(const Globals& g, const std::string& action, const std::string& id) {
  static const std::vector<std::string> kNeedId = {"get", "load", "unload", "rollback",
                                                   "unregister"};
  const bool need_id = std::find(kNeedId.begin(), kNeedId.end(), action) != kNeedId.end();
  if (action != "list" && !need_id) {
    std::cerr << "mlos: error: unknown models action '" << action
              << "' (list, get, load, unload, rollback, unregister)\n";
    return 2;
  }
  if (need_id && id.empty()) {
    std::cerr << "mlos: error: 'mlos models " << action << "' needs a model id\n";
    return 2;
  }
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  client::Client& cl = **c;
  if (action == "list") {
    auto r = cl.ListModels();
    if (!r.ok()) return Fail(r.status());
    PrintModels(g, *r);
    return 0;
  }
  if (action == "unregister") {
    Status st = cl.Unregister(id);
    if (!st.ok()) return Fail(st);
    if (g.json) std::cout << json{{"status", "unregistered"}, {"model_id", id}}.dump(2) << "\n";
    else std::cout << "unregistered " << id << "\n";
    return 0;
  }
  mlos::Result<client::ModelInfo> r = action == "get"    ? cl.GetModel(id)
                                      : action == "load" ? cl.Load(id)
                                      : action == "unload" ? cl.Unload(id)
                                                           : cl.Rollback(id);
  if (!r.ok()) return Fail(r.status());
  PrintModel(g, *r);
  return 0;
}

int Register(const Globals& g, const client::RegisterRequest& req) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  auto r = (*c)->Register(req);
  if (!r.ok()) return Fail(r.status());
  PrintModel(g, *r);
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

int Infer(const Globals& g, const std::string& model, const std::vector<std::string>& specs,
          const std::vector<std::string>& outputs, const std::string& output_dir) {
  if (specs.empty()) {
    std::cerr << "mlos: error: 'mlos infer' needs at least one --input name=@file\n";
    return 2;
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
      std::cerr << "mlos: error: bad --input '" << s
                << "': use name=@file.npy, name=@file.json or name=<json>\n";
      return 2;
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
  client::InferRequest req;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mlos: the MLOS client (health, models, plugins, inference) over HTTP, gRPC or IPC"};
  app.require_subcommand(1);
  Globals g;
  const char* env_url = std::getenv("MLOS_URL");
  g.url = env_url && *env_url ? env_url : "http://127.0.0.1:8080";
  app.add_option("--url", g.url,
                 "server: http://host:port, grpc://host:port or unix:///path/mlosd.sock "
                 "(default $MLOS_URL or http://127.0.0.1:8080)");
  app.add_flag("--json", g.json, "print JSON instead of tables");
  app.add_option("--timeout", g.timeout_s, "request timeout in seconds (default 60)")
      ->check(CLI::PositiveNumber);

  auto* health = app.add_subcommand("health", "server liveness, readiness and version");

  auto* models = app.add_subcommand("models", "list and manage models");
  std::string action = "list", model_id;
  models->add_option("action", action, "list (default), get, load, unload, rollback, unregister");
  models->add_option("id", model_id, "model id (ns/name@version); a name for rollback");

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
  std::string infer_model, output_dir;
  std::vector<std::string> inputs, outputs;
  infer->add_option("model", infer_model, "model id or name")->required();
  infer->add_option("-i,--input", inputs,
                    "name=@file.npy, name=@file.json or name=<json> (repeatable)");
  infer->add_option("-o,--output", outputs, "only return these outputs (repeatable)");
  infer->add_option("--output-dir", output_dir, "write each output as <name>.npy here");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "mlos: error: " << e.what() << " (see 'mlos --help')\n";
    return 2;
  }
  try {
    if (health->parsed()) return Health(g);
    if (models->parsed()) return Models(g, action, model_id);
    if (reg->parsed()) return Register(g, rr);
    if (plugins->parsed()) return Plugins(g);
    if (infer->parsed()) return Infer(g, infer_model, inputs, outputs, output_dir);
  } catch (const std::exception& e) {
    std::cerr << "mlos: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
