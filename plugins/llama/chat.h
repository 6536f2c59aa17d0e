// Chat messages to a prompt, with the model's own chat template.
#pragma once

#include <string>
#include <vector>

#include "sampling.h"

struct llama_model;

namespace mlos::llama_plugin {

// The prompt for `messages` ending with the assistant's turn (add_ass): the model's template
// (tokenizer.chat_template) when llama.cpp recognises it, else chatml. Throws std::runtime_error
// only if even chatml fails (it does not).
std::string ApplyChatTemplate(const llama_model* model, const std::vector<ChatMessage>& messages);

}  // namespace mlos::llama_plugin
