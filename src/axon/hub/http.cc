// libcurl HTTP client: manual redirects (Authorization only to the original origin), small
// requests into memory, and resumable, verified downloads through a pipelined file sink.
#include "axon/hub/http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "common/sha256.h"

namespace mlos::axon {
namespace {

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxErrorBody = 64 << 10;
constexpr const char* kUserAgent = "mlos-axon/0.1";

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n'))
    --e;
  return std::string(s.substr(b, e - b));
}

// RAII for CURLU.
struct UrlHandle {
  CURLU* h = curl_url();
  ~UrlHandle() { curl_url_cleanup(h); }
  std::string Get(CURLUPart part, unsigned flags = 0) const {
    char* out = nullptr;
    if (curl_url_get(h, part, &out, flags) != CURLUE_OK || out == nullptr) return "";
    std::string s(out);
    curl_free(out);
    return s;
  }
};

// "scheme://host:port", lowercased, with the default port filled in; "" when unparsable.
std::string Origin(const std::string& url) {
  UrlHandle u;
  if (curl_url_set(u.h, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "";
  return Lower(u.Get(CURLUPART_SCHEME)) + "://" + Lower(u.Get(CURLUPART_HOST)) + ":" +
         u.Get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

// Resolves a Location header (absolute or relative) against the current URL.
Result<std::string> ResolveLocation(const std::string& base, const std::string& location) {
  UrlHandle u;
  if (curl_url_set(u.h, CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.h, CURLUPART_URL, location.c_str(), CURLU_URLENCODE) != CURLUE_OK) {
    return Unavailable(base + ": bad redirect Location \"" + location + "\"");
  }
  std::string scheme = Lower(u.Get(CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https")
    return Unavailable(base + ": redirect to unsupported scheme \"" + location + "\"");
  return u.Get(CURLUPART_URL);
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Status line and headers of the latest response seen on a handle.
struct ResponseHead {
  long status = 0;
  HttpHeaders headers;
};

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* user) {
  auto* head = static_cast<ResponseHead*>(user);
  size_t n = size * nitems;
  std::string_view line(data, n);
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    head->headers.clear();  // a new response (after 100-continue or similar)
    size_t sp = line.find(' ');
    head->status = sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 4)).c_str());
    return n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    head->headers.emplace_back(Lower(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1)));
  }
  return n;
}

std::string HeaderValue(const HttpHeaders& headers, const std::string& name) {
  std::string want = Lower(name);
  for (const auto& [k, v] : headers)
    if (Lower(k) == want) return v;
  return "";
}

struct CurlEasy {
  CURL* c = nullptr;
  curl_slist* list = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CurlEasy() {
    GlobalInit();
    c = curl_easy_init();
  }
  ~CurlEasy() {
    if (list) curl_slist_free_all(list);
    if (c) curl_easy_cleanup(c);
  }
  // Resets per-request options (the connection cache survives).
  void Reset() {
    curl_easy_reset(c);
    if (list) curl_slist_free_all(list);
    list = nullptr;
    errbuf[0] = 0;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  }
  void AddHeader(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
  std::string Error(CURLcode rc) const {
    std::string msg = curl_easy_strerror(rc);
    if (errbuf[0] != 0 && msg != errbuf) msg += " (" + std::string(errbuf) + ")";
    return msg;
  }
};

// Adds the caller's headers, dropping Authorization ones (that header is governed by `auth`).
void AddCallerHeaders(CurlEasy& e, const HttpHeaders& headers) {
  for (const auto& [k, v] : headers) {
    if (Lower(k) == "authorization") continue;
    e.AddHeader(k + ": " + v);
  }
}

// ---- HttpFetch -----------------------------------------------------------------------------

struct BodySink {
  std::string* body;
  uint64_t max;
  bool too_big = false;
};

size_t BodyCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  size_t n = size * nmemb;
  if (sink->body->size() + n > sink->max) {
    sink->too_big = true;
    return 0;
  }
  sink->body->append(data, n);
  return n;
}

// ---- Download sink -------------------------------------------------------------------------

// Appends to a file with a sha256 over everything in it. Bytes are copied into a large buffer;
// full buffers are hashed and written by a worker thread while curl fills the other buffer.
// Not thread-safe: one producer.
class FileSink {
 public:
  ~FileSink() {
    StopWorker();
    if (fd_ >= 0) ::close(fd_);
  }

  Status Open(const std::filesystem::path& path, size_t buffer_size) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Internal(path.string() + ": open: " + std::strerror(errno));
    hasher_ = std::make_unique<Sha256>();
    // Hash what is already there (resume).
    std::vector<char> buf(8 << 20);
    uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Internal(path.string() + ": read: " + std::strerror(errno));
      }
      if (n == 0) break;
      hasher_->Update(buf.data(), static_cast<size_t>(n));
      total += static_cast<uint64_t>(n);
    }
    size_ = total;
    written_ = static_cast<off_t>(total);
    for (auto& b : bufs_) b.resize(buffer_size);
    return Status::Ok();
  }

  // Bytes in the file, including bytes still buffered.
  uint64_t size() const { return size_; }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  void Append(const char* p, size_t n) {
    size_ += n;
    while (n > 0) {
      std::vector<char>& b = bufs_[fill_idx_];
      size_t take = std::min(n, b.size() - fill_len_);
      std::memcpy(b.data() + fill_len_, p, take);
      fill_len_ += take;
      p += take;
      n -= take;
      if (fill_len_ == b.size()) Submit();
    }
    // Bytes must not sit in memory for long: a killed install resumes from what is on disk.
    if (fill_len_ > 0) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_submit_ >= std::chrono::milliseconds(250)) Submit();
    }
  }

  // Writes everything buffered; returns the first write error.
  Status Drain() {
    if (!worker_.joinable()) {
      if (fill_len_ > 0) Process(bufs_[fill_idx_].data(), fill_len_);
      fill_len_ = 0;
    } else {
      Submit();
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return !busy_; });
    }
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

  // Empties the file and the hash.
  Status Truncate() {
    MLOS_RETURN_IF_ERROR(Drain());
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
      return Internal(path_.string() + ": truncate: " + std::strerror(errno));
    hasher_ = std::make_unique<Sha256>();
    size_ = 0;
    written_ = 0;
    return Status::Ok();
  }

  // Drains, fsyncs and returns the hex sha256 of the whole file.
  Result<std::string> Finish() {
    MLOS_RETURN_IF_ERROR(Drain());
    StopWorker();
    if (::fsync(fd_) != 0) return Internal(path_.string() + ": fsync: " + std::strerror(errno));
    return hasher_->HexDigest();
  }

 private:
  void Submit() {
    if (fill_len_ == 0) return;
    if (!worker_.joinable()) worker_ = std::thread([this] { Run(); });
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !busy_; });
    last_submit_ = std::chrono::steady_clock::now();
    job_idx_ = fill_idx_;
    job_len_ = fill_len_;
    busy_ = true;
    fill_idx_ ^= 1;
    fill_len_ = 0;
    cv_.notify_all();
  }

  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return busy_ || stop_; });
      if (busy_) {
        const char* p = bufs_[job_idx_].data();
        size_t n = job_len_;
        l.unlock();
        Process(p, n);
        l.lock();
        busy_ = false;
        cv_.notify_all();
        continue;
      }
      return;
    }
  }

  void StopWorker() {
    if (!worker_.joinable()) return;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return !busy_; });
      stop_ = true;
      cv_.notify_all();
    }
    worker_.join();
    stop_ = false;
  }

  // Hashes and writes one chunk (on the worker, or inline when there is none).
  void Process(const char* p, size_t n) {
    if (failed()) return;
    hasher_->Update(p, n);
    off_t start = written_;
    size_t len = n;
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        std::lock_guard<std::mutex> l(mu_);
        error_ = Internal(path_.string() + ": write: " + std::strerror(errno));
        failed_ = true;
        return;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    written_ += static_cast<off_t>(len);
    // Start writeback now so that the final fsync has little left to wait for.
    ::sync_file_range(fd_, start, static_cast<off_t>(len), SYNC_FILE_RANGE_WRITE);
  }

  std::filesystem::path path_;
  std::chrono::steady_clock::time_point last_submit_ = std::chrono::steady_clock::now();
  int fd_ = -1;
  off_t written_ = 0;
  uint64_t size_ = 0;
  std::unique_ptr<Sha256> hasher_;
  std::vector<char> bufs_[2];
  int fill_idx_ = 0;
  size_t fill_len_ = 0;

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;  // the worker owns bufs_[job_idx_]
  bool stop_ = false;
  int job_idx_ = 0;
  size_t job_len_ = 0;
  Status error_;
  std::atomic<bool> failed_{false};
};

// State of one HTTP exchange during a download.
struct DownloadCtx {
  enum class Mode { kUndecided, kFile, kOther };
  ResponseHead head;
  Mode mode = Mode::kUndecided;
  FileSink* sink = nullptr;
  uint64_t expected_size = 0;
  bool size_known = false;
  std::string other_body;  // redirect / error bodies (capped)
  uint64_t received = 0;   // bytes written to the file during this exchange
  bool restart = false;    // the server's Content-Range did not continue the file
  Status fail;             // why the write callback aborted the transfer
  const ProgressFn* progress = nullptr;
  std::chrono::steady_clock::time_point last_progress{};
};

// Chooses where the body goes, on its first bytes.
Status Decide(DownloadCtx& ctx) {
  long st = ctx.head.status;
  if (st == 200) {
    // A full body. If we asked for a range, the server ignored it: start over.
    if (ctx.sink->size() > 0) MLOS_RETURN_IF_ERROR(ctx.sink->Truncate());
    ctx.mode = DownloadCtx::Mode::kFile;
  } else if (st == 206) {
    std::string cr = HeaderValue(ctx.head.headers, "content-range");  // bytes a-b/total
    unsigned long long a = 0;
    if (std::sscanf(cr.c_str(), "bytes %llu-", &a) != 1 || a != ctx.sink->size()) {
      ctx.restart = true;
      return Unavailable("unexpected Content-Range \"" + cr + "\"");
    }
    ctx.mode = DownloadCtx::Mode::kFile;
  } else {
    ctx.mode = DownloadCtx::Mode::kOther;
  }
  return Status::Ok();
}

size_t DownloadWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* ctx = static_cast<DownloadCtx*>(user);
  size_t n = size * nmemb;
  if (ctx->mode == DownloadCtx::Mode::kUndecided) {
    ctx->fail = Decide(*ctx);
    if (!ctx->fail.ok()) return 0;
  }
  if (ctx->mode == DownloadCtx::Mode::kOther) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, ctx->other_body.size());
    ctx->other_body.append(data, std::min(room, n));
    return n;
  }
  if (ctx->size_known && ctx->sink->size() + n > ctx->expected_size) {
    ctx->fail = DataLoss("more bytes than the expected " + std::to_string(ctx->expected_size));
    return 0;
  }
  if (ctx->sink->failed()) {
    ctx->fail = ctx->sink->Drain();
    return 0;
  }
  ctx->sink->Append(data, n);
  ctx->received += n;
  if (ctx->progress && *ctx->progress) {
    auto now = std::chrono::steady_clock::now();
    if (now - ctx->last_progress >= std::chrono::milliseconds(100)) {
      ctx->last_progress = now;
      (*ctx->progress)(ctx->sink->size(), ctx->size_known ? ctx->expected_size : 0);
    }
  }
  return n;
}

bool Retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool RetryableStatus(long st) {
  return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

void RemoveFile(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  return HeaderValue(headers, name);
}

Result<HttpResponse> HttpFetch(const HttpRequest& request) {
  CurlEasy e;
  if (e.c == nullptr) return Internal("curl_easy_init failed");
  const std::string origin0 = Origin(request.url);
  if (origin0.empty()) return InvalidArgument("bad URL \"" + request.url + "\"");
  bool caller_sets_encoding = !HeaderValue(request.headers, "accept-encoding").empty();

  std::string url = request.url;
  std::string method = request.method;
  for (int hop = 0;; ++hop) {
    HttpResponse resp;
    ResponseHead head;
    BodySink sink{&resp.body, request.max_body_bytes};
    e.Reset();
    curl_easy_setopt(e.c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e.c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(request.timeout_s, 60)));
    curl_easy_setopt(e.c, CURLOPT_TIMEOUT, static_cast<long>(request.timeout_s));
    if (!caller_sets_encoding) curl_easy_setopt(e.c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e.c, CURLOPT_HEADERFUNCTION, HeaderCallback);
    curl_easy_setopt(e.c, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(e.c, CURLOPT_WRITEFUNCTION, BodyCallback);
    curl_easy_setopt(e.c, CURLOPT_WRITEDATA, &sink);
    if (method == "HEAD") {
      curl_easy_setopt(e.c, CURLOPT_NOBODY, 1L);
    } else if (method == "POST") {
      curl_easy_setopt(e.c, CURLOPT_POST, 1L);
      curl_easy_setopt(e.c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(e.c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      e.AddHeader("Expect:");
    } else if (method != "GET") {
      curl_easy_setopt(e.c, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    AddCallerHeaders(e, request.headers);
    if (!request.authorization.empty() && Origin(url) == origin0)
      e.AddHeader("Authorization: " + request.authorization);
    curl_easy_setopt(e.c, CURLOPT_HTTPHEADER, e.list);
    if (!request.ca_file.empty()) curl_easy_setopt(e.c, CURLOPT_CAINFO, request.ca_file.c_str());
    if (!request.cert_file.empty()) {
      curl_easy_setopt(e.c, CURLOPT_SSLCERT, request.cert_file.c_str());
      curl_easy_setopt(e.c, CURLOPT_SSLKEY, request.key_file.c_str());
    }

    CURLcode rc = curl_easy_perform(e.c);
    if (sink.too_big) {
      return ResourceExhausted(method + " " + url + ": response body larger than " +
                               std::to_string(request.max_body_bytes) + " bytes");
    }
    if (rc != CURLE_OK) return Unavailable(method + " " + url + ": " + e.Error(rc));
    resp.status = head.status;
    resp.headers = std::move(head.headers);
    resp.effective_url = url;
    std::string location = resp.Header("location");
    if (request.follow_redirects && IsRedirect(resp.status) && !location.empty()) {
      if (hop >= kMaxRedirects) return Unavailable(request.url + ": too many redirects");
      MLOS_ASSIGN_OR_RETURN(url, ResolveLocation(url, location));
      if (resp.status == 303 || ((resp.status == 301 || resp.status == 302) && method == "POST"))
        method = "GET";
      continue;
    }
    return resp;
  }
}

Status DownloadToFile(const DownloadSpec& spec, const std::filesystem::path& partial,
                      const ProgressFn& progress) {
  const std::string origin0 = Origin(spec.url);
  if (origin0.empty()) return InvalidArgument("bad URL \"" + spec.url + "\"");
  const std::string what = spec.url + " -> " + partial.string();

  constexpr size_t kBuffer = 8 << 20;
  size_t buffer_size = kBuffer;
  if (spec.size_known) buffer_size = std::clamp<uint64_t>(spec.expected_size, 64 << 10, kBuffer);
  auto sink = std::make_unique<FileSink>();
  MLOS_RETURN_IF_ERROR(sink->Open(partial, buffer_size));
  if (spec.size_known && sink->size() > spec.expected_size) MLOS_RETURN_IF_ERROR(sink->Truncate());

  CurlEasy e;
  if (e.c == nullptr) return Internal("curl_easy_init failed");
  int retries = 0;
  std::string last_error;
  auto fail_data = [&](const std::string& msg) {
    sink.reset();
    RemoveFile(partial);
    return DataLoss("download of " + spec.url + ": " + msg + " (partial file " +
                    partial.filename().string() + " removed)");
  };

  for (;;) {
    bool complete = spec.size_known && sink->size() == spec.expected_size;
    if (!complete) {
      // One attempt: follow redirects from the original URL.
      std::string url = spec.url;
      DownloadCtx ctx;
      CURLcode rc = CURLE_OK;
      for (int hop = 0;; ++hop) {
        ctx = DownloadCtx();
        ctx.sink = sink.get();
        ctx.expected_size = spec.expected_size;
        ctx.size_known = spec.size_known;
        ctx.progress = &progress;
        uint64_t offset = sink->size();
        e.Reset();
        curl_easy_setopt(e.c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e.c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(spec.timeout_s, 60)));
        // No total timeout for big files: give up on a stall instead.
        curl_easy_setopt(e.c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e.c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::min(spec.timeout_s, 60)));
        curl_easy_setopt(e.c, CURLOPT_BUFFERSIZE, 512L << 10);
        curl_easy_setopt(e.c, CURLOPT_HEADERFUNCTION, HeaderCallback);
        curl_easy_setopt(e.c, CURLOPT_HEADERDATA, &ctx.head);
        curl_easy_setopt(e.c, CURLOPT_WRITEFUNCTION, DownloadWrite);
        curl_easy_setopt(e.c, CURLOPT_WRITEDATA, &ctx);
        AddCallerHeaders(e, spec.headers);
        e.AddHeader("Accept-Encoding: identity");
        if (!spec.authorization.empty() && Origin(url) == origin0)
          e.AddHeader("Authorization: " + spec.authorization);
        if (offset > 0) e.AddHeader("Range: bytes=" + std::to_string(offset) + "-");
        curl_easy_setopt(e.c, CURLOPT_HTTPHEADER, e.list);
        rc = curl_easy_perform(e.c);
        if (rc == CURLE_OK && ctx.mode == DownloadCtx::Mode::kUndecided) {
          // An empty body: a 0-byte file, a redirect or an error without a body.
          Status st = Decide(ctx);
          if (!st.ok()) ctx.fail = st;
        }
        std::string location = HeaderValue(ctx.head.headers, "location");
        if (rc == CURLE_OK && ctx.fail.ok() && IsRedirect(ctx.head.status) && !location.empty()) {
          if (hop >= kMaxRedirects) return Unavailable(spec.url + ": too many redirects");
          MLOS_ASSIGN_OR_RETURN(url, ResolveLocation(url, location));
          continue;
        }
        break;
      }
      if (ctx.received > 0) retries = 0;

      if (!ctx.fail.ok()) {
        if (ctx.fail.code() == StatusCode::kDataLoss) return fail_data(ctx.fail.message());
        if (!ctx.restart) return ctx.fail.WithPrefix(what);
        // The server did not continue where we are: start over (counts as a retry).
        MLOS_RETURN_IF_ERROR(sink->Truncate());
        last_error = ctx.fail.message();
      } else if (rc != CURLE_OK) {
        if (!Retryable(rc)) return Unavailable("GET " + url + ": " + e.Error(rc));
        last_error = e.Error(rc);
      } else if (ctx.head.status == 200 || ctx.head.status == 206) {
        if (!spec.size_known) break;  // complete as far as we can tell
        if (sink->size() == spec.expected_size) continue;  // verified below
        last_error = "connection closed after " + std::to_string(sink->size()) + " of " +
                     std::to_string(spec.expected_size) + " bytes";
      } else if (ctx.head.status == 416 && sink->size() > 0) {
        MLOS_RETURN_IF_ERROR(sink->Truncate());
        last_error = "HTTP 416 to a Range request";
      } else if (RetryableStatus(ctx.head.status)) {
        last_error = "HTTP " + std::to_string(ctx.head.status);
      } else {
        HttpResponse resp;
        resp.status = ctx.head.status;
        resp.headers = ctx.head.headers;
        resp.body = ctx.other_body;
        resp.effective_url = url;
        if (spec.error_mapper) {
          Status mapped = spec.error_mapper(resp);
          if (!mapped.ok()) return mapped;
        }
        return Unavailable("GET " + url + ": HTTP " + std::to_string(resp.status));
      }
      if (++retries > spec.max_retries) {
        return Unavailable("download of " + spec.url + " failed after " +
                           std::to_string(spec.max_retries) + " retries: " + last_error +
                           " (partial file kept for resuming)");
      }
      int backoff_ms = std::min(100 << std::min(retries - 1, 5), 2000);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      continue;
    }

    // Complete (or unknown size and the server says done): verify.
    MLOS_ASSIGN_OR_RETURN(std::string digest, sink->Finish());
    if (spec.size_known && sink->size() != spec.expected_size) {
      return fail_data("size " + std::to_string(sink->size()) + " differs from the expected " +
                       std::to_string(spec.expected_size));
    }
    if (!spec.expected_sha256.empty() && digest != Lower(spec.expected_sha256)) {
      return fail_data("sha256 mismatch: expected " + spec.expected_sha256 + ", got " + digest);
    }
    if (progress) progress(sink->size(), spec.size_known ? spec.expected_size : 0);
    return Status::Ok();
  }
  // Unknown size, server finished: verify what we have.
  MLOS_ASSIGN_OR_RETURN(std::string digest, sink->Finish());
  if (!spec.expected_sha256.empty() && digest != Lower(spec.expected_sha256))
    return fail_data("sha256 mismatch: expected " + spec.expected_sha256 + ", got " + digest);
  if (progress) progress(sink->size(), 0);
  return Status::Ok();
}

std::string UrlEncodeSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string UrlEncodePath(const std::string& s) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out += UrlEncodeSegment(s.substr(start, slash == std::string::npos ? std::string::npos
                                                                         : slash - start));
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

}  // namespace mlos::axon
