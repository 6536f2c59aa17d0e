// Hugging Face Hub adapter (the `hf` namespace): model info with ?blobs=true pins the commit,
// files download from {endpoint}/{repo}/resolve/{commit}/{path}.
#pragma once

#include <memory>
#include <string>

#include "axon/hub/http.h"
#include "axon/hub/hub.h"

namespace mlos::axon {

// A new adapter using config.hf_endpoint, hf_token, hf_offline, timeout_s and max_retries.
std::unique_ptr<HubAdapter> MakeHfAdapter(const HubConfig& config);

// Maps a non-2xx hub answer to one line, keyed on X-Error-Code (RepoNotFound, GatedRepo,
// RevisionNotFound, EntryNotFound) and the status, with X-Error-Message appended when present.
// `label` is "hf/org/name"; `revision` and `file` ("" when not about a file) fill the messages.
Status HfErrorStatus(const HttpResponse& response, const std::string& label,
                     const std::string& revision, const std::string& file);

// Git blob id of a file: sha1("blob <size>\0" + content), lowercase hex.
Result<std::string> GitBlobSha1File(const std::filesystem::path& path);

}  // namespace mlos::axon
