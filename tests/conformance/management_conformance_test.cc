// Management conformance: one scripted sequence of management calls (register, load, set
// default, rollback, alias set/move/remove, unload, unregister, and the error cases of each)
// run through the C++ SDK against one fresh daemon per protocol (http://, grpc://, unix://).
//
// Each step records the call's outcome (StatusCode and message, or the value it answered) and
// the model list after it (ids, states, reasons, defaults, aliases, dependencies, desired
// state, IO schema). The test fails when
//   - a step's outcome differs from the category the script expects of it (per protocol), or
//   - any protocol's transcript differs from HTTP's in any step: outcome category, message,
//     answered value or the model list that followed.
// Every package lives in one directory shared by the three daemons, so paths (which appear in
// answers and messages) are the same.
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "conformance_harness.h"
#include "mlos/client.h"

namespace {

namespace fs = std::filesystem;
using conformance::FullDaemon;
using mlos::Result;
using mlos::Status;
using mlos::StatusCode;
using mlos::client::Client;
using mlos::client::ModelInfo;
using nlohmann::json;

enum class Protocol { kHttp, kGrpc, kIpc };
constexpr Protocol kProtocols[] = {Protocol::kHttp, Protocol::kGrpc, Protocol::kIpc};

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp: return "http";
    case Protocol::kGrpc: return "grpc";
    case Protocol::kIpc: return "ipc";
  }
  return "?";
}

// A model as the transcript records it: everything the server decides, nothing that depends
// on timing (memory_bytes, load_time_ms).
json Canonical(const ModelInfo& m) {
  auto io = [](const std::vector<mlos::client::TensorInfo>& v) {
    json a = json::array();
    for (const auto& t : v) a.push_back({t.name, t.dtype, t.shape});
    return a;
  };
  return {{"id", m.id},
          {"name", m.name},
          {"version", m.version},
          {"state", m.state},
          {"reason", m.reason},
          {"is_default", m.is_default},
          {"aliases", m.aliases},
          {"dependencies", m.dependencies},
          {"desired_loaded", m.desired_loaded},
          {"framework", m.framework},
          {"execution_format", m.execution_format},
          {"plugin", m.plugin},
          {"path", m.path},
          {"description", m.description},
          {"inputs", io(m.inputs)},
          {"outputs", io(m.outputs)}};
}

// What one step did on one protocol.
struct Outcome {
  StatusCode code = StatusCode::kOk;
  std::string message;  // the error message ("" on success)
  std::string answer;   // the answered value, canonical JSON ("" on error)
  std::string models;   // ListModels() after the step, canonical JSON
};

std::string Describe(const Outcome& o) {
  std::string s = mlos::StatusCodeName(o.code);
  if (o.code != StatusCode::kOk) s += " \"" + o.message + "\"";
  if (!o.answer.empty()) s += "\n    answer: " + o.answer;
  s += "\n    models: " + o.models;
  return s;
}

// A call's answer as canonical JSON text, or its error.
using Call = std::function<Result<std::string>(Client&)>;

struct Step {
  std::string name;
  StatusCode want;            // the category every protocol must answer
  std::string want_message;   // a part of the message it must carry ("" = any)
  Call call;
};

Call Model(std::function<Result<ModelInfo>(Client&)> f) {
  return [f](Client& c) -> Result<std::string> {
    MLOS_ASSIGN_OR_RETURN(ModelInfo m, f(c));
    return Canonical(m).dump();
  };
}

Call Ready(std::string id) {
  return [id](Client& c) -> Result<std::string> {
    MLOS_ASSIGN_OR_RETURN(bool ready, c.ModelReady(id));
    return json(ready).dump();
  };
}

Call Done(std::function<Status(Client&)> f) {
  return [f](Client& c) -> Result<std::string> {
    MLOS_RETURN_IF_ERROR(f(c));
    return std::string("{}");
  };
}

Call Plugins() {
  return [](Client& c) -> Result<std::string> {
    MLOS_ASSIGN_OR_RETURN(std::vector<mlos::client::PluginInfo> plugins, c.ListPlugins());
    json a = json::array();
    for (const auto& p : plugins) {
      a.push_back({p.name, p.version, p.framework, p.execution_formats, p.capabilities, p.path});
    }
    return a.dump();
  };
}

Call ServerMetadata() {
  return [](Client& c) -> Result<std::string> {
    MLOS_ASSIGN_OR_RETURN(mlos::client::ServerMetadata m, c.GetServerMetadata());
    return json({m.name, m.version, m.extensions}).dump();
  };
}

// The packages every daemon registers from: one directory, written once.
struct Packages {
  fs::path echo1, echo2, app, broken, orphan, missing;
};

Packages WritePackages(const fs::path& root) {
  using mlostest::Package;
  using mlostest::TestingPackage;
  using mlostest::WritePackage;
  const std::string identity = R"({"behavior": "identity"})";
  Packages p;
  p.echo1 = WritePackage(root, TestingPackage("echo", identity, "1.0.0"));
  p.echo2 = WritePackage(root, TestingPackage("echo", identity, "2.0.0"));
  Package app = TestingPackage("app", identity, "1.0.0");
  app.deps_yaml = "      - test/echo@1.0.0\n";
  p.app = WritePackage(root, app);
  p.broken = WritePackage(
      root, TestingPackage("broken", R"({"behavior": "identity", "load_fail": "no weights"})"));
  Package orphan = TestingPackage("orphan", identity, "1.0.0");
  orphan.deps_yaml = "      - test/ghost@1.0.0\n";
  p.orphan = WritePackage(root, orphan);
  p.missing = root / "no-such-package";
  return p;
}

Call Register(std::string id, fs::path dir) {
  return Model([id, dir](Client& c) {
    mlos::client::RegisterRequest r;
    r.model_id = id;
    r.path = dir.string();
    r.description = "management conformance";
    return c.Register(r);
  });
}

// The script. Error steps name the category the service documents for them.
std::vector<Step> Script(const Packages& p) {
  using C = StatusCode;
  auto get = [](std::string id) { return Model([id](Client& c) { return c.GetModel(id); }); };
  auto load = [](std::string id) { return Model([id](Client& c) { return c.Load(id); }); };
  auto unload = [](std::string id) { return Model([id](Client& c) { return c.Unload(id); }); };
  auto set_default = [](std::string id) {
    return Model([id](Client& c) { return c.SetDefault(id); });
  };
  auto rollback = [](std::string n) { return Model([n](Client& c) { return c.Rollback(n); }); };
  auto alias = [](std::string n, std::string a, std::string v) {
    return Model([n, a, v](Client& c) { return c.SetAlias(n, a, v); });
  };
  auto unregister = [](std::string id) {
    return Done([id](Client& c) { return c.Unregister(id); });
  };
  return {
      {"server metadata", C::kOk, "", ServerMetadata()},
      {"list plugins", C::kOk, "", Plugins()},
      {"register echo 1.0.0", C::kOk, "", Register("test/echo@1.0.0", p.echo1)},
      {"register echo 2.0.0", C::kOk, "", Register("test/echo@2.0.0", p.echo2)},
      {"register app (depends on echo 1.0.0)", C::kOk, "", Register("test/app@1.0.0", p.app)},
      {"register broken", C::kOk, "", Register("test/broken@1.0.0", p.broken)},
      {"register echo 1.0.0 again from the same path (no change)", C::kOk, "",
       Register("test/echo@1.0.0", p.echo1)},
      {"register echo 1.0.0 again from another path", C::kAlreadyExists, "test/echo@1.0.0",
       Register("test/echo@1.0.0", p.echo2)},
      {"register a missing path", C::kInvalidArgument, "no-such-package",
       Register("test/missing@1.0.0", p.missing)},
      {"register a bad id", C::kInvalidArgument, "", Register("not-an-id", p.echo1)},
      {"register with an unregistered dependency", C::kFailedPrecondition, "test/ghost",
       Register("test/orphan@1.0.0", p.orphan)},
      {"get echo by name", C::kOk, "", get("test/echo")},
      {"get echo@latest", C::kOk, "", get("test/echo@latest")},
      {"get unknown model", C::kNotFound, "test/nope", get("test/nope@1.0.0")},
      {"get unknown version", C::kNotFound, "test/echo@9.9.9", get("test/echo@9.9.9")},
      {"get an empty id", C::kInvalidArgument, "model id is empty", get("")},
      {"get an id with a space (valid, unknown)", C::kNotFound, "test/ec ho",
       get("test/ec ho@1.0.0")},
      {"get a traversing id", C::kInvalidArgument, "", get("../../etc/passwd@1")},
      {"load a traversing id", C::kInvalidArgument, "", Model([](Client& c) {
         return c.Load("test/../echo@1.0.0");
       })},
      {"load echo 1.0.0", C::kOk, "", load("test/echo@1.0.0")},
      {"load unknown", C::kNotFound, "test/nope", load("test/nope@1.0.0")},
      {"load broken", C::kInternal, "no weights", load("test/broken@1.0.0")},
      {"ready echo 1.0.0", C::kOk, "", Ready("test/echo@1.0.0")},
      {"ready echo 2.0.0 (not loaded)", C::kOk, "", Ready("test/echo@2.0.0")},
      {"ready unknown", C::kNotFound, "test/nope", Ready("test/nope")},
      {"ready of an empty name", C::kInvalidArgument, "model name is empty", Ready("")},
      {"set default echo 2.0.0", C::kOk, "", set_default("test/echo@2.0.0")},
      {"set default without a version", C::kInvalidArgument, "ns/name@version",
       set_default("test/echo")},
      {"set default to an unknown version", C::kNotFound, "test/echo@9.9.9",
       set_default("test/echo@9.9.9")},
      {"set default of an unknown model", C::kNotFound, "test/nope",
       set_default("test/nope@1.0.0")},
      {"set default to a version that fails to load", C::kInternal, "no weights",
       set_default("test/broken@1.0.0")},
      {"rollback echo", C::kOk, "", rollback("test/echo")},
      {"rollback echo again", C::kFailedPrecondition, "test/echo", rollback("test/echo")},
      {"rollback with no previous default", C::kFailedPrecondition, "no previous default",
       rollback("test/app")},
      {"rollback unknown", C::kNotFound, "test/nope", rollback("test/nope")},
      {"rollback of an empty name", C::kInvalidArgument, "model id is empty", rollback("")},
      {"alias stable -> 1.0.0", C::kOk, "", alias("test/echo", "stable", "1.0.0")},
      {"get echo@stable", C::kOk, "", get("test/echo@stable")},
      {"alias stable -> 2.0.0 (move)", C::kOk, "", alias("test/echo", "stable", "2.0.0")},
      {"alias canary -> 2.0.0 (second alias)", C::kOk, "", alias("test/echo", "canary", "2.0.0")},
      {"alias with a bad name", C::kInvalidArgument, "bad alias!",
       alias("test/echo", "bad alias!", "1.0.0")},
      {"alias named like a version", C::kInvalidArgument, "1.0.0",
       alias("test/echo", "1.0.0", "2.0.0")},
      {"alias to an unregistered version", C::kNotFound, "test/echo@9.9.9",
       alias("test/echo", "stable", "9.9.9")},
      {"alias of an unknown model", C::kNotFound, "test/nope",
       alias("test/nope", "stable", "1.0.0")},
      {"alias of a versioned id", C::kInvalidArgument, "test/echo@1.0.0",
       alias("test/echo@1.0.0", "stable", "1.0.0")},
      {"alias with an empty name", C::kInvalidArgument, "alias", alias("test/echo", "", "1.0.0")},
      {"alias of an empty model name", C::kInvalidArgument, "model name is empty",
       alias("", "stable", "1.0.0")},
      {"remove alias stable", C::kOk, "", alias("test/echo", "stable", "")},
      {"remove alias stable again", C::kOk, "", alias("test/echo", "stable", "")},
      {"get echo@stable after removal", C::kNotFound, "test/echo", get("test/echo@stable")},
      {"unregister echo 1.0.0 while app depends on it", C::kFailedPrecondition, "test/app@1.0.0",
       unregister("test/echo@1.0.0")},
      {"load app (loads its dependency first)", C::kOk, "", load("test/app@1.0.0")},
      {"unload echo 2.0.0", C::kOk, "", unload("test/echo@2.0.0")},
      {"unload echo 2.0.0 again", C::kOk, "", unload("test/echo@2.0.0")},
      {"unload unknown", C::kNotFound, "test/nope", unload("test/nope@1.0.0")},
      {"unload broken (FAILED)", C::kOk, "", unload("test/broken@1.0.0")},
      {"unregister app", C::kOk, "", unregister("test/app@1.0.0")},
      {"unregister echo 1.0.0", C::kOk, "", unregister("test/echo@1.0.0")},
      {"unregister echo 1.0.0 again", C::kNotFound, "test/echo@1.0.0",
       unregister("test/echo@1.0.0")},
      {"unregister an empty id", C::kInvalidArgument, "model id is empty", unregister("")},
      {"rollback echo after its default was unregistered", C::kFailedPrecondition,
       "no previous default", rollback("test/echo")},
      {"unregister echo 2.0.0", C::kOk, "", unregister("test/echo@2.0.0")},
      {"unregister broken", C::kOk, "", unregister("test/broken@1.0.0")},
  };
}

// Runs the script against `client`; one Outcome per step.
std::vector<Outcome> RunScript(Client& client, const std::vector<Step>& script) {
  std::vector<Outcome> out;
  for (const Step& step : script) {
    Outcome o;
    Result<std::string> r = step.call(client);
    if (r.ok()) {
      o.answer = *r;
    } else {
      o.code = r.status().code();
      o.message = r.status().message();
    }
    auto list = client.ListModels();
    if (list.ok()) {
      json arr = json::array();
      for (const ModelInfo& m : *list) arr.push_back(Canonical(m));
      o.models = arr.dump();
    } else {
      o.models = "ListModels failed: " + list.status().ToString();
    }
    out.push_back(std::move(o));
  }
  return out;
}

class ManagementConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!mlostest::Prerequisites(&why)) GTEST_SKIP() << why;
    packages_ = WritePackages(tmp_.path() / "packages");
  }

  // A fresh daemon with all three listeners; the script's transcript over `protocol`.
  std::vector<Outcome> Transcript(Protocol protocol, const std::vector<Step>& script) {
    const fs::path dir = tmp_.path() / ProtocolName(protocol);
    fs::create_directories(dir);
    const fs::path config = dir / "mlosd.yaml";
    std::ofstream(config) << "http:\n  request_timeout_s: 60\n";
    FullDaemon daemon;
    auto started = daemon.Start(dir, config);
    if (!started) {
      ADD_FAILURE() << ProtocolName(protocol) << ": " << started.message();
      return {};
    }
    std::string url;
    switch (protocol) {
      case Protocol::kHttp: url = "http://127.0.0.1:" + std::to_string(daemon.http_port()); break;
      case Protocol::kGrpc: url = "grpc://127.0.0.1:" + std::to_string(daemon.grpc_port()); break;
      case Protocol::kIpc: url = "unix://" + daemon.ipc_path(); break;
    }
    auto client = Client::Connect(url);
    if (!client.ok()) {
      ADD_FAILURE() << url << ": " << client.status().ToString();
      return {};
    }
    std::vector<Outcome> t = RunScript(**client, script);
    if (::testing::Test::HasFailure()) std::printf("mlosd log (%s):\n%s\n", url.c_str(),
                                                   daemon.Log().c_str());
    return t;
  }

  mlostest::TempDir tmp_;
  Packages packages_;
};

TEST_F(ManagementConformance, SameStatesAndErrorsOnEveryProtocol) {
  const std::vector<Step> script = Script(packages_);
  std::vector<std::vector<Outcome>> transcripts;
  for (Protocol p : kProtocols) {
    transcripts.push_back(Transcript(p, script));
    ASSERT_EQ(transcripts.back().size(), script.size()) << ProtocolName(p);
  }

  // Each protocol answers each step with the category the script expects.
  for (size_t k = 0; k < std::size(kProtocols); ++k) {
    for (size_t i = 0; i < script.size(); ++i) {
      const Outcome& o = transcripts[k][i];
      EXPECT_EQ(o.code, script[i].want)
          << ProtocolName(kProtocols[k]) << ", step " << i << " \"" << script[i].name
          << "\": " << Describe(o) << "\n  (want " << mlos::StatusCodeName(script[i].want) << ")";
      if (!script[i].want_message.empty() && o.code != StatusCode::kOk) {
        EXPECT_NE(o.message.find(script[i].want_message), std::string::npos)
            << ProtocolName(kProtocols[k]) << ", step " << i << " \"" << script[i].name
            << "\": message \"" << o.message << "\" lacks \"" << script[i].want_message << "\"";
      }
    }
  }

  // Every protocol's transcript is HTTP's, step by step.
  int differences = 0;
  for (size_t k = 1; k < std::size(kProtocols); ++k) {
    for (size_t i = 0; i < script.size(); ++i) {
      const Outcome& ref = transcripts[0][i];
      const Outcome& o = transcripts[k][i];
      const bool same = ref.code == o.code && ref.message == o.message &&
                        ref.answer == o.answer && ref.models == o.models;
      if (!same) ++differences;
      EXPECT_TRUE(same) << "step " << i << " \"" << script[i].name << "\"\n  http: "
                        << Describe(ref) << "\n  " << ProtocolName(kProtocols[k]) << ": "
                        << Describe(o);
    }
  }
  // The reference transcript, one line a step, for whoever reads the log.
  for (size_t i = 0; i < script.size(); ++i) {
    const Outcome& o = transcripts[0][i];
    std::printf("%2zu %-55s %s%s\n", i, script[i].name.c_str(), mlos::StatusCodeName(o.code),
                o.code == StatusCode::kOk ? "" : (" \"" + o.message + "\"").c_str());
  }
  RecordProperty("steps", static_cast<int>(script.size()));
  RecordProperty("differences", differences);
}

// The script itself is checked against what the models must look like at its key points (so
// that three protocols agreeing on a wrong answer still fail).
TEST_F(ManagementConformance, ScriptReachesTheDocumentedStates) {
  const std::vector<Step> script = Script(packages_);
  const std::vector<Outcome> t = Transcript(Protocol::kIpc, script);
  ASSERT_EQ(t.size(), script.size());
  auto step = [&](const std::string& name) -> const Outcome& {
    for (size_t i = 0; i < script.size(); ++i) {
      if (script[i].name == name) return t[i];
    }
    ADD_FAILURE() << "no step " << name;
    static const Outcome kNone;
    return kNone;
  };
  auto answer = [&](const std::string& name) {
    return json::parse(step(name).answer.empty() ? "null" : step(name).answer);
  };
  auto model = [&](const std::string& name, const std::string& id) {
    json list = json::parse(step(name).models, nullptr, false);
    if (list.is_array()) {
      for (const json& m : list) {
        if (m["id"] == id) return m;
      }
    }
    return json();
  };
  const json plugins = answer("list plugins");
  ASSERT_TRUE(plugins.is_array());
  bool testing = false;
  for (const json& p : plugins) testing |= p[0] == "testing";
  EXPECT_TRUE(testing) << plugins;
  EXPECT_FALSE(answer("server metadata")[2].empty());
  EXPECT_EQ(answer("register app (depends on echo 1.0.0)")["dependencies"],
            json({"test/echo@1.0.0"}));
  EXPECT_EQ(model("load broken", "test/broken@1.0.0")["state"], "FAILED");
  EXPECT_NE(model("load broken", "test/broken@1.0.0")["reason"].get<std::string>().find(
                "no weights"),
            std::string::npos);
  EXPECT_EQ(answer("ready echo 1.0.0"), json(true));
  EXPECT_EQ(answer("ready echo 2.0.0 (not loaded)"), json(false));
  const json def = answer("set default echo 2.0.0");
  EXPECT_EQ(def["id"], "test/echo@2.0.0");
  EXPECT_EQ(def["is_default"], true);
  EXPECT_EQ(def["state"], "READY");
  EXPECT_EQ(model("set default echo 2.0.0", "test/echo@1.0.0")["is_default"], false);
  EXPECT_EQ(answer("rollback echo")["id"], "test/echo@1.0.0");
  EXPECT_EQ(model("rollback echo", "test/echo@1.0.0")["is_default"], true);
  EXPECT_EQ(answer("alias stable -> 1.0.0")["aliases"], json({"stable"}));
  EXPECT_EQ(answer("get echo@stable")["id"], "test/echo@1.0.0");
  EXPECT_EQ(model("alias stable -> 2.0.0 (move)", "test/echo@1.0.0")["aliases"], json::array());
  EXPECT_EQ(model("alias canary -> 2.0.0 (second alias)", "test/echo@2.0.0")["aliases"],
            json({"latest", "canary", "stable"}));
  EXPECT_EQ(model("remove alias stable", "test/echo@2.0.0")["aliases"],
            json({"latest", "canary"}));
  EXPECT_EQ(model("load app (loads its dependency first)", "test/echo@1.0.0")["state"], "READY");
  EXPECT_EQ(model("unload echo 2.0.0", "test/echo@2.0.0")["desired_loaded"], false);
  EXPECT_EQ(json::parse(step("unregister broken").models), json::array());
}

}  // namespace
