// mlos generate / mlos chat: text generation, streamed to stdout as it arrives.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"

namespace mlos::cli {
namespace {

// Writes each chunk at once (stdout is flushed per chunk, so a pipe sees the text as it comes).
bool Print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return true;
}

client::GenerateOptions OptionsFrom(const GenerateArgs& a) {
  client::GenerateOptions o;
  o.model = a.model;
  o.max_tokens = a.max_tokens;
  o.temperature = a.temperature;
  o.top_p = a.top_p;
  o.top_k = a.top_k;
  o.seed = a.seed;
  o.stop = a.stop;
  return o;
}

// The usage line (-v / --stats) on stderr, or with --json the whole answer on stdout.
void PrintStats(const GenerateArgs& a, const client::GenerateResult& r) {
  if (!a.stats) return;
  std::cerr << "[" << (r.model_id.empty() ? a.model : r.model_id) << ": "
            << r.prompt_tokens << " prompt tokens";
  if (r.cached_tokens) std::cerr << " (" << r.cached_tokens << " cached)";
  std::cerr << ", " << r.completion_tokens << " completion tokens, finish_reason "
            << r.finish_reason << "]\n";
}

}  // namespace

int Generate(const Globals& g, const GenerateArgs& a) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  client::GenerateOptions o = OptionsFrom(a);
  o.prompt = a.prompt;
  if (g.json) {  // no streaming: one document at the end
    auto r = (*c)->Generate(o);
    if (!r.ok()) return Fail(r.status());
    std::cout << nlohmann::json{{"model_id", r->model_id},
                                {"text", r->text},
                                {"finish_reason", r->finish_reason},
                                {"prompt_tokens", r->prompt_tokens},
                                {"completion_tokens", r->completion_tokens},
                                {"cached_tokens", r->cached_tokens}}
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  auto r = (*c)->Generate(o, Print);
  if (!r.ok()) {
    std::fflush(stdout);
    return Fail(r.status());
  }
  if (!r->text.empty() && r->text.back() != '\n') Print("\n");
  PrintStats(a, *r);
  return 0;
}

int Chat(const Globals& g, const GenerateArgs& a) {
  auto c = Open(g);
  if (!c.ok()) return FailOpen(c.status());
  client::GenerateOptions o = OptionsFrom(a);
  if (!a.system.empty()) o.messages.push_back({"system", a.system});
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  std::string line;
  for (;;) {
    if (interactive) {
      std::cerr << ">>> " << std::flush;
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (interactive && (line == "/bye" || line == "/exit")) break;
    o.messages.push_back({"user", line});
    auto r = (*c)->Generate(o, Print);
    if (!r.ok()) {
      std::fflush(stdout);
      return Fail(r.status());
    }
    Print("\n");
    PrintStats(a, *r);
    o.messages.push_back({"assistant", r->text});
  }
  if (interactive) std::cerr << "\n";
  return 0;
}

}  // namespace mlos::cli
