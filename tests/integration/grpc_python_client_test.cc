// Acceptance test with a third-party client: Python's grpcio (Debian python3-grpcio, stubs
// generated from proto/grpc_service.proto with grpc_tools at run time) runs ModelInfer against
// the real mlosd and must get bit-identical outputs to the HTTP /v2 infer endpoint
// (tests/integration/grpc_python_client.py does the comparing).
#include <cstdio>

#include "mlosd_harness.h"

namespace mlostest {
namespace {

const fs::path kPython = "/usr/bin/python3";

bool PythonGrpcAvailable() {
  return fs::exists(kPython) &&
         std::system(
             (kPython.string() + " -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1").c_str()) ==
             0;
}

TEST(GrpcPythonClientTest, ModelInferMatchesHttpBitForBit) {
  std::string why;
  if (!Prerequisites(&why)) GTEST_SKIP() << why;
  if (!PythonGrpcAvailable()) GTEST_SKIP() << "python3 grpcio / grpc_tools not installed";
  TempDir tmp;
  Daemon d(tmp.path() / "state", {"--grpc", "127.0.0.1:0"});
  ASSERT_TRUE(d.Start());
  Package p = MlpPackage();
  Reply reg = Http(d.http_port(), "POST", "/models/register",
                   RegisterBody(p, WritePackage(tmp.path() / "pkgs", p)));
  ASSERT_EQ(reg.status, 200) << reg.body;

  const std::string cmd =
      kPython.string() + " " +
      (fs::path(MLOS_SOURCE_DIR) / "tests/integration/grpc_python_client.py").string() +
      " --grpc 127.0.0.1:" + std::to_string(d.grpc_port()) + " --http " +
      std::to_string(d.http_port()) + " --proto-dir " +
      (fs::path(MLOS_SOURCE_DIR) / "proto").string() + " --model test/mlp 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  EXPECT_EQ(rc, 0) << out << "\nmlosd log:\n" << d.Log();
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace mlostest
