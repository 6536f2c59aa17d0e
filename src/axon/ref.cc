#include "axon/ref.h"

#include <algorithm>
#include <vector>

namespace mlos::axon {
namespace {

bool ValidSegment(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

bool ValidVersion(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '+';
  });
}

std::string CanonicalNamespace(const std::string& ns) {
  if (ns == "hf" || ns == "huggingface") return "hf";
  if (ns == "modelscope" || ns == "ms") return "modelscope";
  if (ns == "pytorch" || ns == "torch") return "pytorch";
  if (ns == "tfhub" || ns == "tf" || ns == "kaggle") return "tfhub";
  if (ns == "local") return "local";
  return "";
}

}  // namespace

Result<ModelRef> ParseModelRef(const std::string& text,
                               const std::vector<std::string>& extra_namespaces) {
  if (text.empty()) return InvalidArgument("model reference is empty");
  ModelRef ref;
  std::string body = text;
  size_t at = text.find('@');
  if (at != std::string::npos) {
    ref.version = text.substr(at + 1);
    body = text.substr(0, at);
    if (!ValidVersion(ref.version))
      return InvalidArgument("model reference \"" + text + "\": invalid version \"" +
                             ref.version + "\"");
    ref.version_given = true;
  } else {
    ref.version = "latest";
  }
  std::vector<std::string> segs;
  size_t start = 0;
  while (true) {
    size_t slash = body.find('/', start);
    segs.push_back(body.substr(start, slash == std::string::npos ? std::string::npos
                                                                  : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (const auto& s : segs)
    if (!ValidSegment(s))
      return InvalidArgument("model reference \"" + text + "\": invalid name segment \"" + s +
                             "\"");
  std::string ns = CanonicalNamespace(segs[0]);
  if (ns.empty() &&
      std::find(extra_namespaces.begin(), extra_namespaces.end(), segs[0]) !=
          extra_namespaces.end())
    ns = segs[0];
  if (!ns.empty() && segs.size() >= 2) {
    ref.ns = ns;
    segs.erase(segs.begin());
  } else {
    ref.ns = "hf";
  }
  for (size_t i = 0; i < segs.size(); ++i) ref.name += (i ? "/" : "") + segs[i];
  return ref;
}

}  // namespace mlos::axon
