#include "axon/hub/gguf_files.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace mlos::axon {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool EndsWithNoCase(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && Lower(s.substr(s.size() - suffix.size())) == suffix;
}

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The file name without the split suffix and without ".gguf".
std::string Stem(const std::string& path) {
  std::string b = Base(ParseGgufSplitName(path).key);
  if (EndsWithNoCase(b, ".gguf")) b.resize(b.size() - 5);
  return b;
}

// Whether an upper-cased token is a quantisation name.
bool IsQuantToken(const std::string& t) {
  static const char* const kPlain[] = {"F16", "BF16", "F32", "F64", "TQ1_0", "TQ2_0", "MXFP4",
                                       "MXFP4_MOE"};
  for (const char* p : kPlain)
    if (t == p) return true;
  // I?Q<digits>(_<alnum>+)*
  size_t i = t.rfind("IQ", 0) == 0 ? 2 : (t.rfind('Q', 0) == 0 ? 1 : std::string::npos);
  if (i == std::string::npos || i >= t.size() || !IsDigit(t[i])) return false;
  while (i < t.size() && IsDigit(t[i])) ++i;
  while (i < t.size()) {
    if (t[i] != '_' || i + 1 >= t.size() || !IsAlnum(t[i + 1])) return false;
    ++i;
    while (i < t.size() && IsAlnum(t[i])) ++i;
  }
  return true;
}

std::string Describe(const GgufVariant& v) {
  std::string s = (v.quant.empty() ? std::string("untagged") : v.quant) + " (" +
                  v.files.front().path;
  if (v.files.size() > 1) s += ", " + std::to_string(v.files.size()) + " shards";
  return s + ")";
}

}  // namespace

GgufSplitName ParseGgufSplitName(const std::string& path) {
  GgufSplitName out;
  out.key = path;
  // ...-NNNNN-of-NNNNN.gguf
  static const size_t kTail = std::string("-00001-of-00003.gguf").size();
  const size_t n = path.size();
  if (n <= kTail || !EndsWithNoCase(path, ".gguf")) return out;
  const std::string tail = Lower(path.substr(n - kTail));
  if (tail[0] != '-' || tail.compare(6, 4, "-of-") != 0) return out;
  int index = 0, count = 0;
  for (size_t i = 1; i <= 5; ++i) {
    if (!IsDigit(tail[i]) || !IsDigit(tail[i + 9])) return out;
    index = index * 10 + (tail[i] - '0');
    count = count * 10 + (tail[i + 9] - '0');
  }
  out.key = path.substr(0, n - kTail) + path.substr(n - 5);  // keeps the ".gguf" as written
  out.index = index;
  out.count = count;
  return out;
}

std::string GgufQuantTag(const std::string& path) {
  const std::string stem = Stem(path);
  std::string found;
  size_t covered = 0;  // a tag's own '_' does not start another tag
  for (size_t i = 0; i < stem.size(); ++i) {
    if (i > 0 && stem[i - 1] != '-' && stem[i - 1] != '.' && stem[i - 1] != '_') continue;
    if (i < covered) continue;
    size_t end = i;
    while (end < stem.size() && (IsAlnum(stem[end]) || stem[end] == '_')) ++end;
    if (end == i || (end < stem.size() && stem[end] != '-' && stem[end] != '.')) continue;
    std::string token = Upper(stem.substr(i, end - i));
    if (IsQuantToken(token)) {
      found = token;
      covered = end;
    }
  }
  return found;
}

bool GgufQuantMatches(const std::string& path, const std::string& quant) {
  const std::string b = Lower(Stem(path));
  const std::string q = Lower(quant);
  if (q.empty()) return false;
  for (size_t at = b.find(q); at != std::string::npos; at = b.find(q, at + 1)) {
    bool before_ok = at == 0 || !IsAlnum(b[at - 1]);
    size_t end = at + q.size();
    bool after_ok = end == b.size() || b[end] == '-' || b[end] == '.';
    if (before_ok && after_ok) return true;
  }
  return false;
}

std::vector<GgufVariant> GroupGgufVariants(const std::vector<RemoteFile>& files) {
  std::vector<const RemoteFile*> gguf, models;
  for (const RemoteFile& f : files) {
    if (!EndsWithNoCase(f.path, ".gguf")) continue;
    gguf.push_back(&f);
    if (Lower(Base(f.path)).find("mmproj") == std::string::npos) models.push_back(&f);
  }
  if (models.empty()) models = gguf;

  std::map<std::string, std::vector<std::pair<GgufSplitName, const RemoteFile*>>> groups;
  for (const RemoteFile* f : models) {
    GgufSplitName s = ParseGgufSplitName(f->path);
    groups[s.key].push_back({s, f});
  }
  std::vector<GgufVariant> out;
  for (auto& [key, members] : groups) {
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a.first.index < b.first.index; });
    GgufVariant v;
    v.key = key;
    v.quant = GgufQuantTag(key);
    for (const auto& [split, f] : members) {
      v.files.push_back(*f);
      if (!f->size_known || v.bytes == UINT64_MAX || f->size > UINT64_MAX - v.bytes) {
        v.bytes = UINT64_MAX;
      } else {
        v.bytes += f->size;
      }
    }
    int count = 0;
    for (const auto& [split, f] : members) count = std::max(count, split.count);
    if (count > 0) {
      std::string missing;
      bool mixed = false;  // a shard count that differs, or an unsplit file with the same name
      for (const auto& [split, f] : members) mixed = mixed || split.count != count;
      int expect = 1;
      for (const auto& [split, f] : members) {
        for (; expect < split.index && expect <= count; ++expect)
          missing += (missing.empty() ? "" : ", ") + std::to_string(expect);
        if (split.index == expect) ++expect;
      }
      for (; expect <= count; ++expect)
        missing += (missing.empty() ? "" : ", ") + std::to_string(expect);
      if (mixed) {
        v.complete = false;
        v.problem = "its shards disagree on the shard count";
      } else if (!missing.empty()) {
        v.complete = false;
        v.problem = "shard(s) " + missing + " of " + std::to_string(count) + " missing";
      } else if (static_cast<int>(members.size()) != count) {
        v.complete = false;
        v.problem = "shard numbers out of range or repeated";
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<GgufVariant> ChooseGgufVariant(const std::vector<RemoteFile>& files,
                                      const std::string& quant) {
  std::vector<GgufVariant> variants = GroupGgufVariants(files);
  if (variants.empty()) return NotFound("no GGUF file in the repository");
  const GgufVariant* chosen = nullptr;
  auto first_matching = [&](const std::string& q) -> const GgufVariant* {
    const GgufVariant* any = nullptr;
    for (const GgufVariant& v : variants) {
      if (!GgufQuantMatches(v.key, q)) continue;
      if (v.complete) return &v;
      if (any == nullptr) any = &v;
    }
    return any;
  };
  if (!quant.empty()) {
    chosen = first_matching(quant);
    if (chosen == nullptr) {
      std::string available;
      for (const GgufVariant& v : variants)
        available += (available.empty() ? "" : ", ") + Describe(v);
      return NotFound("no GGUF file matches quantization \"" + quant + "\"; available: " +
                      available);
    }
  } else {
    for (const char* q : kDefaultGgufQuants) {
      const GgufVariant* v = first_matching(q);
      if (v != nullptr && v->complete) {
        chosen = v;
        break;
      }
    }
    if (chosen == nullptr) {  // else the smallest complete one (the first by name on a tie)
      for (const GgufVariant& v : variants)
        if (v.complete && (chosen == nullptr || v.bytes < chosen->bytes)) chosen = &v;
    }
    if (chosen == nullptr) chosen = &variants.front();
  }
  if (!chosen->complete) {
    return FailedPrecondition("split GGUF set \"" + chosen->key + "\" is incomplete: " +
                              chosen->problem + " (choose another quantization with --quant)");
  }
  return *chosen;
}

}  // namespace mlos::axon
