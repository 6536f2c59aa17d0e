#include "axon/cli/progress.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace mlos::axon::cli {

OutputMode DetectOutputMode(bool json, std::FILE* stream) {
  if (json) return OutputMode::kJson;
  return ::isatty(::fileno(stream)) ? OutputMode::kTerminal : OutputMode::kPlain;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void ProgressObserver::OnResolved(const std::string& id, const std::string& commit, size_t files,
                                  uint64_t total_bytes) {
  if (mode_ == OutputMode::kJson) {
    nlohmann::json j = {{"event", "resolved"}, {"id", id}, {"commit", commit},
                        {"files", files}, {"bytes", total_bytes}};
    std::fprintf(out_, "%s\n", j.dump().c_str());
  } else {
    std::fprintf(out_, "resolved %s%s%s: %zu file%s, %s\n", id.c_str(),
                 commit.empty() ? "" : " at ", commit.substr(0, 12).c_str(), files,
                 files == 1 ? "" : "s", HumanBytes(total_bytes).c_str());
  }
  std::fflush(out_);
}

void ProgressObserver::OnFileStart(const std::string& path, uint64_t size) {
  file_start_ = Clock::now();
  last_draw_ = {};
  resumed_from_ = 0;
  if (mode_ == OutputMode::kJson) {
    nlohmann::json j = {{"event", "file_start"}, {"path", path}, {"size", size}};
    std::fprintf(out_, "%s\n", j.dump().c_str());
    std::fflush(out_);
  }
}

void ProgressObserver::DrawBar(const std::string& path, uint64_t done, uint64_t total, bool final) {
  double secs = std::chrono::duration<double>(Clock::now() - file_start_).count();
  double rate = secs > 0 ? static_cast<double>(done - resumed_from_) / secs : 0;
  const int width = 24;
  int filled = total ? static_cast<int>(width * static_cast<double>(done) / total) : 0;
  if (filled > width) filled = width;
  std::string bar(filled, '#');
  bar += std::string(width - filled, '-');
  std::string eta = "--";
  if (rate > 0 && total > done) {
    int s = static_cast<int>((total - done) / rate);
    char b[16];
    std::snprintf(b, sizeof b, "%d:%02d", s / 60, s % 60);
    eta = b;
  } else if (final) {
    eta = "done";
  }
  std::string name = path.size() > 28 ? "…" + path.substr(path.size() - 27) : path;
  std::fprintf(out_, "\r\033[2K%-28s [%s] %5.1f%% %s/%s %s/s ETA %s", name.c_str(), bar.c_str(),
               total ? 100.0 * static_cast<double>(done) / total : 0.0, HumanBytes(done).c_str(),
               HumanBytes(total).c_str(), HumanBytes(static_cast<uint64_t>(rate)).c_str(),
               eta.c_str());
  if (final) std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressObserver::OnFileResume(const std::string& path, uint64_t offset) {
  resumed_from_ = offset;
  if (mode_ == OutputMode::kJson) {
    nlohmann::json j = {{"event", "resume"}, {"path", path}, {"offset", offset}};
    std::fprintf(out_, "%s\n", j.dump().c_str());
  } else {
    std::fprintf(out_, "%sresuming %s at %s\n", mode_ == OutputMode::kTerminal ? "\r\033[2K" : "",
                 path.c_str(), HumanBytes(offset).c_str());
  }
  std::fflush(out_);
}

void ProgressObserver::OnFileProgress(const std::string& path, uint64_t done, uint64_t total) {
  if (mode_ != OutputMode::kTerminal) return;
  auto now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  DrawBar(path, done, total, false);
}

void ProgressObserver::OnFileDone(const std::string& path, uint64_t size, bool cached) {
  double secs = std::chrono::duration<double>(Clock::now() - file_start_).count();
  switch (mode_) {
    case OutputMode::kTerminal:
      if (cached)
        std::fprintf(out_, "\r\033[2K%-28s already in cache (%s)\n", path.c_str(),
                     HumanBytes(size).c_str());
      else
        DrawBar(path, size, size, true);
      break;
    case OutputMode::kPlain:
      std::fprintf(out_, "%s %s (%s, %.2fs)\n", cached ? "cached" : "fetched", path.c_str(),
                   HumanBytes(size).c_str(), secs);
      break;
    case OutputMode::kJson: {
      nlohmann::json j = {{"event", "file_done"}, {"path", path}, {"size", size},
                          {"cached", cached}, {"seconds", secs}};
      std::fprintf(out_, "%s\n", j.dump().c_str());
      break;
    }
  }
  std::fflush(out_);
}

void ProgressObserver::OnNote(const std::string& note) {
  if (mode_ == OutputMode::kJson) {
    nlohmann::json j = {{"event", "note"}, {"message", note}};
    std::fprintf(out_, "%s\n", j.dump().c_str());
  } else {
    std::fprintf(out_, "note: %s\n", note.c_str());
  }
}

}  // namespace mlos::axon::cli
