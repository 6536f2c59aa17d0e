#include "axon/cli/cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "axon/cache.h"
#include "axon/cli/progress.h"
#include "axon/cli/register.h"
#include "axon/cli/yaml_json.h"
#include "axon/config.h"
#include "axon/hub/http.h"
#include "axon/install.h"
#include "common/fs.h"
#include "mpf/archive.h"
#include "mpf/package_verify.h"
#include "mpf/signature.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mlos::axon::cli {
namespace {

// One readable line on stderr; exit status 1.
int Fail(const Status& st) {
  std::string msg = st.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "axon: error: %s\n", msg.c_str());
  return 1;
}

void PrintJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

json InstalledJson(const InstalledVersion& v) {
  return {{"id", v.Id()}, {"namespace", v.ns}, {"name", v.name}, {"version", v.version},
          {"path", v.dir.string()}, {"installed_at", v.installed_at}, {"commit", v.commit},
          {"source", v.source}};
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Globals {
  bool json = false;
  bool strict = false;
};

// ---- install / update ----------------------------------------------------------------------

int ReportInstall(const Result<InstallResult>& r, const Globals& g, const char* verb) {
  if (!r.ok()) return Fail(r.status());
  for (const auto& w : r->warnings) std::fprintf(stderr, "axon: warning: %s\n", w.c_str());
  if (g.json) {
    json j = InstalledJson(r->installed);
    j["event"] = "installed";
    j["already_installed"] = r->already_installed;
    j["changed"] = r->changed;
    j["execution_format"] = r->manifest.format.execution_format;
    j["notes"] = r->notes;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (const auto& n : r->notes) std::printf("note: %s\n", n.c_str());
  if (r->already_installed && !r->changed && std::string(verb) == "updated")
    std::printf("%s is up to date (%s)\n", r->installed.Id().c_str(),
                r->installed.dir.c_str());
  else if (r->already_installed)
    std::printf("%s is already installed (%s)\n", r->installed.Id().c_str(),
                r->installed.dir.c_str());
  else
    std::printf("%s %s -> %s\n", verb, r->installed.Id().c_str(), r->installed.dir.c_str());
  return 0;
}

// ---- list / info ---------------------------------------------------------------------------

int CmdList(const Cache& cache, const Globals& g) {
  auto all = cache.List();
  if (!all.ok()) return Fail(all.status());
  if (g.json) {
    json a = json::array();
    for (const auto& v : *all) a.push_back(InstalledJson(v));
    PrintJson(a);
    return 0;
  }
  if (all->empty()) {
    std::printf("no models installed (cache: %s)\n", cache.root().c_str());
    return 0;
  }
  size_t w = 2;
  for (const auto& v : *all) w = std::max(w, v.Id().size());
  std::printf("%-*s  %-20s  %s\n", static_cast<int>(w), "ID", "INSTALLED", "SOURCE");
  for (const auto& v : *all)
    std::printf("%-*s  %-20s  %s\n", static_cast<int>(w), v.Id().c_str(), v.installed_at.c_str(),
                v.source.c_str());
  return 0;
}

Result<InstalledVersion> FindInstalled(const Cache& cache, const HubConfig& hubs,
                                       const std::string& text) {
  auto ref = ParseInstalledRef(text, hubs, cache);
  if (!ref.ok()) return ref.status();
  return cache.Find(*ref);
}

int CmdInfo(const Cache& cache, const HubConfig& hubs, const std::string& text, const Globals& g) {
  auto v = FindInstalled(cache, hubs, text);
  if (!v.ok()) return Fail(v.status());
  std::vector<std::string> warnings;
  auto m = mpf::LoadManifestFile((v->dir / "manifest.yaml").string(), {}, &warnings);
  if (!m.ok()) return Fail(m.status().WithPrefix(v->Id()));
  if (g.json) {
    json j = InstalledJson(*v);
    j["manifest"] = YamlToJson(YAML::Load(mpf::EmitManifest(*m)));
    PrintJson(j);
    return 0;
  }
  uint64_t total = 0;
  for (const auto& f : m->format.files) total += f.size;
  std::printf("id:               %s\n", v->Id().c_str());
  std::printf("path:             %s\n", v->dir.c_str());
  if (!v->source.empty()) std::printf("source:           %s\n", v->source.c_str());
  if (!m->metadata.description.empty())
    std::printf("description:      %s\n", m->metadata.description.c_str());
  if (!m->metadata.license.empty()) std::printf("license:          %s\n", m->metadata.license.c_str());
  std::printf("framework:        %s\n", m->framework.name.c_str());
  std::printf("execution_format: %s\n", m->format.execution_format.c_str());
  std::printf("files:            %zu (%s)\n", m->format.files.size(), HumanBytes(total).c_str());
  for (const auto& f : m->format.files)
    std::printf("  %-40s %10s  %s\n", f.path.c_str(), HumanBytes(f.size).c_str(),
                f.sha256.substr(0, 16).c_str());
  auto io = [](const char* title, const std::vector<mpf::TensorSpec>& ts) {
    if (ts.empty()) return;
    std::printf("%s\n", title);
    for (const auto& t : ts)
      std::printf("  %-24s %-9s %s\n", t.name.c_str(), t.dtype.c_str(), ShapeString(t.shape).c_str());
  };
  io("inputs:", m->io.inputs);
  io("outputs:", m->io.outputs);
  if (m->llm.has_value()) {
    const mpf::Llm& l = *m->llm;
    std::printf("llm:              %s %s, %s, context %llu, embedding length %llu, %llu parameters\n",
                l.architecture.c_str(), l.embedding ? "embedding model" : "generator",
                l.quantization.empty() ? "quantization unknown" : l.quantization.c_str(),
                static_cast<unsigned long long>(l.context_length),
                static_cast<unsigned long long>(l.embedding_length),
                static_cast<unsigned long long>(l.parameter_count));
    std::printf("chat template:    %s\n",
                l.chat_template.empty() ? "none"
                                        : (std::to_string(l.chat_template.size()) + " bytes").c_str());
  }
  if (m->requirements.memory_min_gb > 0)
    std::printf("memory:           %.2f GiB (estimated)\n", m->requirements.memory_min_gb);
  return 0;
}

// ---- search --------------------------------------------------------------------------------

int CmdSearch(const HubConfig& hubs, const std::string& query, int limit, const std::string& hub,
              const Globals& g) {
  std::vector<std::string> which;
  if (!hub.empty()) which.push_back(hub);
  else {
    which.push_back("hf");
    if (!hubs.registry_url.empty()) which.push_back("registry");
  }
  std::vector<SearchHit> hits;
  std::vector<std::string> errors;
  for (const auto& h : which) {
    auto adapter = MakeHubAdapter(h == "registry" ? "registry" : h, hubs);
    if (!adapter.ok()) {
      errors.push_back(adapter.status().message());
      continue;
    }
    auto r = (*adapter)->Search(query, limit);
    if (!r.ok()) {
      errors.push_back(h + ": " + r.status().message());
      continue;
    }
    hits.insert(hits.end(), r->begin(), r->end());
  }
  if (hits.empty() && !errors.empty()) return Fail(InvalidArgument(errors.front()));
  for (const auto& e : errors) std::fprintf(stderr, "axon: warning: %s\n", e.c_str());
  if (g.json) {
    json a = json::array();
    for (const auto& h : hits)
      a.push_back({{"id", h.id}, {"description", h.description}, {"pipeline_tag", h.pipeline_tag},
                   {"downloads", h.downloads}, {"source", h.source}});
    PrintJson(a);
    return 0;
  }
  for (const auto& h : hits)
    std::printf("%-50s %-24s %10llu  %s\n", h.id.c_str(), h.pipeline_tag.c_str(),
                static_cast<unsigned long long>(h.downloads), h.description.c_str());
  if (hits.empty()) std::printf("no results for \"%s\"\n", query.c_str());
  return 0;
}

// ---- verify --------------------------------------------------------------------------------

int CmdVerify(const Cache& cache, const HubConfig& hubs, const std::string& target,
              const std::string& key, const Globals& g) {
  std::error_code ec;
  std::string what;
  size_t nfiles = 0;
  Status st;
  bool signed_ok = false;
  if (fs::is_regular_file(target, ec)) {
    what = target;
    if (!key.empty()) {
      auto sv = mpf::VerifyPackageSignature(target, key);
      st = sv.status();
      signed_ok = sv.ok();
    }
    if (st.ok()) {
      auto m = mpf::VerifyArchive(target, {.parse = {.strict = g.strict}});
      if (!m.ok()) st = m.status();
      else nfiles = m->format.files.size();
    }
  } else {
    fs::path dir;
    if (fs::is_directory(target, ec) && fs::exists(fs::path(target) / "manifest.yaml", ec)) {
      dir = target;
      what = target;
    } else {
      auto v = FindInstalled(cache, hubs, target);
      if (!v.ok()) return Fail(v.status());
      dir = v->dir;
      what = v->Id();
    }
    auto m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = g.strict});
    if (!m.ok()) return Fail(m.status().WithPrefix(what));
    nfiles = m->format.files.size();
    if (!key.empty()) {
      auto sv = mpf::VerifyPackageSignature(dir, key);
      st = sv.status();
      signed_ok = sv.ok();
    }
    if (st.ok()) st = mpf::VerifyPackageDir(dir, *m);
  }
  if (g.json) {
    json j = {{"target", what}, {"ok", st.ok()}, {"files", nfiles}};
    if (!key.empty()) j["signature"] = signed_ok;
    if (!st.ok()) j["error"] = st.message();
    std::printf("%s\n", j.dump().c_str());
    return st.ok() ? 0 : 1;
  }
  if (!st.ok()) return Fail(st.WithPrefix(what + ": verification failed"));
  std::printf("ok: %s (%zu file%s verified%s)\n", what.c_str(), nfiles, nfiles == 1 ? "" : "s",
              signed_ok ? ", signature valid" : "");
  return 0;
}

// ---- register ------------------------------------------------------------------------------

int CmdRegister(const Cache& cache, const HubConfig& hubs, const std::string& text,
                RegisterTarget target, const Globals& g) {
  if (Status st = ResolveRegisterTarget(target); !st.ok()) {
    std::fprintf(stderr, "axon: error: %s (see axon register --help)\n", st.message().c_str());
    return 2;
  }
  auto v = FindInstalled(cache, hubs, text);
  if (!v.ok()) return Fail(v.status());
  auto m = mpf::LoadManifestFile((v->dir / "manifest.yaml").string());
  if (!m.ok()) return Fail(m.status().WithPrefix(v->Id()));
  auto answer = RegisterWithMlosd(*v, *m, target);
  if (!answer.ok()) return Fail(answer.status());
  if (g.json) std::printf("%s\n", answer->c_str());
  else std::printf("registered %s with %s\n", v->Id().c_str(), target.endpoint.c_str());
  return 0;
}

}  // namespace

int RunAxon(int argc, char** argv) {
  CLI::App app{"axon: install ML models from hubs into a local cache as MPF packages"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "axon 0.1.0");
  Globals g;
  app.add_flag("--json", g.json, "machine-readable JSON output");
  app.add_flag("--strict", g.strict, "treat legacy manifests (apiVersion v1, version latest, "
                                     "empty hashes) as errors");

  InstallRequest ireq;
  auto* install = app.add_subcommand("install", "install a model from a hub or a local path");
  install->add_option("ref", ireq.ref, "[namespace/]name[@version], or a path (dir, .axon, model file)")
      ->required();
  install->add_option("--revision", ireq.options.revision, "hub revision (branch, tag or commit)");
  install->add_option("--include", ireq.options.include, "only files matching this glob (repeatable)");
  install->add_option("--format", ireq.options.format,
                      "preferred format (auto: gguf > onnx > torchscript > tflite > safetensors > "
                      "pytorch > tensorflow)")
      ->check(CLI::IsMember({"auto", "onnx", "gguf", "torchscript", "tflite"}));
  install->add_option("--quant", ireq.options.quant,
                      "GGUF quantisation to install, e.g. Q4_K_M (default: Q4_K_M, Q4_K_S, "
                      "Q5_K_M, Q8_0, else the smallest file); for ONNX and TFLite the variant "
                      "(fp16, int8, ...)");
  std::vector<std::string> input_flags, output_flags;
  install->add_option("--input", input_flags,
                      "an input tensor as name:dtype:shape, e.g. x:float32:-1,3,224,224 "
                      "(repeatable; shape -1 for dynamic dimensions, 'scalar' or empty for rank "
                      "0). Required with --output for TorchScript unless <model>.io.yaml or "
                      "io.yaml lies beside the model file (the flags win over it); for other "
                      "formats it replaces the input of that name the model file describes "
                      "(ONNX and TFLite: the model must have it)")
      ->allow_extra_args(false);  // one value per --input: the ref may follow
  install->add_option("--output", output_flags,
                      "an output tensor as name:dtype:shape (repeatable; see --input)")
      ->allow_extra_args(false);
  install->add_option("--name", ireq.name, "ns/name@version for a local source");

  auto* list = app.add_subcommand("list", "list installed models");
  std::string info_ref;
  auto* info = app.add_subcommand("info", "show an installed model's manifest");
  info->add_option("ref", info_ref)->required();

  std::string query, search_hub;
  int limit = 20;
  auto* search = app.add_subcommand("search", "search the Hugging Face hub and the registry");
  search->add_option("query", query)->required();
  search->add_option("--limit", limit)->check(CLI::Range(1, 1000));
  search->add_option("--hub", search_hub, "hf | modelscope | tfhub | registry");

  std::string verify_target, verify_key;
  auto* verify = app.add_subcommand("verify", "check an installed model, a package dir or a .axon file");
  verify->add_option("target", verify_target, "ref, directory or .axon file")->required();
  verify->add_option("--key", verify_key, "public key: also check the ed25519 signature");

  std::string uninstall_ref;
  auto* uninstall = app.add_subcommand("uninstall", "remove an installed version");
  uninstall->add_option("ref", uninstall_ref)->required();

  std::string update_ref;
  auto* update = app.add_subcommand("update", "re-resolve a model against its hub and install what changed");
  update->add_option("ref", update_ref)->required();

  std::string pack_src, pack_out;
  int pack_level = 3;
  auto* pack = app.add_subcommand("pack", "pack a model directory (or an installed ref) into a .axon file");
  pack->add_option("source", pack_src, "directory holding manifest.yaml, or an installed ref")->required();
  pack->add_option("-o,--output", pack_out, "output .axon file")->required();
  pack->add_option("--level", pack_level, "zstd level")->check(CLI::Range(1, 19));

  std::string unpack_src, unpack_out;
  auto* unpack = app.add_subcommand("unpack", "verify and extract a .axon file");
  unpack->add_option("archive", unpack_src)->required();
  unpack->add_option("-o,--output", unpack_out, "directory to create")->required();

  auto* cache_cmd = app.add_subcommand("cache", "cache maintenance");
  cache_cmd->require_subcommand(1);
  int64_t gc_age = 24 * 3600;
  auto* gc = cache_cmd->add_subcommand("gc", "remove unreferenced blobs and stale partial downloads");
  gc->add_option("--partial-max-age", gc_age, "seconds a partial download must be idle (default 86400)");

  std::string reg_ref;
  RegisterTarget reg_target;
  auto* reg = app.add_subcommand("register", "register an installed model with mlosd");
  reg->add_option("ref", reg_ref)->required();
  reg->add_option("--endpoint", reg_target.endpoint,
                  "MLOS Core URL, http:// or https:// (default $MLOS_CORE_ENDPOINT or "
                  "http://localhost:8080)");
  reg->add_option("--token", reg_target.token, "bearer token (default $MLOS_TOKEN)");
  reg->add_option("--cacert", reg_target.ca_file,
                  "PEM file of the CA that signed mlosd's certificate (https://)");
  reg->add_option("--cert", reg_target.cert_file, "PEM client certificate for mutual TLS");
  reg->add_option("--key", reg_target.key_file, "PEM private key of --cert");

  std::string kg_secret, kg_public;
  auto* keygen = app.add_subcommand("keygen", "create an ed25519 signing key pair");
  keygen->add_option("--secret", kg_secret, "secret key file to create")->required();
  keygen->add_option("--public", kg_public, "public key file to create")->required();

  std::string sign_target, sign_key;
  auto* sign = app.add_subcommand("sign", "sign a .axon file (detached .sig) or a package dir");
  sign->add_option("target", sign_target, ".axon file, directory or installed ref")->required();
  sign->add_option("--key", sign_key, "secret key file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "axon: error: %s (see axon --help)\n", e.what());
    return 2;
  }

  if (install->parsed()) {
    auto inputs = ParseTensorFlags("--input", input_flags);
    auto outputs = inputs.ok() ? ParseTensorFlags("--output", output_flags) : inputs;
    if (!inputs.ok() || !outputs.ok()) {
      std::fprintf(stderr, "axon: error: %s (see axon install --help)\n",
                   (inputs.ok() ? outputs : inputs).status().message().c_str());
      return 2;
    }
    ireq.io.inputs = std::move(inputs).value();
    ireq.io.outputs = std::move(outputs).value();
  }

  Cache cache = Cache::FromEnvironment();
  HubConfig hubs = HubConfig::FromEnvironment();
  if (Status st = ApplyAxonConfigFile(Cache::AxonHome() / "config.yaml", &hubs); !st.ok())
    return Fail(st);
  ireq.strict = g.strict;

  if (install->parsed()) {
    ProgressObserver obs(DetectOutputMode(g.json, stderr), g.json ? stdout : stderr);
    auto r = Install(cache, hubs, ireq, &obs);
    return ReportInstall(r, g, "installed");
  }
  if (update->parsed()) {
    ProgressObserver obs(DetectOutputMode(g.json, stderr), g.json ? stdout : stderr);
    auto r = Update(cache, hubs, update_ref, &obs);
    return ReportInstall(r, g, "updated");
  }
  if (list->parsed()) return CmdList(cache, g);
  if (info->parsed()) return CmdInfo(cache, hubs, info_ref, g);
  if (search->parsed()) return CmdSearch(hubs, query, limit, search_hub, g);
  if (verify->parsed()) return CmdVerify(cache, hubs, verify_target, verify_key, g);
  if (uninstall->parsed()) {
    InstalledVersion removed;
    Status st = Uninstall(cache, uninstall_ref, hubs, &removed);
    if (!st.ok()) return Fail(st);
    if (g.json) std::printf("%s\n", json({{"removed", removed.Id()}}).dump().c_str());
    else std::printf("removed %s\n", removed.Id().c_str());
    return 0;
  }
  if (pack->parsed()) {
    fs::path dir = pack_src;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      auto v = FindInstalled(cache, hubs, pack_src);
      if (!v.ok()) return Fail(v.status());
      dir = v->dir;
    }
    auto m = mpf::Pack(dir, pack_out, {.zstd_level = pack_level, .parse = {.strict = g.strict}});
    if (!m.ok()) return Fail(m.status());
    if (g.json)
      std::printf("%s\n", json({{"output", pack_out}, {"id", m->Id()},
                                {"files", m->format.files.size()}}).dump().c_str());
    else
      std::printf("packed %s (%zu files) -> %s\n", m->Id().c_str(), m->format.files.size(),
                  pack_out.c_str());
    return 0;
  }
  if (unpack->parsed()) {
    auto m = mpf::Unpack(unpack_src, unpack_out, {.parse = {.strict = g.strict}});
    if (!m.ok()) return Fail(m.status());
    if (g.json)
      std::printf("%s\n", json({{"output", unpack_out}, {"id", m->Id()},
                                {"files", m->format.files.size()}}).dump().c_str());
    else
      std::printf("unpacked %s (%zu files verified) -> %s\n", m->Id().c_str(),
                  m->format.files.size(), unpack_out.c_str());
    return 0;
  }
  if (gc->parsed()) {
    auto r = cache.CollectGarbage(gc_age);
    if (!r.ok()) return Fail(r.status());
    if (g.json)
      std::printf("%s\n", json({{"blobs_removed", r->blobs_removed},
                                {"blob_bytes_freed", r->blob_bytes_freed},
                                {"partials_removed", r->partials_removed},
                                {"partial_bytes_freed", r->partial_bytes_freed},
                                {"staging_removed", r->staging_removed}}).dump().c_str());
    else
      std::printf("removed %llu blob%s (%s), %llu partial download%s (%s), %llu staging dir%s\n",
                  static_cast<unsigned long long>(r->blobs_removed), r->blobs_removed == 1 ? "" : "s",
                  HumanBytes(r->blob_bytes_freed).c_str(),
                  static_cast<unsigned long long>(r->partials_removed),
                  r->partials_removed == 1 ? "" : "s", HumanBytes(r->partial_bytes_freed).c_str(),
                  static_cast<unsigned long long>(r->staging_removed),
                  r->staging_removed == 1 ? "" : "s");
    return 0;
  }
  if (reg->parsed()) return CmdRegister(cache, hubs, reg_ref, reg_target, g);
  if (keygen->parsed()) {
    Status st = mpf::GenerateKeyPair(kg_secret, kg_public);
    if (!st.ok()) return Fail(st);
    std::printf("wrote %s (secret, mode 0600) and %s (public)\n", kg_secret.c_str(), kg_public.c_str());
    return 0;
  }
  if (sign->parsed()) {
    fs::path target = sign_target;
    std::error_code ec;
    if (!fs::exists(target, ec)) {
      auto v = FindInstalled(cache, hubs, sign_target);
      if (!v.ok()) return Fail(v.status());
      target = v->dir;
    }
    auto sig = mpf::SignPackage(target, sign_key);
    if (!sig.ok()) return Fail(sig.status());
    std::printf("signed %s -> %s\n", target.c_str(), sig->c_str());
    return 0;
  }
  return 2;
}

}  // namespace mlos::axon::cli
