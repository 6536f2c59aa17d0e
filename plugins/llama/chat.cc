#include "chat.h"

#include <stdexcept>

#include <llama.h>

namespace mlos::llama_plugin {
namespace {

// llama_chat_apply_template into a string; a negative result means the template is unknown.
int32_t Apply(const char* tmpl, const std::vector<llama_chat_message>& chat, std::string& out) {
  size_t guess = 64;
  for (const llama_chat_message& m : chat) {
    guess += 2 * (std::char_traits<char>::length(m.content) + 16);
  }
  out.assign(guess, '\0');
  int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), /*add_ass=*/true,
                                        out.data(), static_cast<int32_t>(out.size()));
  if (n > static_cast<int32_t>(out.size())) {  // the buffer was too small: the size is known now
    out.assign(static_cast<size_t>(n), '\0');
    n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, out.data(), n);
  }
  if (n >= 0) out.resize(static_cast<size_t>(n));
  return n;
}

}  // namespace

std::string ApplyChatTemplate(const llama_model* model, const std::vector<ChatMessage>& messages) {
  std::vector<llama_chat_message> chat;
  chat.reserve(messages.size());
  for (const ChatMessage& m : messages) chat.push_back({m.role.c_str(), m.content.c_str()});
  std::string prompt;
  const char* tmpl = llama_model_chat_template(model, /*name=*/nullptr);
  if (tmpl != nullptr && Apply(tmpl, chat, prompt) >= 0) return prompt;
  if (Apply("chatml", chat, prompt) >= 0) return prompt;
  throw std::runtime_error("chat template: chatml could not be applied");
}

}  // namespace mlos::llama_plugin
