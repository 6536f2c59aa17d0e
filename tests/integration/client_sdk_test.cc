// The C++ client SDK against the real mlosd on every transport the daemon offers (HTTP always;
// gRPC and IPC when `mlosd --help` lists --grpc / --ipc): health, metadata, management (defaults,
// rollback, aliases, dependencies, plugins), sync and async inference with outputs compared
// across transports, errors carrying the server's message, and shared-memory inference.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "mlos/client.h"
#include "mlosd_harness.h"

namespace mlostest {
namespace {

namespace client = mlos::client;

std::vector<float> Input(int batch) {
  std::vector<float> v(static_cast<size_t>(batch) * 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 3.1);
  return v;
}

class ClientSdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!Prerequisites(&why)) GTEST_SKIP() << why;
    const std::string help = MlosdHelp();
    std::vector<std::string> args;
    if (help.find("--grpc") != std::string::npos) {
      const uint16_t port = FreePort();
      args.insert(args.end(), {"--grpc", "127.0.0.1:" + std::to_string(port)});
      grpc_url_ = "grpc://127.0.0.1:" + std::to_string(port);
    }
    if (help.find("--ipc") != std::string::npos) {
      const fs::path sock = tmp_.path() / "mlosd.sock";
      args.insert(args.end(), {"--ipc", sock.string()});
      ipc_url_ = "unix://" + sock.string();
    }
    daemon_ = std::make_unique<Daemon>(tmp_.path() / "state", args);
    ASSERT_TRUE(daemon_->Start());
    http_url_ = "http://127.0.0.1:" + std::to_string(daemon_->port());
    urls_.push_back(http_url_);
    if (!grpc_url_.empty()) urls_.push_back(grpc_url_);
    if (!ipc_url_.empty()) urls_.push_back(ipc_url_);
  }

  std::unique_ptr<client::Client> Connect(const std::string& url) {
    // The gRPC / IPC listeners may come up a moment after the HTTP line.
    for (int attempt = 0;; ++attempt) {
      auto c = client::Client::Connect(url);
      if (c.ok()) {
        auto live = (*c)->Live();
        if (live.ok() || attempt >= 50) {
          EXPECT_TRUE(live.ok()) << url << ": " << live.status().message();
          return std::move(c).value();
        }
      } else if (attempt >= 50 || c.status().code() != mlos::StatusCode::kUnavailable) {
        ADD_FAILURE() << url << ": " << c.status().message();
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  client::ModelInfo RegisterMlp(client::Client& c, const std::string& version = "1.0.0") {
    Package p = MlpPackage(version);
    const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
    client::RegisterRequest r;
    r.model_id = p.Id();
    r.name = p.name;
    r.framework = p.framework;
    r.execution_format = p.execution_format;
    r.path = dir.string();
    r.description = "sdk test model";
    auto m = c.Register(r);
    EXPECT_TRUE(m.ok()) << m.status().message();
    return m.ok() ? *m : client::ModelInfo{};
  }

  TempDir tmp_;
  std::unique_ptr<Daemon> daemon_;
  std::string http_url_, grpc_url_, ipc_url_;
  std::vector<std::string> urls_;
};

TEST_F(ClientSdkTest, CoversEveryTransportTheDaemonOffers) {
  const std::string help = MlosdHelp();
  EXPECT_EQ(help.find("--grpc") != std::string::npos, !grpc_url_.empty());
  EXPECT_EQ(help.find("--ipc") != std::string::npos, !ipc_url_.empty());
  for (const std::string& url : urls_) {
    auto c = Connect(url);
    ASSERT_NE(c, nullptr) << url;
    auto meta = c->GetServerMetadata();
    ASSERT_TRUE(meta.ok()) << url << ": " << meta.status().message();
    EXPECT_FALSE(meta->version.empty()) << url;
    auto ready = c->Ready();
    ASSERT_TRUE(ready.ok()) << url << ": " << ready.status().message();
    EXPECT_TRUE(*ready) << url;
  }
}

TEST_F(ClientSdkTest, InferenceIsIdenticalAcrossTransports) {
  auto http = Connect(http_url_);
  ASSERT_NE(http, nullptr);
  const client::ModelInfo m = RegisterMlp(*http);
  ASSERT_EQ(m.id, "test/mlp@1.0.0");
  ASSERT_TRUE(http->Load(m.id).ok());

  const std::vector<float> in = Input(3);
  client::InferRequest req;
  req.model = m.id;
  req.inputs.push_back(client::Tensor::From<float>("input", "float32", {3, 16}, in));

  std::vector<client::InferResult> results;
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto meta = c->GetModelMetadata(m.id);
    ASSERT_TRUE(meta.ok()) << meta.status().message();
    ASSERT_EQ(meta->inputs.size(), 1u);
    EXPECT_EQ(meta->inputs[0].name, "input");
    EXPECT_EQ(meta->inputs[0].dtype, "float32");
    EXPECT_EQ(meta->inputs[0].shape, (std::vector<int64_t>{-1, 16}));
    ASSERT_EQ(meta->outputs.size(), 2u);
    auto model_ready = c->ModelReady(m.id);
    ASSERT_TRUE(model_ready.ok()) << model_ready.status().message();
    EXPECT_TRUE(*model_ready);

    auto r = c->Infer(req);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const client::Tensor* logits = r->Find("logits");
    const client::Tensor* probs = r->Find("probs");
    ASSERT_NE(logits, nullptr);
    ASSERT_NE(probs, nullptr);
    EXPECT_EQ(logits->dtype, "float32");
    EXPECT_EQ(logits->shape, (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(probs->shape, (std::vector<int64_t>{3, 4}));
    const std::vector<float> p = probs->As<float>();
    for (int row = 0; row < 3; ++row) {
      float sum = 0;
      for (int k = 0; k < 4; ++k) sum += p[static_cast<size_t>(row) * 4 + k];
      EXPECT_NEAR(sum, 1.0f, 1e-5);
    }
    // Only the requested output.
    client::InferRequest only = req;
    only.outputs.push_back({"probs", {}});
    auto r2 = c->Infer(only);
    ASSERT_TRUE(r2.ok()) << r2.status().message();
    ASSERT_EQ(r2->outputs.size(), 1u);
    EXPECT_EQ(r2->outputs[0].name, "probs");
    EXPECT_EQ(r2->outputs[0].data, probs->data);

    // Async: several in flight at once.
    std::vector<std::future<mlos::Result<client::InferResult>>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(c->InferAsync(req));
    for (auto& f : futures) {
      auto a = f.get();
      ASSERT_TRUE(a.ok()) << a.status().message();
      EXPECT_EQ(a->Find("logits")->data, logits->data);
    }
    results.push_back(std::move(r).value());
  }
  for (size_t i = 1; i < results.size(); ++i) {
    SCOPED_TRACE(urls_[i]);
    for (const char* name : {"logits", "probs"}) {
      ASSERT_NE(results[i].Find(name), nullptr);
      EXPECT_EQ(results[i].Find(name)->data, results[0].Find(name)->data) << name;
      EXPECT_EQ(results[i].Find(name)->shape, results[0].Find(name)->shape) << name;
    }
  }
}

TEST_F(ClientSdkTest, ManagementOnEveryTransport) {
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto plugins = c->ListPlugins();
    ASSERT_TRUE(plugins.ok()) << plugins.status().message();
    bool has_onnx = false;
    for (const auto& p : *plugins) has_onnx |= p.name == "onnx" || p.framework == "onnx";
    EXPECT_TRUE(has_onnx);

    const client::ModelInfo v1 = RegisterMlp(*c, "1.0.0");
    const client::ModelInfo v2 = RegisterMlp(*c, "2.0.0");
    EXPECT_EQ(v1.id, "test/mlp@1.0.0");
    EXPECT_EQ(v2.id, "test/mlp@2.0.0");

    auto list = c->ListModels();
    ASSERT_TRUE(list.ok()) << list.status().message();
    EXPECT_EQ(list->size(), 2u);

    auto loaded = c->Load(v2.id);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(loaded->state, "READY");
    auto got = c->GetModel(v2.id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->id, v2.id);
    EXPECT_EQ(got->framework, "onnx");
    ASSERT_EQ(got->inputs.size(), 1u);
    EXPECT_EQ(got->inputs[0].name, "input");

    auto unloaded = c->Unload(v2.id);
    ASSERT_TRUE(unloaded.ok()) << unloaded.status().message();
    EXPECT_NE(unloaded->state, "READY");

    // No default was ever set, so there is none to go back to: the server's verdict.
    auto rb = c->Rollback("test/mlp");
    ASSERT_FALSE(rb.ok());
    EXPECT_EQ(rb.status().code(), mlos::StatusCode::kFailedPrecondition) << rb.status().message();
    EXPECT_NE(rb.status().message().find("test/mlp"), std::string::npos) << rb.status().message();

    ASSERT_TRUE(c->Unregister(v1.id).ok());
    ASSERT_TRUE(c->Unregister(v2.id).ok());
    auto after = c->ListModels();
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->empty());
  }
}

// An identity model of the testing plugin (loads at once), test/<name>@<version>.
client::ModelInfo RegisterEcho(client::Client& c, const fs::path& root, const std::string& name,
                               const std::string& version, const std::string& deps_yaml = "") {
  Package p = TestingPackage(name, R"({"behavior": "identity"})", version);
  p.deps_yaml = deps_yaml;
  const fs::path dir = WritePackage(root, p);
  client::RegisterRequest r;
  r.model_id = p.Id();
  r.path = dir.string();
  auto m = c.Register(r);
  EXPECT_TRUE(m.ok()) << p.Id() << ": " << m.status().message();
  return m.ok() ? *m : client::ModelInfo{};
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(ClientSdkTest, DefaultsRollbackAndAliasesOnEveryTransport) {
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    const fs::path pkgs = tmp_.path() / "echo-pkgs";
    ASSERT_EQ(RegisterEcho(*c, pkgs, "echo", "1.0.0").id, "test/echo@1.0.0");
    ASSERT_EQ(RegisterEcho(*c, pkgs, "echo", "2.0.0").id, "test/echo@2.0.0");

    // SetDefault loads the version and makes it the name's default.
    auto d1 = c->SetDefault("test/echo@1.0.0");
    ASSERT_TRUE(d1.ok()) << d1.status().message();
    EXPECT_EQ(d1->id, "test/echo@1.0.0");
    EXPECT_TRUE(d1->is_default);
    EXPECT_EQ(d1->state, "READY");
    auto d2 = c->SetDefault("test/echo@2.0.0");
    ASSERT_TRUE(d2.ok()) << d2.status().message();
    EXPECT_TRUE(d2->is_default);
    auto by_name = c->GetModel("test/echo");
    ASSERT_TRUE(by_name.ok()) << by_name.status().message();
    EXPECT_EQ(by_name->version, "2.0.0");

    // A version is required; an unknown version is not found.
    auto unversioned = c->SetDefault("test/echo");
    ASSERT_FALSE(unversioned.ok());
    EXPECT_EQ(unversioned.status().code(), mlos::StatusCode::kInvalidArgument)
        << unversioned.status().message();
    auto unknown = c->SetDefault("test/echo@9.9.9");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.status().code(), mlos::StatusCode::kNotFound) << unknown.status().message();

    // Rollback returns to 1.0.0.
    auto rb = c->Rollback("test/echo");
    ASSERT_TRUE(rb.ok()) << rb.status().message();
    EXPECT_EQ(rb->id, "test/echo@1.0.0");
    EXPECT_TRUE(rb->is_default);

    // Aliases: set, resolve, move, remove.
    auto set = c->SetAlias("test/echo", "stable", "2.0.0");
    ASSERT_TRUE(set.ok()) << set.status().message();
    EXPECT_EQ(set->id, "test/echo@2.0.0");
    EXPECT_TRUE(Has(set->aliases, "stable"));
    auto via_alias = c->GetModel("test/echo@stable");
    ASSERT_TRUE(via_alias.ok()) << via_alias.status().message();
    EXPECT_EQ(via_alias->id, "test/echo@2.0.0");
    auto ready = c->ModelReady("test/echo@stable");
    ASSERT_TRUE(ready.ok()) << ready.status().message();
    EXPECT_TRUE(*ready);
    auto moved = c->SetAlias("test/echo", "stable", "1.0.0");
    ASSERT_TRUE(moved.ok()) << moved.status().message();
    EXPECT_EQ(moved->id, "test/echo@1.0.0");
    auto v2 = c->GetModel("test/echo@2.0.0");
    ASSERT_TRUE(v2.ok());
    EXPECT_FALSE(Has(v2->aliases, "stable"));
    auto bad = c->SetAlias("test/echo", "not ok!", "1.0.0");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), mlos::StatusCode::kInvalidArgument) << bad.status().message();
    auto removed = c->SetAlias("test/echo", "stable", "");
    ASSERT_TRUE(removed.ok()) << removed.status().message();
    EXPECT_TRUE(removed->is_default);  // after a removal: the default
    auto gone = c->GetModel("test/echo@stable");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.status().code(), mlos::StatusCode::kNotFound) << gone.status().message();

    // ModelReady: false for a registered model that is not loaded, an error for an unknown one.
    ASSERT_TRUE(c->Unload("test/echo@2.0.0").ok());
    auto not_ready = c->ModelReady("test/echo@2.0.0");
    ASSERT_TRUE(not_ready.ok()) << not_ready.status().message();
    EXPECT_FALSE(*not_ready);
    auto nope = c->ModelReady("test/nope");
    ASSERT_FALSE(nope.ok());
    EXPECT_EQ(nope.status().code(), mlos::StatusCode::kNotFound) << nope.status().message();

    // Dependencies come back as resolved ids.
    const client::ModelInfo app =
        RegisterEcho(*c, pkgs, "app", "1.0.0", "      - test/echo@1.0.0\n");
    EXPECT_EQ(app.dependencies, std::vector<std::string>{"test/echo@1.0.0"});
    auto got = c->GetModel("test/app@1.0.0");
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->dependencies, std::vector<std::string>{"test/echo@1.0.0"});

    for (const char* id : {"test/app@1.0.0", "test/echo@1.0.0", "test/echo@2.0.0"}) {
      EXPECT_TRUE(c->Unregister(id).ok()) << id;
    }
  }
}

TEST_F(ClientSdkTest, MetadataAndPluginsAreTheSameOnEveryTransport) {
  std::vector<client::ServerMetadata> metas;
  std::vector<std::vector<client::PluginInfo>> plugins;
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto m = c->GetServerMetadata();
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_FALSE(m->name.empty());
    EXPECT_FALSE(m->extensions.empty());
    metas.push_back(*m);
    auto p = c->ListPlugins();
    ASSERT_TRUE(p.ok()) << p.status().message();
    EXPECT_FALSE(p->empty());
    plugins.push_back(*p);
  }
  for (size_t i = 1; i < urls_.size(); ++i) {
    SCOPED_TRACE(urls_[i]);
    EXPECT_EQ(metas[i].name, metas[0].name);
    EXPECT_EQ(metas[i].version, metas[0].version);
    EXPECT_EQ(metas[i].extensions, metas[0].extensions);
    ASSERT_EQ(plugins[i].size(), plugins[0].size());
    for (size_t k = 0; k < plugins[0].size(); ++k) {
      EXPECT_EQ(plugins[i][k].name, plugins[0][k].name);
      EXPECT_EQ(plugins[i][k].version, plugins[0][k].version);
      EXPECT_EQ(plugins[i][k].execution_formats, plugins[0][k].execution_formats);
      EXPECT_EQ(plugins[i][k].capabilities, plugins[0][k].capabilities);
      EXPECT_EQ(plugins[i][k].path, plugins[0][k].path);
    }
  }
}

// Ready() is an answer, not an error, while the daemon restores its registry: a model loaded
// before a restart that takes seconds to load again keeps every transport at "not ready".
TEST_F(ClientSdkTest, NotReadyWhileTheRegistryIsRestored) {
  {
    auto http = Connect(http_url_);
    ASSERT_NE(http, nullptr);
    Package p = TestingPackage("slow", R"({"behavior": "identity", "load_sleep_ms": 4000})");
    client::RegisterRequest r;
    r.model_id = p.Id();
    r.path = WritePackage(tmp_.path() / "slow-pkgs", p).string();
    ASSERT_TRUE(http->Register(r).ok());
    ASSERT_TRUE(http->Load(p.Id()).ok());
  }
  ASSERT_EQ(daemon_->Stop(), 0);
  // The same state dir, gRPC port and socket path; HTTP on a new port.
  std::vector<std::string> args;
  if (!grpc_url_.empty()) args.insert(args.end(), {"--grpc", grpc_url_.substr(7)});
  if (!ipc_url_.empty()) args.insert(args.end(), {"--ipc", ipc_url_.substr(7)});
  daemon_ = std::make_unique<Daemon>(tmp_.path() / "state", args);
  ASSERT_TRUE(daemon_->Start());
  urls_[0] = http_url_ = "http://127.0.0.1:" + std::to_string(daemon_->port());
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto ready = c->Ready();
    ASSERT_TRUE(ready.ok()) << ready.status().message();
    EXPECT_FALSE(*ready) << "the slow model is still loading";
    auto model = c->ModelReady("test/slow@1.0.0");
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_FALSE(*model);
  }
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
      auto r = c->Ready();
      ASSERT_TRUE(r.ok()) << r.status().message();
      ready = *r;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(ready);
    auto model = c->ModelReady("test/slow@1.0.0");
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_TRUE(*model);
  }
}

TEST_F(ClientSdkTest, ErrorsCarryTheServersMessage) {
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    auto missing = c->GetModel("test/nope@1.0.0");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), mlos::StatusCode::kNotFound);
    EXPECT_NE(missing.status().message().find("test/nope"), std::string::npos)
        << missing.status().message();

    client::InferRequest req;
    req.model = "test/nope@1.0.0";
    req.inputs.push_back(client::Tensor::From<float>("input", "float32", {1, 16}, Input(1)));
    auto r = c->Infer(req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), mlos::StatusCode::kNotFound) << r.status().message();

    const client::ModelInfo m = RegisterMlp(*c);
    client::InferRequest bad;
    bad.model = m.id;
    bad.inputs.push_back(client::Tensor::From<float>("input", "float32", {1, 7},
                                                     std::vector<float>(7, 1.0f)));
    auto b = c->Infer(bad);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), mlos::StatusCode::kInvalidArgument) << b.status().message();
    EXPECT_NE(b.status().message().find("input"), std::string::npos) << b.status().message();

    client::RegisterRequest reg;
    reg.model_id = "test/broken@1.0.0";
    reg.path = (tmp_.path() / "does-not-exist").string();
    auto rr = c->Register(reg);
    ASSERT_FALSE(rr.ok());
    EXPECT_FALSE(rr.status().message().empty());
    ASSERT_TRUE(c->Unregister(m.id).ok());
  }
}

TEST_F(ClientSdkTest, SharedMemoryInference) {
  auto http = Connect(http_url_);
  ASSERT_NE(http, nullptr);
  const client::ModelInfo m = RegisterMlp(*http);
  const std::vector<float> in = Input(2);
  client::InferRequest plain;
  plain.model = m.id;
  plain.inputs.push_back(client::Tensor::From<float>("input", "float32", {2, 16}, in));
  auto expected = http->Infer(plain);
  ASSERT_TRUE(expected.ok()) << expected.status().message();

  int covered = 0;
  std::string covered_urls;
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    const bool ipc = url.starts_with("unix://");
    const std::string key = "/mlos-sdk-test-" + std::to_string(::getpid()) + "-" +
                            std::to_string(covered);
    auto shm = ipc ? client::SharedMemory::CreateMemfd("sdk-test", 4096)
                   : client::SharedMemory::CreateSystem(key, 4096);
    ASSERT_TRUE(shm.ok()) << shm.status().message();
    mlos::Status st = c->RegisterSharedMemory("r0", **shm, 0, 4096);
    if (!ipc && st.code() == mlos::StatusCode::kNotFound &&
        st.message().find("no route") != std::string::npos) {
      continue;  // this daemon has no system shared-memory routes on this protocol
    }
    ASSERT_TRUE(st.ok()) << st.message();
    ++covered;
    covered_urls += (covered_urls.empty() ? "" : " ") + url;
    auto status = c->SharedMemoryStatus("r0");
    ASSERT_TRUE(status.ok()) << status.status().message();
    ASSERT_EQ(status->size(), 1u);
    EXPECT_EQ((*status)[0].byte_size, 4096u);

    ASSERT_TRUE((*shm)->Write(0, in.data(), in.size() * 4).ok());
    client::InferRequest req;
    req.model = m.id;
    client::Tensor t;
    t.name = "input";
    t.dtype = "float32";
    t.shape = {2, 16};
    t.shm = {"r0", 0, in.size() * 4};
    req.inputs.push_back(t);
    req.outputs.push_back({"probs", {"r0", 1024, 2 * 4 * 4}});
    req.outputs.push_back({"logits", {}});
    auto r = c->Infer(req);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const client::Tensor* probs = r->Find("probs");
    ASSERT_NE(probs, nullptr);
    EXPECT_TRUE(probs->shm.used());
    auto bytes = (*shm)->Read(1024, 32);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(*bytes, expected->Find("probs")->data);
    ASSERT_NE(r->Find("logits"), nullptr);
    EXPECT_EQ(r->Find("logits")->data, expected->Find("logits")->data);

    // Out of bounds: the server's message comes back.
    client::InferRequest oob = req;
    oob.inputs[0].shm = {"r0", 4000, in.size() * 4};
    auto o = c->Infer(oob);
    EXPECT_FALSE(o.ok());

    ASSERT_TRUE(c->UnregisterSharedMemory("r0").ok());
    EXPECT_FALSE(c->UnregisterSharedMemory("r0").ok());
  }
  RecordProperty("shared_memory_transports", covered_urls);
  std::printf("shared memory covered on: %s\n", covered_urls.c_str());
  // IPC always has shared memory; HTTP/gRPC once their system shared-memory routes exist.
  if (!ipc_url_.empty()) {
    EXPECT_GE(covered, 1);
  }
  if (covered == 0) GTEST_SKIP() << "no transport of this mlosd offers shared memory yet";
}

namespace large {

// Bytes that differ at every position (a misplaced or dropped byte shows).
std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v[i] = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

}  // namespace large

// Tensors of several megabytes, and of odd sizes next to each other (so no tensor starts
// aligned by luck), go through every transport unchanged, both copied into Tensor::data and,
// with InferOptions::view_outputs, as 64-byte-aligned views that stay valid after the result
// is gone.
TEST_F(ClientSdkTest, LargeAndOddSizedTensorsOnEveryTransport) {
  auto http = Connect(http_url_);
  ASSERT_NE(http, nullptr);
  Package p = TestingPackage("big", R"({"behavior": "identity", "inputs": [
      {"name": "odd", "dtype": "int8", "shape": [-1]},
      {"name": "big", "dtype": "float32", "shape": [-1]},
      {"name": "tail", "dtype": "uint8", "shape": [-1]}]})");
  const fs::path dir = WritePackage(tmp_.path() / "pkgs", p);
  client::RegisterRequest r;
  r.model_id = p.Id();
  r.path = dir.string();
  ASSERT_TRUE(http->Register(r).ok());
  ASSERT_TRUE(http->Load(p.Id()).ok());

  const std::vector<uint8_t> odd = large::Pattern(1000003, 1);
  const std::vector<uint8_t> big = large::Pattern(size_t{6} << 20, 2);  // 1.5 M floats
  const std::vector<uint8_t> tail = large::Pattern(77, 3);
  auto tensor = [](const char* name, const char* dtype, const std::vector<uint8_t>& bytes,
                   size_t elem) {
    client::Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.shape = {static_cast<int64_t>(bytes.size() / elem)};
    t.data = bytes;
    return t;
  };
  client::InferRequest req;
  req.model = p.Id();
  req.inputs = {tensor("odd", "int8", odd, 1), tensor("big", "float32", big, 4),
                tensor("tail", "uint8", tail, 1)};
  for (const std::string& url : urls_) {
    auto c = Connect(url);
    ASSERT_NE(c, nullptr);
    for (bool views : {false, true}) {
      SCOPED_TRACE(url + (views ? " (view_outputs)" : " (copied)"));
      req.options.view_outputs = views;
      std::vector<client::Tensor> kept;
      {
        auto out = c->Infer(req);
        ASSERT_TRUE(out.ok()) << out.status().message();
        ASSERT_EQ(out->outputs.size(), 3u);
        kept = out->outputs;  // the views outlive the result
      }
      const std::vector<uint8_t>* want[] = {&odd, &big, &tail};
      for (size_t i = 0; i < 3; ++i) {
        const client::Tensor& t = kept[i];
        ASSERT_EQ(t.byte_size(), want[i]->size()) << t.name;
        EXPECT_EQ(std::memcmp(t.bytes(), want[i]->data(), want[i]->size()), 0) << t.name;
        if (views && (i == 0 || t.view)) {
          // The first output starts aligned on every transport; a later one is a view where
          // it is aligned for its type (HTTP packs outputs back to back), else a copy.
          EXPECT_TRUE(t.data.empty()) << t.name;
          ASSERT_NE(t.view, nullptr) << t.name;
          const uintptr_t elem = i == 1 ? 4 : 1;
          EXPECT_EQ(reinterpret_cast<uintptr_t>(t.view) % elem, 0u) << t.name;
        } else if (views) {
          EXPECT_EQ(t.data, *want[i]) << t.name;
        } else {
          EXPECT_EQ(t.view, nullptr) << t.name;
          EXPECT_EQ(t.data, *want[i]) << t.name;
        }
      }
      // As<T>() reads either form.
      const std::vector<float> f = kept[1].As<float>();
      ASSERT_EQ(f.size(), big.size() / 4);
      EXPECT_EQ(std::memcmp(f.data(), big.data(), big.size()), 0);
    }
  }
}

}  // namespace
}  // namespace mlostest
