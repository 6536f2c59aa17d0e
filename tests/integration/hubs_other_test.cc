// The ModelScope, Axon registry, PyTorch Hub and Kaggle adapters against local fake servers
// (tests/hubs/fake_other_hubs.py) speaking each hub's HTTP API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../hubs/hubtest.h"
#include "axon/hub/adapters.h"
#include "axon/hub/http.h"
#include "axon/hub/hub.h"
#include "axon/ref.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace mlos::axon {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string ReadBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Deterministic pseudo-random bytes (large enough to exercise streaming and Range).
std::string Blob(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    s[i] = static_cast<char>(seed >> 24);
  }
  return s;
}

ModelRef Ref(const std::string& text, const std::vector<std::string>& extra = {}) {
  auto r = ParseModelRef(text, extra);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : ModelRef{};
}

const RemoteFile* FindFile(const ResolvedModel& m, const std::string& path) {
  for (const auto& f : m.files)
    if (f.path == path) return &f;
  return nullptr;
}

bool HasNote(const ResolvedModel& m, const std::string& needle) {
  for (const auto& n : m.notes)
    if (n.find(needle) != std::string::npos) return true;
  return false;
}

class OtherHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "hubs_other_");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    tmp_ = d.value();
    root_ = tmp_ / "root";
    fs::create_directories(root_);
  }
  void TearDown() override {
    server_.Stop();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  void StartServer(const std::string& kind) {
    auto s =
        hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_other_hubs.py"),
                                    "--kind", kind, "--root", root_.string()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    base_ = server_.url();
  }
  std::string RequestLog() { return ReadBytes(root_ / "_requests.log"); }
  // Downloads `f` into tmp_/dl/<path> and returns the status.
  Status Fetch(HubAdapter& a, const ResolvedModel& m, const RemoteFile& f) {
    fs::path out = tmp_ / "dl" / f.path;
    fs::create_directories(out.parent_path());
    return a.Download(m, f, out, nullptr);
  }
  std::string Downloaded(const std::string& path) { return ReadBytes(tmp_ / "dl" / path); }

  fs::path tmp_, root_;
  hubtest::FakeServer server_;
  std::string base_;
};

// ---------------------------------------------------------------- ModelScope

class ModelScopeTest : public OtherHubTest {
 protected:
  void SetUp() override {
    OtherHubTest::SetUp();
    weights_ = Blob(300000, 7);
    WriteBytes(root_ / "damo/tiny/model.json",
               R"({"Description": "a tiny test model", "License": "Apache License 2.0",
                   "Tags": ["cv", "tiny"], "Tasks": [{"Name": "image-classification"}],
                   "commits": {"master": "0123456789abcdef0123456789abcdef01234567"}})");
    WriteBytes(root_ / "damo/tiny/master/model.onnx", weights_);
    WriteBytes(root_ / "damo/tiny/master/configuration.json", R"({"task": "x"})");
    WriteBytes(root_ / "damo/tiny/master/sub dir/vocab.txt", "a\nb\n");
    WriteBytes(root_ / "damo/tiny/v1.0/model.onnx", "old weights");
    StartServer("modelscope");
    config_.modelscope_endpoint = base_ + "/";  // a trailing slash is fine
  }
  HubConfig config_;
  std::string weights_;
};

TEST_F(ModelScopeTest, ResolvesAndDownloadsVerifiedFiles) {
  auto a = MakeModelScopeAdapter(config_);
  EXPECT_EQ(a->Name(), "modelscope");
  auto r = a->Resolve(Ref("ms/damo/tiny"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ref.ns, "modelscope");
  EXPECT_EQ(r->version, "latest");
  EXPECT_EQ(r->commit, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(r->source, "modelscope://damo/tiny@0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(r->meta.description, "a tiny test model");
  EXPECT_EQ(r->meta.license, "Apache License 2.0");
  EXPECT_EQ(r->meta.pipeline_tag, "image-classification");
  EXPECT_EQ(r->meta.tags, (std::vector<std::string>{"cv", "tiny"}));
  ASSERT_EQ(r->files.size(), 3u);  // "tree" entries are skipped
  const RemoteFile* onnx = FindFile(*r, "model.onnx");
  ASSERT_NE(onnx, nullptr);
  EXPECT_EQ(onnx->size, weights_.size());
  EXPECT_EQ(onnx->sha256, Sha256Hex(weights_));
  EXPECT_EQ(onnx->url, base_ + "/api/v1/models/damo/tiny/repo?Revision=master&FilePath=model.onnx");
  const RemoteFile* vocab = FindFile(*r, "sub dir/vocab.txt");
  ASSERT_NE(vocab, nullptr);
  EXPECT_NE(vocab->url.find("FilePath=sub%20dir%2Fvocab.txt"), std::string::npos) << vocab->url;

  for (const auto& f : r->files) ASSERT_TRUE(Fetch(*a, *r, f).ok()) << f.path;
  EXPECT_EQ(Downloaded("model.onnx"), weights_);
  EXPECT_EQ(Downloaded("sub dir/vocab.txt"), "a\nb\n");
  EXPECT_NE(
      RequestLog().find("GET /api/v1/models/damo/tiny/repo/files?Revision=master&Recursive=True"),
      std::string::npos);
}

TEST_F(ModelScopeTest, ResumesAPartialDownload) {
  auto a = MakeModelScopeAdapter(config_);
  auto r = a->Resolve(Ref("modelscope/damo/tiny"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::path partial = tmp_ / "model.onnx.partial";
  WriteBytes(partial, weights_.substr(0, 100000));
  ASSERT_TRUE(a->Download(*r, *FindFile(*r, "model.onnx"), partial, nullptr).ok());
  EXPECT_EQ(ReadBytes(partial), weights_);
}

TEST_F(ModelScopeTest, RevisionFromRefOrOption) {
  auto a = MakeModelScopeAdapter(config_);
  auto r = a->Resolve(Ref("modelscope/damo/tiny@v1.0"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, "v1.0");
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_NE(r->files[0].url.find("Revision=v1.0"), std::string::npos);
  ASSERT_TRUE(Fetch(*a, *r, r->files[0]).ok());
  EXPECT_EQ(Downloaded("model.onnx"), "old weights");

  InstallOptions opts;
  opts.revision = "v1.0";
  auto r2 = a->Resolve(Ref("modelscope/damo/tiny"), opts);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->files.size(), 1u);

  auto missing = a->Resolve(Ref("modelscope/damo/tiny@nope"), {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

TEST_F(ModelScopeTest, MissingModelIsOneClearLine) {
  auto a = MakeModelScopeAdapter(config_);
  auto r = a->Resolve(Ref("modelscope/damo/missing"), {});
  ASSERT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_EQ(r.status().message().rfind("modelscope/damo/missing: model not found", 0), 0u)
      << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);

  auto bad = a->Resolve(Ref("modelscope/justone"), {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelScopeTest, PrivateModelNeedsTheLoginCookie) {
  WriteBytes(root_ / "_config.json", R"({"tokens": {"tok-123": "sess-abc"}})");
  WriteBytes(root_ / "acme/secret/model.json", R"({"private": true})");
  WriteBytes(root_ / "acme/secret/master/model.onnx", "secret weights");

  auto anon = MakeModelScopeAdapter(config_)->Resolve(Ref("modelscope/acme/secret"), {});
  ASSERT_EQ(anon.status().code(), StatusCode::kNotFound);
  EXPECT_NE(anon.status().message().find("MODELSCOPE_API_TOKEN"), std::string::npos);

  HubConfig wrong = config_;
  wrong.modelscope_token = "bad-token";
  auto w = MakeModelScopeAdapter(wrong)->Resolve(Ref("modelscope/acme/secret"), {});
  EXPECT_EQ(w.status().code(), StatusCode::kUnauthenticated) << w.status().ToString();

  HubConfig good = config_;
  good.modelscope_token = "tok-123";
  auto a = MakeModelScopeAdapter(good);
  auto r = a->Resolve(Ref("modelscope/acme/secret"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->files.size(), 1u);
  ASSERT_TRUE(Fetch(*a, *r, r->files[0]).ok());
  EXPECT_EQ(Downloaded("model.onnx"), "secret weights");
  std::string log = RequestLog();
  EXPECT_NE(log.find("POST /api/v1/login"), std::string::npos);
  EXPECT_NE(log.find("GET /api/v1/models/acme/secret/repo?Revision=master&FilePath=model.onnx "
                     "cookie=m_session_id=sess-abc; m_token=t-sess-abc"),
            std::string::npos)
      << log;
}

TEST_F(ModelScopeTest, Sha256MismatchIsDataLoss) {
  WriteBytes(root_ / "damo/tiny/model.json",
             R"({"sha256_override": {"model.onnx": ")" + std::string(64, 'a') + R"("}})");
  auto a = MakeModelScopeAdapter(config_);
  auto r = a->Resolve(Ref("modelscope/damo/tiny"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status st = Fetch(*a, *r, *FindFile(*r, "model.onnx"));
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
}

TEST_F(ModelScopeTest, SearchIsUnimplemented) {
  auto s = MakeModelScopeAdapter(config_)->Search("tiny", 5);
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
}

// ---------------------------------------------------------------- Axon registry

class RegistryTest : public OtherHubTest {
 protected:
  void SetUp() override {
    OtherHubTest::SetUp();
    package_ = Blob(200000, 11);
    WriteBytes(root_ / "files/pkgs/acme-widget-1.0.0.axon", package_);
    WriteBytes(root_ / "index.json",
               R"([{"namespace": "acme", "name": "widget", "version": "1.0.0",
                    "description": "A widget classifier"},
                   {"namespace": "acme", "name": "gadget", "version": "2.1.0",
                    "description": "Gadget detector"}])");
    StartServer("registry");
    config_.registry_url = base_;
  }
  // Writes the manifest of acme/<name>@<ver> with the given distribution.package fields.
  void WriteManifest(const std::string& name, const std::string& ver, const std::string& url,
                     const std::string& sha, const std::string& extra_package = "") {
    std::string y = R"(apiVersion: axon.mlos.io/v1
kind: Model
metadata:
  name: )" + name + R"(
  namespace: acme
  version: )" + ver +
                    R"(
  description: A widget classifier
  license: MIT
  authors:
    - name: Ada
  tags: [vision]
spec:
  framework:
    name: onnx
    version: "1.16"
  format:
    type: onnx
    execution_format: onnx
    files:
      - path: model.onnx
        size: 10
        sha256: )" + std::string(64, 'b') +
                    R"(
    execution_files:
      - path: model.onnx
        format: onnx
        type: single
  io:
    inputs:
      - name: x
        dtype: float32
        shape: [-1, 3]
    outputs:
      - name: y
        dtype: float32
        shape: [-1, 2]
distribution:
  package:
    url: )" + url + "\n";
    if (!sha.empty()) y += "    sha256: " + sha + "\n";
    y += "    size: " + std::to_string(package_.size()) + "\n" + extra_package;
    WriteBytes(root_ / "models/acme" / name / ver / "manifest.yaml", y);
  }
  HubConfig config_;
  std::string package_;
};

TEST_F(RegistryTest, ResolvesAndDownloadsThePackage) {
  WriteManifest("widget", "1.0.0", "/files/pkgs/acme-widget-1.0.0.axon", Sha256Hex(package_));
  auto a = MakeRegistryAdapter(config_);
  auto r = a->Resolve(Ref("acme/widget@1.0.0", {"acme"}), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->package.has_value());
  EXPECT_EQ(r->package->url, base_ + "/files/pkgs/acme-widget-1.0.0.axon");
  EXPECT_EQ(r->package->sha256, Sha256Hex(package_));
  EXPECT_EQ(r->package->size, package_.size());
  EXPECT_EQ(r->package->path, "acme-widget-1.0.0.axon");
  EXPECT_EQ(r->version, "1.0.0");
  EXPECT_EQ(r->meta.description, "A widget classifier");
  EXPECT_EQ(r->meta.authors, std::vector<std::string>{"Ada"});
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_EQ(r->files[0].path, "model.onnx");
  ASSERT_TRUE(Fetch(*a, *r, *r->package).ok());
  EXPECT_EQ(Downloaded("acme-widget-1.0.0.axon"), package_);
  EXPECT_NE(RequestLog().find("GET /api/v1/models/acme/widget/1.0.0/manifest.yaml"),
            std::string::npos);
}

TEST_F(RegistryTest, RelativePackageUrlIsResolvedAgainstTheRegistry) {
  config_.registry_url = base_ + "/";
  WriteManifest("widget", "latest", "files/pkgs/acme-widget-1.0.0.axon", Sha256Hex(package_));
  auto a = MakeRegistryAdapter(config_);
  auto r = a->Resolve(Ref("acme/widget", {"acme"}), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->package->url, base_ + "/files/pkgs/acme-widget-1.0.0.axon");
  EXPECT_TRUE(Fetch(*a, *r, *r->package).ok());
}

TEST_F(RegistryTest, MirrorsAreTriedInOrder) {
  WriteManifest("widget", "1.0.0", "/files/gone.axon", Sha256Hex(package_),
                "    mirrors:\n      - " + base_ + "/files/also-gone.axon\n" +
                    "      - /files/pkgs/acme-widget-1.0.0.axon\n");
  auto a = MakeRegistryAdapter(config_);
  auto r = a->Resolve(Ref("acme/widget@1.0.0", {"acme"}), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status st = Fetch(*a, *r, *r->package);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Downloaded("acme-widget-1.0.0.axon"), package_);
  std::string log = RequestLog();
  size_t p1 = log.find("GET /files/gone.axon"), p2 = log.find("GET /files/also-gone.axon"),
         p3 = log.find("GET /files/pkgs/acme-widget-1.0.0.axon");
  ASSERT_NE(p1, std::string::npos);
  ASSERT_NE(p2, std::string::npos);
  ASSERT_NE(p3, std::string::npos);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);
}

TEST_F(RegistryTest, PackageShaMismatchIsDataLoss) {
  WriteManifest("widget", "1.0.0", "/files/pkgs/acme-widget-1.0.0.axon",
                Sha256Hex("something else"));
  auto a = MakeRegistryAdapter(config_);
  auto r = a->Resolve(Ref("acme/widget@1.0.0", {"acme"}), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::path out = tmp_ / "pkg.partial";
  Status st = a->Download(*r, *r->package, out, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_FALSE(fs::exists(out) && ReadBytes(out) == package_);
}

TEST_F(RegistryTest, ManifestWithoutPackageShaIsRefused) {
  WriteManifest("widget", "1.0.0", "/files/pkgs/acme-widget-1.0.0.axon", "");
  auto r = MakeRegistryAdapter(config_)->Resolve(Ref("acme/widget@1.0.0", {"acme"}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sha256"), std::string::npos) << r.status().ToString();
}

TEST_F(RegistryTest, NotFoundAndBuiltinNamespaces) {
  auto a = MakeRegistryAdapter(config_);
  auto r = a->Resolve(Ref("acme/nothing@1.0.0", {"acme"}), {});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("acme/nothing@1.0.0"), std::string::npos);
  auto hf = a->Resolve(Ref("hf/org/model"), {});
  EXPECT_EQ(hf.status().code(), StatusCode::kInvalidArgument);
  auto none = MakeRegistryAdapter(HubConfig{})->Resolve(Ref("acme/widget", {"acme"}), {});
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(RegistryTest, Search) {
  auto a = MakeRegistryAdapter(config_);
  auto s = a->Search("widget", 10);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].id, "acme/widget@1.0.0");
  EXPECT_EQ((*s)[0].description, "A widget classifier");
  EXPECT_EQ((*s)[0].source, "registry");
  auto all = a->Search("acme", 1);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  auto none = a->Search("zzz", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// ---------------------------------------------------------------- PyTorch Hub

constexpr const char* kMasterSha = "1111111111111111111111111111111111111111";
constexpr const char* kTagSha = "2222222222222222222222222222222222222222";

class PyTorchHubTest : public OtherHubTest {
 protected:
  void SetUp() override {
    OtherHubTest::SetUp();
    tiny_ = Blob(150000, 3);
    tiny_name_ = "tinynet-" + Sha256Hex(tiny_).substr(0, 8) + ".pth";
    bad_ = Blob(5000, 4);
    std::string bad_name =
        std::string("badnet-") + (Sha256Hex(bad_)[0] == '0' ? "1111" : "0000") + ".pth";
    WriteBytes(root_ / "weights" / tiny_name_, tiny_);
    WriteBytes(root_ / "weights" / bad_name, bad_);
    WriteBytes(root_ / "weights/mobile_scripted.ptl", "PK scripted");
    WriteBytes(root_ / "pytorch/vision/refs.json", std::string(R"({"branches": {"master": ")") +
                                                       kMasterSha + R"("}, "tags": {"v0.1": ")" +
                                                       kTagSha + R"("}})");
    hubconf_ = R"(dependencies = ["torch"]

from torch.hub import load_state_dict_from_url
from torchvision.models.resnet import resnet18

model_urls = {
    'tinynet': '@BASE@/weights/)" +
               tiny_name_ + R"(',
    'othernet': '@BASE@/weights/othernet-00000000.pth',
}


def tinynet(pretrained=False, **kwargs):
    """Tiny network for tests.

    More words.
    """
    model = _build()
    if pretrained:
        model.load_state_dict(load_state_dict_from_url(model_urls['tinynet'], check_hash=True))
    return model


def badnet(pretrained=False):
    url = '@BASE@/weights/)" +
               bad_name + R"('
    return load_state_dict_from_url(url, check_hash=True)


def mobile():
    return torch.jit.load(download('@BASE@/weights/mobile_scripted.ptl'))


def _build():
    pass
)";
    WriteBytes(root_ / "pytorch/vision/tree" / kMasterSha / "hubconf.py", hubconf_);
    WriteBytes(root_ / "pytorch/vision/tree" / kTagSha / "hubconf.py",
               "def tinynet():\n    return load('@BASE@/weights/" + tiny_name_ + "')\n");
    WriteBytes(root_ / "someone/nets/refs.json",
               std::string(R"({"branches": {"main": ")") + kTagSha + R"("}})");
    WriteBytes(root_ / "someone/nets/tree" / kTagSha / "hubconf.py",
               "def tinynet():\n    return load('@BASE@/weights/" + tiny_name_ + "')\n");
    StartServer("github");
    config_.github_api = base_ + "/api";
    config_.github_web = base_;
  }
  HubConfig config_;
  std::string tiny_, tiny_name_, bad_, hubconf_;
};

TEST_F(PyTorchHubTest, ResolvesTheEntrypointWeightsAndDownloadsThem) {
  auto a = MakePyTorchHubAdapter(config_);
  auto r = a->Resolve(Ref("pytorch/vision/tinynet"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ref.ns, "pytorch");
  EXPECT_EQ(r->commit, kMasterSha);  // latest: main is missing, master exists
  EXPECT_EQ(r->version, "latest");
  EXPECT_EQ(r->source, std::string("pytorch://pytorch/vision/tinynet@") + kMasterSha);
  EXPECT_EQ(r->meta.description, "Tiny network for tests.");
  ASSERT_EQ(r->files.size(), 2u);
  const RemoteFile* hc = FindFile(*r, "hubconf.py");
  ASSERT_NE(hc, nullptr);
  EXPECT_EQ(hc->url, base_ + "/pytorch/vision/raw/" + kMasterSha + "/hubconf.py");
  EXPECT_EQ(hc->sha256.size(), 64u);
  const RemoteFile* w = FindFile(*r, tiny_name_);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->url, base_ + "/weights/" + tiny_name_);
  EXPECT_TRUE(w->size_known);
  EXPECT_EQ(w->size, tiny_.size());
  EXPECT_TRUE(HasNote(*r,
                      "PyTorch state_dict: needs conversion (e.g. to ONNX or TorchScript) "
                      "before mlosd can serve it"));
  for (const auto& f : r->files) {
    Status st = Fetch(*a, *r, f);
    ASSERT_TRUE(st.ok()) << f.path << ": " << st.ToString();
  }
  EXPECT_EQ(Downloaded(tiny_name_), tiny_);
  EXPECT_NE(Downloaded("hubconf.py").find("def tinynet("), std::string::npos);
  std::string log = RequestLog();
  EXPECT_NE(log.find("GET /api/repos/pytorch/vision/branches/main"), std::string::npos);
  EXPECT_NE(log.find("GET /api/repos/pytorch/vision/branches/master"), std::string::npos);
}

TEST_F(PyTorchHubTest, StateDictIsNotExecutable) {
  auto r = MakePyTorchHubAdapter(config_)->Resolve(Ref("pytorch/vision/tinynet"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto sel = SelectFiles(r->files, {});
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->execution_format, "none");
  EXPECT_TRUE(sel->execution_files.empty());
  EXPECT_TRUE(HasNote(*r, "needs conversion"));
}

TEST_F(PyTorchHubTest, TorchScriptNamesGetNoConversionNote) {
  auto r = MakePyTorchHubAdapter(config_)->Resolve(Ref("pytorch/vision/mobile"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NE(FindFile(*r, "mobile_scripted.ptl"), nullptr);
  EXPECT_FALSE(HasNote(*r, "needs conversion"));
  auto sel = SelectFiles(r->files, {});
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->execution_format, "torchscript");
}

TEST_F(PyTorchHubTest, CheckHashMismatchIsAnError) {
  auto a = MakePyTorchHubAdapter(config_);
  auto r = a->Resolve(Ref("pytorch/vision/badnet"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->files.size(), 2u);
  const RemoteFile& w = r->files[1];
  EXPECT_EQ(w.path.rfind("badnet-", 0), 0u);
  fs::path out = tmp_ / "bad.partial";
  Status st = a->Download(*r, w, out, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("check_hash"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(PyTorchHubTest, ExplicitRefAndOwner) {
  auto a = MakePyTorchHubAdapter(config_);
  auto tag = a->Resolve(Ref("pytorch/vision/tinynet@v0.1"), {});
  ASSERT_TRUE(tag.ok()) << tag.status().ToString();
  EXPECT_EQ(tag->commit, kTagSha);
  EXPECT_EQ(tag->version, "v0.1");
  EXPECT_NE(FindFile(*tag, tiny_name_), nullptr);

  auto owned = a->Resolve(Ref("pytorch/someone/nets/tinynet"), {});
  ASSERT_TRUE(owned.ok()) << owned.status().ToString();
  EXPECT_EQ(owned->commit, kTagSha);  // branch main
  EXPECT_EQ(FindFile(*owned, "hubconf.py")->url,
            base_ + "/someone/nets/raw/" + kTagSha + "/hubconf.py");
}

TEST_F(PyTorchHubTest, NotFoundErrors) {
  auto a = MakePyTorchHubAdapter(config_);
  auto repo = a->Resolve(Ref("pytorch/nosuchrepo/tinynet"), {});
  EXPECT_EQ(repo.status().code(), StatusCode::kNotFound);
  EXPECT_NE(repo.status().message().find("repository not found"), std::string::npos)
      << repo.status().ToString();
  auto entry = a->Resolve(Ref("pytorch/vision/nosuchnet"), {});
  EXPECT_EQ(entry.status().code(), StatusCode::kNotFound);
  EXPECT_NE(entry.status().message().find("no entrypoint \"nosuchnet\""), std::string::npos)
      << entry.status().ToString();
  EXPECT_NE(entry.status().message().find("tinynet, badnet, mobile"), std::string::npos);
  auto ref = a->Resolve(Ref("pytorch/vision/tinynet@v9"), {});
  EXPECT_EQ(ref.status().code(), StatusCode::kNotFound) << ref.status().ToString();
  // Imported entrypoint whose weights live in another module: a clear error, not a guess.
  auto imported = a->Resolve(Ref("pytorch/vision/resnet18"), {});
  EXPECT_EQ(imported.status().code(), StatusCode::kNotFound);
  EXPECT_NE(imported.status().message().find("weight URL"), std::string::npos)
      << imported.status().ToString();
  auto malformed = a->Resolve(Ref("pytorch/a/b/c/d"), {});
  EXPECT_EQ(malformed.status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- Kaggle / TF Hub

class KaggleTest : public OtherHubTest {
 protected:
  void SetUp() override {
    OtherHubTest::SetUp();
    variables_ = Blob(120000, 5);
    onnx_ = Blob(50000, 6);
    WriteBytes(root_ / "_config.json",
               R"({"username": "kuser", "key": "kkey", "max_page_size": 2})");
    fs::path inst = root_ / "google/tiny/tensorFlow2/classify";
    WriteBytes(inst / "instance.json",
               R"({"overview": "Tiny classifier", "licenseName": "Apache 2.0"})");
    WriteBytes(inst / "1/saved_model.pb", "v1 graph");
    WriteBytes(inst / "2/saved_model.pb", "v2 graph");
    WriteBytes(inst / "2/variables/variables.index", "index");
    WriteBytes(inst / "2/variables/variables.data-00000-of-00001", variables_);
    fs::path priv = root_ / "acme/secret/onnx/default";
    WriteBytes(priv / "instance.json", R"({"private": true})");
    WriteBytes(priv / "1/model.onnx", onnx_);
    StartServer("kaggle");
    config_.kaggle_endpoint = base_;
  }
  HubConfig config_;
  std::string variables_, onnx_;
};

TEST_F(KaggleTest, ResolvesLatestVersionAcrossPagesAndDownloads) {
  auto a = MakeKaggleAdapter(config_);
  auto r = a->Resolve(Ref("tfhub/google/tiny/tensorFlow2/classify"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ref.ns, "tfhub");
  EXPECT_EQ(r->version, "latest");
  EXPECT_EQ(r->commit, "2");
  EXPECT_EQ(r->source, "kaggle://google/tiny/tensorFlow2/classify/2");
  EXPECT_EQ(r->meta.description, "Tiny classifier");
  EXPECT_EQ(r->meta.license, "Apache 2.0");
  ASSERT_EQ(r->files.size(), 3u);  // two pages of two
  const RemoteFile* v = FindFile(*r, "variables/variables.data-00000-of-00001");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->size, variables_.size());
  EXPECT_EQ(v->url, base_ +
                        "/api/v1/models/google/tiny/tensorFlow2/classify/2/download/"
                        "variables/variables.data-00000-of-00001");
  EXPECT_TRUE(HasNote(*r, "needs conversion"));
  for (const auto& f : r->files) ASSERT_TRUE(Fetch(*a, *r, f).ok()) << f.path;
  EXPECT_EQ(Downloaded("variables/variables.data-00000-of-00001"), variables_);
  EXPECT_EQ(Downloaded("saved_model.pb"), "v2 graph");
  EXPECT_NE(RequestLog().find("files?page_size=100&page_token=2"), std::string::npos);
}

TEST_F(KaggleTest, VersionFromSegmentOrAt) {
  auto a = MakeKaggleAdapter(config_);
  for (const char* text :
       {"tfhub/google/tiny/tensorFlow2/classify/1", "kaggle/google/tiny/tensorFlow2/classify@1"}) {
    auto r = a->Resolve(Ref(text), {});
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().ToString();
    EXPECT_EQ(r->commit, "1");
    EXPECT_EQ(r->version, "1");
    ASSERT_EQ(r->files.size(), 1u);
    ASSERT_TRUE(Fetch(*a, *r, r->files[0]).ok());
    EXPECT_EQ(Downloaded("saved_model.pb"), "v1 graph");
  }
  auto missing = a->Resolve(Ref("tfhub/google/tiny/tensorFlow2/classify/7"), {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto twice = a->Resolve(Ref("tfhub/google/tiny/tensorFlow2/classify/1@2"), {});
  EXPECT_EQ(twice.status().code(), StatusCode::kInvalidArgument);
  auto word = a->Resolve(Ref("tfhub/google/tiny/tensorFlow2/classify@main"), {});
  EXPECT_EQ(word.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KaggleTest, NotFound) {
  auto a = MakeKaggleAdapter(config_);
  auto r = a->Resolve(Ref("tfhub/google/nothing/tensorFlow2/classify"), {});
  ASSERT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_EQ(r.status().message(), "tfhub/google/nothing/tensorFlow2/classify: model not found");
  auto short_ref = a->Resolve(Ref("tfhub/google/tiny"), {});
  EXPECT_EQ(short_ref.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KaggleTest, BasicAuthIsRequiredForPrivateModels) {
  auto anon = MakeKaggleAdapter(config_)->Resolve(Ref("tfhub/acme/secret/onnx/default"), {});
  ASSERT_EQ(anon.status().code(), StatusCode::kUnauthenticated) << anon.status().ToString();
  EXPECT_NE(anon.status().message().find("KAGGLE_USERNAME"), std::string::npos);

  HubConfig wrong = config_;
  wrong.kaggle_username = "kuser";
  wrong.kaggle_key = "nope";
  auto w = MakeKaggleAdapter(wrong)->Resolve(Ref("tfhub/acme/secret/onnx/default"), {});
  EXPECT_EQ(w.status().code(), StatusCode::kPermissionDenied) << w.status().ToString();

  HubConfig good = config_;
  good.kaggle_username = "kuser";
  good.kaggle_key = "kkey";
  auto a = MakeKaggleAdapter(good);
  auto r = a->Resolve(Ref("tfhub/acme/secret/onnx/default"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_FALSE(HasNote(*r, "needs conversion"));  // ONNX is served as is
  ASSERT_TRUE(Fetch(*a, *r, r->files[0]).ok());
  EXPECT_EQ(Downloaded("model.onnx"), onnx_);
  // The adapter without credentials cannot download it either.
  Status st = MakeKaggleAdapter(config_)->Download(*r, r->files[0], tmp_ / "x.partial", nullptr);
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st.ToString();
}

TEST_F(KaggleTest, SizeMismatchIsDataLoss) {
  auto a = MakeKaggleAdapter(config_);
  auto r = a->Resolve(Ref("tfhub/google/tiny/tensorFlow2/classify/1"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  WriteBytes(root_ / "google/tiny/tensorFlow2/classify/1/saved_model.pb", "v1 graph, changed");
  Status st = Fetch(*a, *r, r->files[0]);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
}

TEST_F(KaggleTest, Search) {
  auto s = MakeKaggleAdapter(config_)->Search("tiny", 5);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].id, "tfhub/google/tiny");
}

}  // namespace
}  // namespace mlos::axon
