// The audit log (see audit.h). Callers format their line and append it to the pending batch;
// one writer thread takes the whole batch, writes it with as few write() calls as rotation
// allows, fdatasync()s once, and wakes every caller whose line was in it (group commit).
#include "security/audit.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "common/fs.h"
#include "security/token.h"

namespace mlos::security {
namespace {

// "2026-12-03T20:41:07.123Z".
std::string FormatTimeMs(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  n += static_cast<size_t>(
      std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000)));
  return std::string(buf, n);
}

// Length of the well-formed UTF-8 sequence at the start of `s` (its first byte >= 0x80), or 0.
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlong forms
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return len;
}

// Appends `value` as the inside of a JSON string; ill-formed UTF-8 becomes U+FFFD.
void AppendJsonEscaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(value.substr(i));
      if (len == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(value.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

void AppendField(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  AppendJsonEscaped(out, value);
  out += '"';
}

// One line of the log, newline included. The reason and the model (both may echo request
// input) have secrets redacted.
std::string FormatLine(const AuditEvent& e, int64_t now_ms) {
  std::string out;
  out.reserve(192 + e.reason.size());
  out += "{\"time\":\"";
  out += FormatTimeMs(now_ms);
  out += '"';
  AppendField(out, "principal", e.principal);
  AppendField(out, "method", e.method);
  AppendField(out, "protocol", e.protocol);
  AppendField(out, "peer", e.peer);
  AppendField(out, "action", e.action);
  AppendField(out, "model", RedactSecrets(e.model));
  AppendField(out, "outcome", e.outcome);
  AppendField(out, "reason", RedactSecrets(e.reason));
  out += "}\n";
  return out;
}

// "<what>: <strerror(err)>"; `err` defaults to the current errno.
std::string Errno(const char* what, int err = errno) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

struct AuditLog::Impl {
  // Lines appended by callers until the writer takes them; `done` and `status` are set once
  // they are on disk (or failed).
  struct Batch {
    std::string data;
    bool done = false;
    Status status;
  };

  explicit Impl(AuditOptions opts) : options(std::move(opts)) {}
  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  Status Fail(const std::string& what) const {
    return Unavailable("audit log " + options.path.string() + ": " + what);
  }

  std::filesystem::path Rotated(int n) const {
    return options.path.string() + "." + std::to_string(n);
  }

  // Writer side (the writer thread, or Open before it starts) -----------------------------

  Status OpenFile() {
    // Read too: the last byte says whether a killed writer left half a line (below).
    const int f = ::open(options.path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0) return Fail(Errno("open"));
    struct stat st {};
    if (::fstat(f, &st) != 0) {
      Status s = Fail(Errno("fstat"));
      ::close(f);
      return s;
    }
    // An existing file keeps its owner but loses group and other access.
    if ((st.st_mode & 077) != 0 && ::fchmod(f, 0600) != 0) {
      spdlog::warn("audit log {}: {}", options.path.string(), Errno("chmod 0600"));
    }
    fd = f;
    size = static_cast<uint64_t>(st.st_size);
    // A process killed in the middle of a write (kill -9 between two pages of a large batch)
    // left half a line: the next record starts on a line of its own.
    char last = '\n';
    if (size > 0 && ::pread(f, &last, 1, static_cast<off_t>(size - 1)) == 1 && last != '\n') {
      need_newline = true;
    }
    return Status::Ok();
  }

  Status WriteAll(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        Status s = Fail(Errno("write"));
        need_newline = true;  // the file may now end in the middle of a line
        return s;
      }
      size += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status Sync() {
    if (::fdatasync(fd) != 0) return Fail(Errno("fdatasync"));
    return Status::Ok();
  }

  // audit.log.<keep-1> -> audit.log.<keep>, ..., audit.log -> audit.log.1, then a fresh
  // audit.log. The old file stays the current one when it cannot be renamed.
  Status Rotate() {
    MLOS_RETURN_IF_ERROR(Sync());
    for (int i = options.keep - 1; i >= 1; --i) {
      const std::filesystem::path from = Rotated(i), to = Rotated(i + 1);
      if (::rename(from.c_str(), to.c_str()) != 0) {
        const int err = errno;
        if (err != ENOENT) spdlog::warn("audit log {}: {}", from.string(), Errno("rename", err));
      }
    }
    const int rc = options.keep >= 1 ? ::rename(options.path.c_str(), Rotated(1).c_str())
                                     : ::unlink(options.path.c_str());
    if (rc != 0) return Fail(Errno(options.keep >= 1 ? "rename" : "unlink"));
    ::close(fd);
    fd = -1;
    size = 0;
    need_newline = false;
    Status dir = FsyncDir(options.path.has_parent_path() ? options.path.parent_path() : ".");
    if (!dir.ok()) spdlog::warn("audit log {}: {}", options.path.string(), dir.message());
    return OpenFile();
  }

  // Writes whole lines, rotating before a line that would take the file past max_bytes
  // (0 = never rotate; a line longer than max_bytes still goes into a file of its own), then
  // syncs once.
  Status WriteBatch(std::string_view data) {
    if (fd < 0) MLOS_RETURN_IF_ERROR(OpenFile());
    if (need_newline) {
      MLOS_RETURN_IF_ERROR(WriteAll("\n"));
      need_newline = false;
    }
    const uint64_t max = options.max_bytes;
    bool may_rotate = max > 0;
    while (!data.empty()) {
      size_t end = 0;  // the prefix of whole lines that fits
      while (end < data.size()) {
        size_t next = data.find('\n', end);
        next = next == std::string_view::npos ? data.size() : next + 1;
        const bool fits = !may_rotate || size + next <= max || (size == 0 && end == 0);
        if (!fits) break;
        end = next;
      }
      if (end == 0) {
        Status st = Rotate();
        if (!st.ok()) {
          spdlog::error("{} (appending past max_bytes)", st.message());
          if (fd < 0) return st;
          may_rotate = false;
        }
        continue;
      }
      MLOS_RETURN_IF_ERROR(WriteAll(data.substr(0, end)));
      data.remove_prefix(end);
    }
    return Sync();
  }

  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [&] { return !pending->data.empty() || stopping; });
      if (pending->data.empty()) return;  // stopping, and nothing left to write
      std::shared_ptr<Batch> batch = std::move(pending);
      pending = std::make_shared<Batch>();
      lock.unlock();
      Status st = WriteBatch(batch->data);
      if (!st.ok()) spdlog::error("{}", st.message());
      lock.lock();
      batch->status = std::move(st);
      batch->done = true;
      done_cv.notify_all();
    }
  }

  const AuditOptions options;

  std::mutex mu;
  std::condition_variable work_cv;  // the writer waits for lines or stopping
  std::condition_variable done_cv;  // callers wait for their batch
  std::shared_ptr<Batch> pending = std::make_shared<Batch>();  // guarded by mu
  bool stopping = false;                                       // guarded by mu

  // Owned by the writer thread once it runs.
  int fd = -1;
  uint64_t size = 0;          // bytes in the current file
  bool need_newline = false;  // a failed write may have left half a line
  std::thread writer;
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->work_cv.notify_one();
  if (impl_->writer.joinable()) impl_->writer.join();
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  MLOS_RETURN_IF_ERROR(impl->OpenFile());
  Impl* raw = impl.get();
  raw->writer = std::thread([raw] { raw->WriterLoop(); });
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Status AuditLog::Record(const AuditEvent& event) {
  std::string line = FormatLine(event, NowUnixMs());
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  std::shared_ptr<Impl::Batch> batch = d.pending;
  batch->data += line;
  d.work_cv.notify_one();
  d.done_cv.wait(lock, [&] { return batch->done; });
  return batch->status;
}

const std::filesystem::path& AuditLog::path() const { return impl_->options.path; }

}  // namespace mlos::security
