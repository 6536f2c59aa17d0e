#include "text_stream.h"

#include <algorithm>

namespace mlos::llama_plugin {

size_t CompleteUtf8Prefix(std::string_view bytes) {
  // Look at most 3 bytes back for the lead byte of the last character.
  const size_t n = bytes.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const auto c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back >= need ? n : n - back;
  }
  return n;  // only continuation bytes: invalid, let them through
}

TextStream::TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string& s : stops_) max_stop_ = std::max(max_stop_, s.size());
}

std::string TextStream::Push(std::string_view piece, bool* stopped) {
  *stopped = false;
  if (stopped_) {
    *stopped = true;
    return "";
  }
  partial_.append(piece);
  const size_t complete = CompleteUtf8Prefix(partial_);
  text_.append(partial_, 0, complete);
  partial_.erase(0, complete);

  // A stop string that completes now ends after sent_ (earlier ones were found earlier), so it
  // starts at most max_stop_ - 1 bytes before sent_.
  const size_t from = sent_ > max_stop_ ? sent_ - max_stop_ : 0;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = text_.find(s, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    std::string out = cut > sent_ ? text_.substr(sent_, cut - sent_) : "";
    sent_ = std::max(sent_, cut);
    stopped_ = true;
    *stopped = true;
    return out;
  }

  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = text_.size();
  for (const std::string& s : stops_) {
    const size_t longest = std::min(s.size() - 1, text_.size() - sent_);
    for (size_t len = longest; len > 0; --len) {
      if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
        hold = std::min(hold, text_.size() - len);
        break;
      }
    }
  }
  std::string out = text_.substr(sent_, hold - sent_);
  sent_ = hold;
  return out;
}

std::string TextStream::Flush() {
  if (stopped_) return "";
  std::string out = text_.substr(sent_);
  sent_ = text_.size();
  partial_.clear();
  return out;
}

}  // namespace mlos::llama_plugin
