#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "client/tensor_file.h"

namespace mlos::client {
namespace {

std::string Header(const std::string& dict, uint8_t major = 1) {
  std::string h = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  if (major != 1) {
    out.push_back(0);
    out.push_back(0);
  }
  return out + h;
}

TEST(NpyTest, RoundTripsEveryDtype) {
  const char* dtypes[] = {"float16", "float32", "float64", "int8",   "int16",  "int32",
                          "int64",   "uint8",   "uint16",  "uint32", "uint64", "bool"};
  for (const char* dt : dtypes) {
    SCOPED_TRACE(dt);
    Tensor t;
    t.name = "x";
    t.dtype = dt;
    t.shape = {2, 3};
    for (int i = 0; i < 6 * static_cast<int>(DtypeSize(dt)); ++i) {
      t.data.push_back(static_cast<uint8_t>(std::string(dt) == "bool" ? i % 2 : i * 7 + 1));
    }
    auto bytes = EncodeNpy(t);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    EXPECT_EQ((bytes->size() - t.data.size()) % 64, 0u) << "header padded to 64 bytes";
    auto back = DecodeNpy(*bytes, "x");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->dtype, t.dtype);
    EXPECT_EQ(back->shape, t.shape);
    EXPECT_EQ(back->data, t.data);
  }
}

TEST(NpyTest, ScalarsAndOneDimensionalShapes) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, {5}, {0}, {1, 0, 3}}) {
    Tensor t = Tensor::From<float>("s", "float32", shape,
                                   std::vector<float>(static_cast<size_t>(ElementCount(shape)), 1.5f));
    auto bytes = EncodeNpy(t);
    ASSERT_TRUE(bytes.ok());
    auto back = DecodeNpy(*bytes);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->shape, shape);
    EXPECT_EQ(back->data, t.data);
  }
  // A 1-D shape is written as a Python one-tuple "(5,)".
  Tensor t = Tensor::From<int32_t>("v", "int32", {5}, {1, 2, 3, 4, 5});
  EXPECT_NE(EncodeNpy(t)->find("'shape': (5,)"), std::string::npos);
}

TEST(NpyTest, ReadsWhatNumpyWrites) {
  // np.save of np.arange(3, dtype='<i8').reshape(1,3), and a v2.0 file.
  std::string data(24, '\0');
  for (int i = 0; i < 3; ++i) data[static_cast<size_t>(i) * 8] = static_cast<char>(i);
  for (uint8_t major : {1, 2}) {
    auto t = DecodeNpy(Header("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3), }",
                              major) + data);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->dtype, "int64");
    EXPECT_EQ(t->shape, (std::vector<int64_t>{1, 3}));
    EXPECT_EQ(t->As<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  }
  // One-byte types with any order mark.
  EXPECT_EQ(DecodeNpy(Header("{'descr': '<u1', 'fortran_order': False, 'shape': (2,), }") + "ab")
                ->dtype,
            "uint8");
  EXPECT_EQ(DecodeNpy(Header("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }") +
                      std::string(1, '\1'))->dtype,
            "bool");
}

TEST(NpyTest, RefusesMalformedFiles) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string eight(8, '\0');
  struct Case {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"empty", ""},
      {"bad magic", "\x93NUMPZ" + Header(ok_dict).substr(6) + eight},
      {"version 9", [&] { std::string h = Header(ok_dict) + eight; h[6] = 9; return h; }()},
      {"header past end", Header(ok_dict).substr(0, 40)},
      {"big endian", Header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }") + eight},
      {"fortran", Header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }") + eight},
      {"object dtype", Header("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }") + eight},
      {"unicode dtype", Header("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }") + eight},
      {"short data", Header(ok_dict) + "1234"},
      {"long data", Header(ok_dict) + eight + "x"},
      {"missing shape", Header("{'descr': '<f4', 'fortran_order': False, }") + eight},
      {"negative dim", Header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }") + eight},
      {"not a dict", Header("['descr', '<f4']") + eight},
      {"unknown key", Header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}") +
                          eight},
      {"garbage shape", Header("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }") + eight},
      {"huge dim", Header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }") + eight},
  };
  for (const Case& c : cases) {
    auto t = DecodeNpy(c.bytes);
    EXPECT_FALSE(t.ok()) << c.what;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << c.what;
    }
  }
}

TEST(NpyTest, RefusesTensorsNpyCannotHold) {
  Tensor s;
  s.name = "s";
  s.dtype = "string";
  s.shape = {1};
  s.strings = {"a"};
  EXPECT_FALSE(EncodeNpy(s).ok());
  Tensor bad = Tensor::From<float>("b", "float32", {3}, {1.f, 2.f});
  EXPECT_FALSE(EncodeNpy(bad).ok());
}

TEST(JsonTensorTest, NestedArraysAndShapeData) {
  auto t = DecodeJsonTensor("[[1.5, 2], [3, 4]]", "x");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->dtype, "float32");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t->As<float>(), (std::vector<float>{1.5f, 2, 3, 4}));

  auto i = DecodeJsonTensor("[1, 2, 3]", "i");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->dtype, "int64");

  auto hinted = DecodeJsonTensor("[1, 2, 3]", "h", "float32");
  ASSERT_TRUE(hinted.ok());
  EXPECT_EQ(hinted->dtype, "float32");
  EXPECT_EQ(hinted->As<float>(), (std::vector<float>{1, 2, 3}));

  auto obj = DecodeJsonTensor(R"({"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6], "dtype": "int32"})",
                              "o", "float32");
  ASSERT_TRUE(obj.ok()) << obj.status().message();
  EXPECT_EQ(obj->dtype, "int32");
  EXPECT_EQ(obj->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(obj->As<int32_t>()[5], 6);

  auto b = DecodeJsonTensor("[true, false]", "b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dtype, "bool");
  EXPECT_EQ(b->data, (std::vector<uint8_t>{1, 0}));

  auto half = DecodeJsonTensor("[1.0, -2.0, 0.5]", "f", "float16");
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->As<uint16_t>(), (std::vector<uint16_t>{0x3c00, 0xc000, 0x3800}));
}

TEST(JsonTensorTest, RefusesBadDocuments) {
  EXPECT_FALSE(DecodeJsonTensor("[[1, 2], [3]]", "r").ok());
  EXPECT_FALSE(DecodeJsonTensor("[[1, 2], 3]", "r").ok());
  EXPECT_FALSE(DecodeJsonTensor("{\"shape\": [3], \"data\": [1, 2]}", "s").ok());
  EXPECT_FALSE(DecodeJsonTensor("{\"shape\": [2]}", "s").ok());
  EXPECT_FALSE(DecodeJsonTensor("[1.5]", "i", "int32").ok());
  EXPECT_FALSE(DecodeJsonTensor("[\"a\"]", "n", "float32").ok());
  EXPECT_FALSE(DecodeJsonTensor("[1", "m").ok());
  EXPECT_FALSE(DecodeJsonTensor("{\"data\": [1], \"dtype\": \"complex64\"}", "d").ok());
}

// Files written by NumPy itself decode to the same values, and NumPy reads what we write
// (skipped where /usr/bin/python3 has no numpy).
TEST(NpyTest, InteroperatesWithNumpy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 with numpy not available";
  }
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "npy-test-XXXXXX").string();
  const fs::path dir = ::mkdtemp(tmpl.data());
  const char* dtypes[] = {"float16", "float32", "float64", "int8",   "int16",  "int32",
                          "int64",   "uint8",   "uint16",  "uint32", "uint64", "bool"};
  // NumPy writes arange(6) reshaped to (2, 3) (bool: x % 2) for each dtype, plus a scalar.
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "for t in ['float16','float32','float64','int8','int16','int32','int64','uint8','uint16',"
      "'uint32','uint64','bool']:\n"
      "    a = (np.arange(6) % 2).astype(t) if t == 'bool' else np.arange(6).astype(t)\n"
      "    np.save(f'{d}/{t}.npy', a.reshape(2, 3))\n"
      "np.save(f'{d}/scalar.npy', np.float32(2.5))\n";
  std::ofstream(dir / "gen.py") << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "gen.py").string() + " " + dir.string())
                            .c_str()),
            0);
  for (const char* dt : dtypes) {
    SCOPED_TRACE(dt);
    std::ifstream in(dir / (std::string(dt) + ".npy"), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto t = DecodeNpy(bytes, dt);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->dtype, dt);
    EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
    if (std::string(dt) == "int64") {
      EXPECT_EQ(t->As<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
    }
    if (std::string(dt) == "float32") {
      EXPECT_EQ(t->As<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
    }
    // Write it back; NumPy must load an identical array.
    auto again = EncodeNpy(*t);
    ASSERT_TRUE(again.ok());
    std::ofstream(dir / (std::string(dt) + ".back.npy"), std::ios::binary) << *again;
  }
  std::ifstream sin(dir / "scalar.npy", std::ios::binary);
  auto scalar = DecodeNpy(std::string((std::istreambuf_iterator<char>(sin)), {}));
  ASSERT_TRUE(scalar.ok()) << scalar.status().message();
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->As<float>(), std::vector<float>{2.5f});
  const std::string check =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "for t in ['float16','float32','float64','int8','int16','int32','int64','uint8','uint16',"
      "'uint32','uint64','bool']:\n"
      "    a, b = np.load(f'{d}/{t}.npy'), np.load(f'{d}/{t}.back.npy')\n"
      "    assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all(), t\n";
  std::ofstream(dir / "check.py") << check;
  EXPECT_EQ(std::system(("/usr/bin/python3 " + (dir / "check.py").string() + " " + dir.string())
                            .c_str()),
            0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlos::client
