// The plugin host refuses plugins it cannot talk to, with a message naming the file, and keeps
// loading the good ones.
#include "core/plugin_host.h"

#include <gtest/gtest.h>

namespace mlos::core {
namespace {

bool Contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

TEST(PluginHostTest, RefusesOtherAbiVersionsAndBrokenLibrariesWithClearMessages) {
  PluginHostOptions opts;
  opts.plugin_dirs = {std::string(MLOS_BINARY_DIR) + "/lib/mlos/test-plugins",
                      std::string(MLOS_BINARY_DIR) + "/lib/mlos/plugins"};
  auto host = PluginHost::Create(opts);
  ASSERT_TRUE(host.ok()) << host.status().ToString();
  const auto& refused = (*host)->Refused();
  std::string all;
  for (const auto& r : refused) all += r + "\n";
  const std::string host_abi =
      std::to_string(SMI_VERSION_MAJOR) + "." + std::to_string(SMI_VERSION_MINOR);
  EXPECT_TRUE(Contains(refused, "libfake_abi2.so: ABI 2.0, host speaks " + host_abi + ": refused"))
      << all;
  EXPECT_TRUE(Contains(refused, "libfake_minor9.so: ABI 1.9, host speaks " + host_abi + ": refused"))
      << all;
  EXPECT_TRUE(Contains(refused, "libfake_null_table.so: returned no API table")) << all;
  EXPECT_TRUE(Contains(refused, "libfake_no_symbol.so: no smi_plugin_get_api symbol")) << all;
  EXPECT_EQ(refused.size(), 4u) << all;
  // The real plugins still load, and none of the fakes serves anything.
  EXPECT_NE((*host)->ForFormat("onnx"), nullptr);
  EXPECT_NE((*host)->ForFormat("testing"), nullptr);
  EXPECT_NE((*host)->ForFormat("gguf"), nullptr);
  EXPECT_NE((*host)->ForFormat("torchscript"), nullptr);
  EXPECT_NE((*host)->ForFormat("tflite"), nullptr);
  EXPECT_EQ((*host)->List().size(), 5u);
}

TEST(PluginHostTest, ConfigMustBeAJsonObject) {
  PluginHostOptions opts;
  opts.plugin_config_json = "[1]";
  auto host = PluginHost::Create(opts);
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlos::core
