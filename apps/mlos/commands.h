// The mlos CLI's commands. Each takes the parsed global options, talks to mlosd through the
// SDK, prints a table (or JSON with --json) on stdout and returns the exit code: 0 success,
// 1 an error from the server, the connection or a file, 2 bad usage. Every error is exactly one
// "mlos: error: ..." line on stderr.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlos/client.h"

namespace mlos::cli {

// Options accepted before or after the subcommand (mlos --json models list, mlos models list
// --json).
struct Globals {
  std::string url;
  bool json = false;
  double timeout_s = 60;
  std::string token;  // --token; "" = $MLOS_TOKEN. Never printed.
  std::string cacert, cert, key;  // --cacert, --cert, --key (https:// and grpcs://)
};

// Prints `message` as one error line (newlines folded) and returns 1.
int Fail(const Status& st);
// A client that could not be created: a bad --url is a usage error (2), anything else 1.
int FailOpen(const Status& st);
// Prints a usage error (one line, pointing at `help`) and returns 2.
int Usage(const std::string& message, const std::string& help = "mlos --help");

// A client for g.url with g.timeout_s, the token (--token, else $MLOS_TOKEN) and the TLS files.
Result<std::unique_ptr<client::Client>> Open(const Globals& g);

void PrintModel(const Globals& g, const client::ModelInfo& m);
void PrintModels(const Globals& g, const std::vector<client::ModelInfo>& models);

// mlos models [ACTION ARGS...]: list (default), get ID, load ID, unload ID, unregister ID,
// rollback NAME, default NAME VERSION (or NAME@VERSION), alias NAME ALIAS [VERSION] (no
// VERSION: remove the alias), pin ID, unpin ID. The list shows state, memory (MiB), last use,
// pinned and keep_alive per model.
int Models(const Globals& g, const std::vector<std::string>& args);
// One line per action, for `mlos models --help`.
const char* ModelsHelp();

// mlos tokens create NAME --role ROLE [--model PATTERN]... [--expires DURATION]: prints the new
// token alone on stdout (with --json: the token document, "token" included).
int TokensCreate(const Globals& g, const std::string& name, const std::string& role,
                 const std::vector<std::string>& models, const std::string& expires);
// mlos tokens list: one row per token (never the token itself).
int TokensList(const Globals& g);
// mlos tokens revoke NAME.
int TokensRevoke(const Globals& g, const std::string& name);

// mlos generate MODEL PROMPT / mlos chat MODEL: the generation options given.
struct GenerateArgs {
  std::string model;
  std::string prompt;  // generate
  std::string system;  // chat: the system message ("" = none)
  std::optional<int64_t> max_tokens;
  std::optional<double> temperature, top_p;
  std::optional<int> top_k;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  bool stats = false;  // -v / --stats: a usage line on stderr after each answer
};
// Streams the generated text to stdout as it arrives (a newline after it when it has none);
// with --json, one document at the end instead.
int Generate(const Globals& g, const GenerateArgs& args);
// A conversation: each line of stdin is a user turn (blank lines skipped); the reply streams
// to stdout followed by a newline, and the whole conversation is sent each turn. A terminal
// gets a ">>> " prompt on stderr and "/bye" ends it; otherwise it ends at EOF.
int Chat(const Globals& g, const GenerateArgs& args);

}  // namespace mlos::cli
