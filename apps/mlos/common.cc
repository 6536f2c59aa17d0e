// Helpers every mlos command shares: error lines, exit codes, opening the client.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "commands.h"

namespace mlos::cli {
namespace {

// Messages are printed on one line: newlines (a server's multi-line message) become "; ".
std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "; ";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

}  // namespace

int Fail(const Status& st) {
  std::cerr << "mlos: error: " << OneLine(st.message()) << "\n";
  return 1;
}

int FailOpen(const Status& st) {
  std::cerr << "mlos: error: " << OneLine(st.message()) << "\n";
  return st.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

int Usage(const std::string& message, const std::string& help) {
  std::cerr << "mlos: error: " << OneLine(message) << " (see '" << help << "')\n";
  return 2;
}

Result<std::unique_ptr<client::Client>> Open(const Globals& g) {
  client::ClientOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000));
  options.bearer_token = g.token;
  if (options.bearer_token.empty()) {
    if (const char* token = std::getenv("MLOS_TOKEN")) options.bearer_token = token;
  }
  options.tls.ca_file = g.cacert;
  options.tls.cert_file = g.cert;
  options.tls.key_file = g.key;
  return client::Client::Connect(g.url, options);
}

}  // namespace mlos::cli
