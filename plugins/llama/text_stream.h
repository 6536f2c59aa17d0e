// The text of one generation as it streams: token pieces in, chunks safe to emit out. Keeps
// incomplete UTF-8 characters and anything that could be the start of a stop string until they
// are resolved, and cuts the text before a stop string (never emitted).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mlos::llama_plugin {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops = {});

  // Adds one token's bytes. Returns the text that became safe to emit (possibly empty); sets
  // *stopped when a stop string completed (the returned text then ends just before it, and the
  // stream takes no more input).
  std::string Push(std::string_view piece, bool* stopped);

  // At the end of generation: the text held back for a possible stop string. Bytes of an
  // incomplete UTF-8 character at the very end are dropped.
  std::string Flush();

  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  size_t max_stop_ = 0;
  std::string text_;     // complete characters generated so far
  std::string partial_;  // the start of an incomplete UTF-8 character
  size_t sent_ = 0;      // bytes of text_ already returned
  bool stopped_ = false;
};

// The length of the longest prefix of `bytes` that does not end inside a UTF-8 character (an
// invalid lead byte counts as complete, so bad bytes never stall the stream).
size_t CompleteUtf8Prefix(std::string_view bytes);

}  // namespace mlos::llama_plugin
