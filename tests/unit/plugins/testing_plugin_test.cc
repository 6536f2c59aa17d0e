// The testing SMI plugin, loaded with dlopen as mlosd loads it: the handshake and each
// behaviour (identity, add, sleep + cancel, fail, alloc, hang, crash, load_fail, load_sleep_ms,
// attack), config sources and the live-model counter. ("segv" is not run here: it kills the
// process it runs in.)
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mlos/smi.h"
#include "smi_test_host.h"

namespace {

namespace fs = std::filesystem;
using namespace mlos_plugin_test;  // NOLINT: the test host's helpers

const std::string kPluginPath =
    std::string(MLOS_BINARY_DIR) + "/lib/mlos/plugins/libmlos_testing.so";

smi_plugin_get_api_fn GetApiFn() { return LoadPluginApi(kPluginPath); }

smi_tensor FloatTensor(const char* name, std::vector<float>& v) {
  return Tensor(name, SMI_DTYPE_FLOAT32, {static_cast<int64_t>(v.size())}, v.data(),
                v.size() * sizeof(float));
}

class TestingPluginTest : public PluginTest {
 protected:
  void SetUp() override {
    OpenPlugin(kPluginPath, "mlos_testing_plugin_");
    if (HasFatalFailure()) return;
    Init("");
  }

  void Init(const std::string& config) {
    if (plugin_) api_->plugin_shutdown(plugin_);
    plugin_ = nullptr;
    smi_error* e = api_->plugin_init(config.empty() ? nullptr : config.c_str(), &plugin_);
    ASSERT_EQ(e, nullptr) << api_->error_message(e);
  }

  // Writes testing.json with `json` and loads it; returns the error (caller frees) or NULL.
  smi_error* TryLoad(const std::string& json, smi_model** model, const char* options = nullptr,
                     const char* manifest = nullptr) {
    const fs::path file = dir_ / "testing.json";
    std::ofstream(file) << json;
    const std::string path = file.string(), dir = dir_.string();
    smi_model_load_params params{};
    params.size = sizeof params;
    params.model_dir = dir.c_str();
    params.model_path = path.c_str();
    params.model_id = "test/model@1";
    params.manifest_json = manifest;
    params.options_json = options;
    params.cache_dir = dir.c_str();
    return api_->model_load(plugin_, &params, model);
  }

  smi_model* Load(const std::string& json, const char* options = nullptr,
                  const char* manifest = nullptr) {
    smi_model* model = nullptr;
    smi_error* e = TryLoad(json, &model, options, manifest);
    EXPECT_EQ(e, nullptr) << api_->error_message(e);
    api_->error_free(e);
    if (model) models_.push_back(model);
    return model;
  }

  void Unload(smi_model* model) {
    api_->model_unload(model);
    std::erase(models_, model);
  }

  // Runs; returns {code, message} ({0, ""} on success).
  std::pair<int, std::string> Infer(smi_model* model, std::vector<smi_tensor> inputs,
                                    Outputs& outputs, std::vector<const char*> names = {},
                                    uint64_t request_id = 1) {
    return mlos_plugin_test::RunInfer(api_, model, inputs, outputs, std::move(names), request_id);
  }

  std::string ReadFile(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Loads an "attack" model with `json` (the rest of testing.json) and runs it once; returns
  // the outcome line (the "result" output's single element), or "" after a failed check.
  std::string Attack(const std::string& json) {
    smi_model* m = Load(R"({"behavior": "attack", )" + json + "}");
    if (!m) return "";
    std::vector<float> x = {1};
    Outputs out;
    auto r = Infer(m, {FloatTensor("input", x)}, out);
    EXPECT_EQ(r.first, 0) << r.second;
    Unload(m);
    if (r.first != 0 || out.list.size() != 1) return "";
    const Output& o = out.list[0];
    EXPECT_EQ(o.name, "result");
    EXPECT_EQ(o.dtype, SMI_DTYPE_STRING);
    EXPECT_EQ(o.dims, std::vector<int64_t>{1});
    if (o.strings.size() != 1) return "";
    EXPECT_EQ(o.strings[0].find('\n'), std::string::npos) << "one line: " << o.strings[0];
    return o.strings[0];
  }
};

// This process has no child left (none leaked, every one reaped).
bool NoChildren() { return waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }

// A child of the test that waits to be killed (and dies with the test).
pid_t ForkSleeper() {
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) pause();
  }
  return pid;
}

// A TCP socket bound to 127.0.0.1 on a free port; listening when `listen_too`.
struct LoopbackSocket {
  int fd = -1;
  int port = 0;
  explicit LoopbackSocket(bool listen_too) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        (listen_too && listen(fd, 4) != 0) ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "loopback socket: " << std::strerror(errno);
      return;
    }
    port = ntohs(a.sin_port);
  }
  ~LoopbackSocket() {
    if (fd >= 0) close(fd);
  }
};

TEST_F(TestingPluginTest, Handshake) {
  smi_plugin_get_api_fn get_api = GetApiFn();
  EXPECT_EQ(get_api(99, 0), nullptr);  // wrong ABI major: refused
  EXPECT_EQ(get_api(0, 0), nullptr);
  EXPECT_EQ(get_api(SMI_VERSION_MAJOR, SMI_VERSION_MINOR + 5), api_);  // newer host minor is fine
  EXPECT_EQ(api_->size, sizeof(smi_plugin_api));
  EXPECT_EQ(api_->abi_major, SMI_VERSION_MAJOR);
  EXPECT_EQ(api_->abi_minor, SMI_VERSION_MINOR);
  const smi_plugin_info* info = api_->get_info();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->size, sizeof(smi_plugin_info));
  EXPECT_STREQ(info->name, "testing");
  EXPECT_STREQ(info->execution_formats[0], "testing");
  EXPECT_EQ(info->execution_formats[1], nullptr);
  EXPECT_TRUE(info->capabilities & SMI_CAP_THREAD_SAFE_INFER);
  EXPECT_TRUE(info->capabilities & SMI_CAP_CANCEL);
  EXPECT_TRUE(info->capabilities & SMI_CAP_STREAMING);  // the echo generator
  EXPECT_NE(api_->model_generate, nullptr);
  api_->error_free(nullptr);    // allowed
  api_->model_unload(nullptr);  // allowed
  api_->plugin_shutdown(nullptr);
}

TEST_F(TestingPluginTest, OnlyTheApiSymbolIsExported) {
  FILE* nm = popen(("nm -D --defined-only " + kPluginPath + " 2>/dev/null").c_str(), "r");
  ASSERT_NE(nm, nullptr);
  std::string text;
  char buf[512];
  while (fgets(buf, sizeof buf, nm)) text += buf;
  if (pclose(nm) != 0 || text.empty()) GTEST_SKIP() << "nm is not available";
  std::vector<std::string> exported;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    // "<address> <type> <name>": code and data symbols (not the ABI-version markers).
    std::istringstream fields(line);
    std::string address, type, name;
    fields >> address >> type >> name;
    if (type != "A" && !name.empty()) exported.push_back(name);
  }
  EXPECT_EQ(exported, std::vector<std::string>{"smi_plugin_get_api"});
}

TEST_F(TestingPluginTest, InitFailsOnDemandAndOnBadConfig) {
  smi_plugin* p = nullptr;
  smi_error* e = api_->plugin_init(R"({"init_fail": "no thanks"})", &p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(api_->error_message(e), "no thanks");
  EXPECT_EQ(p, nullptr);
  api_->error_free(e);
  e = api_->plugin_init("[1,2", &p);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
  api_->error_free(e);
}

TEST_F(TestingPluginTest, IdentityDefaultsAndMetadata) {
  smi_model* m = Load(R"({"behavior": "identity"})");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), 1u);
  ASSERT_EQ(api_->model_output_count(m), 1u);
  const smi_tensor* t = nullptr;
  ASSERT_EQ(api_->model_input(m, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "input");
  EXPECT_EQ(t->dtype, SMI_DTYPE_FLOAT32);
  EXPECT_EQ(t->rank, 1u);
  EXPECT_EQ(t->dims[0], -1);
  ASSERT_EQ(api_->model_output(m, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "output");
  smi_error* e = api_->model_output(m, 1, &t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_NOT_FOUND);
  api_->error_free(e);

  std::vector<float> x = {1.5f, -2.f, 3.25f};
  Outputs out;
  ASSERT_EQ(Infer(m, {FloatTensor("input", x)}, out).first, 0);
  ASSERT_EQ(out.list.size(), 1u);
  EXPECT_EQ(out.list[0].name, "output");
  EXPECT_EQ(out.list[0].dims, std::vector<int64_t>{3});
  EXPECT_EQ(out.list[0].values<float>(), x);
}

TEST_F(TestingPluginTest, IdentityManyDtypesAndStrings) {
  smi_model* m = Load(R"({"inputs": [
      {"name": "s", "dtype": "string", "shape": [-1]},
      {"name": "i", "dtype": "int64", "shape": [2, 2]}],
    "outputs": [{"name": "s_out", "dtype": "string"}, {"name": "i_out", "dtype": "int64"}]})");
  ASSERT_NE(m, nullptr);
  const std::string with_nul("a\0b", 3);
  smi_string strs[3] = {{"hello", 5}, {"", 0}, {with_nul.data(), 3}};
  std::vector<int64_t> ints = {1, -2, INT64_MAX, INT64_MIN};
  Outputs out;
  auto r = Infer(m,
                 {Tensor("i", SMI_DTYPE_INT64, {2, 2}, ints.data(), 32),
                  Tensor("s", SMI_DTYPE_STRING, {3}, strs, sizeof strs)},
                 out);
  ASSERT_EQ(r.first, 0) << r.second;
  ASSERT_EQ(out.list.size(), 2u);
  EXPECT_EQ(out.list[0].name, "s_out");
  EXPECT_EQ(out.list[0].byte_size, 8u);  // total string bytes
  EXPECT_EQ(out.list[0].strings, (std::vector<std::string>{"hello", "", with_nul}));
  EXPECT_EQ(out.list[1].values<int64_t>(), ints);
  EXPECT_EQ(out.list[1].dims, (std::vector<int64_t>{2, 2}));

  // A subset, in the order asked.
  Outputs sub;
  ASSERT_EQ(Infer(m,
                  {Tensor("i", SMI_DTYPE_INT64, {2, 2}, ints.data(), 32),
                   Tensor("s", SMI_DTYPE_STRING, {3}, strs, sizeof strs)},
                  sub, {"i_out"})
                .first,
            0);
  ASSERT_EQ(sub.list.size(), 1u);
  EXPECT_EQ(sub.list[0].name, "i_out");
}

TEST_F(TestingPluginTest, ValidationErrors) {
  smi_model* m = Load(R"({"inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]})");
  ASSERT_NE(m, nullptr);
  std::vector<float> v(8);
  Outputs out;
  auto r = Infer(m, {}, out);
  EXPECT_EQ(r, std::make_pair(int{SMI_ERROR_INVALID_ARGUMENT}, std::string("missing input \"x\"")));
  r = Infer(m, {Tensor("y", SMI_DTYPE_FLOAT32, {2, 4}, v.data(), 32)}, out);
  EXPECT_EQ(r.second, "unknown input \"y\"");
  r = Infer(m, {Tensor("x", SMI_DTYPE_INT32, {2, 4}, v.data(), 32)}, out);
  EXPECT_EQ(r.second, "input \"x\": expected float32, got int32");
  r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {8}, v.data(), 32)}, out);
  EXPECT_EQ(r.second, "input \"x\": expected rank 2, got 1");
  r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {4, 2}, v.data(), 32)}, out);
  EXPECT_EQ(r.second, "input \"x\": dim 1 must be 4, got 2");
  r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, v.data(), 31)}, out);
  EXPECT_EQ(r.second, "input \"x\": byte_size 31 does not match dims (expected 32)");
  r = Infer(m, {Tensor("x", SMI_DTYPE_FLOAT32, {2, 4}, v.data(), 32)}, out, {"nope"});
  EXPECT_EQ(r, std::make_pair(int{SMI_ERROR_NOT_FOUND}, std::string("unknown output \"nope\"")));
  EXPECT_TRUE(out.list.empty());
}

TEST_F(TestingPluginTest, Add) {
  smi_model* m = Load(R"({"behavior": "add"})");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(api_->model_input_count(m), 2u);
  std::vector<float> a = {1, 2, 3}, b = {10, 20, 30.5f};
  Outputs out;
  ASSERT_EQ(Infer(m, {FloatTensor("a", a), FloatTensor("b", b)}, out).first, 0);
  ASSERT_EQ(out.list.size(), 1u);
  EXPECT_EQ(out.list[0].name, "sum");
  EXPECT_EQ(out.list[0].values<float>(), (std::vector<float>{11, 22, 33.5f}));
  std::vector<float> c = {1, 2};
  Outputs bad;
  auto r = Infer(m, {FloatTensor("a", a), FloatTensor("b", c)}, bad);
  EXPECT_EQ(r.first, SMI_ERROR_INVALID_ARGUMENT);
}

TEST_F(TestingPluginTest, SleepThenIdentity) {
  smi_model* m = Load(R"({"behavior": "sleep", "sleep_ms": 50})");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = {7};
  Outputs out;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(Infer(m, {FloatTensor("input", x)}, out).first, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_EQ(out.list[0].values<float>(), x);
}

TEST_F(TestingPluginTest, SleepIsCancellable) {
  smi_model* m = Load(R"({"behavior": "sleep", "sleep_ms": 20000})");
  ASSERT_NE(m, nullptr);
  api_->model_cancel(m, 42);  // not running: a no-op
  std::vector<float> x = {7};
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      api_->model_cancel(m, 42);
    }
  });
  Outputs out;
  const auto start = std::chrono::steady_clock::now();
  auto r = Infer(m, {FloatTensor("input", x)}, out, {}, 42);
  done = true;
  canceller.join();
  EXPECT_EQ(r, std::make_pair(int{SMI_ERROR_CANCELLED}, std::string("request 42 cancelled")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(out.list.empty());
}

TEST_F(TestingPluginTest, ConcurrentInfersOnOneModel) {
  smi_model* m = Load(R"({"behavior": "sleep", "sleep_ms": 100})");
  ASSERT_NE(m, nullptr);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::vector<float> x = {static_cast<float>(i)};
      Outputs out;
      if (Infer(m, {FloatTensor("input", x)}, out, {}, 100 + i).first == 0 &&
          out.list[0].values<float>() == x) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 4);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(380));
}

TEST_F(TestingPluginTest, FailWithGivenError) {
  smi_model* m =
      Load(R"({"behavior": "fail", "error_code": "UNAVAILABLE", "error_message": "try later"})");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = {1};
  Outputs out;
  EXPECT_EQ(Infer(m, {FloatTensor("input", x)}, out),
            std::make_pair(int{SMI_ERROR_UNAVAILABLE}, std::string("try later")));
  smi_model* d = Load(R"({"behavior": "fail"})");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Infer(d, {FloatTensor("input", x)}, out).first, SMI_ERROR_INTERNAL);
}

long ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

TEST_F(TestingPluginTest, AllocHoldsTouchedMemory) {
  const long before = ResidentBytes();
  smi_model* m = Load(R"({"behavior": "alloc", "alloc_bytes": 67108864})");
  ASSERT_NE(m, nullptr);
  const long after = ResidentBytes();
  EXPECT_GE(after - before, 60L << 20);
  smi_memory_info info{};
  info.size = sizeof info;
  ASSERT_EQ(api_->model_memory(m, &info), nullptr);
  EXPECT_GE(info.host_bytes, 67108864u);
  EXPECT_EQ(info.device_bytes, 0u);
  std::vector<float> x = {3};
  Outputs out;
  ASSERT_EQ(Infer(m, {FloatTensor("input", x)}, out).first, 0);  // then identity
  EXPECT_EQ(out.list[0].values<float>(), x);
  Unload(m);
  EXPECT_LT(ResidentBytes(), after - (50L << 20));
}

TEST_F(TestingPluginTest, LoadFailAndLoadSleep) {
  smi_model* m = nullptr;
  smi_error* e =
      TryLoad(R"({"load_fail": "weights are corrupt", "error_code": "INVALID_ARGUMENT"})", &m);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(api_->error_message(e), "weights are corrupt");
  EXPECT_EQ(m, nullptr);
  api_->error_free(e);

  const auto start = std::chrono::steady_clock::now();
  ASSERT_NE(Load(R"({"load_sleep_ms": 60})"), nullptr);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(60));
}

TEST_F(TestingPluginTest, BadConfigNamesTheField) {
  smi_model* m = nullptr;
  smi_error* e = TryLoad(R"({"behavior": "dance"})", &m);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(api_->error_message(e),
               "testing plugin config: behavior: unknown behaviour \"dance\"");
  api_->error_free(e);
  e = TryLoad(R"({"inputs": [{"name": "x", "dtype": "complex"}]})", &m);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(api_->error_message(e),
               "testing plugin config: inputs[0].dtype: unknown dtype \"complex\"");
  api_->error_free(e);
  e = TryLoad("{not json", &m);
  ASSERT_NE(e, nullptr);
  api_->error_free(e);

  smi_model_load_params params{};
  params.size = sizeof params;
  const std::string missing = (dir_ / "missing.json").string();
  params.model_path = missing.c_str();
  e = api_->model_load(plugin_, &params, &m);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api_->error_code(e), SMI_ERROR_NOT_FOUND);
  api_->error_free(e);
}

TEST_F(TestingPluginTest, OptionsOverrideFileOverridesManifest) {
  const char* manifest = R"({"spec": {
      "io": {"inputs": [{"name": "pixels", "dtype": "uint8", "shape": [-1]}],
             "outputs": [{"name": "same", "dtype": "uint8", "shape": [-1]}]},
      "testing": {"behavior": "fail", "error_message": "from manifest"}}})";
  smi_model* m = Load(R"({"error_message": "from file"})", nullptr, manifest);
  ASSERT_NE(m, nullptr);
  const smi_tensor* t = nullptr;
  ASSERT_EQ(api_->model_input(m, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "pixels");
  EXPECT_EQ(t->dtype, SMI_DTYPE_UINT8);
  std::vector<uint8_t> px = {1, 2};
  Outputs out;
  EXPECT_EQ(Infer(m, {Tensor("pixels", SMI_DTYPE_UINT8, {2}, px.data(), 2)}, out).second,
            "from file");
  smi_model* o = Load(R"({"error_message": "from file"})", R"({"behavior": "identity"})", manifest);
  ASSERT_NE(o, nullptr);
  ASSERT_EQ(Infer(o, {Tensor("pixels", SMI_DTYPE_UINT8, {2}, px.data(), 2)}, out).first, 0);
  EXPECT_EQ(out.list[0].name, "same");
  EXPECT_EQ(out.list[0].values<uint8_t>(), px);
}

TEST_F(TestingPluginTest, CountsLiveModels) {
  const fs::path counter = dir_ / "live";
  Init(R"({"live_models_file": ")" + counter.string() + R"("})");
  EXPECT_EQ(ReadFile(counter), "0\n");
  smi_model* a = Load("{}");
  smi_model* b = Load("{}");
  EXPECT_EQ(ReadFile(counter), "2\n");
  smi_model* c = nullptr;
  smi_error* e = TryLoad(R"({"load_fail": "x"})", &c);
  api_->error_free(e);
  EXPECT_EQ(ReadFile(counter), "2\n");  // a failed load holds nothing
  Unload(a);
  EXPECT_EQ(ReadFile(counter), "1\n");
  Unload(b);
  EXPECT_EQ(ReadFile(counter), "0\n");
}

TEST_F(TestingPluginTest, HangIgnoresCancellation) {
  smi_model* m = Load(R"({"behavior": "hang", "sleep_ms": 80})");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = {1};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    api_->model_cancel(m, 5);
  });
  Outputs out;
  const auto start = std::chrono::steady_clock::now();
  auto r = Infer(m, {FloatTensor("input", x)}, out, {}, 5);
  canceller.join();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(80));
  // The cancel arrived while it hung: reported once it returns.
  EXPECT_EQ(r.first, SMI_ERROR_CANCELLED);
}

TEST_F(TestingPluginTest, CrashAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  smi_model* m = Load(R"({"behavior": "crash"})");
  ASSERT_NE(m, nullptr);
  std::vector<float> x = {1};
  Outputs out;
  EXPECT_DEATH(Infer(m, {FloatTensor("input", x)}, out), "crashing on demand");
}

TEST_F(TestingPluginTest, AttackSchemaAndConfigErrors) {
  smi_model* m = Load(R"({"behavior": "attack", "attack": "exec"})");
  ASSERT_NE(m, nullptr);
  const smi_tensor* t = nullptr;
  ASSERT_EQ(api_->model_input(m, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "input");
  EXPECT_EQ(t->dtype, SMI_DTYPE_FLOAT32);
  ASSERT_EQ(t->rank, 1u);
  EXPECT_EQ(t->dims[0], -1);
  ASSERT_EQ(api_->model_output_count(m), 1u);
  ASSERT_EQ(api_->model_output(m, 0, &t), nullptr);
  EXPECT_STREQ(t->name, "result");
  EXPECT_EQ(t->dtype, SMI_DTYPE_STRING);
  ASSERT_EQ(t->rank, 1u);
  EXPECT_EQ(t->dims[0], 1);
  ASSERT_NE(Load(R"({"behavior": "segv"})"), nullptr);  // loads; infer would kill the test

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"behavior": "attack"})",
       "behavior attack: needs \"attack\" (read_file, write_file, connect, exec, fork, alloc, "
       "kill or ptrace)"},
      {R"({"behavior": "attack", "attack": "teleport"})", "attack: unknown attack \"teleport\""},
      {R"({"behavior": "attack", "attack": "read_file"})",
       "behavior attack: read_file needs \"attack_path\""},
      {R"({"behavior": "attack", "attack": "write_file"})",
       "behavior attack: write_file needs \"attack_path\""},
      {R"({"behavior": "attack", "attack": "connect"})",
       "behavior attack: connect needs \"attack_port\""},
      {R"({"behavior": "attack", "attack": "kill"})", "behavior attack: kill needs \"attack_pid\""},
      {R"({"behavior": "attack", "attack": "ptrace"})",
       "behavior attack: ptrace needs \"attack_pid\""},
      {R"({"behavior": "attack", "attack": "kill", "attack_pid": 0})",
       "attack_pid: must be an integer in [1, 2147483647]"},
      {R"({"behavior": "attack", "attack": "kill", "attack_pid": -1})",
       "attack_pid: must be an integer in [1, 2147483647]"},
      {R"({"behavior": "attack", "attack": "kill", "attack_pid": 5, "attack_signal": 65})",
       "attack_signal: must be an integer in [0, 64]"},
      {R"({"behavior": "attack", "attack": "connect", "attack_port": 70000})",
       "attack_port: must be an integer in [1, 65535]"},
      {R"({"behavior": "attack", "attack": "fork", "attack_count": 0})",
       "attack_count: must be an integer in [1, 1000000]"},
      {R"({"behavior": "attack", "attack": "exec", "outputs": [{"name": "r", "dtype": "int32"}]})",
       "behavior attack: needs exactly 1 output, of dtype string"},
  };
  for (const auto& [json, message] : bad) {
    smi_model* b = nullptr;
    smi_error* e = TryLoad(json, &b);
    ASSERT_NE(e, nullptr) << json;
    EXPECT_EQ(api_->error_code(e), SMI_ERROR_INVALID_ARGUMENT) << json;
    EXPECT_EQ(std::string(api_->error_message(e)), "testing plugin config: " + message) << json;
    EXPECT_EQ(b, nullptr);
    api_->error_free(e);
  }
}

TEST_F(TestingPluginTest, AttackReadFile) {
  const fs::path secret = dir_ / "secret.txt";
  std::ofstream(secret) << "hello world";
  EXPECT_EQ(Attack(R"("attack": "read_file", "attack_path": ")" + secret.string() + "\""),
            "ok: read 11 bytes from " + secret.string());
  const fs::path missing = dir_ / "missing";
  EXPECT_EQ(Attack(R"("attack": "read_file", "attack_path": ")" + missing.string() + "\""),
            "refused: open " + missing.string() + ": No such file or directory");
  EXPECT_EQ(Attack(R"("attack": "read_file", "attack_path": ")" + dir_.string() + "\""),
            "refused: read " + dir_.string() + ": Is a directory");
}

TEST_F(TestingPluginTest, AttackWriteFile) {
  const fs::path target = dir_ / "planted";
  std::ofstream(target) << "previous content, longer than what the attack writes";
  EXPECT_EQ(Attack(R"("attack": "write_file", "attack_path": ")" + target.string() + "\""),
            "ok: wrote 20 bytes to " + target.string());
  EXPECT_EQ(ReadFile(target), "mlos testing attack\n");  // truncated, then written
  const fs::path nowhere = dir_ / "no" / "such" / "dir";
  EXPECT_EQ(Attack(R"("attack": "write_file", "attack_path": ")" + nowhere.string() + "\""),
            "refused: open " + nowhere.string() + ": No such file or directory");
}

TEST_F(TestingPluginTest, AttackConnect) {
  LoopbackSocket listening(/*listen_too=*/true);
  ASSERT_GT(listening.port, 0);
  const std::string port = std::to_string(listening.port);
  EXPECT_EQ(Attack(R"("attack": "connect", "attack_port": )" + port),
            "ok: connected to 127.0.0.1:" + port);
  // Bound but not listening: the port is ours (nobody else can listen on it) and refuses.
  LoopbackSocket closed(/*listen_too=*/false);
  ASSERT_GT(closed.port, 0);
  const std::string closed_port = std::to_string(closed.port);
  EXPECT_EQ(Attack(R"("attack": "connect", "attack_port": )" + closed_port),
            "refused: connect 127.0.0.1:" + closed_port + ": Connection refused");
}

TEST_F(TestingPluginTest, AttackForkReapsItsChildren) {
  ASSERT_TRUE(NoChildren());
  EXPECT_EQ(Attack(R"("attack": "fork", "attack_count": 3)"), "ok: forked 3 children");
  EXPECT_TRUE(NoChildren());
}

TEST_F(TestingPluginTest, AttackExec) {
  ASSERT_TRUE(NoChildren());
  EXPECT_EQ(Attack(R"("attack": "exec")"), "ok: /bin/sh ran (exit 7)");
  EXPECT_TRUE(NoChildren());
}

TEST_F(TestingPluginTest, AttackAlloc) {
  EXPECT_EQ(Attack(R"("attack": "alloc", "alloc_bytes": 8388608)"),
            "ok: allocated and touched 8388608 bytes");
}

TEST_F(TestingPluginTest, AttackKillOwnChild) {
  const pid_t child = ForkSleeper();
  ASSERT_GT(child, 0);
  const std::string pid = std::to_string(child);
  EXPECT_EQ(Attack(R"("attack": "kill", "attack_signal": 0, "attack_pid": )" + pid),
            "ok: sent signal 0 to pid " + pid);  // a probe: still alive
  EXPECT_EQ(waitpid(child, nullptr, WNOHANG), 0);
  EXPECT_EQ(Attack(R"("attack": "kill", "attack_pid": )" + pid), "ok: sent signal 9 to pid " + pid);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST_F(TestingPluginTest, AttackPtraceOwnChild) {
  const pid_t child = ForkSleeper();
  ASSERT_GT(child, 0);
  const std::string pid = std::to_string(child);
  const std::string outcome = Attack(R"("attack": "ptrace", "attack_pid": )" + pid);
  // Tracing one's own child is allowed unless the environment forbids ptrace altogether.
  if (outcome.rfind("refused: ptrace attach pid " + pid + ": ", 0) != 0) {
    EXPECT_EQ(outcome, "ok: attached to pid " + pid + " (then detached)");
  }
  EXPECT_EQ(waitpid(child, nullptr, WNOHANG), 0);  // detached and still there
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
}  // namespace
