// SelectFiles: table tests over realistic repo listings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "axon/hub/hub.h"

namespace mlos::axon {
namespace {

std::vector<RemoteFile> Files(const std::vector<std::string>& paths) {
  std::vector<RemoteFile> out;
  for (const auto& p : paths) {
    RemoteFile f;
    f.path = p;
    f.size = 1;
    out.push_back(f);
  }
  return out;
}

std::vector<std::string> Paths(const Selection& s) {
  std::vector<std::string> out;
  for (const auto& f : s.files) out.push_back(f.path);
  return out;
}

InstallOptions Opts(const std::string& format = "auto", const std::string& quant = "",
                    const std::vector<std::string>& include = {}) {
  InstallOptions o;
  o.format = format;
  o.quant = quant;
  o.include = include;
  return o;
}

struct Case {
  std::string name;
  std::vector<std::string> repo;
  InstallOptions opts;
  std::vector<std::string> want_files;
  std::string want_format;
  std::vector<std::string> want_exec;
  std::string want_framework;
};

TEST(SelectFilesTest, Table) {
  const std::vector<std::string> gguf_repo = {
      "README.md", "config.json", "model.Q2_K.gguf", "model.Q4_K_M.gguf", "model.q8_0.gguf",
      "model.IQ4_XS.gguf", "mmproj-model-f16.gguf"};
  const std::vector<std::string> xenova = {
      "config.json",          "tokenizer.json",         "tokenizer_config.json",
      "onnx/model.onnx",      "onnx/model_fp16.onnx",   "onnx/model_quantized.onnx",
      "special_tokens_map.json", "vocab.txt",           "README.md",
      ".gitattributes"};
  const std::vector<Case> cases = {
      {"gguf default Q4_K_M", gguf_repo, Opts(),
       {"README.md", "config.json", "model.Q4_K_M.gguf"}, "gguf", {"model.Q4_K_M.gguf"}, "gguf"},
      {"gguf quant case-insensitive", gguf_repo, Opts("auto", "Q8_0"),
       {"README.md", "config.json", "model.q8_0.gguf"}, "gguf", {"model.q8_0.gguf"}, "gguf"},
      {"gguf Q4_XS does not match IQ4_XS... but IQ4_XS does", gguf_repo, Opts("gguf", "iq4_xs"),
       {"README.md", "config.json", "model.IQ4_XS.gguf"}, "gguf", {"model.IQ4_XS.gguf"}, "gguf"},
      {"gguf default falls back to any variant", {"a-Q5_K_S.gguf", "b-Q6_K.gguf"}, Opts(),
       {"a-Q5_K_S.gguf"}, "gguf", {"a-Q5_K_S.gguf"}, "gguf"},
      {"gguf split shards stay together",
       {"m-Q4_K_M-00001-of-00002.gguf", "m-Q4_K_M-00002-of-00002.gguf", "m-Q8_0.gguf"}, Opts(),
       {"m-Q4_K_M-00001-of-00002.gguf", "m-Q4_K_M-00002-of-00002.gguf"}, "gguf",
       {"m-Q4_K_M-00001-of-00002.gguf"}, "gguf"},
      {"gguf preferred over onnx", {"m.onnx", "m.Q4_K_M.gguf"}, Opts(), {"m.Q4_K_M.gguf"}, "gguf",
       {"m.Q4_K_M.gguf"}, "gguf"},
      {"format onnx overrides the preference", {"m.onnx", "m.Q4_K_M.gguf", "config.json"},
       Opts("onnx"), {"config.json", "m.onnx"}, "onnx", {"m.onnx"}, "onnx"},
      {"onnx base variant and companions", xenova, Opts(),
       {"README.md", "config.json", "onnx/model.onnx", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json", "vocab.txt"},
       "onnx", {"onnx/model.onnx"}, "onnx"},
      {"onnx variant via quant", xenova, Opts("onnx", "quantized"),
       {"README.md", "config.json", "onnx/model_quantized.onnx", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.txt"},
       "onnx", {"onnx/model_quantized.onnx"}, "onnx"},
      {"onnx external data comes along", {"model.onnx", "model.onnx_data", "other.onnx_data"},
       Opts(), {"model.onnx", "model.onnx_data"}, "onnx", {"model.onnx"}, "onnx"},
      {"encoder-decoder onnx", {"encoder_model.onnx", "decoder_model.onnx", "decoder_model_fp16.onnx"},
       Opts(), {"decoder_model.onnx", "encoder_model.onnx"}, "onnx",
       {"decoder_model.onnx", "encoder_model.onnx"}, "onnx"},
      {"torchscript", {"model.pt", "model_traced.pt", "config.json"}, Opts(),
       {"config.json", "model_traced.pt"}, "torchscript", {"model_traced.pt"}, "pytorch"},
      {"safetensors only: not executable",
       {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "pytorch_model.bin", "tokenizer.model", "config.json",
        "optimizer.pt"},
       Opts(),
       {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "model.safetensors.index.json", "tokenizer.model"},
       "none", {}, "safetensors"},
      {"pytorch bin only", {"pytorch_model.bin", "config.json", "training_args.bin"}, Opts(),
       {"config.json", "pytorch_model.bin"}, "none", {}, "pytorch"},
      {"include globs: '*' crosses '/'", xenova, Opts("auto", "", {"*.onnx", "config.json"}),
       {"config.json", "onnx/model.onnx", "onnx/model_fp16.onnx", "onnx/model_quantized.onnx"},
       "onnx", {"onnx/model.onnx", "onnx/model_fp16.onnx", "onnx/model_quantized.onnx"}, "onnx"},
      {"include selects safetensors", {"model.safetensors", "config.json", "m.onnx"},
       Opts("auto", "", {"model.safetensors"}), {"model.safetensors"}, "none", {}, "safetensors"},
      // TFLite: executable, after onnx and torchscript, before safetensors/pytorch/tensorflow.
      {"tflite alone", {"hand_landmark.tflite", "README.md", "labels.txt"}, Opts(),
       {"README.md", "hand_landmark.tflite", "labels.txt"}, "tflite", {"hand_landmark.tflite"},
       "tflite"},
      {"tflite in a directory", {"1/model.tflite"}, Opts(), {"1/model.tflite"}, "tflite",
       {"1/model.tflite"}, "tflite"},
      {"tflite before safetensors, pytorch and a SavedModel",
       {"m.tflite", "m.safetensors", "pytorch_model.bin", "saved_model.pb",
        "variables/variables.index", "m.h5"},
       Opts(), {"m.tflite"}, "tflite", {"m.tflite"}, "tflite"},
      {"onnx before tflite", {"m.tflite", "m.onnx"}, Opts(), {"m.onnx"}, "onnx", {"m.onnx"},
       "onnx"},
      {"torchscript before tflite", {"m.tflite", "m.ptl"}, Opts(), {"m.ptl"}, "torchscript",
       {"m.ptl"}, "pytorch"},
      {"format tflite overrides the preference", {"m.tflite", "m.onnx", "config.json"},
       Opts("tflite"), {"config.json", "m.tflite"}, "tflite", {"m.tflite"}, "tflite"},
      {"format is case-insensitive", {"m.tflite", "m.onnx"}, Opts("TFLite"), {"m.tflite"}, "tflite",
       {"m.tflite"}, "tflite"},
      {"tflite base variant first", {"model.tflite", "model_int8.tflite", "model_float16.tflite"},
       Opts(), {"model.tflite"}, "tflite", {"model.tflite"}, "tflite"},
      {"tflite float16 before int8", {"model_int8.tflite", "model_float16.tflite"}, Opts(),
       {"model_float16.tflite"}, "tflite", {"model_float16.tflite"}, "tflite"},
      {"tflite variant via quant", {"model.tflite", "model_int8.tflite"}, Opts("tflite", "INT8"),
       {"model_int8.tflite"}, "tflite", {"model_int8.tflite"}, "tflite"},
      {"tflite by include", {"a.tflite", "b.tflite", "m.onnx"}, Opts("auto", "", {"b.tflite"}),
       {"b.tflite"}, "tflite", {"b.tflite"}, "tflite"},
      {"a SavedModel stays tensorflow, not executable",
       {"saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"},
       Opts(),
       {"saved_model.pb", "variables/variables.data-00000-of-00001", "variables/variables.index"},
       "none", {}, "tensorflow"},
      // TorchScript IO sidecars come along (the most specific one); not for other formats.
      {"torchscript with its stem sidecar", {"net_traced.pt", "net_traced.io.yaml", "io.yaml"},
       Opts(), {"net_traced.io.yaml", "net_traced.pt"}, "torchscript", {"net_traced.pt"},
       "pytorch"},
      {"torchscript with io.yaml", {"sub/model.ptl", "sub/io.yaml", "io.yaml", "other.io.yaml"},
       Opts(), {"sub/io.yaml", "sub/model.ptl"}, "torchscript", {"sub/model.ptl"}, "pytorch"},
      {"the sidecar comes along with --include", {"model.ptl", "model.io.yaml"},
       Opts("auto", "", {"*.ptl"}), {"model.io.yaml", "model.ptl"}, "torchscript", {"model.ptl"},
       "pytorch"},
      {"pytorch hub: hubconf.py comes along", {"hubconf.py", "resnet18-f37072fd.pth"}, Opts(),
       {"hubconf.py", "resnet18-f37072fd.pth"}, "none", {}, "pytorch"},
      {"no sidecar for onnx", {"model.onnx", "model.io.yaml", "io.yaml"}, Opts(), {"model.onnx"},
       "onnx", {"model.onnx"}, "onnx"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto sel = SelectFiles(Files(c.repo), c.opts);
    ASSERT_TRUE(sel.ok()) << sel.status().ToString();
    EXPECT_EQ(Paths(*sel), c.want_files);
    EXPECT_EQ(sel->execution_format, c.want_format);
    EXPECT_EQ(sel->execution_files, c.want_exec);
    EXPECT_EQ(sel->framework, c.want_framework);
  }
}

TEST(SelectFilesTest, ContentMarkedTorchScriptWinsOverItsName) {
  // A local model.pt found to be a TorchScript archive inside (RemoteFile::torchscript).
  std::vector<RemoteFile> files = Files({"model.pt", "state.pth", "config.json", "model.io.yaml"});
  files[0].torchscript = true;
  auto sel = SelectFiles(files, Opts());
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->execution_format, "torchscript");
  EXPECT_EQ(sel->execution_files, std::vector<std::string>{"model.pt"});
  EXPECT_EQ(Paths(*sel), (std::vector<std::string>{"config.json", "model.io.yaml", "model.pt"}));
  files[0].torchscript = false;  // by its name a .pt is a state dict: not executable
  sel = SelectFiles(files, Opts());
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->execution_format, "none");
  EXPECT_EQ(Paths(*sel), (std::vector<std::string>{"config.json", "model.pt", "state.pth"}));
}

TEST(SelectFilesTest, Errors) {
  auto sel = SelectFiles(Files({"a.Q4_K_M.gguf"}), Opts("auto", "Q5_K_M"));
  ASSERT_FALSE(sel.ok());
  EXPECT_EQ(sel.status().code(), StatusCode::kNotFound);
  EXPECT_NE(sel.status().message().find("Q5_K_M"), std::string::npos);
  EXPECT_NE(sel.status().message().find("a.Q4_K_M.gguf"), std::string::npos);

  sel = SelectFiles(Files({"model.safetensors", "config.json"}), Opts("onnx"));
  ASSERT_FALSE(sel.ok());
  EXPECT_NE(sel.status().message().find("model.safetensors"), std::string::npos);

  sel = SelectFiles(Files({"README.md", "config.json"}), Opts());
  EXPECT_EQ(sel.status().code(), StatusCode::kNotFound);

  sel = SelectFiles(Files({"m.onnx"}), Opts("auto", "", {"*.gguf"}));
  EXPECT_EQ(sel.status().code(), StatusCode::kNotFound);
  EXPECT_NE(sel.status().message().find("*.gguf"), std::string::npos);

  sel = SelectFiles(Files({"m.onnx"}), Opts("tensorrt"));
  EXPECT_EQ(sel.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sel.status().message().find("tflite"), std::string::npos) << sel.status().message();

  sel = SelectFiles(Files({"m.onnx", "saved_model.pb"}), Opts("tflite"));
  ASSERT_EQ(sel.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sel.status().message(), "no tflite file; model files present: m.onnx, saved_model.pb");

  sel = SelectFiles(Files({"model.tflite", "model_int8.tflite"}), Opts("tflite", "fp16"));
  ASSERT_EQ(sel.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sel.status().message(), "no TFLite variant \"fp16\"; available: (base), int8");

  sel = SelectFiles(Files({"README.md"}), Opts());
  EXPECT_NE(sel.status().message().find("tflite"), std::string::npos) << sel.status().message();

  for (const char* bad : {"../evil.onnx", "/etc/passwd", "a/../../b.onnx", "a//b.onnx"}) {
    sel = SelectFiles(Files({"m.onnx", bad}), Opts());
    ASSERT_FALSE(sel.ok()) << bad;
    EXPECT_EQ(sel.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(sel.status().message().find(bad), std::string::npos) << sel.status().message();
  }
}

}  // namespace
}  // namespace mlos::axon
