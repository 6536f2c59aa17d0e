#include "security/guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "security/token.h"

namespace mlos::security {

namespace fs = std::filesystem;

// The token table Authenticate reads: by hash, rebuilt from the store when it changes.
struct Guard::Tokens {
  struct Entry {
    IdentityPtr identity;
    int64_t expires_at_ms = 0;
    int64_t revoked_at_ms = 0;
    mutable std::atomic<int64_t> last_used_ms{0};  // written by Authenticate
    int64_t flushed_ms = 0;                         // poll thread only
  };
  using Table = std::unordered_map<std::string, std::shared_ptr<Entry>>;

  std::shared_ptr<const Table> Get() const {
    std::lock_guard lock(mu);
    return table;
  }

  mutable std::mutex mu;
  std::shared_ptr<const Table> table = std::make_shared<Table>();  // guarded by mu
  uint64_t version = ~0ull;  // of the store when loaded (poll thread and reloads, under reload_mu)
  std::mutex reload_mu;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread poller;
};

namespace {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

void ParseAuthorization(std::string_view v, Credentials& out) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  v = trim(v);
  if (v.empty()) return;
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = v.size() > kScheme.size();
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(v[i])) == kScheme[i];
  }
  if (bearer) {
    out.bearer = std::string(trim(v.substr(kScheme.size())));
  } else {
    out.other_scheme = true;
  }
}

Guard::Guard(SecurityOptions options)
    : options_(std::move(options)),
      limiter_(options_.limits),
      tokens_(std::make_unique<Tokens>()) {}

Guard::~Guard() {
  if (tokens_ && tokens_->poller.joinable()) {
    {
      std::lock_guard lock(tokens_->stop_mu);
      tokens_->stop = true;
    }
    tokens_->stop_cv.notify_all();
    tokens_->poller.join();
  }
}

Result<std::unique_ptr<Guard>> Guard::Create(SecurityOptions options) {
  std::unique_ptr<Guard> g(new Guard(std::move(options)));
  for (const fs::path& root : g->options_.model_roots) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(root, ec);
    if (ec) return InvalidArgument("security.model_roots: " + root.string() + ": " + ec.message());
    g->roots_.push_back(canonical);
  }
  for (const auto& [name, p] : g->options_.principals) {
    if (p.role == Role::kNone) {
      return InvalidArgument("security.principals." + name + ".role: required");
    }
    for (const std::string& pattern : p.models) {
      MLOS_RETURN_IF_ERROR(ValidateModelPattern(pattern).WithPrefix(
          "security.principals." + name + ".models"));
    }
  }
  // Certificate and Unix principals are a fixed set: their identities are built once, not per
  // call (configured principals, and principals named after a role).
  for (const auto& [name, p] : g->options_.principals) {
    g->cert_identities_[name] = g->ConfiguredIdentity(name, "mtls");
  }
  for (Role r : {Role::kReader, Role::kUser, Role::kOperator, Role::kAdmin}) {
    g->cert_identities_.emplace(RoleName(r), g->ConfiguredIdentity(RoleName(r), "mtls"));
  }
  for (const auto& [uid, name] : g->options_.unix_principals) {
    if (IdentityPtr id = g->ConfiguredIdentity(name, "peercred")) g->peer_identities_[uid] = id;
  }
  if (!g->options_.audit.path.empty()) {
    MLOS_ASSIGN_OR_RETURN(g->audit_, AuditLog::Open(g->options_.audit));
  }
  if (!g->options_.token_db.empty()) {
    MLOS_ASSIGN_OR_RETURN(g->store_, TokenStore::Open(g->options_.token_db));
    MLOS_RETURN_IF_ERROR(g->ReloadTokens());
    g->tokens_->poller = std::thread([p = g.get()] { p->PollLoop(); });
  }
  return g;
}

Status Guard::ReloadTokens() {
  std::lock_guard reload(tokens_->reload_mu);
  MLOS_ASSIGN_OR_RETURN(uint64_t version, store_->Version());
  if (version == tokens_->version) return Status::Ok();
  MLOS_ASSIGN_OR_RETURN(std::vector<TokenRecord> records, store_->List());
  const std::shared_ptr<const Tokens::Table> old = tokens_->Get();
  auto table = std::make_shared<Tokens::Table>();
  for (TokenRecord& r : records) {
    auto e = std::make_shared<Tokens::Entry>();
    auto id = std::make_shared<Identity>();
    id->name = r.name;
    id->role = r.role;
    id->method = "token";
    id->models = std::move(r.models);
    e->identity = std::move(id);
    e->expires_at_ms = r.expires_at_ms;
    e->revoked_at_ms = r.revoked_at_ms;
    // Keep last-use times not yet written.
    int64_t last = r.last_used_at_ms;
    if (auto it = old->find(r.hash); it != old->end()) {
      last = std::max(last, it->second->last_used_ms.load(std::memory_order_relaxed));
    }
    e->last_used_ms.store(last, std::memory_order_relaxed);
    e->flushed_ms = r.last_used_at_ms;
    table->emplace(std::move(r.hash), std::move(e));
  }
  {
    std::lock_guard lock(tokens_->mu);
    tokens_->table = std::move(table);
  }
  tokens_->version = version;
  return Status::Ok();
}

void Guard::PollLoop() {
  std::unique_lock lock(tokens_->stop_mu);
  while (!tokens_->stop_cv.wait_for(lock, options_.token_poll, [&] { return tokens_->stop; })) {
    lock.unlock();
    // Last-use times: written at most once a poll per token.
    std::vector<std::pair<std::string, int64_t>> uses;
    std::vector<Tokens::Entry*> touched;
    const std::shared_ptr<const Tokens::Table> table = tokens_->Get();
    for (const auto& [hash, e] : *table) {
      const int64_t last = e->last_used_ms.load(std::memory_order_relaxed);
      if (last > e->flushed_ms) {
        uses.emplace_back(e->identity->name, last);
        touched.push_back(e.get());
      }
    }
    if (!uses.empty()) {
      if (Status st = store_->TouchLastUsed(uses); !st.ok()) {
        spdlog::warn("tokens: recording last use: {}", st.message());
      } else {
        for (size_t i = 0; i < touched.size(); ++i) touched[i]->flushed_ms = uses[i].second;
      }
    }
    if (Status st = ReloadTokens(); !st.ok()) spdlog::warn("tokens: reload: {}", st.message());
    lock.lock();
  }
}

Result<IdentityPtr> Guard::Authenticate(const Credentials& c,
                                        const std::string& transport_name) const {
  if (!options_.auth_required) {
    auto id = std::make_shared<Identity>();
    id->name = transport_name;
    id->role = Role::kAdmin;
    id->method = c.peer_uid ? "peercred" : "none";
    return IdentityPtr(std::move(id));
  }
  if (c.other_scheme) {
    return Unauthenticated("the Authorization header must use the bearer-token scheme");
  }
  if (!c.bearer.empty()) {
    const std::string hash = HashToken(c.bearer);
    const std::shared_ptr<const Tokens::Table> table = tokens_->Get();
    auto it = table->find(hash);
    // The lookup is by hash (not by the secret); compare the stored hash in constant time
    // as well, so no timing depends on how much of it matched.
    if (it == table->end() || !ConstantTimeEqual(it->first, hash)) {
      return Unauthenticated("unknown token");
    }
    const Tokens::Entry& e = *it->second;
    if (e.revoked_at_ms != 0) {
      return Unauthenticated("token " + Quote(e.identity->name) + " was revoked at " +
                             FormatUnixMs(e.revoked_at_ms));
    }
    const int64_t now = NowUnixMs();
    if (e.expires_at_ms != 0 && now >= e.expires_at_ms) {
      return Unauthenticated("token " + Quote(e.identity->name) + " expired at " +
                             FormatUnixMs(e.expires_at_ms));
    }
    if (now - e.last_used_ms.load(std::memory_order_relaxed) >= 1000) {
      e.last_used_ms.store(now, std::memory_order_relaxed);
    }
    return e.identity;
  }
  if (!c.tls_cn.empty()) {
    if (auto it = cert_identities_.find(c.tls_cn); it != cert_identities_.end()) {
      return it->second;
    }
    return Unauthenticated("principal " + Quote(c.tls_cn) +
                           " (mtls) is not in security.principals");
  }
  if (c.peer_uid) {
    if (auto it = peer_identities_.find(*c.peer_uid); it != peer_identities_.end()) {
      return it->second;
    }
    auto named = options_.unix_principals.find(*c.peer_uid);
    if (named != options_.unix_principals.end()) {
      return Unauthenticated("principal " + Quote(named->second) +
                             " (peercred) is not in security.principals");
    }
    return Unauthenticated("uid " + std::to_string(*c.peer_uid) +
                           " is not in security.unix_principals; authenticate with a token");
  }
  return Unauthenticated(
      "authentication required: send a token in the Authorization header, or use a client "
      "certificate");
}

IdentityPtr Guard::ConfiguredIdentity(const std::string& name, const char* method) const {
  std::optional<Role> role;
  std::vector<std::string> models;
  if (auto it = options_.principals.find(name); it != options_.principals.end()) {
    role = it->second.role;
    models = it->second.models;
  } else {
    role = ParseRole(name);  // a principal named after a role has that role
  }
  if (!role || *role == Role::kNone) return nullptr;
  auto id = std::make_shared<Identity>();
  id->name = name;
  id->role = *role;
  id->method = method;
  id->models = std::move(models);
  return id;
}

Status Guard::Authorize(const Identity& who, Action action) const {
  if (RoleAllows(who.role, action)) return Status::Ok();
  // "may not infer with" reads badly without a model: the role check names the action alone.
  std::string verb = ActionVerb(action);
  if (verb.size() > 5 && (verb.ends_with(" of") || verb.ends_with(" with"))) {
    verb = verb.substr(0, verb.rfind(' '));
  }
  return PermissionDenied("principal " + Quote(who.name) + " (role " + RoleName(who.role) +
                          ") may not " + verb);
}

bool Guard::MaySee(const Identity& who, const ModelRef& m) const {
  if (who.role == Role::kAdmin) return true;
  if (!MatchAnyPattern(who.models, m.name, m.id)) return false;
  static const std::vector<std::string> kNone;
  return AccessAllows(m.acl_principals ? *m.acl_principals : kNone,
                      m.acl_roles ? *m.acl_roles : kNone, who.name, who.role);
}

Status Guard::AuthorizeModel(const Identity& who, Action action, const ModelRef& m) const {
  MLOS_RETURN_IF_ERROR(Authorize(who, action));
  if (MaySee(who, m)) return Status::Ok();
  const std::string_view shown = m.id.empty() ? m.name : m.id;
  std::string why = MatchAnyPattern(who.models, m.name, m.id)
                        ? "the model's manifest restricts access (security.access)"
                        : "the principal's model patterns do not match it";
  return PermissionDenied("principal " + Quote(who.name) + " (role " + RoleName(who.role) +
                          ") may not " + ActionVerb(action) + " model " + Quote(shown) + ": " +
                          why);
}

Result<fs::path> Guard::ResolveUnderModelRoot(const fs::path& package) const {
  if (roots_.empty()) return package;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(package, ec);
  if (!ec) {
    for (const fs::path& root : roots_) {
      auto [r, p] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
      if (r == root.end()) return real;
    }
  }
  std::string roots;
  for (const fs::path& root : roots_) roots += (roots.empty() ? "" : ", ") + root.string();
  return PermissionDenied("package path " + package.string() +
                          (real != package && !ec ? " (resolves to " + real.string() + ")" : "") +
                          " is outside the model roots (" + roots +
                          "; security.model_roots)");
}

void Guard::Audit(const AuditEvent& event) {
  if (audit_) (void)audit_->Record(event);
}

Result<std::pair<std::string, TokenRecord>> Guard::CreateToken(const TokenSpec& spec) {
  if (!store_) return FailedPrecondition("tokens need a registry database");
  auto r = store_->Issue(spec);
  if (r.ok()) MLOS_RETURN_IF_ERROR(ReloadTokens());
  return r;
}

Result<std::vector<TokenRecord>> Guard::ListTokens() {
  if (!store_) return FailedPrecondition("tokens need a registry database");
  return store_->List();
}

Result<TokenRecord> Guard::RevokeToken(const std::string& name) {
  if (!store_) return FailedPrecondition("tokens need a registry database");
  auto r = store_->Revoke(name);
  if (r.ok()) MLOS_RETURN_IF_ERROR(ReloadTokens());
  return r;
}

Result<bool> Guard::EnsureAdminToken(const fs::path& file) {
  if (!options_.auth_required || !store_) return false;
  MLOS_ASSIGN_OR_RETURN(std::vector<TokenRecord> all, store_->List());
  const int64_t now = NowUnixMs();
  for (const TokenRecord& r : all) {
    if (r.role == Role::kAdmin && r.revoked_at_ms == 0 &&
        (r.expires_at_ms == 0 || r.expires_at_ms > now)) {
      return false;
    }
  }
  std::string name = "admin";
  for (int i = 2; std::any_of(all.begin(), all.end(), [&](const TokenRecord& r) {
         return r.name == name && r.revoked_at_ms == 0;
       }); ++i) {
    name = "admin-" + std::to_string(i);
  }
  TokenSpec spec;
  spec.name = name;
  spec.role = Role::kAdmin;
  // The file first (whole, then renamed into place), then the token: a kill -9 between the two
  // leaves a file whose token is not valid, and the next start, finding no admin token, writes
  // another. The other order could leave a valid admin token that nobody holds, and an empty
  // or missing file.
  const std::string token = GenerateToken();
  std::error_code ec;
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  const fs::path tmp = file.string() + ".tmp";
  fs::remove(tmp, ec);  // left by a start killed while writing it
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Unavailable("cannot write " + tmp.string() + ": " + std::strerror(errno));
  (void)::fchmod(fd, 0600);
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    fs::remove(tmp, ec);
    return Unavailable("cannot write " + file.string());
  }
  MLOS_RETURN_IF_ERROR(FsyncDir(file.has_parent_path() ? file.parent_path() : fs::path(".")));
  MLOS_RETURN_IF_ERROR(store_->Issue(spec, token).status());
  MLOS_RETURN_IF_ERROR(ReloadTokens());
  return true;
}

}  // namespace mlos::security
