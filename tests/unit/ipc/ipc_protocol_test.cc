// The IPC wire codec: header and infer round trips, malformed frames, socket framing.
#include "wire/ipc_protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

namespace mlos::ipc {
namespace {

TEST(IpcProtocol, HeaderRoundTrip) {
  FrameHeader h;
  h.op = static_cast<uint16_t>(Op::kInfer);
  h.request_id = 0x1122334455667788ull;
  h.status = 5;
  h.length = 1234;
  uint8_t b[kHeaderSize];
  EncodeHeader(h, b);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 4), "MLIP");
  auto d = DecodeHeader(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->op, h.op);
  EXPECT_EQ(d->request_id, h.request_id);
  EXPECT_EQ(d->status, 5u);
  EXPECT_EQ(d->length, 1234u);
  EXPECT_EQ(d->version, kVersionMax);
}

TEST(IpcProtocol, BadMagicAndOversizedLength) {
  FrameHeader h;
  uint8_t b[kHeaderSize];
  EncodeHeader(h, b);
  b[0] = 'X';
  auto d = DecodeHeader(b);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("magic"), std::string::npos);
  h.length = kMaxPayload + 1;
  EncodeHeader(h, b);
  d = DecodeHeader(b);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("exceeds the limit"), std::string::npos);
  h.length = 100;
  EncodeHeader(h, b);
  EXPECT_FALSE(DecodeHeader(b, 99).ok());
}

InferRequestMsg SampleRequest(const std::string& data) {
  InferRequestMsg m;
  m.model = "test/mlp";
  m.version = "1.0.0";
  m.timeout_us = 77;
  WireTensor a;
  a.name = "input";
  a.dtype = 1;
  a.shape = {2, 3};
  a.data = data;
  WireTensor b;
  b.name = "other";
  b.dtype = 8;
  b.shape = {4};
  b.placement = Placement::kShm;
  b.region = "r0";
  b.offset = 64;
  b.byte_size = 32;
  m.inputs = {a, b};
  WireOutputSpec o1;
  o1.name = "logits";
  WireOutputSpec o2;
  o2.name = "probs";
  o2.placement = Placement::kShm;
  o2.region = "r1";
  o2.offset = 8;
  o2.byte_size = 16;
  m.outputs = {o1, o2};
  return m;
}

TEST(IpcProtocol, InferRequestRoundTripAlignsInlineData) {
  const std::string data(24, '\x07');
  std::string payload;
  EncodeInferRequest(SampleRequest(data), payload);
  auto d = DecodeInferRequest(payload);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->inputs.size(), 2u);
  EXPECT_EQ(d->model, "test/mlp");
  EXPECT_EQ(d->version, "1.0.0");
  EXPECT_EQ(d->timeout_us, 77u);
  EXPECT_EQ(d->inputs[0].name, "input");
  EXPECT_EQ(d->inputs[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d->inputs[0].data, data);
  EXPECT_EQ((d->inputs[0].data.data() - payload.data()) % 8, 0);
  EXPECT_EQ(d->inputs[1].placement, Placement::kShm);
  EXPECT_EQ(d->inputs[1].region, "r0");
  EXPECT_EQ(d->inputs[1].offset, 64u);
  EXPECT_EQ(d->inputs[1].byte_size, 32u);
  ASSERT_EQ(d->outputs.size(), 2u);
  EXPECT_EQ(d->outputs[0].placement, Placement::kInline);
  EXPECT_EQ(d->outputs[1].region, "r1");
  EXPECT_EQ(d->outputs[1].byte_size, 16u);
}

std::string Concat(const GatherPayload& g) {
  std::string out;
  for (std::string_view p : g.Parts()) out.append(p);
  return out;
}

TEST(IpcProtocol, GatheredInferFramesAreTheEncodedBytes) {
  // Inline tensors of sizes that leave every alignment case, with and without the extension:
  // the gathered pieces, put together, are byte for byte the encoded payload.
  for (size_t first : {0, 1, 5, 8, 13, 64}) {
    const std::string first_data(first, '\x11');  // outlives m (WireTensor::data is a view)
    InferRequestMsg m = SampleRequest(first_data);
    WireTensor c;
    c.name = "third_with_a_longer_name";
    c.dtype = 3;
    c.shape = {7};
    const std::string third(7, '\x22');
    c.data = third;
    m.inputs.push_back(c);
    for (bool ext : {false, true}) {
      if (ext) m.keep_alive_ms = 1500;
      std::string encoded;
      EncodeInferRequest(m, encoded);
      GatherPayload g;
      GatherInferRequest(m, g);
      EXPECT_EQ(g.size(), encoded.size());
      EXPECT_EQ(Concat(g), encoded) << "first " << first << " ext " << ext;
      // The tensor bytes are views of the message's own, not copies.
      bool found = false;
      for (std::string_view p : g.Parts()) found |= p.data() == third.data();
      EXPECT_TRUE(found);
    }
  }
  InferResponseMsg r;
  r.model_id = "ns/m@1";
  r.queue_time_us = 3;
  r.inference_time_us = 9;
  const std::string a(11, 'a'), b(64, 'b');
  r.outputs.resize(3);
  r.outputs[0].name = "a";
  r.outputs[0].dtype = 1;
  r.outputs[0].shape = {11};
  r.outputs[0].data = a;
  r.outputs[1].name = "s";
  r.outputs[1].placement = Placement::kShm;
  r.outputs[1].region = "r";
  r.outputs[1].byte_size = 4;
  r.outputs[2].name = "b";
  r.outputs[2].dtype = 1;
  r.outputs[2].shape = {64};
  r.outputs[2].data = b;
  std::string encoded;
  EncodeInferResponse(r, encoded);
  GatherPayload g;
  GatherInferResponse(r, g);
  EXPECT_EQ(Concat(g), encoded);
  const std::string gathered = Concat(g);  // outlives d (decoded tensors view the payload)
  auto d = DecodeInferResponse(gathered);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->outputs[2].data, b);
}

TEST(IpcProtocol, LargeGatheredFrameIntoABuffer) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  SetLargeSocketBuffers(sv[0]);
  std::string big(24u << 20, '\0');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i / 4096);
  const std::string head = "head";
  std::thread sender([&] {
    FrameHeader h;
    h.op = static_cast<uint16_t>(Op::kInfer);
    h.request_id = 42;
    EXPECT_TRUE(SendFrameParts(sv[0], h, {head, big, head}).ok());
  });
  FrameHeader got;
  Buffer payload;
  ASSERT_TRUE(RecvFrame(sv[1], got, payload).ok());
  sender.join();
  EXPECT_EQ(got.request_id, 42u);
  ASSERT_EQ(payload.size(), big.size() + 8);
  EXPECT_EQ(payload.view().substr(0, 4), "head");
  EXPECT_EQ(payload.view().substr(4, big.size()), big);
  // A header that claims more than ever comes: a clean error, not a hang or a crash.
  FrameHeader liar;
  liar.length = 1u << 29;
  uint8_t b[kHeaderSize];
  EncodeHeader(liar, b);
  ASSERT_EQ(::write(sv[0], b, sizeof b), static_cast<ssize_t>(sizeof b));
  ASSERT_EQ(::write(sv[0], "abc", 3), 3);
  ::close(sv[0]);
  Status st = RecvFrame(sv[1], got, payload);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  ::close(sv[1]);
}

TEST(IpcProtocol, TruncatedAndTrailingPayloadsAreCleanErrors) {
  std::string payload;
  EncodeInferRequest(SampleRequest(std::string(24, 'x')), payload);
  for (size_t n = 0; n < payload.size(); ++n) {
    auto d = DecodeInferRequest(std::string_view(payload).substr(0, n));
    EXPECT_FALSE(d.ok()) << "prefix " << n;
  }
  EXPECT_FALSE(DecodeInferRequest(payload + "z").ok());
  // A lying input count does not allocate or crash.
  std::string lie;
  Writer w(lie);
  w.Str("m");
  w.Str("");
  w.U64(0);
  w.U32(0xFFFFFFFF);
  EXPECT_FALSE(DecodeInferRequest(lie).ok());
}

TEST(IpcProtocol, InferRequestWithoutExtensionIsTheOriginalFrame) {
  // A request with no priority or keep_alive is byte for byte the frame clients wrote before
  // the extension existed, and decodes with both unset.
  std::string payload;
  const std::string bytes(24, 'x');  // outlives m (WireTensor::data is a view)
  const InferRequestMsg m = SampleRequest(bytes);
  EncodeInferRequest(m, payload);
  std::string with;
  InferRequestMsg e = m;
  e.priority = 3;
  EncodeInferRequest(e, with);
  ASSERT_GT(with.size(), payload.size());
  EXPECT_EQ(with.substr(0, payload.size()), payload);
  EXPECT_EQ(with.size(), payload.size() + 1 + 4);  // flags + u32
  auto d = DecodeInferRequest(payload);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_FALSE(d->priority.has_value());
  EXPECT_FALSE(d->keep_alive_ms.has_value());
}

TEST(IpcProtocol, InferRequestExtensionRoundTrip) {
  struct Case {
    std::optional<uint32_t> priority;
    std::optional<int64_t> keep_alive_ms;
    size_t extra;  // bytes after the outputs
  };
  const Case cases[] = {
      {1, std::nullopt, 5},       {std::nullopt, 300000, 9}, {7, -1, 13},
      {0, 0, 13},                 {0xFFFFFFFFu, INT64_MIN, 13},
  };
  std::string base;
  EncodeInferRequest(SampleRequest(std::string(24, 'x')), base);
  const std::string bytes(24, 'x');  // outlives every m (WireTensor::data is a view)
  for (const Case& c : cases) {
    InferRequestMsg m = SampleRequest(bytes);
    m.priority = c.priority;
    m.keep_alive_ms = c.keep_alive_ms;
    std::string payload;
    EncodeInferRequest(m, payload);
    EXPECT_EQ(payload.size(), base.size() + c.extra);
    auto d = DecodeInferRequest(payload);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->priority, c.priority);
    EXPECT_EQ(d->keep_alive_ms, c.keep_alive_ms);
    EXPECT_EQ(d->outputs.size(), 2u);
    EXPECT_EQ(d->timeout_us, 77u);
    // Cut inside the extension: an error, never a silent default.
    for (size_t n = base.size() + 1; n < payload.size(); ++n) {
      EXPECT_FALSE(DecodeInferRequest(std::string_view(payload).substr(0, n)).ok()) << n;
    }
    EXPECT_FALSE(DecodeInferRequest(payload + '\0').ok());
  }
}

TEST(IpcProtocol, InferRequestExtensionFlags) {
  std::string base;
  EncodeInferRequest(SampleRequest(std::string(8, 'x')), base);
  // No flags: an empty block, the defaults.
  auto d = DecodeInferRequest(base + std::string(1, '\0'));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_FALSE(d->priority.has_value());
  // A bit this codec does not know cannot be skipped: refused, naming the flags.
  std::string unknown = base;
  Writer(unknown).U8(0x04);
  d = DecodeInferRequest(unknown);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("extension flags 0x04"), std::string::npos)
      << d.status().message();
  // Fields in bit order: priority, then keep_alive_ms.
  std::string both = base;
  Writer w(both);
  w.U8(kInferExtPriority | kInferExtKeepAlive);
  w.U32(2);
  w.I64(-5);
  d = DecodeInferRequest(both);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->priority, 2u);
  EXPECT_EQ(d->keep_alive_ms, -5);
}

TEST(IpcProtocol, PinOpsFollowTheTokenOps) {
  EXPECT_EQ(static_cast<uint16_t>(Op::kTokenRevoke), 24);
  EXPECT_EQ(static_cast<uint16_t>(Op::kModelPin), 25);
  EXPECT_EQ(static_cast<uint16_t>(Op::kModelUnpin), 26);
}

TEST(IpcProtocol, GenerationOpsFollowThePinOps) {
  // Published numbers (docs/ipc.md): they never change.
  EXPECT_EQ(static_cast<uint16_t>(Op::kGenerate), 27);
  EXPECT_EQ(static_cast<uint16_t>(Op::kGenerateChunk), 28);
  EXPECT_EQ(static_cast<uint16_t>(Op::kCancel), 29);
}

TEST(IpcProtocol, InferResponseRoundTrip) {
  InferResponseMsg m;
  m.model_id = "test/mlp@1.0.0";
  m.queue_time_us = 3;
  m.inference_time_us = 9;
  WireTensor t;
  t.name = "logits";
  t.dtype = 1;
  t.shape = {1, 4};
  const std::string bytes(16, 'a');
  t.data = bytes;
  WireTensor s;
  s.name = "probs";
  s.dtype = 1;
  s.shape = {1, 4};
  s.placement = Placement::kShm;
  s.region = "r";
  s.byte_size = 16;
  m.outputs = {t, s};
  std::string payload;
  EncodeInferResponse(m, payload);
  auto d = DecodeInferResponse(payload);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->model_id, m.model_id);
  EXPECT_EQ(d->inference_time_us, 9u);
  EXPECT_EQ(d->outputs[0].data, bytes);
  EXPECT_EQ(d->outputs[1].region, "r");
  EXPECT_FALSE(DecodeInferResponse(payload.substr(0, payload.size() - 1)).ok());
}

TEST(IpcProtocol, SocketFramingPassesDescriptorsAndDetectsTruncation) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  FrameHeader h;
  h.op = static_cast<uint16_t>(Op::kShmRegister);
  h.request_id = 42;
  const std::string big(3 << 20, 'q');  // larger than the socket buffer: partial writes
  int passed = ::dup(0);
  std::thread sender([&] {
    EXPECT_TRUE(SendFrame(sv[0], h, big, passed).ok());
    EXPECT_TRUE(SendFrame(sv[0], h, "small").ok());
  });
  FrameHeader got;
  std::string payload;
  int fd = -1;
  ASSERT_TRUE(RecvFrame(sv[1], got, payload, &fd).ok());
  EXPECT_EQ(got.request_id, 42u);
  EXPECT_EQ(payload.size(), big.size());
  EXPECT_GE(fd, 0);
  ::close(fd);
  ASSERT_TRUE(RecvFrame(sv[1], got, payload, &fd).ok());
  EXPECT_EQ(payload, "small");
  EXPECT_EQ(fd, -1);
  sender.join();
  ::close(passed);
  // A truncated frame, then EOF.
  uint8_t head[kHeaderSize];
  h.length = 100;
  EncodeHeader(h, head);
  ASSERT_EQ(::write(sv[0], head, kHeaderSize), static_cast<ssize_t>(kHeaderSize));
  ASSERT_EQ(::write(sv[0], "abc", 3), 3);
  ::shutdown(sv[0], SHUT_WR);
  Status st = RecvFrame(sv[1], got, payload, &fd);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.message();
  st = RecvFrame(sv[1], got, payload, &fd);
  EXPECT_EQ(st.code(), StatusCode::kCancelled) << st.message();
  ::close(sv[0]);
  ::close(sv[1]);
}

}  // namespace
}  // namespace mlos::ipc
