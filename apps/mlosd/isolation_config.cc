// The `isolation:` section of mlosd's config (docs/isolation.md: where models run, the worker
// sandbox and its restarts), and `security.trusted_keys` (the keys a package must be signed by
// to run in-process when `isolation.unsigned: process`):
//
//   isolation:
//     default: in_process           # in_process (or none) | process | strict
//     models: {team/a: process, team/b@2: strict}   # by name or id (the id wins)
//     unsigned: in_process          # process: packages not signed by a trusted key run in process at least
//     worker: /usr/lib/mlos/mlos-worker   # default: mlos-worker beside mlosd
//     watchdog: 60s                 # a plugin call running longer kills its worker; 0 = off
//     restart_limit: 5              # crashes within restart_window; one more and it stays FAILED
//     restart_window: 60s
//     restart_backoff: 100ms        # before the first restart; doubles per crash
//     restart_backoff_max: 5s
//     channels: 16                  # plugin calls in flight per worker
//     user: nobody                  # who workers run as when mlosd runs as root
//     pids_max: 64                  # processes and threads per worker
//     file_size_max: 1GiB           # largest file a worker may write (bytes or with a unit)
//   security:
//     trusted_keys: [/etc/mlos/keys/team.pub]   # mlos-ed25519-public key files
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <limits>

#include "config_internal.h"
#include "mpf/manifest.h"
#include "mpf/signature.h"
#include "wire/keep_alive.h"

namespace mlos::mlosd {
namespace {

// parent[key] as a scalar's text; "" (and *present false) when absent or null.
Status Scalar(const YAML::Node& parent, const char* key, const std::string& path,
              std::string& out, bool* present) {
  *present = false;
  const YAML::Node n = parent[key];
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsScalar()) return InvalidArgument("config field '" + path + "' must be a single value");
  out = n.Scalar();
  *present = true;
  return Status::Ok();
}

Result<core::Isolation> IsolationValue(const std::string& text, const std::string& path) {
  auto i = core::ParseIsolation(text);
  if (!i) {
    return InvalidArgument("config field '" + path + "' must be in_process, process or strict, "
                           "got '" + text + "'");
  }
  return *i;
}

// A duration >= 0 in keep_alive's grammar ("60s", "500ms", "1m30s", a number of seconds).
Status ReadDuration(const YAML::Node& parent, const char* key, const std::string& path,
                    int64_t& out_ms) {
  std::string text;
  bool present = false;
  MLOS_RETURN_IF_ERROR(Scalar(parent, key, path, text, &present));
  if (!present) return Status::Ok();
  const size_t first = text.find_first_not_of(" \t");
  if (first != std::string::npos && text[first] == '-') {
    return InvalidArgument("config field '" + path + "' must not be negative, got '" + text + "'");
  }
  auto ms = wire::ParseKeepAlive(text);
  if (!ms.ok()) {
    return InvalidArgument("config field '" + path + "': invalid duration '" + text +
                           "' (expected e.g. 60s, 500ms, 1m30s: units ms, s, m, h, d, w; or a "
                           "number of seconds)");
  }
  out_ms = ms->count();
  return Status::Ok();
}

// A whole number in [min, max].
template <typename T>
Status ReadNumber(const YAML::Node& parent, const char* key, const std::string& path, T min,
                  T max, T& out) {
  std::string text;
  bool present = false;
  MLOS_RETURN_IF_ERROR(Scalar(parent, key, path, text, &present));
  if (!present) return Status::Ok();
  T v{};
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min ||
      v > max) {
    return InvalidArgument("config field '" + path + "' must be a whole number between " +
                           std::to_string(min) + " and " + std::to_string(max) + ", got '" +
                           text + "'");
  }
  out = v;
  return Status::Ok();
}

}  // namespace

Status ApplyIsolationConfig(const YAML::Node& n, DaemonConfig& c) {
  MLOS_RETURN_IF_ERROR(CheckKnownKeys(n, "isolation",
                             {"default", "models", "unsigned", "worker", "watchdog",
                              "restart_limit", "restart_window", "restart_backoff",
                              "restart_backoff_max", "channels", "user", "pids_max",
                              "file_size_max"}));
  core::IsolationOptions& o = c.isolation;
  std::string text;
  bool present = false;
  MLOS_RETURN_IF_ERROR(Scalar(n, "default", "isolation.default", text, &present));
  if (present) {
    MLOS_ASSIGN_OR_RETURN(o.default_isolation, IsolationValue(text, "isolation.default"));
  }
  if (const YAML::Node models = n["models"]; models && !models.IsNull()) {
    if (!models.IsMap()) {
      return InvalidArgument("config field 'isolation.models' must be a mapping of ns/name or "
                             "ns/name@version to in_process, process or strict");
    }
    for (const auto& kv : models) {
      const std::string name = kv.first.as<std::string>();
      const std::string path = "isolation.models." + name;
      const size_t slash = name.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() ||
          name[slash + 1] == '@') {
        return InvalidArgument("config field '" + path + "': '" + name +
                               "' is not a model name (ns/name) or id (ns/name@version)");
      }
      if (!kv.second.IsScalar()) {
        return InvalidArgument("config field '" + path + "' must be in_process, process or strict");
      }
      MLOS_ASSIGN_OR_RETURN(o.models[name], IsolationValue(kv.second.Scalar(), path));
    }
  }
  MLOS_RETURN_IF_ERROR(Scalar(n, "unsigned", "isolation.unsigned", text, &present));
  if (present) {
    auto i = core::ParseIsolation(text);
    if (!i || *i == core::Isolation::kStrict) {
      return InvalidArgument("config field 'isolation.unsigned' must be in_process or process, "
                             "got '" + text + "'");
    }
    o.unsigned_process = *i == core::Isolation::kProcess;
  }
  MLOS_RETURN_IF_ERROR(Scalar(n, "worker", "isolation.worker", text, &present));
  if (present && !text.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(text, ec)) {
      return InvalidArgument("config field 'isolation.worker': " + text +
                             " does not exist or is not a file");
    }
    if (access(text.c_str(), X_OK) != 0) {
      return InvalidArgument("config field 'isolation.worker': " + text + " is not executable");
    }
    o.worker_executable = text;
  }
  MLOS_RETURN_IF_ERROR(ReadDuration(n, "watchdog", "isolation.watchdog", o.watchdog_ms));
  MLOS_RETURN_IF_ERROR(
      ReadNumber(n, "restart_limit", "isolation.restart_limit", 0, 1000, o.restart_limit));
  MLOS_RETURN_IF_ERROR(
      ReadDuration(n, "restart_window", "isolation.restart_window", o.restart_window_ms));
  if (o.restart_window_ms <= 0) {
    return InvalidArgument("config field 'isolation.restart_window' must be longer than 0");
  }
  MLOS_RETURN_IF_ERROR(
      ReadDuration(n, "restart_backoff", "isolation.restart_backoff", o.restart_backoff_ms));
  MLOS_RETURN_IF_ERROR(ReadDuration(n, "restart_backoff_max", "isolation.restart_backoff_max",
                                    o.restart_backoff_max_ms));
  if (o.restart_backoff_max_ms < o.restart_backoff_ms) {
    return InvalidArgument("config field 'isolation.restart_backoff_max' (" +
                           wire::FormatKeepAlive(std::chrono::milliseconds(o.restart_backoff_max_ms)) +
                           ") must not be shorter than 'isolation.restart_backoff' (" +
                           wire::FormatKeepAlive(std::chrono::milliseconds(o.restart_backoff_ms)) +
                           ")");
  }
  MLOS_RETURN_IF_ERROR(ReadNumber(n, "channels", "isolation.channels", 1, 1024, o.channels));
  MLOS_RETURN_IF_ERROR(Scalar(n, "user", "isolation.user", text, &present));
  if (present) {
    if (text.empty()) return InvalidArgument("config field 'isolation.user' is empty");
    // Only used when mlosd runs as root (it cannot switch users otherwise): checked then.
    const bool numeric = text.find_first_not_of("0123456789") == std::string::npos;
    if (geteuid() == 0 && !numeric && getpwnam(text.c_str()) == nullptr) {
      return InvalidArgument("config field 'isolation.user': no user named '" + text + "'");
    }
    o.user = text;
  }
  MLOS_RETURN_IF_ERROR(ReadNumber<uint64_t>(n, "pids_max", "isolation.pids_max", 1, 1u << 22,
                                            o.pids_max));
  MLOS_RETURN_IF_ERROR(Scalar(n, "file_size_max", "isolation.file_size_max", text, &present));
  if (present) {
    auto v = mpf::ParseByteSize(text);
    if (!v.ok()) {
      return InvalidArgument("config field 'isolation.file_size_max': " + v.status().message());
    }
    if (*v == 0) return InvalidArgument("config field 'isolation.file_size_max' must be > 0");
    o.file_size_max = *v;
  }
  return Status::Ok();
}

Status ApplyTrustedKeysConfig(const YAML::Node& keys, DaemonConfig& c) {
  if (!keys || keys.IsNull()) return Status::Ok();
  if (!keys.IsSequence()) {
    return InvalidArgument("config field 'security.trusted_keys' must be a list of public key "
                           "files");
  }
  std::vector<std::filesystem::path> paths;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string path = "security.trusted_keys[" + std::to_string(i) + "]";
    if (!keys[i].IsScalar() || keys[i].Scalar().empty()) {
      return InvalidArgument("config field '" + path + "' must be a public key file");
    }
    const std::string file = keys[i].Scalar();
    auto key = mpf::LoadPublicKey(file);
    if (!key.ok()) {
      // LoadPublicKey's message names the file ("<file>: no such public key file").
      return InvalidArgument("config field '" + path + "': " + key.status().message());
    }
    paths.emplace_back(file);
  }
  c.isolation.trusted_keys = std::move(paths);
  return Status::Ok();
}

}  // namespace mlos::mlosd
