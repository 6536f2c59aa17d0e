// Renders install progress: a bar on a terminal (bytes, rate, ETA), plain lines otherwise,
// JSON lines with --json.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "axon/install.h"

namespace mlos::axon::cli {

enum class OutputMode { kTerminal, kPlain, kJson };

// kJson when json, else kTerminal when `stream` is a tty, else kPlain.
OutputMode DetectOutputMode(bool json, std::FILE* stream);

class ProgressObserver : public InstallObserver {
 public:
  ProgressObserver(OutputMode mode, std::FILE* out) : mode_(mode), out_(out) {}
  void OnResolved(const std::string& id, const std::string& commit, size_t files,
                  uint64_t total_bytes) override;
  void OnFileStart(const std::string& path, uint64_t size) override;
  void OnFileResume(const std::string& path, uint64_t offset) override;
  void OnFileProgress(const std::string& path, uint64_t done, uint64_t total) override;
  void OnFileDone(const std::string& path, uint64_t size, bool cached) override;
  void OnNote(const std::string& note) override;

 private:
  using Clock = std::chrono::steady_clock;
  void DrawBar(const std::string& path, uint64_t done, uint64_t total, bool final);

  OutputMode mode_;
  std::FILE* out_;
  Clock::time_point file_start_{}, last_draw_{};
  uint64_t resumed_from_ = 0;
};

std::string HumanBytes(uint64_t bytes);

}  // namespace mlos::axon::cli
