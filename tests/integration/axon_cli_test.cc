// End-to-end tests of the axon binary against a fake Hugging Face hub (a real HTTP server in a
// subprocess): install, idempotence, verify + tamper detection, resume after a cut connection
// and after kill -9, clear hub errors, malicious archives, local installs, pack, register.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "axon/hub/http.h"
#include "axon/inspect/onnx_io.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/archive.h"
#include "mpf/manifest.h"
#include "../hubs/gguf_writer.h"
#include "../hubs/hubtest.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mlos {
namespace {

const char* kSha = "0123456789abcdef0123456789abcdef01234567";

struct RunResult {
  int rc = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Lines of stderr that are errors (progress lines also go to stderr when it is not a tty).
int CountErrorLines(const std::string& err) {
  int n = 0;
  for (size_t at = err.find("axon: error:"); at != std::string::npos;
       at = err.find("axon: error:", at + 1))
    ++n;
  return n;
}

std::string Slurp(const fs::path& p) {
  auto r = ReadFile(p);
  return r.ok() ? *r : "";
}

class AxonCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "axon-cli-test-");
    ASSERT_TRUE(d.ok());
    root_ = *d;
    home_ = root_ / "home";
    repos_ = root_ / "repos";
    // A Hugging Face repo "org/mlp" at commit kSha, branch main.
    fs::path rev = repos_ / "org" / "mlp" / kSha;
    fs::create_directories(rev);
    fs::copy_file(Fixture("mlp.onnx"), rev / "model.onnx");
    WriteText(rev / "config.json", R"({"model_type": "mlp"})");
    WriteText(rev / "README.md", "# mlp\n");
    // Extra weights so downloads take long enough to cut and kill (2 MiB, not compressible).
    std::string blob(2 << 20, '\0');
    std::mt19937 rng(7);
    for (auto& c : blob) c = static_cast<char>(rng());
    WriteText(rev / "model.onnx_data", blob);
    weights_sha_ = Sha256Hex(blob);
    fs::create_directories(repos_ / "org" / "mlp" / "refs");
    WriteText(repos_ / "org" / "mlp" / "refs" / "main", kSha);
    WriteText(repos_ / "org" / "mlp" / "info.json",
              R"({"cardData": {"license": "apache-2.0"}, "pipeline_tag": "tabular-classification",
                  "tags": ["onnx"]})");
    // A gated repo.
    fs::create_directories(repos_ / "org" / "gated" / kSha);
    fs::copy_file(Fixture("identity_f32.onnx"), repos_ / "org" / "gated" / kSha / "model.onnx");
    fs::create_directories(repos_ / "org" / "gated" / "refs");
    WriteText(repos_ / "org" / "gated" / "refs" / "main", kSha);
    WriteText(repos_ / "org" / "gated" / ".gated", "manual");

    auto s = hubtest::FakeServer::Start(
        {"/usr/bin/python3", hubtest::HubScript("fake_hf_hub.py"), "--repos", repos_.string(),
         "--token", "hf_secret"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    hub_ = std::move(s).value();
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static fs::path Fixture(const std::string& name) {
    return fs::path(MLOS_BINARY_DIR) / "fixtures" / name;
  }
  static void WriteText(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << s;
  }

  std::string Env() const {
    return "env -u HF_TOKEN -u HF_HUB_OFFLINE AXON_HOME=" + Quote(home_.string()) +
           " HF_ENDPOINT=" + Quote(hub_.url()) + " ";
  }
  static std::string Axon() { return std::string(MLOS_BINARY_DIR) + "/bin/axon"; }

  RunResult Run(const std::string& args, const std::string& extra_env = "") {
    fs::path out = root_ / "stdout.txt", err = root_ / "stderr.txt";
    std::string cmd = Env() + extra_env + " " + Axon() + " " + args + " >" + Quote(out.string()) +
                      " 2>" + Quote(err.string());
    int st = std::system(cmd.c_str());
    RunResult r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }

  json Control(const json& body) {
    axon::HttpRequest req;
    req.method = "POST";
    req.url = hub_.url() + "/_control";
    req.body = body.dump();
    req.headers = {{"Content-Type", "application/json"}};
    auto r = axon::HttpFetch(req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? json::parse(r->body, nullptr, false) : json();
  }
  json Log() {
    axon::HttpRequest req;
    req.url = hub_.url() + "/_control/log";
    auto r = axon::HttpFetch(req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? json::parse(r->body) : json::array();
  }

  fs::path VersionDir(const std::string& rel) const { return home_ / "cache" / "models" / rel; }

  fs::path root_, home_, repos_;
  std::string weights_sha_;
  hubtest::FakeServer hub_;
};

TEST_F(AxonCliTest, HelpListsTheCommands) {
  auto r = Run("--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* c : {"install", "list", "info", "search", "verify", "uninstall", "update",
                        "pack", "unpack", "cache", "register", "keygen", "sign"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  auto bad = Run("frobnicate");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("axon: error:"), std::string::npos);
}

TEST_F(AxonCliTest, InstallVerifyTamperAndNoOpReinstall) {
  auto r = Run("install hf/org/mlp@main");
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  fs::path dir = VersionDir("hf/org/mlp/main");
  ASSERT_TRUE(fs::exists(dir / "manifest.yaml")) << r.out;

  // The manifest validates strictly and its IO schema is the ONNX graph's.
  auto m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->format.execution_format, "onnx");
  EXPECT_EQ(m->metadata.license, "apache-2.0");
  EXPECT_EQ(m->metadata.version, "main");
  EXPECT_NE(m->metadata.source.find(kSha), std::string::npos);
  auto graph = axon::InspectOnnx(Fixture("mlp.onnx"));
  ASSERT_TRUE(graph.ok());
  ASSERT_EQ(m->io.inputs.size(), graph->inputs.size());
  ASSERT_EQ(m->io.outputs.size(), graph->outputs.size());
  for (size_t i = 0; i < graph->inputs.size(); ++i) {
    EXPECT_EQ(m->io.inputs[i].name, graph->inputs[i].spec.name);
    EXPECT_EQ(m->io.inputs[i].dtype, graph->inputs[i].spec.dtype);
    EXPECT_EQ(m->io.inputs[i].shape, graph->inputs[i].spec.shape);
  }
  for (size_t i = 0; i < graph->outputs.size(); ++i) {
    EXPECT_EQ(m->io.outputs[i].name, graph->outputs[i].spec.name);
    EXPECT_EQ(m->io.outputs[i].shape, graph->outputs[i].spec.shape);
  }
  EXPECT_GT(m->requirements.memory_min_gb, 0.0);
  bool saw_weights = false;
  for (const auto& f : m->format.files) {
    auto sha = Sha256File(dir / f.path);
    ASSERT_TRUE(sha.ok()) << f.path;
    EXPECT_EQ(*sha, f.sha256) << f.path;
    if (f.path == "model.onnx_data") saw_weights = (f.sha256 == weights_sha_);
  }
  EXPECT_TRUE(saw_weights);

  // A second install is a no-op: nothing is asked of the hub.
  Control({{"clear_log", true}});
  auto again = Run("install hf/org/mlp@main");
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.out.find("already installed"), std::string::npos) << again.out;
  for (const auto& e : Log())
    EXPECT_EQ(e["path"].get<std::string>().rfind("/_control", 0), 0u) << e.dump();

  EXPECT_EQ(Run("verify hf/org/mlp@main").rc, 0);
  auto listed = Run("--json list");
  ASSERT_EQ(listed.rc, 0);
  auto lj = json::parse(listed.out);
  ASSERT_EQ(lj.size(), 1u);
  EXPECT_EQ(lj[0]["id"], "hf/org/mlp@main");

  // Change one byte of an installed file: verify fails and names the file.
  fs::path model = dir / "model.onnx";
  ::chmod(model.c_str(), 0644);
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    char c;
    f.seekg(10);
    f.get(c);
    f.seekp(10);
    f.put(static_cast<char>(c ^ 1));
  }
  auto bad = Run("verify hf/org/mlp@main");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("model.onnx"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("sha256 mismatch"), std::string::npos) << bad.err;
  EXPECT_EQ(CountErrorLines(bad.err), 1) << bad.err;
}

TEST_F(AxonCliTest, LatestResolvesThroughRefsAndUninstall) {
  auto r = Run("install org/mlp");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(VersionDir("hf/org/mlp/main/manifest.yaml")));
  EXPECT_EQ(Slurp(VersionDir("hf/org/mlp/.refs/latest")), "main\n");
  auto info = Run("--json info hf/org/mlp");
  ASSERT_EQ(info.rc, 0) << info.err;
  EXPECT_EQ(json::parse(info.out)["version"], "main");
  // Update with an unchanged hub commit: nothing to do.
  auto up = Run("update hf/org/mlp");
  EXPECT_EQ(up.rc, 0) << up.err;
  EXPECT_NE(up.out.find("up to date"), std::string::npos) << up.out;
  EXPECT_EQ(Run("uninstall hf/org/mlp@main").rc, 0);
  EXPECT_FALSE(fs::exists(VersionDir("hf/org/mlp/main")));
  EXPECT_NE(Run("info hf/org/mlp").rc, 0);
  // Blobs are now unreferenced: gc frees them.
  auto gc = Run("--json cache gc");
  ASSERT_EQ(gc.rc, 0) << gc.err;
  EXPECT_GE(json::parse(gc.out)["blobs_removed"].get<int>(), 3);
}

TEST_F(AxonCliTest, CutConnectionResumesWithRange) {
  Control({{"cut", {{"path", "model.onnx_data"}, {"after", 300000}, {"times", 1}}}});
  auto r = Run("install hf/org/mlp@main");
  ASSERT_EQ(r.rc, 0) << r.err;
  bool ranged = false;
  for (const auto& e : Log())
    if (e["path"].get<std::string>().find("model.onnx_data") != std::string::npos &&
        e["range"].get<std::string>().rfind("bytes=", 0) == 0 && e["range"] != "bytes=0-")
      ranged = true;
  EXPECT_TRUE(ranged) << Log().dump();
  auto sha = Sha256File(VersionDir("hf/org/mlp/main/model.onnx_data"));
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, weights_sha_);
  EXPECT_EQ(Run("verify hf/org/mlp@main").rc, 0);
}

TEST_F(AxonCliTest, KillDuringInstallThenInstallAgainCompletes) {
  Control({{"slow_bps", 400000}});  // 2 MiB takes ~5 s
  std::string cmd = Env() + Axon() + " install hf/org/mlp@main >/dev/null 2>&1";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    _exit(127);
  }
  // Wait until part of weights.bin has arrived, then kill -9.
  fs::path partial_dir = home_ / "cache" / "partial";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint64_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline && seen < 500000) {
    std::error_code ec;
    for (fs::directory_iterator it(partial_dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".incomplete") seen = std::max<uint64_t>(seen, it->file_size());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(seen, 500000u) << "the install never started downloading";
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_FALSE(fs::exists(VersionDir("hf/org/mlp/main"))) << "half-installed version visible";
  EXPECT_NE(Run("verify hf/org/mlp@main").rc, 0);

  Control({{"slow_bps", 0}, {"clear_log", true}});
  auto r = Run("install hf/org/mlp@main");
  ASSERT_EQ(r.rc, 0) << r.err;
  bool resumed = false;
  for (const auto& e : Log())
    if (e["path"].get<std::string>().find("model.onnx_data") != std::string::npos &&
        !e["range"].get<std::string>().empty() && e["range"] != "bytes=0-")
      resumed = true;
  EXPECT_TRUE(resumed) << Log().dump();
  EXPECT_EQ(Run("verify hf/org/mlp@main").rc, 0);
  // No staging dirs or partial downloads are left behind.
  for (const auto& e : fs::directory_iterator(VersionDir("hf/org/mlp")))
    EXPECT_NE(e.path().filename().string().rfind(".staging-", 0), 0u) << e.path();
  for (const auto& e : fs::directory_iterator(partial_dir))
    EXPECT_NE(e.path().extension(), ".incomplete") << e.path();
}

TEST_F(AxonCliTest, HubErrorsAreOneClearLine) {
  auto gated = Run("install hf/org/gated@main");
  EXPECT_EQ(gated.rc, 1);
  EXPECT_NE(gated.err.find("gated"), std::string::npos) << gated.err;
  EXPECT_EQ(CountErrorLines(gated.err), 1) << gated.err;
  auto missing = Run("install hf/org/nope@main");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
  auto rev = Run("install hf/org/mlp@nobranch");
  EXPECT_EQ(rev.rc, 1);
  EXPECT_NE(rev.err.find("nobranch"), std::string::npos) << rev.err;
  auto badref = Run("install 'hf/../etc@x'");
  EXPECT_NE(badref.rc, 0);
  EXPECT_NE(badref.err.find("invalid name segment"), std::string::npos) << badref.err;
  // With the token the gated repo installs.
  auto ok = Run("install hf/org/gated@main", "HF_TOKEN=hf_secret");
  EXPECT_EQ(ok.rc, 0) << ok.err;
  // Nothing of the failures is left in the cache.
  EXPECT_FALSE(fs::exists(VersionDir("hf/org/nope")));
  // Offline: installed models are still a no-op, others fail clearly.
  EXPECT_EQ(Run("install hf/org/gated@main", "HF_HUB_OFFLINE=1").rc, 0);
  auto off = Run("install hf/org/mlp@main", "HF_HUB_OFFLINE=1");
  EXPECT_EQ(off.rc, 1);
  EXPECT_NE(off.err.find("HF_HUB_OFFLINE"), std::string::npos) << off.err;
}

// Writes a tar (zstd) with python's tarfile so the entries can be anything we like.
void MakeEvilArchive(const fs::path& out, const std::string& python_body) {
  fs::path script = out.parent_path() / "mk.py";
  std::ofstream(script) << "import tarfile, io, sys\n"
                           "t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\n"
                           "def add(name, data=b'', **kw):\n"
                           "    ti = tarfile.TarInfo(name); ti.size = len(data)\n"
                           "    for k, v in kw.items(): setattr(ti, k, v)\n"
                           "    t.addfile(ti, io.BytesIO(data) if data else None)\n"
                           "manifest = b'apiVersion: axon.mlos.io/v1\\nkind: Model\\nmetadata:\\n"
                           "  name: evil\\n  namespace: local\\n  version: 1.0.0\\nspec:\\n"
                           "  framework: {name: onnx}\\n  format: {type: onnx, "
                           "execution_format: none, files: []}\\n'\n"
                           "add('manifest.yaml', manifest)\n"
                        << python_body << "\nt.close()\n";
  std::string tar = out.string() + ".tar";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + Quote(script.string()) + " " + Quote(tar)).c_str()), 0);
  ASSERT_EQ(std::system(("zstd -q -f " + Quote(tar) + " -o " + Quote(out.string())).c_str()), 0);
}

TEST_F(AxonCliTest, MaliciousArchivesAreRefusedAndWriteNothingOutside) {
  fs::path evil = root_ / "evil";
  fs::create_directories(evil);
  struct Case {
    const char* name;
    std::string body;
    fs::path must_not_exist;
  };
  std::vector<Case> cases = {
      {"traversal", "add('../../escaped.txt', b'x')", root_ / "escaped.txt"},
      {"absolute", "add('" + (root_ / "abs.txt").string() + "', b'x')", root_ / "abs.txt"},
      {"symlink", "add('link', type=tarfile.SYMTYPE, linkname='" + root_.string() +
                      "')\nadd('link/via.txt', b'x')",
       root_ / "via.txt"},
      {"dotdot_link", "add('up', type=tarfile.SYMTYPE, linkname='../../..')\nadd('up/x.txt', b'x')",
       root_ / "x.txt"},
      {"device", "add('dev', type=tarfile.CHRTYPE, devmajor=1, devminor=3)", {}},
      {"undeclared", "add('extra.bin', b'hello')", {}},
      {"bomb", "add('big.bin', bytes(50 << 20))", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    fs::path a = evil / (std::string(c.name) + ".axon");
    MakeEvilArchive(a, c.body);
    auto inst = Run("install " + Quote(a.string()));
    EXPECT_NE(inst.rc, 0) << inst.out;
    EXPECT_NE(inst.err.find("axon: error:"), std::string::npos);
    fs::path out = root_ / "unpacked" / c.name;
    auto un = Run("unpack " + Quote(a.string()) + " -o " + Quote(out.string()));
    EXPECT_NE(un.rc, 0) << un.out;
    EXPECT_FALSE(fs::exists(out));
    if (!c.must_not_exist.empty()) {
      EXPECT_FALSE(fs::exists(c.must_not_exist));
    }
    EXPECT_FALSE(fs::exists(VersionDir("local/evil/1.0.0")));
  }
  // Nothing was written anywhere under root_ except the archives, the cache and our outputs.
  for (const auto& e : fs::directory_iterator(root_)) {
    std::string n = e.path().filename().string();
    EXPECT_TRUE(n == "evil" || n == "home" || n == "repos" || n == "stdout.txt" ||
                n == "stderr.txt" || n == "unpacked")
        << n;
  }
  EXPECT_TRUE(!fs::exists(root_ / "unpacked") || fs::is_empty(root_ / "unpacked"));
}

TEST_F(AxonCliTest, LocalInstallPackUnpackAndRegister) {
  // A directory of model files with no manifest.
  fs::path src = root_ / "celsius";
  fs::create_directories(src);
  fs::copy_file(Fixture("demo_celsius.onnx"), src / "model.onnx");
  auto r = Run("install " + Quote(src.string()) + " --name demo/celsius@1.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::path dir = VersionDir("demo/celsius/1.0.0");
  auto m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->io.inputs.size(), 1u);
  EXPECT_EQ(m->io.inputs[0].name, "celsius");

  // Pack the installed version, install the package under another name: same files.
  fs::path pkg = root_ / "celsius.axon";
  auto p = Run("pack demo/celsius@1.0.0 -o " + Quote(pkg.string()));
  ASSERT_EQ(p.rc, 0) << p.err;
  EXPECT_EQ(Run("verify " + Quote(pkg.string())).rc, 0);
  auto i2 = Run("install " + Quote(pkg.string()) + " --name demo/celsius2@2.0.0");
  ASSERT_EQ(i2.rc, 0) << i2.err;
  EXPECT_EQ(Run("verify demo/celsius2@2.0.0").rc, 0);
  // Identical files share one blob.
  struct stat a {}, b {};
  ASSERT_EQ(::stat((dir / "model.onnx").c_str(), &a), 0);
  ASSERT_EQ(::stat((VersionDir("demo/celsius2/2.0.0") / "model.onnx").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);

  // Signing: keygen, sign, verify with the key; a wrong key fails.
  fs::path sk = root_ / "k.sec", pk = root_ / "k.pub", sk2 = root_ / "o.sec", pk2 = root_ / "o.pub";
  ASSERT_EQ(Run("keygen --secret " + Quote(sk.string()) + " --public " + Quote(pk.string())).rc, 0);
  ASSERT_EQ(Run("keygen --secret " + Quote(sk2.string()) + " --public " + Quote(pk2.string())).rc, 0);
  ASSERT_EQ(Run("sign " + Quote(pkg.string()) + " --key " + Quote(sk.string())).rc, 0);
  EXPECT_EQ(Run("verify " + Quote(pkg.string()) + " --key " + Quote(pk.string())).rc, 0);
  auto wrong = Run("verify " + Quote(pkg.string()) + " --key " + Quote(pk2.string()));
  EXPECT_EQ(wrong.rc, 1);

  // register POSTs the original axon payload, escaped properly.
  fs::path captured = root_ / "register.json";
  auto core = hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_core.py"),
                                          "--capture", captured.string()});
  ASSERT_TRUE(core.ok()) << core.status().ToString();
  auto reg = Run("register demo/celsius@1.0.0", "MLOS_CORE_ENDPOINT=" + core->url());
  ASSERT_EQ(reg.rc, 0) << reg.err;
  auto body = json::parse(Slurp(captured));
  EXPECT_EQ(body["model_id"], "demo/celsius@1.0.0");
  EXPECT_EQ(body["name"], "celsius");
  EXPECT_EQ(body["execution_format"], "onnx");
  EXPECT_EQ(body["framework"], "onnx");
  EXPECT_EQ(body["path"], dir.string());
  EXPECT_EQ(body["manifest_path"], (dir / "manifest.yaml").string());
  EXPECT_TRUE(body.contains("description"));
  // A daemon that refuses: non-zero exit, its error in one line.
  auto refused = Run("register demo/celsius@1.0.0",
                     "MLOS_CORE_ENDPOINT=" + core->url() + "/refuse");
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("409"), std::string::npos) << refused.err;
}

TEST_F(AxonCliTest, InstallFromAxonRegistryConfiguredInConfigFile) {
  // Publish a package in a fake Axon registry.
  fs::path src = root_ / "celsius";
  fs::create_directories(src);
  fs::copy_file(Fixture("demo_celsius.onnx"), src / "model.onnx");
  ASSERT_EQ(Run("install " + Quote(src.string()) + " --name demo/celsius@1.0.0").rc, 0);
  fs::path reg = root_ / "registry";
  fs::create_directories(reg / "files");
  fs::path pkg = reg / "files" / "celsius-1.0.0.axon";
  ASSERT_EQ(Run("pack demo/celsius@1.0.0 -o " + Quote(pkg.string())).rc, 0);
  auto yaml = mpf::ReadManifestFromArchive(pkg);
  ASSERT_TRUE(yaml.ok());
  uint64_t size = 0;
  auto sha = Sha256File(pkg, &size);
  ASSERT_TRUE(sha.ok());
  std::string manifest = *yaml;
  if (manifest.back() != '\n') manifest += '\n';
  manifest += "distribution:\n  package:\n    url: /files/celsius-1.0.0.axon\n    size: " +
              std::to_string(size) + "\n    sha256: " + *sha + "\n";
  WriteText(reg / "models" / "team" / "celsius" / "1.0.0" / "manifest.yaml", manifest);
  WriteText(reg / "index.json",
            R"([{"namespace": "team", "name": "celsius", "version": "1.0.0",
                 "description": "Celsius to Fahrenheit"}])");
  auto server = hubtest::FakeServer::Start({"/usr/bin/python3",
                                            hubtest::HubScript("fake_other_hubs.py"), "--kind",
                                            "registry", "--root", reg.string()});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  // The registry comes from $AXON_HOME/config.yaml (the original Axon's schema).
  WriteText(home_ / "config.yaml", "registry:\n  url: " + server->url() + "\n  timeout: 30\n");

  auto r = Run("install team/celsius@1.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(VersionDir("team/celsius/1.0.0/manifest.yaml")));
  EXPECT_EQ(Run("verify team/celsius@1.0.0").rc, 0);
  auto s = Run("--json search celsius --hub registry");
  ASSERT_EQ(s.rc, 0) << s.err;
  auto hits = json::parse(s.out);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0]["id"].get<std::string>().find("team/celsius"), std::string::npos);

  // A tampered package on the registry is refused and leaves nothing installed.
  ASSERT_EQ(Run("uninstall team/celsius@1.0.0").rc, 0);
  ASSERT_EQ(Run("cache gc --partial-max-age 0").rc, 0);
  {
    std::fstream f(pkg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put('\x7f');
  }
  auto bad = Run("install team/celsius@1.0.0");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("sha256"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(VersionDir("team/celsius/1.0.0")));
  // A malformed config file is one clear error.
  WriteText(home_ / "config.yaml", "registry: [unclosed\n");
  auto badcfg = Run("list");
  EXPECT_EQ(badcfg.rc, 1);
  EXPECT_NE(badcfg.err.find("config.yaml"), std::string::npos) << badcfg.err;
}

TEST_F(AxonCliTest, LegacyManifestWarnsAndStrictRefuses) {
  // A package directory whose manifest the original Axon wrote: apiVersion v1, version latest,
  // empty file hashes, plus a field this version does not model.
  fs::path src = root_ / "legacy";
  fs::create_directories(src);
  fs::copy_file(Fixture("demo_celsius.onnx"), src / "model.onnx");
  WriteText(src / "manifest.yaml",
            "apiVersion: v1\nkind: Model\nmetadata:\n  name: celsius-legacy\n  namespace: hf\n"
            "  version: latest\nspec:\n  framework:\n    name: onnx\n  format:\n"
            "    type: onnx\n    execution_format: onnx\n    files:\n      - path: model.onnx\n"
            "        size: " + std::to_string(fs::file_size(src / "model.onnx")) +
            "\n        sha256: \"\"\n  x_custom_field: keep-me\n");
  auto strict = Run("--strict install " + Quote(src.string()));
  EXPECT_EQ(strict.rc, 1);
  EXPECT_NE(strict.err.find("apiVersion"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("spec.format.files[0].sha256"), std::string::npos) << strict.err;
  EXPECT_EQ(CountErrorLines(strict.err), 1) << strict.err;
  EXPECT_TRUE(Run("list --json").out.find("celsius-legacy") == std::string::npos);

  auto r = Run("install " + Quote(src.string()));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("axon: warning: apiVersion"), std::string::npos) << r.err;
  fs::path dir = VersionDir("hf/celsius-legacy/1.0.0");
  std::string written = Slurp(dir / "manifest.yaml");
  EXPECT_NE(written.find("x_custom_field: keep-me"), std::string::npos) << written;
  // The installed manifest now records the file's hash, so verify checks it.
  EXPECT_NE(written.find(*Sha256File(src / "model.onnx")), std::string::npos) << written;
  EXPECT_EQ(Run("verify hf/celsius-legacy@1.0.0").rc, 0);
}

// A GGUF repo with several quantisations (tiny GGUF files written here): one is chosen (the
// default preference, or --quant), the manifest records it and spec.llm, and a --quant that
// matches nothing lists what there is.
TEST_F(AxonCliTest, GgufRepoInstallsOneQuantisation) {
  const std::string tmpl = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}";
  const std::vector<std::pair<std::string, uint32_t>> quants = {
      {"tiny-chat.Q2_K.gguf", 10}, {"tiny-chat.Q4_K_M.gguf", 15}, {"tiny-chat.Q8_0.gguf", 7},
      {"tiny-chat-f16-00001-of-00002.gguf", 1}, {"tiny-chat-f16-00002-of-00002.gguf", 1}};
  fs::path rev = repos_ / "org" / "tiny-chat-GGUF" / kSha;
  for (const auto& [name, ftype] : quants) {
    hubtest::GgufWriter w;
    w.Str("general.architecture", "llama")
        .U32("llama.context_length", 512)
        .U32("llama.embedding_length", 64)
        .U32("general.file_type", ftype)
        .Str("tokenizer.chat_template", tmpl)
        .Tensor("token_embd.weight", {64, 32}, 8);
    w.WriteTo(rev / name);
  }
  WriteText(rev / "README.md", "# tiny\n");
  WriteText(repos_ / "org" / "tiny-chat-GGUF" / "refs" / "main", kSha);

  auto r = Run("install hf/org/tiny-chat-GGUF");
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::path dir = VersionDir("hf/org/tiny-chat-GGUF/main");
  auto m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::vector<std::string> paths;
  for (const auto& f : m->format.files) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"README.md", "tiny-chat.Q4_K_M.gguf"}));
  EXPECT_EQ(m->format.execution_format, "gguf");
  ASSERT_EQ(m->format.execution_files.size(), 1u);
  EXPECT_EQ(m->format.execution_files[0].path, "tiny-chat.Q4_K_M.gguf");
  ASSERT_TRUE(m->llm.has_value());
  EXPECT_EQ(m->llm->architecture, "llama");
  EXPECT_EQ(m->llm->context_length, 512u);
  EXPECT_EQ(m->llm->embedding_length, 64u);
  EXPECT_EQ(m->llm->parameter_count, 64u * 32);
  EXPECT_EQ(m->llm->quantization, "Q4_K_M");
  EXPECT_EQ(m->llm->chat_template, tmpl);
  EXPECT_FALSE(m->llm->embedding);
  EXPECT_EQ(m->io.inputs.at(0).name, "prompt");
  EXPECT_FALSE(fs::exists(dir / "tiny-chat.Q8_0.gguf"));
  // Only the chosen quantisation was downloaded.
  for (const auto& e : Log())
    EXPECT_EQ(e["path"].get<std::string>().find("Q8_0"), std::string::npos) << e.dump();

  // --quant picks another one (case-insensitive); a split set comes whole.
  ASSERT_EQ(Run("uninstall hf/org/tiny-chat-GGUF@main").rc, 0);
  r = Run("install hf/org/tiny-chat-GGUF --quant q8_0");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->format.execution_files.at(0).path, "tiny-chat.Q8_0.gguf");
  EXPECT_EQ(m->llm->quantization, "Q8_0");
  // A new commit on the hub: update keeps the installed quantisation.
  const std::string sha2 = "89abcdef0123456789abcdef0123456789abcdef";
  fs::copy(rev, repos_ / "org" / "tiny-chat-GGUF" / sha2, fs::copy_options::recursive);
  WriteText(repos_ / "org" / "tiny-chat-GGUF" / "refs" / "main", sha2);
  auto up = Run("update hf/org/tiny-chat-GGUF");
  ASSERT_EQ(up.rc, 0) << up.err;
  m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_NE(m->metadata.source.find(sha2), std::string::npos) << m->metadata.source;
  EXPECT_EQ(m->format.execution_files.at(0).path, "tiny-chat.Q8_0.gguf");
  ASSERT_EQ(Run("uninstall hf/org/tiny-chat-GGUF@main").rc, 0);
  r = Run("install hf/org/tiny-chat-GGUF --quant F16");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = mpf::LoadManifestFile((dir / "manifest.yaml").string(), {.strict = true});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->format.files.size(), 3u);  // README + both shards
  EXPECT_EQ(m->format.execution_files.at(0).path, "tiny-chat-f16-00001-of-00002.gguf");
  EXPECT_EQ(m->llm->parameter_count, 2u * 64 * 32);
  ASSERT_EQ(Run("uninstall hf/org/tiny-chat-GGUF@main").rc, 0);

  // No match: one clear line listing the quantisations, nothing installed.
  auto bad = Run("install hf/org/tiny-chat-GGUF --quant Q5_K_M");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(CountErrorLines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("no GGUF file matches quantization \"Q5_K_M\"; available: F16 "
                         "(tiny-chat-f16-00001-of-00002.gguf, 2 shards), Q2_K (tiny-chat.Q2_K.gguf), "
                         "Q4_K_M (tiny-chat.Q4_K_M.gguf), Q8_0 (tiny-chat.Q8_0.gguf)"),
            std::string::npos)
      << bad.err;
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(AxonCliTest, SearchHuggingFace) {
  auto r = Run("--json search mlp");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto hits = json::parse(r.out);
  ASSERT_GE(hits.size(), 1u);
  EXPECT_EQ(hits[0]["id"], "org/mlp");
}

}  // namespace
}  // namespace mlos
