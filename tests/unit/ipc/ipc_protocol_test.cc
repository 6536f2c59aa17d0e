// The IPC wire codec: header and infer round trips, malformed frames, socket framing.
#include "wire/ipc_protocol.h"

#include <sys/socket.h>
#include <unistd.h>

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
