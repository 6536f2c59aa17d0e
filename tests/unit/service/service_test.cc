// service::Service over a recording core: the deadline rule, shared-memory binding and who may
// use which region, output allocation (shared memory next to any number of inline outputs),
// metrics by protocol and code, and the management checks every protocol shares.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include <gtest/gtest.h>

#include "service/metrics.h"
#include "service/service.h"

namespace mlos::service {
namespace {

using core::DataType;
using std::chrono::milliseconds;

// A core with one model, "ns/m@1": each wanted output (default: "y") is a copy of input 0,
// written where the request's output allocator says. Records the last request.
class RecordingCore : public core::Core {
 public:
  void SetObserver(core::CoreObserver*) override {}
  Result<core::ModelStatus> Register(const core::RegisterRequest&) override { return Model(); }
  Status Unregister(const std::string&) override { return Status::Ok(); }
  Result<core::ModelStatus> Load(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> Unload(const std::string& id) override { return Lookup(id); }
  Result<core::ModelStatus> SetDefault(const std::string& n, const std::string& v) override {
    last_default = n + "|" + v;
    return Lookup(n + "@" + v);
  }
  Result<core::ModelStatus> Rollback(const std::string& name) override { return Lookup(name); }
  Result<core::ModelStatus> SetAlias(const std::string& n, const std::string& a,
                                     const std::string& v) override {
    last_alias = n + "|" + a + "|" + v;
    return Lookup(n);
  }
  std::vector<core::ModelStatus> List() const override { return {Model()}; }
  Result<core::ModelStatus> Get(const std::string& id) const override { return Lookup(id); }
  std::vector<core::PluginStatus> Plugins() const override { return {}; }
  core::CoreStats Stats() const override { return {}; }
  void Shutdown() override {}

  Result<core::InferResponse> Infer(core::InferRequest request) override {
    std::lock_guard lock(mu);
    deadline = request.deadline;
    principal = request.principal;
    protocol = request.protocol;
    MLOS_RETURN_IF_ERROR(Lookup(request.model).status());
    if (request.inputs.empty()) return InvalidArgument("no inputs");
    const core::Tensor& in = request.inputs[0];
    input_bytes.assign(in.bytes(), in.bytes() + in.byte_size());
    input_strings = in.strings;
    core::InferResponse r;
    r.model_id = "ns/m@1";
    r.model_name = "ns/m";
    r.model_version = "1";
    std::vector<std::string> names = request.outputs;
    if (names.empty()) names = {"y"};
    for (const std::string& name : names) {
      core::Tensor t;
      t.name = name;
      t.dtype = in.dtype;
      t.shape = in.shape;
      if (in.dtype == DataType::kString) {  // strings are the core's, never allocated
        t.strings = in.strings;
        r.outputs.push_back(std::move(t));
        continue;
      }
      void* p = nullptr;
      if (request.output_allocator) {
        p = request.output_allocator(name, t.dtype, t.shape, in.byte_size());
        if (!p) return ResourceExhausted("output allocator refused output \"" + name + "\"");
        t.external = p;
        t.external_size = in.byte_size();
      } else {
        t.data.resize(in.byte_size());
        p = t.data.data();
      }
      if (in.byte_size()) std::memcpy(p, in.bytes(), in.byte_size());
      r.outputs.push_back(std::move(t));
    }
    return r;
  }

  std::mutex mu;
  std::optional<Clock::time_point> deadline;
  std::string principal, protocol, last_default, last_alias;
  std::vector<uint8_t> input_bytes;
  std::vector<std::string> input_strings;

 private:
  static core::ModelStatus Model() {
    core::ModelStatus m;
    m.id = "ns/m@1";
    m.name = "ns/m";
    m.version = "1";
    m.state = core::ModelState::kReady;
    return m;
  }
  static Result<core::ModelStatus> Lookup(const std::string& id) {
    if (id != "ns/m" && id != "ns/m@1") return NotFound("model " + id + " is not registered");
    return Model();
  }
};

core::Tensor Floats(std::string name, std::vector<float> v) {
  core::Tensor t;
  t.name = std::move(name);
  t.dtype = DataType::kFloat32;
  t.shape = {static_cast<int64_t>(v.size())};
  t.data.resize(v.size() * 4);
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

// A sealed memfd of `size` bytes, for RegisterShmFd.
int SealedMemfd(size_t size) {
  const int fd = ::memfd_create("service-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  return fd;
}

class ServiceTest : public ::testing::Test {
 protected:
  static ServiceOptions Options() {
    ServiceOptions o;
    o.request_timeout = milliseconds(1000);
    return o;
  }
  ServiceTest() : service_(core_, shm_, &metrics_, Options()) {}

  RequestContext Ctx(Protocol p, std::string owner = "") {
    RequestContext c;
    c.protocol = p;
    c.shm_owner = std::move(owner);
    return c;
  }
  InferCall Call(std::vector<float> x = {1, 2, 3, 4}) {
    InferCall call;
    call.model = "ns/m";
    call.inputs.push_back(Floats("x", std::move(x)));
    return call;
  }

  RecordingCore core_;
  ShmRegistry shm_;
  Metrics metrics_;
  Service service_;
};

TEST_F(ServiceTest, DeadlineIsTheEarlierOfTheClientsAndTheServers) {
  RequestContext ctx = Ctx(Protocol::kGrpc);
  auto call = Call();
  ASSERT_TRUE(service_.Infer(ctx, call).ok());
  ASSERT_TRUE(core_.deadline);
  EXPECT_EQ(*core_.deadline, ctx.received + milliseconds(1000));  // no client deadline
  ctx.client_deadline = ctx.received + milliseconds(10);          // earlier: the client's
  call = Call();
  ASSERT_TRUE(service_.Infer(ctx, call).ok());
  EXPECT_EQ(*core_.deadline, ctx.received + milliseconds(10));
  ctx.client_deadline = ctx.received + milliseconds(5000);  // later: the server's
  call = Call();
  ASSERT_TRUE(service_.Infer(ctx, call).ok());
  EXPECT_EQ(*core_.deadline, ctx.received + milliseconds(1000));
  EXPECT_EQ(core_.protocol, "grpc");
  EXPECT_EQ(core_.principal, "anonymous");
}

TEST_F(ServiceTest, ShmInputsAndOutputsBindOnlyTheCallersRegions) {
  const int fd = SealedMemfd(64);
  void* map = ::mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  const float in[4] = {5, 6, 7, 8};
  std::memcpy(map, in, sizeof in);
  ASSERT_TRUE(service_.RegisterShmFd(Ctx(Protocol::kIpc, "conn-1"), "r", ::dup(fd), 0, 64).ok());

  // Its owner reads the input in place and gets the output written at offset 16.
  InferCall call = Call({0, 0, 0, 0});
  call.input_shm = {ShmRef{"r", 0, 16}};
  call.outputs = {{"y", ShmRef{"r", 16, 16}}};
  auto r = service_.Infer(Ctx(Protocol::kIpc, "conn-1"), call);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->output_shm.size(), 1u);
  ASSERT_TRUE(r->output_shm[0]);
  EXPECT_EQ(r->output_shm[0]->offset, 16u);
  EXPECT_EQ(std::memcmp(static_cast<uint8_t*>(map) + 16, in, 16), 0);

  // Another connection, and HTTP, cannot see it, use it, list it or unregister it.
  for (const RequestContext& other : {Ctx(Protocol::kIpc, "conn-2"), Ctx(Protocol::kHttp)}) {
    InferCall c = Call({0, 0, 0, 0});
    c.input_shm = {ShmRef{"r", 0, 16}};
    auto denied = service_.Infer(other, c);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(denied.status().message(),
              "input 'x': shared memory region \"r\" is not registered");
    auto status = service_.ShmStatus(other, "");
    ASSERT_TRUE(status.ok());
    EXPECT_TRUE(status->empty());
    EXPECT_EQ(service_.UnregisterShm(other, "r").code(), StatusCode::kNotFound);
  }
  // A window too small for the output fails before anything is sent back.
  InferCall small = Call();
  small.outputs = {{"y", ShmRef{"r", 0, 8}}};
  auto too_small = service_.Infer(Ctx(Protocol::kIpc, "conn-1"), small);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.status().message(),
            "output 'y': 16 bytes do not fit shared_memory_byte_size 8");
  // A byte size that does not match the input's shape.
  InferCall wrong = Call({0, 0, 0, 0});
  wrong.input_shm = {ShmRef{"r", 0, 12}};
  EXPECT_EQ(service_.Infer(Ctx(Protocol::kIpc, "conn-1"), wrong).status().message(),
            "input 'x': shared_memory_byte_size 12 does not match its shape (16 bytes)");
  service_.ReleaseShmOwner("conn-1");
  EXPECT_TRUE(service_.ShmStatus(Ctx(Protocol::kIpc, "conn-1"), "")->empty());
  ::munmap(map, 64);
  ::close(fd);
}

// KServe's system shared memory carries BYTES serialized (u32 length + bytes per element), as
// tritonclient.utils.shared_memory writes and reads them.
TEST_F(ServiceTest, StringTensorsInSharedMemoryAreSerialized) {
  const int fd = SealedMemfd(256);
  auto* map =
      static_cast<uint8_t*>(::mmap(nullptr, 256, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(map, MAP_FAILED);
  const std::string serialized("\x02\0\0\0ab\0\0\0\0\x03\0\0\0\xff\0z", 17);
  std::memcpy(map, serialized.data(), serialized.size());
  ASSERT_TRUE(service_.RegisterShmFd(Ctx(Protocol::kIpc, "c"), "r", fd, 0, 256).ok());
  auto strings_call = [&](uint64_t out_size, bool to_shm) {
    InferCall call;
    call.model = "ns/m";
    core::Tensor t;
    t.name = "x";
    t.dtype = DataType::kString;
    t.shape = {3};
    call.inputs.push_back(std::move(t));
    call.input_shm = {ShmRef{"r", 0, serialized.size()}};
    call.outputs = {{"y", ShmRef{"r", 128, out_size}}};
    call.string_outputs_to_shm = to_shm;
    return call;
  };
  const std::vector<std::string> want = {"ab", "", std::string("\xff\0z", 3)};
  auto call = strings_call(128, true);
  auto r = service_.Infer(Ctx(Protocol::kIpc, "c"), call);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(core_.input_strings, want);
  ASSERT_EQ(r->output_shm.size(), 1u);
  ASSERT_TRUE(r->output_shm[0]);
  EXPECT_EQ(r->output_shm[0]->offset, 128u);
  EXPECT_EQ(r->output_shm[0]->byte_size, serialized.size());  // what was written
  EXPECT_EQ(std::string(reinterpret_cast<char*>(map) + 128, serialized.size()), serialized);
  // Without string_outputs_to_shm (IPC's calls) the strings travel inline.
  call = strings_call(128, false);
  r = service_.Infer(Ctx(Protocol::kIpc, "c"), call);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->output_shm[0]);
  EXPECT_EQ(r->response.outputs[0].strings, want);
  // A window too small for the serialized strings.
  call = strings_call(16, true);
  EXPECT_EQ(service_.Infer(Ctx(Protocol::kIpc, "c"), call).status().message(),
            "output 'y': 17 bytes do not fit shared_memory_byte_size 16");
  // Fewer elements in the region than the shape says.
  call = strings_call(128, true);
  call.inputs[0].shape = {4};
  auto short_input = service_.Infer(Ctx(Protocol::kIpc, "c"), call);
  ASSERT_FALSE(short_input.ok());
  EXPECT_EQ(short_input.status().code(), StatusCode::kInvalidArgument);
  ::munmap(map, 256);
}

TEST_F(ServiceTest, ModelStatisticsCountSuccessesAndFailures) {
  const RequestContext ctx = Ctx(Protocol::kGrpc);
  auto before = service_.ModelStats(ctx, "ns/m");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].name, "ns/m");
  EXPECT_EQ((*before)[0].version, "1");
  EXPECT_EQ((*before)[0].inference_count, 0u);
  EXPECT_EQ((*before)[0].last_inference_ms, 0u);
  for (int i = 0; i < 2; ++i) {
    auto ok = Call();
    ASSERT_TRUE(service_.Infer(ctx, ok).ok());
  }
  InferCall empty;  // the core refuses it: counted as the model's failure
  empty.model = "ns/m";
  EXPECT_FALSE(service_.Infer(ctx, empty).ok());
  auto undecodable = Call();
  EXPECT_FALSE(service_.Fail(ctx, undecodable, InvalidArgument("bad body")).ok());
  auto unknown = Call();
  unknown.model = "ns/none";
  EXPECT_FALSE(service_.Infer(ctx, unknown).ok());  // no model: counted nowhere
  for (const std::string& id : {std::string("ns/m@1"), std::string("")}) {
    auto s = service_.ModelStats(ctx, id);
    ASSERT_TRUE(s.ok()) << id;
    ASSERT_EQ(s->size(), 1u) << id;
    const ModelStatistics& m = (*s)[0];
    EXPECT_EQ(m.inference_count, 2u);
    EXPECT_EQ(m.execution_count, 2u);
    EXPECT_EQ(m.success.count, 2u);
    EXPECT_GT(m.success.ns, 0u);
    EXPECT_EQ(m.compute_infer.count, 2u);
    EXPECT_EQ(m.queue.count, 2u);
    EXPECT_EQ(m.fail.count, 2u);
    EXPECT_GT(m.last_inference_ms, 1700000000000u);  // wall clock, ms since the epoch
  }
  EXPECT_EQ(service_.ModelStats(ctx, "ns/none").status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceTest, ManyInlineOutputsBesideAShmOutput) {
  const int fd = SealedMemfd(64);
  ASSERT_TRUE(service_.RegisterShmFd(Ctx(Protocol::kIpc, "c"), "r", fd, 0, 64).ok());
  InferCall call = Call();
  call.outputs.push_back({"in_shm", ShmRef{"r", 0, 16}});
  for (int i = 0; i < 100; ++i) call.outputs.push_back({"o" + std::to_string(i), std::nullopt});
  auto r = service_.Infer(Ctx(Protocol::kIpc, "c"), call);
  ASSERT_TRUE(r.ok()) << r.status().message();  // the 65th inline output included
  ASSERT_EQ(r->response.outputs.size(), 101u);
  const float want[4] = {1, 2, 3, 4};
  for (size_t i = 1; i < 101; ++i) {
    EXPECT_FALSE(r->output_shm[i]);
    ASSERT_EQ(r->response.outputs[i].byte_size(), 16u);
    EXPECT_EQ(std::memcmp(r->response.outputs[i].bytes(), want, 16), 0) << i;
  }
}

TEST_F(ServiceTest, MetricsCountEveryProtocolByCode) {
  for (Protocol p : {Protocol::kHttp, Protocol::kGrpc, Protocol::kIpc}) {
    auto ok = Call();
    ASSERT_TRUE(service_.Infer(Ctx(p), ok).ok());
    auto missing = Call();
    missing.model = "ns/none";
    EXPECT_EQ(service_.Infer(Ctx(p), missing).status().code(), StatusCode::kNotFound);
    auto undecodable = Call();
    EXPECT_EQ(service_.Fail(Ctx(p), undecodable, InvalidArgument("bad body")).message(),
              "bad body");
  }
  const std::string text = *service_.RenderMetrics(Ctx(Protocol::kHttp));
  for (const char* p : {"http", "grpc", "ipc"}) {
    const std::string proto = std::string("protocol=\"") + p + "\"} 1";
    EXPECT_NE(text.find(R"(mlos_requests_total{code="OK",model="ns/m@1",)" + proto),
              std::string::npos)
        << p << "\n"
        << text;
    EXPECT_NE(text.find(R"(mlos_requests_total{code="INVALID_ARGUMENT",model="ns/m@1",)" + proto),
              std::string::npos)
        << p;
    EXPECT_NE(text.find(R"(mlos_requests_total{code="NOT_FOUND",model="unknown",)" + proto),
              std::string::npos)
        << p;
  }
}

TEST_F(ServiceTest, ManagementChecksAreSharedByEveryProtocol) {
  const RequestContext ctx = Ctx(Protocol::kIpc);
  auto unversioned = service_.SetDefault(ctx, "ns/m");
  ASSERT_FALSE(unversioned.ok());
  EXPECT_EQ(unversioned.status().message(), "set default needs a versioned id: ns/name@version");
  ASSERT_TRUE(service_.SetDefault(ctx, "ns/m@1").ok());
  EXPECT_EQ(core_.last_default, "ns/m|1");
  EXPECT_EQ(service_.Load(ctx, "").status().message(), "model id is empty");
  EXPECT_EQ(service_.Load(ctx, "../etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.SetAlias(ctx, "ns/m@1", "stable", "1").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.SetAlias(ctx, "ns/m", "", "1").status().message(),
            "field 'alias' is required");
  ASSERT_TRUE(service_.SetAlias(ctx, "ns/m", "stable", "1").ok());
  EXPECT_EQ(core_.last_alias, "ns/m|stable|1");
  core::RegisterRequest reg;
  reg.model_id = "ns/m@1";
  EXPECT_EQ(service_.Register(ctx, reg).status().message(),
            "field 'path' (or 'model_path') is required");
  EXPECT_TRUE(service_.Ready());
}

}  // namespace
}  // namespace mlos::service
