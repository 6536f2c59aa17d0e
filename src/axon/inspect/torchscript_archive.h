// Recognises a TorchScript archive by its contents, for local files whose names do not say
// (a TorchScript "model.pt" and a torch.save'd state dict "model.pt" are both zip files).
//
// torch.jit.save writes "<root>/code/..." (the model's TorchScript source) and
// "<root>/constants.pkl"; torch.save writes neither. Only the zip's central directory is read
// (its end record within the last 64 KiB of the file, zip64 included; the directory itself at
// most 64 MiB), never the entries' data.
#pragma once

#include <filesystem>

namespace mlos::axon {

// True when the file at `path` is a zip whose central directory names "<root>/code/..." or
// "<root>/constants.pkl"; false for anything else, including files that cannot be read and
// malformed or truncated zips.
bool IsTorchScriptArchive(const std::filesystem::path& path);

}  // namespace mlos::axon
