// mpf::ParseManifest over arbitrary YAML; a manifest that parses must survive EmitManifest and
// parse again (the emitter writes what the parser reads).
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "mpf/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(mlos::fuzz::View(data, size));
  for (bool strict : {false, true}) {
    std::vector<std::string> warnings;
    auto m = mlos::mpf::ParseManifest(yaml, {.strict = strict}, &warnings);
    if (!m.ok()) continue;
    const std::string emitted = mlos::mpf::EmitManifest(*m);
    auto again = mlos::mpf::ParseManifest(emitted, {.strict = strict});
    if (!again.ok()) {
      std::fprintf(stderr, "emitted manifest does not parse: %s\n%s\n",
                   again.status().ToString().c_str(), emitted.c_str());
      std::abort();
    }
  }
  return 0;
}
