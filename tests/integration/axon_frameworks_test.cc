// The axon binary installing TFLite and TorchScript models, so that mlosd's torchscript and
// tflite plugins get them with the same two commands as ONNX (axon install, axon register):
// a local .tflite (IO from its flatbuffer), TorchScript with --input/--output, with an io.yaml
// sidecar, without either (refused, nothing installed), bad flag syntax (exit 2), the same from
// directories, and the Kaggle (TF Hub) and PyTorch Hub adapters against their fake hubs.
// TorchScript files are made here with Debian's python3-torch; those tests skip without it.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../hubs/hubtest.h"
#include "axon/inspect/tflite_io.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "mpf/manifest.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

namespace mlos {
namespace {

struct RunResult {
  int rc = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Slurp(const fs::path& p) {
  auto r = ReadFile(p);
  return r.ok() ? *r : "";
}

void WriteText(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

int CountErrorLines(const std::string& err) {
  int n = 0;
  for (size_t at = err.find("axon: error:"); at != std::string::npos;
       at = err.find("axon: error:", at + 1))
    ++n;
  return n;
}

fs::path HandLandmark() {
  return fs::path(MLOS_SOURCE_DIR) / "third_party" / "tflite" / "models" /
         "hand_landmark_lite.tflite";
}

fs::path OnnxFixture() {
  return fs::path(MLOS_BINARY_DIR) / "fixtures" / "demo_celsius.onnx";
}

// TorchScript and torch.save files made once for the whole suite (python3-torch is slow to
// import): ts.pt (a traced Linear(4, 2): x [N, 4] -> [N, 2]) and state.pt (a state dict).
class TorchFiles {
 public:
  static const TorchFiles& Get() {
    static TorchFiles files;
    return files;
  }
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  fs::path scripted() const { return dir_ / "ts.pt"; }
  fs::path state_dict() const { return dir_ / "state.pt"; }

 private:
  TorchFiles() {
    auto d = MakeTempDir(fs::temp_directory_path(), "axon-frameworks-torch-");
    if (!d.ok()) {
      why_ = d.status().ToString();
      return;
    }
    dir_ = *d;
    WriteText(dir_ / "make.py",
              "import sys\n"
              "import torch\n"
              "torch.manual_seed(0)\n"
              "m = torch.jit.trace(torch.nn.Linear(4, 2), torch.zeros(1, 4))\n"
              "m.save(sys.argv[1])\n"
              "torch.save(torch.nn.Linear(4, 2).state_dict(), sys.argv[2])\n");
    const std::string cmd = "/usr/bin/python3 " + Quote((dir_ / "make.py").string()) + " " +
                            Quote(scripted().string()) + " " + Quote(state_dict().string()) + " >" +
                            Quote((dir_ / "log").string()) + " 2>&1";
    const int st = std::system(cmd.c_str());
    ok_ =
        WIFEXITED(st) && WEXITSTATUS(st) == 0 && fs::exists(scripted()) && fs::exists(state_dict());
    if (!ok_) why_ = "python3 with torch could not make a TorchScript file: " + Slurp(dir_ / "log");
  }
  ~TorchFiles() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  bool ok_ = false;
  std::string why_;
};

#define REQUIRE_TORCH()                                                   \
  do {                                                                    \
    if (!TorchFiles::Get().ok()) GTEST_SKIP() << TorchFiles::Get().why(); \
  } while (0)

#define REQUIRE_TFLITE_MODEL()                                                       \
  do {                                                                               \
    if (!fs::exists(HandLandmark()))                                                 \
      GTEST_SKIP() << HandLandmark() << " is missing (scripts/setup.sh fetches it)"; \
  } while (0)

class AxonFrameworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir(fs::temp_directory_path(), "axon-frameworks-test-");
    ASSERT_TRUE(d.ok());
    root_ = *d;
    home_ = root_ / "home";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  static std::string Axon() { return std::string(MLOS_BINARY_DIR) + "/bin/axon"; }

  RunResult Run(const std::string& args, const std::string& extra_env = "") {
    const fs::path out = root_ / "stdout.txt", err = root_ / "stderr.txt";
    const std::string cmd =
        "env -u HF_TOKEN -u HF_HUB_OFFLINE -u KAGGLE_USERNAME -u KAGGLE_KEY AXON_HOME=" +
        Quote(home_.string()) + " HF_ENDPOINT=http://127.0.0.1:9 " + extra_env + " " + Axon() +
        " " + args + " >" + Quote(out.string()) + " 2>" + Quote(err.string());
    const int st = std::system(cmd.c_str());
    RunResult r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }

  fs::path VersionDir(const std::string& rel) const { return home_ / "cache" / "models" / rel; }

  // A hub install at "latest" keeps that version name, which strict mode calls legacy.
  mpf::Manifest Manifest(const std::string& rel, bool strict = true) {
    auto m =
        mpf::LoadManifestFile((VersionDir(rel) / "manifest.yaml").string(), {.strict = strict});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : mpf::Manifest{};
  }

  // Nothing is installed: `axon list` is empty.
  void ExpectNothingInstalled() {
    auto list = Run("--json list");
    ASSERT_EQ(list.rc, 0) << list.err;
    EXPECT_EQ(json::parse(list.out), json::array()) << list.out;
  }

  static std::vector<std::string> FilePaths(const mpf::Manifest& m) {
    std::vector<std::string> out;
    for (const auto& f : m.format.files) out.push_back(f.path);
    return out;
  }

  static void ExpectTensor(const mpf::TensorSpec& t, const std::string& name,
                           const std::string& dtype, const std::vector<int64_t>& shape) {
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(t.dtype, dtype) << name;
    EXPECT_EQ(t.shape, shape) << name;
  }

  // `axon register` against a fake mlosd: the JSON body it POSTed.
  json Register(const std::string& id) {
    const fs::path captured = root_ / "register.json";
    auto core = hubtest::FakeServer::Start(
        {"/usr/bin/python3", hubtest::HubScript("fake_core.py"), "--capture", captured.string()});
    EXPECT_TRUE(core.ok()) << core.status().ToString();
    if (!core.ok()) return json();
    auto reg = Run("register " + id, "MLOS_CORE_ENDPOINT=" + core->url());
    EXPECT_EQ(reg.rc, 0) << reg.err;
    return json::parse(Slurp(captured), nullptr, false);
  }

  fs::path root_, home_;
};

// ---- TFLite ---------------------------------------------------------------------------------

TEST_F(AxonFrameworksTest, TfliteFileInstallsWithIoFromItsFlatbuffer) {
  REQUIRE_TFLITE_MODEL();
  const fs::path model = root_ / "src" / "hand.tflite";
  fs::create_directories(model.parent_path());
  fs::copy_file(HandLandmark(), model);
  auto r = Run("install " + Quote(model.string()));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("installed local/hand@1.0.0"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("conversion")));

  const mpf::Manifest m = Manifest("local/hand/1.0.0");
  EXPECT_EQ(m.format.execution_format, "tflite");
  EXPECT_EQ(m.framework.name, "tflite");
  EXPECT_EQ(m.framework.version, "1.14.0");
  ASSERT_EQ(m.format.execution_files.size(), 1u);
  EXPECT_EQ(m.format.execution_files[0].path, "hand.tflite");
  EXPECT_EQ(m.format.execution_files[0].format, "tflite");
  EXPECT_EQ(FilePaths(m), std::vector<std::string>{"hand.tflite"});
  EXPECT_EQ(m.format.files[0].sha256, *Sha256File(model));
  // The IO is the flatbuffer's, as InspectTflite reads it (and as the runtime reports it).
  auto info = axon::InspectTflite(model);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "input_1", "float32", {1, 224, 224, 3});
  ASSERT_EQ(m.io.outputs.size(), info->outputs.size());
  for (size_t i = 0; i < m.io.outputs.size(); ++i)
    ExpectTensor(m.io.outputs[i], info->outputs[i].spec.name, "float32",
                 info->outputs[i].spec.shape);
  ExpectTensor(m.io.outputs[0], "Identity", "float32", {1, 63});
  EXPECT_GT(m.requirements.memory_min_gb, 0);

  // --json says the format; verify passes; register hands it to mlosd as tflite.
  auto again = Run("--json install " + Quote(model.string()));
  ASSERT_EQ(again.rc, 0) << again.err;
  const std::string last = again.out.substr(again.out.rfind('{'));
  auto j = json::parse(last, nullptr, false);
  EXPECT_EQ(j["execution_format"], "tflite") << again.out;
  EXPECT_EQ(Run("verify local/hand@1.0.0").rc, 0);
  json body = Register("local/hand@1.0.0");
  EXPECT_EQ(body["execution_format"], "tflite");
  EXPECT_EQ(body["framework"], "tflite");
  EXPECT_EQ(body["path"], VersionDir("local/hand/1.0.0").string());
}

TEST_F(AxonFrameworksTest, TfliteInADirectoryAndFormatFlag) {
  REQUIRE_TFLITE_MODEL();
  const fs::path src = root_ / "mixed";
  fs::create_directories(src / "1");
  fs::copy_file(HandLandmark(), src / "1" / "hand.tflite");
  WriteText(src / "labels.txt", "hand\n");
  WriteText(src / "saved_model.pb", "not executable");
  auto r = Run("install " + Quote(src.string()) + " --name demo/hand@2.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  mpf::Manifest m = Manifest("demo/hand/2.0.0");
  EXPECT_EQ(m.format.execution_format, "tflite");  // before a SavedModel
  EXPECT_EQ(m.format.execution_files[0].path, "1/hand.tflite");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"1/hand.tflite", "labels.txt"}));
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "input_1");

  if (!fs::exists(OnnxFixture())) return;  // the ONNX half needs the fixtures
  fs::copy_file(OnnxFixture(), src / "model.onnx");
  r = Run("install " + Quote(src.string()) + " --name demo/auto@1.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(Manifest("demo/auto/1.0.0").format.execution_format, "onnx");  // onnx first
  r = Run("install " + Quote(src.string()) + " --name demo/forced@1.0.0 --format tflite");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = Manifest("demo/forced/1.0.0");
  EXPECT_EQ(m.format.execution_format, "tflite");
  EXPECT_EQ(m.format.execution_files[0].path, "1/hand.tflite");
}

TEST_F(AxonFrameworksTest, IoFlagsRefineTfliteAndOnnxByName) {
  REQUIRE_TFLITE_MODEL();
  const fs::path model = root_ / "hand.tflite";
  fs::copy_file(HandLandmark(), model);
  // A tensor the model does not have: refused, naming it and the model's tensors.
  auto bad = Run("install " + Quote(model.string()) + " --input image:float32:1,224,224,3");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(CountErrorLines(bad.err), 1) << bad.err;
  EXPECT_THAT(
      bad.err,
      HasSubstr("--input \"image\": hand.tflite has no input \"image\" (its inputs: input_1)"));
  ExpectNothingInstalled();
  bad = Run("install " + Quote(model.string()) + " --output score:float32:1");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_THAT(bad.err, HasSubstr("(its outputs: Identity, Identity_1, Identity_2, Identity_3)"));
  ExpectNothingInstalled();

  // A tensor it has: replaced, the others kept.
  auto r = Run("install " + Quote(model.string()) + " --input input_1:float32:-1,224,224,3");
  ASSERT_EQ(r.rc, 0) << r.err;
  mpf::Manifest m = Manifest("local/hand/1.0.0");
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "input_1", "float32", {-1, 224, 224, 3});
  EXPECT_EQ(m.io.outputs.size(), 4u);

  if (!fs::exists(OnnxFixture())) return;
  fs::copy_file(OnnxFixture(), root_ / "celsius.onnx");
  bad = Run("install " + Quote((root_ / "celsius.onnx").string()) + " --input kelvin:float32:1");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_THAT(
      bad.err,
      HasSubstr("--input \"kelvin\": celsius.onnx has no input \"kelvin\" (its inputs: celsius)"));
  r = Run("install " + Quote((root_ / "celsius.onnx").string()) + " --input celsius:float32:8,1");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = Manifest("local/celsius/1.0.0");
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "celsius", "float32", {8, 1});
}

// ---- TorchScript ----------------------------------------------------------------------------

TEST_F(AxonFrameworksTest, TorchScriptFileWithIoFlags) {
  REQUIRE_TORCH();
  const fs::path model = root_ / "linear.pt";  // a plain name: recognised by its contents
  fs::copy_file(TorchFiles::Get().scripted(), model);
  // Flags before and after the path, and a name containing ':'.
  auto r = Run("install --input x:float32:-1,4 " + Quote(model.string()) +
               " --output 'scores:0:float32:[-1,2]' --output n:int64:scalar");
  ASSERT_EQ(r.rc, 0) << r.err;
  const mpf::Manifest m = Manifest("local/linear/1.0.0");
  EXPECT_EQ(m.format.execution_format, "torchscript");
  EXPECT_EQ(m.framework.name, "pytorch");
  ASSERT_EQ(m.format.execution_files.size(), 1u);
  EXPECT_EQ(m.format.execution_files[0].path, "linear.pt");
  EXPECT_EQ(m.format.execution_files[0].format, "torchscript");
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "x", "float32", {-1, 4});
  ASSERT_EQ(m.io.outputs.size(), 2u);
  ExpectTensor(m.io.outputs[0], "scores:0", "float32", {-1, 2});
  ExpectTensor(m.io.outputs[1], "n", "int64", {});
  EXPECT_GT(m.requirements.memory_min_gb, 0);
  json body = Register("local/linear@1.0.0");
  EXPECT_EQ(body["execution_format"], "torchscript");
  EXPECT_EQ(body["framework"], "pytorch");
}

TEST_F(AxonFrameworksTest, TorchScriptFileWithASidecar) {
  REQUIRE_TORCH();
  const fs::path src = root_ / "src";
  fs::create_directories(src);
  fs::copy_file(TorchFiles::Get().scripted(), src / "linear.pt");
  WriteText(src / "linear.io.yaml",
            "inputs:\n  - {name: x, dtype: float32, shape: [-1, 4], description: features}\n"
            "outputs:\n  - {name: y, dtype: float32, shape: [-1, 2]}\n");
  WriteText(src / "io.yaml",
            "inputs: [{name: wrong, dtype: int8, shape: [1]}]\n");  // less specific
  auto r = Run("install " + Quote((src / "linear.pt").string()));
  ASSERT_EQ(r.rc, 0) << r.err;
  mpf::Manifest m = Manifest("local/linear/1.0.0");
  EXPECT_EQ(m.format.execution_format, "torchscript");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"linear.io.yaml", "linear.pt"}));
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "x", "float32", {-1, 4});
  EXPECT_EQ(m.io.inputs[0].description, "features");
  ASSERT_EQ(m.io.outputs.size(), 1u);
  ExpectTensor(m.io.outputs[0], "y", "float32", {-1, 2});
  EXPECT_EQ(Run("verify local/linear@1.0.0").rc, 0);

  // Flags win over the sidecar, list by list: --output replaces its outputs, its inputs stay.
  r = Run("install " + Quote((src / "linear.pt").string()) +
          " --name demo/linear@2.0.0 --output logits:float16:-1,2");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = Manifest("demo/linear/2.0.0");
  ASSERT_EQ(m.io.inputs.size(), 1u);
  EXPECT_EQ(m.io.inputs[0].name, "x");
  ASSERT_EQ(m.io.outputs.size(), 1u);
  ExpectTensor(m.io.outputs[0], "logits", "float16", {-1, 2});

  // Only io.yaml beside it: that one.
  fs::remove(src / "linear.io.yaml");
  WriteText(src / "io.yaml",
            "inputs: [{name: a, dtype: int64, shape: [3]}]\n"
            "outputs: [{name: b, dtype: bool, shape: []}]\n");
  r = Run("install " + Quote((src / "linear.pt").string()) + " --name demo/linear@3.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = Manifest("demo/linear/3.0.0");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"io.yaml", "linear.pt"}));
  ExpectTensor(m.io.inputs[0], "a", "int64", {3});
  ExpectTensor(m.io.outputs[0], "b", "bool", {});
}

TEST_F(AxonFrameworksTest, TorchScriptWithoutIoIsRefusedInOneLine) {
  REQUIRE_TORCH();
  const fs::path model = root_ / "linear.pt";
  fs::copy_file(TorchFiles::Get().scripted(), model);
  auto r = Run("install " + Quote(model.string()));
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;  // nothing was copied: no progress lines either
  EXPECT_THAT(r.err,
              HasSubstr("axon: error: linear.pt: TorchScript files carry no typed signature"));
  EXPECT_THAT(r.err, HasSubstr("--input and --output"));
  EXPECT_THAT(r.err, HasSubstr("io.yaml sidecar"));
  EXPECT_FALSE(fs::exists(VersionDir("local/linear/1.0.0")));
  ExpectNothingInstalled();

  r = Run("install " + Quote(model.string()) + " --input x:float32:-1,4");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("(no outputs given)"));
  ExpectNothingInstalled();

  // A sidecar that lists inputs only, and no --output: still refused.
  WriteText(root_ / "linear.io.yaml", "inputs: [{name: x, dtype: float32, shape: [-1, 4]}]\n");
  r = Run("install " + Quote(model.string()));
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(CountErrorLines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("(no outputs given)"));
  ExpectNothingInstalled();

  // A broken sidecar: the file and the field at fault.
  WriteText(root_ / "linear.io.yaml",
            "inputs: [{name: x, dtype: float32, shape: [-1, 4]}]\n"
            "outputs: [{name: y, dtype: f32, shape: [-1, 2]}]\n");
  r = Run("install " + Quote(model.string()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(CountErrorLines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("linear.io.yaml: outputs[0].dtype: unknown dtype \"f32\""));
  ExpectNothingInstalled();

  // A torch.save'd state dict named .pt is not TorchScript: installed, not executable.
  fs::copy_file(TorchFiles::Get().state_dict(), root_ / "weights.pt");
  r = Run("install " + Quote((root_ / "weights.pt").string()));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("needs conversion"));
  EXPECT_EQ(Manifest("local/weights/1.0.0").format.execution_format, "none");
}

TEST_F(AxonFrameworksTest, BadIoFlagSyntaxExitsTwoAndInstallsNothing) {
  // No model needed: the flags are checked before anything else.
  const fs::path model = root_ / "m.pt";
  WriteText(model, "not even a model");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--input x", "--input \"x\": expected name:dtype:shape"},
      {"--input x:float32", "--input \"x:float32\": expected name:dtype:shape"},
      {"--input x:float33:1,2", "--input \"x:float33:1,2\": unknown dtype \"float33\""},
      {"--input x:float32:1,a", "--input \"x:float32:1,a\": shape: dimension 1 \"a\""},
      {"--input x:float32:[1,2", "--input \"x:float32:[1,2\": shape: unbalanced brackets"},
      {"--input :float32:1", "--input \":float32:1\": the tensor name is empty"},
      {"--output y:int8:-2", "--output \"y:int8:-2\": shape: dimension 0 is -2"},
      {"--input x:int8:1 --input x:int8:2", "--input \"x:int8:2\": tensor \"x\" is given twice"}};
  for (const auto& [flags, want] : cases) {
    auto r = Run("install " + Quote(model.string()) + " " + flags);
    EXPECT_EQ(r.rc, 2) << flags;
    EXPECT_EQ(CountLines(r.err), 1) << flags << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("axon: error: " + want)) << flags;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(fs::exists(home_ / "cache" / "models"));
  ExpectNothingInstalled();
}

TEST_F(AxonFrameworksTest, TorchScriptFromADirectory) {
  REQUIRE_TORCH();
  const fs::path src = root_ / "net";
  fs::create_directories(src);
  fs::copy_file(TorchFiles::Get().scripted(), src / "model.pt");
  WriteText(src / "config.json", R"({"hidden": 4})");
  WriteText(src / "README.md", "# net\n");

  // Neither flags nor a sidecar.
  auto r = Run("install " + Quote(src.string()));
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("model.pt: TorchScript files carry no typed signature"));
  ExpectNothingInstalled();

  // Flags.
  r = Run("install " + Quote(src.string()) +
          " --name demo/net@1.0.0 --input x:float32:-1,4 "
          "--output y:float32:-1,2");
  ASSERT_EQ(r.rc, 0) << r.err;
  mpf::Manifest m = Manifest("demo/net/1.0.0");
  EXPECT_EQ(m.format.execution_format, "torchscript");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"README.md", "config.json", "model.pt"}));
  ExpectTensor(m.io.inputs[0], "x", "float32", {-1, 4});
  ExpectTensor(m.io.outputs[0], "y", "float32", {-1, 2});

  // An io.yaml sidecar in the directory: packaged with the model.
  WriteText(src / "io.yaml",
            "inputs: [{name: features, dtype: float32, shape: [-1, 4]}]\n"
            "outputs: [{name: logits, dtype: float32, shape: [-1, 2]}]\n");
  r = Run("install " + Quote(src.string()) + " --name demo/net@2.0.0");
  ASSERT_EQ(r.rc, 0) << r.err;
  m = Manifest("demo/net/2.0.0");
  EXPECT_EQ(FilePaths(m),
            (std::vector<std::string>{"README.md", "config.json", "io.yaml", "model.pt"}));
  ExpectTensor(m.io.inputs[0], "features", "float32", {-1, 4});
  ExpectTensor(m.io.outputs[0], "logits", "float32", {-1, 2});
  EXPECT_EQ(Run("verify demo/net@2.0.0").rc, 0);

  // A directory that brings its own manifest.yaml says its IO there: the flags are refused.
  r = Run("install " + Quote(VersionDir("demo/net/2.0.0").string()) +
          " --name demo/copy@1.0.0 --input a:int8:1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("--input/--output apply to model files"));
}

// ---- hubs -----------------------------------------------------------------------------------

TEST_F(AxonFrameworksTest, KaggleTfliteVersionIsExecutable) {
  REQUIRE_TFLITE_MODEL();
  const fs::path hub = root_ / "kaggle";
  const fs::path inst = hub / "google" / "handlm" / "tfLite" / "lite";
  WriteText(inst / "instance.json",
            R"({"overview": "Hand landmarks", "licenseName": "Apache 2.0"})");
  fs::create_directories(inst / "1");
  fs::copy_file(HandLandmark(), inst / "1" / "hand_landmark_lite.tflite");
  WriteText(inst / "1" / "labels.txt", "hand\n");
  auto server =
      hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_other_hubs.py"),
                                  "--kind", "kaggle", "--root", hub.string()});
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  auto r = Run("install tfhub/google/handlm/tfLite/lite", "KAGGLE_ENDPOINT=" + server->url());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("conversion"))) << r.out;
  const mpf::Manifest m = Manifest("tfhub/google/handlm/tfLite/lite/latest", false);
  EXPECT_EQ(m.format.execution_format, "tflite");
  EXPECT_EQ(m.framework.name, "tflite");
  EXPECT_EQ(m.metadata.description, "Hand landmarks");  // the hub's, not the flatbuffer's
  EXPECT_EQ(m.metadata.source, "kaggle://google/handlm/tfLite/lite/1");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"hand_landmark_lite.tflite", "labels.txt"}));
  ASSERT_EQ(m.io.inputs.size(), 1u);
  ExpectTensor(m.io.inputs[0], "input_1", "float32", {1, 224, 224, 3});
  EXPECT_EQ(m.io.outputs.size(), 4u);
}

TEST_F(AxonFrameworksTest, PyTorchHubTorchScriptNeedsItsIo) {
  REQUIRE_TORCH();
  const std::string sha = "3333333333333333333333333333333333333333";
  const fs::path hub = root_ / "github";
  WriteText(hub / "pytorch" / "vision" / "refs.json",
            R"({"branches": {"main": ")" + sha + R"("}})");
  WriteText(hub / "pytorch" / "vision" / "tree" / sha / "hubconf.py",
            "dependencies = ['torch']\n\n"
            "def linear():\n"
            "    \"\"\"A scripted linear layer.\"\"\"\n"
            "    return torch.jit.load(download('@BASE@/weights/linear_scripted.pt'))\n");
  fs::create_directories(hub / "weights");
  fs::copy_file(TorchFiles::Get().scripted(), hub / "weights" / "linear_scripted.pt");
  auto server =
      hubtest::FakeServer::Start({"/usr/bin/python3", hubtest::HubScript("fake_other_hubs.py"),
                                  "--kind", "github", "--root", hub.string()});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string env =
      "AXON_GITHUB_API=" + server->url() + "/api AXON_GITHUB_URL=" + server->url();

  // Without IO: refused before the weights are downloaded.
  auto r = Run("install pytorch/vision/linear", env);
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(CountErrorLines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("linear_scripted.pt: TorchScript files carry no typed signature"));
  EXPECT_THAT(Slurp(hub / "_requests.log"), ::testing::Not(HasSubstr("GET /weights/")));
  ExpectNothingInstalled();

  r = Run("install pytorch/vision/linear --input x:float32:-1,4 --output y:float32:-1,2", env);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("conversion"))) << r.out;
  const mpf::Manifest m = Manifest("pytorch/vision/linear/latest", false);
  EXPECT_EQ(m.format.execution_format, "torchscript");
  EXPECT_EQ(m.format.execution_files[0].path, "linear_scripted.pt");
  EXPECT_EQ(FilePaths(m), (std::vector<std::string>{"hubconf.py", "linear_scripted.pt"}));
  EXPECT_EQ(m.format.files[1].sha256, *Sha256File(TorchFiles::Get().scripted()));
  ExpectTensor(m.io.inputs[0], "x", "float32", {-1, 4});
  ExpectTensor(m.io.outputs[0], "y", "float32", {-1, 2});

  // `axon update` to a new commit keeps the IO the flags gave.
  const std::string sha2 = "4444444444444444444444444444444444444444";
  WriteText(hub / "pytorch" / "vision" / "refs.json",
            R"({"branches": {"main": ")" + sha2 + R"("}})");
  fs::create_directories(hub / "pytorch" / "vision" / "tree" / sha2);
  fs::copy_file(hub / "pytorch" / "vision" / "tree" / sha / "hubconf.py",
                hub / "pytorch" / "vision" / "tree" / sha2 / "hubconf.py");
  r = Run("update pytorch/vision/linear", env);
  ASSERT_EQ(r.rc, 0) << r.err;
  const mpf::Manifest updated = Manifest("pytorch/vision/linear/latest", false);
  EXPECT_THAT(updated.metadata.source, HasSubstr(sha2));
  ASSERT_EQ(updated.io.inputs.size(), 1u);
  ExpectTensor(updated.io.inputs[0], "x", "float32", {-1, 4});
  ExpectTensor(updated.io.outputs[0], "y", "float32", {-1, 2});
}

}  // namespace
}  // namespace mlos
