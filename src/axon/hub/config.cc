// HubConfig::FromEnvironment.
#include <cctype>
#include <cstdlib>
#include <string>

#include "axon/hub/hub.h"
#include "common/fs.h"

namespace mlos::axon {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool EnvTrue(const char* name) {
  std::string v = Env(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string StripTrailingSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Applies an endpoint variable when set; a bare domain gets https://.
void EndpointFromEnv(const char* name, std::string* out) {
  std::string v = StripTrailingSlashes(Env(name));
  if (v.empty()) return;
  if (v.find("://") == std::string::npos) v = "https://" + v;
  *out = v;
}

// First non-empty line of a token file, trimmed; "" when absent.
std::string ReadTokenFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return "";
  std::string t = *text;
  size_t nl = t.find_first_of("\r\n");
  if (nl != std::string::npos) t.resize(nl);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  return t;
}

}  // namespace

HubConfig HubConfig::FromEnvironment() {
  HubConfig c;
  EndpointFromEnv("HF_ENDPOINT", &c.hf_endpoint);
  c.hf_token = Env("HF_TOKEN");
  if (c.hf_token.empty()) c.hf_token = Env("HUGGING_FACE_HUB_TOKEN");
  if (c.hf_token.empty()) {
    // huggingface_hub's token file: $HF_TOKEN_PATH, else $HF_HOME/token.
    std::string path = Env("HF_TOKEN_PATH");
    if (path.empty()) {
      std::string home = Env("HF_HOME");
      if (home.empty() && !Env("HOME").empty()) home = Env("HOME") + "/.cache/huggingface";
      if (!home.empty()) path = home + "/token";
    }
    if (!path.empty()) c.hf_token = ReadTokenFile(path);
  }
  c.hf_offline = EnvTrue("HF_HUB_OFFLINE") || EnvTrue("TRANSFORMERS_OFFLINE");
  EndpointFromEnv("MODELSCOPE_DOMAIN", &c.modelscope_endpoint);
  c.modelscope_token = Env("MODELSCOPE_API_TOKEN");
  EndpointFromEnv("AXON_GITHUB_API", &c.github_api);
  EndpointFromEnv("AXON_GITHUB_URL", &c.github_web);
  EndpointFromEnv("KAGGLE_ENDPOINT", &c.kaggle_endpoint);
  c.kaggle_username = Env("KAGGLE_USERNAME");
  c.kaggle_key = Env("KAGGLE_KEY");
  std::string reg = StripTrailingSlashes(Env("AXON_REGISTRY_URL"));
  if (!reg.empty()) c.registry_url = reg;
  return c;
}

}  // namespace mlos::axon
