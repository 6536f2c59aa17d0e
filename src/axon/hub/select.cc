// SelectFiles: which files of a resolved repo to install, and what runs them.
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "axon/hub/gguf_files.h"
#include "axon/hub/hub.h"
#include "axon/inspect/sidecar_io.h"
#include "common/fs.h"

namespace mlos::axon {
namespace {

enum class Kind {
  kGguf,
  kOnnx,
  kOnnxData,  // external data of an .onnx file
  kTorchScript,
  kTflite,
  kSafetensors,
  kPytorch,
  kTensorflow,
  kCompanion,  // config, tokenizer, README...
  kIoSidecar,  // io.yaml / <stem>.io.yaml: the IO schema of a TorchScript file
  kOther,
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Kind Classify(const RemoteFile& file) {
  const std::string l = Lower(file.path);
  const std::string b = Base(l);
  if (file.torchscript) return Kind::kTorchScript;
  if (EndsWith(b, ".gguf")) return Kind::kGguf;
  if (EndsWith(b, ".onnx")) return Kind::kOnnx;
  if (Contains(b, ".onnx_data") || Contains(b, ".onnx.data")) return Kind::kOnnxData;
  if (EndsWith(b, ".torchscript") || EndsWith(b, ".ptl")) return Kind::kTorchScript;
  const bool pt = EndsWith(b, ".pt") || EndsWith(b, ".pth");
  if (pt && (Contains(b, "torchscript") || Contains(b, "traced") || Contains(b, "scripted") ||
             Contains(b, "_jit") || Contains(b, "-jit")))
    return Kind::kTorchScript;
  if (EndsWith(b, ".tflite")) return Kind::kTflite;
  if (EndsWith(b, ".safetensors")) return Kind::kSafetensors;
  // Training state is not a model.
  for (const char* skip : {"optimizer", "scheduler", "rng_state", "training_args"})
    if (StartsWith(b, skip)) return Kind::kOther;
  if (pt || EndsWith(b, ".bin") || EndsWith(b, ".ckpt")) return Kind::kPytorch;
  if (EndsWith(b, ".h5") || EndsWith(b, ".keras") || b == "saved_model.pb" ||
      b == "saved_model.pbtxt" || Contains(l, "variables/variables."))
    return Kind::kTensorflow;
  if (IsIoSidecarName(b)) return Kind::kIoSidecar;
  if (EndsWith(b, ".json") || EndsWith(b, ".txt") || EndsWith(b, ".model") ||
      StartsWith(b, "tokenizer") || StartsWith(b, "vocab") || StartsWith(b, "merges") ||
      b == "readme.md" || b == "hubconf.py")  // PyTorch Hub: the model's code
    return Kind::kCompanion;
  return Kind::kOther;
}

// Variant of an ONNX or TFLite file: the suffix of its stem after the last '_' when it is a
// known precision/quant tag of that format ("model_fp16.onnx" -> "fp16", "model_int8.tflite" ->
// "int8"), else "" (the base model).
std::string VariantTag(const std::string& path, Kind kind) {
  std::string stem = Lower(Base(path));
  if (size_t dot = stem.rfind('.'); dot != std::string::npos) stem.resize(dot);
  size_t us = stem.rfind('_');
  if (us == std::string::npos) return "";
  std::string tag = stem.substr(us + 1);
  static const std::set<std::string> kOnnxTags = {
      "fp16", "fp32", "int8", "uint8", "quantized", "q4", "q4f16", "bnb4", "int4", "q8", "quint8",
      "qint8"};
  // What TFLite converters and model zoos put after the name.
  static const std::set<std::string> kTfliteTags = {
      "fp16", "fp32", "float16", "float32", "int8", "uint8", "int16", "quant", "quantized",
      "dynamic", "int4"};
  const auto& tags = kind == Kind::kTflite ? kTfliteTags : kOnnxTags;
  return tags.count(tag) ? tag : "";
}

int VariantRank(const std::string& v) {
  static const std::array<const char*, 18> kOrder = {
      "",     "fp32",   "float32", "fp16", "float16", "quantized", "quant", "dynamic", "int16",
      "int8", "uint8",  "q8",      "qint8", "quint8", "q4f16",     "q4",    "int4",    "bnb4"};
  for (size_t i = 0; i < kOrder.size(); ++i)
    if (v == kOrder[i]) return static_cast<int>(i);
  return 100;
}

std::string JoinNames(const std::vector<const RemoteFile*>& files, size_t max = 8) {
  std::string out;
  for (size_t i = 0; i < files.size() && i < max; ++i) out += (i ? ", " : "") + files[i]->path;
  if (files.size() > max) out += ", ...";
  return out;
}

struct Picked {
  std::vector<const RemoteFile*> files;       // weights/executables of the chosen format
  std::vector<std::string> execution_files;
};

// One GGUF variant (ChooseGgufVariant: --quant, else the default preference, else the smallest;
// a split set as a whole, its first shard the execution file).
Result<Picked> PickGguf(const std::vector<const RemoteFile*>& all, const std::string& quant) {
  std::vector<RemoteFile> listing;
  for (const RemoteFile* f : all) listing.push_back(*f);
  MLOS_ASSIGN_OR_RETURN(GgufVariant v, ChooseGgufVariant(listing, quant));
  Picked p;
  for (const RemoteFile& chosen : v.files)
    for (const RemoteFile* f : all)
      if (f->path == chosen.path) p.files.push_back(f);
  p.execution_files.push_back(v.files.front().path);
  return p;
}

// One ONNX or TFLite variant (--quant names it, else the best by VariantRank); every file of
// the variant is an execution file; ONNX external data files come along.
Picked PickVariant(Kind kind, const std::vector<const RemoteFile*>& models,
                   const std::vector<const RemoteFile*>& data, const std::string& quant,
                   Status* error) {
  std::map<std::string, std::vector<const RemoteFile*>> groups;
  for (const RemoteFile* f : models) groups[VariantTag(f->path, kind)].push_back(f);
  std::string chosen;
  bool found = false;
  if (!quant.empty()) {
    const std::string q = Lower(quant);
    for (const auto& [variant, files] : groups) {
      if (variant == q) {
        chosen = variant;
        found = true;
      }
    }
    if (!found) {
      std::string names;
      for (const auto& [variant, files] : groups) names += (names.empty() ? "" : ", ") + (variant.empty() ? std::string("(base)") : variant);
      *error = NotFound(std::string("no ") + (kind == Kind::kTflite ? "TFLite" : "ONNX") +
                        " variant \"" + quant + "\"; available: " + names);
      return {};
    }
  } else {
    int best = 1 << 30;
    for (const auto& [variant, files] : groups) {
      int r = VariantRank(variant);
      if (r < best) {
        best = r;
        chosen = variant;
      }
    }
  }
  Picked p;
  for (const RemoteFile* f : groups[chosen]) {
    p.files.push_back(f);
    p.execution_files.push_back(f->path);
    // External data beside it: "<model>.onnx_data", "<model>.onnx.data", "<model>.onnx_data_1"...
    for (const RemoteFile* d : data)
      if (StartsWith(d->path, f->path + "_data") || StartsWith(d->path, f->path + ".data"))
        p.files.push_back(d);
  }
  return p;
}

const char* FrameworkOf(Kind k) {
  switch (k) {
    case Kind::kGguf: return "gguf";
    case Kind::kOnnx: return "onnx";
    case Kind::kTorchScript: return "pytorch";
    case Kind::kTflite: return "tflite";
    case Kind::kSafetensors: return "safetensors";
    case Kind::kPytorch: return "pytorch";
    case Kind::kTensorflow: return "tensorflow";
    default: return "";
  }
}

const char* ExecutionFormatOf(Kind k) {
  switch (k) {
    case Kind::kGguf: return "gguf";
    case Kind::kOnnx: return "onnx";
    case Kind::kTorchScript: return "torchscript";
    case Kind::kTflite: return "tflite";
    default: return "none";
  }
}

}  // namespace

Result<Selection> SelectFiles(const std::vector<RemoteFile>& files, const InstallOptions& opts) {
  for (const RemoteFile& f : files) {
    if (!IsSafeRelativePath(f.path))
      return InvalidArgument("unsafe file path \"" + f.path + "\" in the repository listing");
  }
  const std::string format = Lower(opts.format.empty() ? "auto" : opts.format);
  static const std::map<std::string, Kind> kFormats = {
      {"gguf", Kind::kGguf},         {"onnx", Kind::kOnnx},
      {"torchscript", Kind::kTorchScript}, {"tflite", Kind::kTflite},
      {"safetensors", Kind::kSafetensors}, {"pytorch", Kind::kPytorch},
      {"tensorflow", Kind::kTensorflow}};
  if (format != "auto" && !kFormats.count(format)) {
    return InvalidArgument("unknown format \"" + opts.format +
                           "\" (expected auto, onnx, gguf, torchscript, tflite, safetensors, "
                           "pytorch or tensorflow)");
  }

  // Candidates: everything, or what the --include globs match.
  std::vector<const RemoteFile*> pool;
  for (const RemoteFile& f : files) {
    if (opts.include.empty()) {
      pool.push_back(&f);
      continue;
    }
    for (const std::string& glob : opts.include) {
      if (::fnmatch(glob.c_str(), f.path.c_str(), 0) == 0) {
        pool.push_back(&f);
        break;
      }
    }
  }
  if (!opts.include.empty() && pool.empty()) {
    std::string globs;
    for (const auto& g : opts.include) globs += (globs.empty() ? "" : " ") + g;
    return NotFound("no file matches --include " + globs + " (" + std::to_string(files.size()) +
                    " files in the repository)");
  }

  std::map<Kind, std::vector<const RemoteFile*>> by_kind;
  for (const RemoteFile* f : pool) by_kind[Classify(*f)].push_back(f);
  auto has = [&](Kind k) { return by_kind.count(k) && !by_kind[k].empty(); };

  static const std::array<Kind, 7> kPreference = {
      Kind::kGguf,        Kind::kOnnx,    Kind::kTorchScript, Kind::kTflite,
      Kind::kSafetensors, Kind::kPytorch, Kind::kTensorflow};
  Kind chosen = Kind::kOther;
  if (format != "auto") {
    chosen = kFormats.at(format);
    if (!has(chosen)) {
      std::vector<const RemoteFile*> weights;
      for (Kind k : kPreference)
        for (const RemoteFile* f : by_kind[k]) weights.push_back(f);
      return NotFound("no " + format + " file" + (opts.include.empty() ? "" : " among the included files") +
                      (weights.empty() ? std::string() : "; model files present: " + JoinNames(weights)));
    }
  } else {
    for (Kind k : kPreference) {
      if (has(k)) {
        chosen = k;
        break;
      }
    }
  }

  Selection sel;
  std::set<const RemoteFile*> picked;
  if (!opts.include.empty()) {
    // The user chose the files: keep all of them, and report what runs them.
    for (const RemoteFile* f : pool) picked.insert(f);
    if (chosen != Kind::kOther) {
      for (const RemoteFile* f : by_kind[chosen]) {
        bool first = true;
        if (chosen == Kind::kGguf) {
          first = ParseGgufSplitName(f->path).index <= 1;
          if (Contains(Lower(Base(f->path)), "mmproj") && by_kind[chosen].size() > 1) first = false;
        }
        if (first && ExecutionFormatOf(chosen) != std::string("none"))
          sel.execution_files.push_back(f->path);
      }
    }
  } else {
    if (chosen == Kind::kOther) {
      return NotFound("no model files (gguf, onnx, torchscript, tflite, safetensors, pytorch, "
                      "tensorflow) "
                      "among the " + std::to_string(files.size()) + " files of the repository");
    }
    Picked p;
    if (chosen == Kind::kGguf) {
      MLOS_ASSIGN_OR_RETURN(p, PickGguf(by_kind[Kind::kGguf], opts.quant));
    } else if (chosen == Kind::kOnnx || chosen == Kind::kTflite) {
      Status err;
      const std::vector<const RemoteFile*> no_data;
      p = PickVariant(chosen, by_kind[chosen],
                      chosen == Kind::kOnnx ? by_kind[Kind::kOnnxData] : no_data, opts.quant, &err);
      if (!err.ok()) return err;
    } else {
      p.files = by_kind[chosen];
      if (chosen == Kind::kTorchScript)
        for (const RemoteFile* f : p.files) p.execution_files.push_back(f->path);
    }
    for (const RemoteFile* f : p.files) picked.insert(f);
    for (const RemoteFile* f : by_kind[Kind::kCompanion]) picked.insert(f);
    sel.execution_files = p.execution_files;
  }
  // A TorchScript file's IO sidecar comes along, included or not (the most specific one).
  if (chosen == Kind::kTorchScript) {
    for (const std::string& exec : sel.execution_files) {
      for (const std::string& candidate : IoSidecarPaths(exec)) {
        auto it = std::find_if(files.begin(), files.end(),
                               [&](const RemoteFile& f) { return f.path == candidate; });
        if (it != files.end()) {
          picked.insert(&*it);
          break;
        }
      }
    }
  }

  for (const RemoteFile& f : files)
    if (picked.count(&f)) sel.files.push_back(f);
  std::sort(sel.files.begin(), sel.files.end(),
            [](const RemoteFile& a, const RemoteFile& b) { return a.path < b.path; });
  std::sort(sel.execution_files.begin(), sel.execution_files.end());
  sel.execution_format = chosen == Kind::kOther ? "none" : ExecutionFormatOf(chosen);
  sel.framework = FrameworkOf(chosen);
  return sel;
}

}  // namespace mlos::axon
