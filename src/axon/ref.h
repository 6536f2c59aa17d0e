// Model references: `[namespace/]name[@version]`, as the original Axon parses them.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace mlos::axon {

struct ModelRef {
  std::string ns;       // canonical namespace: hf | modelscope | pytorch | tfhub | local | <registry ns>
  std::string name;     // may contain '/', e.g. "microsoft/resnet-50"
  std::string version;  // "latest" when not given
  bool version_given = false;

  std::string Id() const { return ns + "/" + name + "@" + version; }
  std::string Repo() const { return ns + "/" + name; }
};

// Parses a ref. Rules: the first segment is the namespace when it is a known one (hf,
// modelscope|ms, pytorch|torch, tfhub|tf|kaggle, local) or one of `extra_namespaces` (registry
// namespaces from the config); otherwise the whole thing is a Hugging Face repo (hf is the
// catch-all). Aliases are canonicalised (ms -> modelscope, torch -> pytorch, tf|kaggle -> tfhub).
// Every name segment must be non-empty, not "." or "..", and made of [A-Za-z0-9._-];
// the version of [A-Za-z0-9._+-] (no '/').
Result<ModelRef> ParseModelRef(const std::string& text,
                               const std::vector<std::string>& extra_namespaces = {});

}  // namespace mlos::axon
