// mlos-llama-direct: the smallest program that runs a GGUF model through libllama, with nothing
// of MLOS in between. It is the reference of the LLM tests (greedy text, token for token) and the
// floor of the LLM benchmark (prompt and generation tokens per second on the same libraries).
//
//   mlos-llama-direct --model F --prompt "..." --max-tokens N [--ctx N --batch N --ubatch N
//                     --threads N] [--json] [--special]
//   mlos-llama-direct --model F --bench [--pp 512 | --pp-file F] [--tg 128 --reps 5]
//                     [--parallel 1,4,8] [--ctx --batch --threads]
//
// Generation: the prompt is tokenized with add_special=true, parse_special=true, decoded in
// chunks of --batch tokens, then a greedy (argmax) loop runs until an end-of-generation token or
// --max-tokens tokens. The text is the concatenation of each token's piece (special tokens
// rendered only with --special). --json prints one object:
//   {"tokens":[ids],"text":"...","prompt_tokens":n,"prompt_ms":x,"gen_ms":y,"prompt_tps":a,
//    "gen_tps":b}
// (gen_ms covers every generated token's decode and sampling; bytes that are not UTF-8 are
// written as U+FFFD in "text").
//
// --bench: --reps times (after one warm-up): pp = a prompt of --pp tokens (ids drawn from the
// vocabulary, fixed seed, not special) decoded from an empty cache in --batch chunks; tg = --tg
// tokens generated one at a time by the greedy sampler after a 4-token prompt, never stopping at
// end of generation. Prints one JSON object with the median and every run's tokens/s.
// --pp-file: the prefill prompt is that file's text, tokenized as --prompt is (so a server given
// the same text decodes the same tokens); its token count replaces --pp, and the prefill is timed
// from the text to the first token (tokenize, decode, greedy sample), as a server's time to
// first token is.
// --slots N: the context laid out as mlosd's with N slots (N sequences of --ctx cells, one KV
// stream each); the runs use sequence 0. Every context shares one persistent thread pool, as
// mlosd's and llama-server's do.
// --parallel N,...: then, for each N, the ceiling of batched decoding on this machine: a context
// laid out as mlosd's (N sequences of --ctx cells each, one KV stream per sequence), N 4-token
// prompts decoded in one batch, then --tg steps that each decode one token of every sequence in
// one llama_decode (greedy per sequence); "parallel" in the output lists each N's aggregate
// generated tokens/s (median of --reps).
//
// Exit status: 0 on success, 2 on bad arguments, 1 when the model cannot be loaded or decoded.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

#ifndef MLOS_LLAMA_LIB_DIR
#define MLOS_LLAMA_LIB_DIR ""
#endif

namespace {

struct Options {
  std::string model;
  std::string prompt;
  std::string lib_dir = MLOS_LLAMA_LIB_DIR;
  int max_tokens = 32;
  int ctx = 2048;
  int batch = 512;
  int ubatch = 0;  // 0: = batch
  int threads = 0;  // 0: hardware concurrency
  bool json = false;
  bool special = false;
  bool verbose = false;
  bool bench = false;
  int pp = 512;
  int tg = 128;
  int reps = 5;
  std::string pp_file;
  std::vector<int> parallel;
  int slots = 1;
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "mlos-llama-direct: %s\n"
               "usage: mlos-llama-direct --model F (--prompt TEXT [--max-tokens N] [--json] "
               "[--special] | --bench [--pp N | --pp-file F] [--tg N] [--reps N] "
               "[--parallel N,...] [--slots N])\n"
               "       [--ctx N] [--batch N] [--ubatch N] [--threads N] [--lib-dir DIR] "
               "[--verbose]\n",
               error.c_str());
  std::exit(2);
}

int ParseInt(std::string_view flag, const char* value, int min) {
  char* end = nullptr;
  long v = std::strtol(value, &end, 10);
  if (end == value || *end != '\0' || v < min || v > 1'000'000'000) {
    Usage(std::string(flag) + " expects an integer >= " + std::to_string(min) + ", got '" +
          value + "'");
  }
  return static_cast<int>(v);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--model") o.model = value();
    else if (a == "--prompt") o.prompt = value();
    else if (a == "--lib-dir") o.lib_dir = value();
    else if (a == "--max-tokens") o.max_tokens = ParseInt(a, value(), 0);
    else if (a == "--ctx") o.ctx = ParseInt(a, value(), 8);
    else if (a == "--batch") o.batch = ParseInt(a, value(), 1);
    else if (a == "--ubatch") o.ubatch = ParseInt(a, value(), 1);
    else if (a == "--threads") o.threads = ParseInt(a, value(), 1);
    else if (a == "--pp") o.pp = ParseInt(a, value(), 1);
    else if (a == "--tg") o.tg = ParseInt(a, value(), 1);
    else if (a == "--reps") o.reps = ParseInt(a, value(), 1);
    else if (a == "--pp-file") o.pp_file = value();
    else if (a == "--slots") o.slots = ParseInt(a, value(), 1);
    else if (a == "--parallel") {
      std::string list = value();
      for (size_t start = 0; start <= list.size();) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        o.parallel.push_back(ParseInt(a, list.substr(start, end - start).c_str(), 1));
        start = end + 1;
      }
    }
    else if (a == "--json") o.json = true;
    else if (a == "--special") o.special = true;
    else if (a == "--verbose") o.verbose = true;
    else if (a == "--bench") o.bench = true;
    else Usage("unknown argument '" + std::string(a) + "'");
  }
  if (o.model.empty()) Usage("--model is required");
  if (o.ubatch == 0) o.ubatch = o.batch;
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  return o;
}

void QuietLog(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// JSON string body of `s`; bytes that are not valid UTF-8 become U+FFFD.
std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len == 3) {
      unsigned cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6);
      ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok && len == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12);
      ok = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Owns the model, the context and the greedy sampler.
class Runner {
 public:
  ~Runner() {
    if (sampler_ != nullptr) llama_sampler_free(sampler_);
    if (ctx_ != nullptr) llama_free(ctx_);
    if (pool_ != nullptr) pool_free_(pool_);
    if (model_ != nullptr) llama_model_free(model_);
  }

  bool Load(const Options& o) {
    opts_ = o;
    if (!o.lib_dir.empty()) ggml_backend_load_all_from_path(o.lib_dir.c_str());
    else ggml_backend_load_all();
    llama_model_params mp = llama_model_default_params();
    model_ = llama_model_load_from_file(o.model.c_str(), mp);
    if (model_ == nullptr) return Fail("cannot load model " + o.model);
    vocab_ = llama_model_get_vocab(model_);
    MakeThreadpool();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(o.ctx * o.slots);
    cp.n_batch = static_cast<uint32_t>(o.batch);
    cp.n_ubatch = static_cast<uint32_t>(std::min(o.ubatch, o.batch));
    cp.n_seq_max = static_cast<uint32_t>(o.slots);
    cp.kv_unified = false;  // with --slots N, each sequence its own --ctx cells, as mlosd's
    cp.n_threads = o.threads;
    cp.n_threads_batch = o.threads;
    cp.no_perf = true;
    ctx_ = llama_init_from_model(model_, cp);
    if (ctx_ == nullptr) return Fail("cannot create a context");
    if (pool_ != nullptr) llama_attach_threadpool(ctx_, pool_, nullptr);
    sampler_ = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(sampler_, llama_sampler_init_greedy());
    return true;
  }

  std::optional<std::vector<llama_token>> Tokenize(const std::string& text) {
    std::vector<llama_token> tokens(text.size() + 8);
    int n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), /*add_special=*/true,
                           /*parse_special=*/true);
    if (n < 0) {
      tokens.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                         static_cast<int32_t>(tokens.size()), true, true);
    }
    if (n < 0) {
      Fail("tokenization failed");
      return std::nullopt;
    }
    tokens.resize(static_cast<size_t>(n));
    return tokens;
  }

  void Reset() {
    llama_memory_clear(llama_get_memory(ctx_), /*data=*/true);
    llama_sampler_reset(sampler_);
  }

  // Decodes `tokens` in chunks of n_batch (logits of the last token only).
  bool DecodePrompt(std::vector<llama_token>& tokens) {
    for (size_t i = 0; i < tokens.size(); i += static_cast<size_t>(opts_.batch)) {
      int n = static_cast<int>(std::min(tokens.size() - i, static_cast<size_t>(opts_.batch)));
      if (llama_decode(ctx_, llama_batch_get_one(tokens.data() + i, n)) != 0) {
        return Fail("llama_decode failed on the prompt");
      }
    }
    llama_synchronize(ctx_);
    return true;
  }

  // Greedy loop: up to `max` tokens, stopping at end of generation when `stop_at_eog`.
  bool Generate(int max, bool stop_at_eog, std::vector<llama_token>& out) {
    for (int i = 0; i < max; ++i) {
      llama_token t = llama_sampler_sample(sampler_, ctx_, -1);
      if (stop_at_eog && llama_vocab_is_eog(vocab_, t)) break;
      out.push_back(t);
      if (i + 1 == max) break;  // the last token needs no decode
      if (llama_decode(ctx_, llama_batch_get_one(&t, 1)) != 0) {
        return Fail("llama_decode failed while generating");
      }
    }
    llama_synchronize(ctx_);
    return true;
  }

  std::string Piece(llama_token t) const {
    char buf[256];
    int n = llama_token_to_piece(vocab_, t, buf, sizeof buf, 0, opts_.special);
    if (n >= 0) return std::string(buf, static_cast<size_t>(n));
    std::string big(static_cast<size_t>(-n), '\0');
    n = llama_token_to_piece(vocab_, t, big.data(), static_cast<int32_t>(big.size()), 0,
                             opts_.special);
    big.resize(static_cast<size_t>(std::max(n, 0)));
    return big;
  }

  // Aggregate generated tokens/s of `n` sequences decoding together (see --parallel), or a
  // negative value on failure. A context of its own, laid out as mlosd's.
  double BatchedDecodeTps(int n, int tg, uint32_t seed) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(opts_.ctx * n);
    cp.n_seq_max = static_cast<uint32_t>(n);
    cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(opts_.batch);
    cp.n_threads = cp.n_threads_batch = opts_.threads;
    cp.kv_unified = false;
    cp.no_perf = true;
    llama_context* ctx = llama_init_from_model(model_, cp);
    if (ctx != nullptr && pool_ != nullptr) llama_attach_threadpool(ctx, pool_, nullptr);
    if (ctx == nullptr) {
      Fail("cannot create a context of " + std::to_string(n) + " sequences");
      return -1;
    }
    llama_batch batch = llama_batch_init(std::max(opts_.batch, 4 * n), 0, 1);
    auto add = [&](llama_token t, llama_pos pos, llama_seq_id seq) {
      const int32_t i = batch.n_tokens++;
      batch.token[i] = t;
      batch.pos[i] = pos;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = seq;
      batch.logits[i] = 0;
    };
    std::vector<llama_token> next(static_cast<size_t>(n));
    double tps = -1;
    for (llama_seq_id s = 0; s < n; ++s) {  // the prompts, in one batch
      auto prompt = RandomTokens(4, seed + static_cast<uint32_t>(s));
      for (size_t p = 0; p < prompt.size(); ++p) add(prompt[p], static_cast<llama_pos>(p), s);
      batch.logits[batch.n_tokens - 1] = 1;
    }
    llama_pos pos = 4;
    bool ok = llama_decode(ctx, batch) == 0;
    auto sample = [&](int rows_per_seq) {  // greedy: argmax of each sequence's logits row
      const int n_vocab = llama_vocab_n_tokens(vocab_);
      for (int s = 0; s < n; ++s) {
        const float* row = llama_get_logits_ith(ctx, (s + 1) * rows_per_seq - 1);
        next[static_cast<size_t>(s)] =
            static_cast<llama_token>(std::max_element(row, row + n_vocab) - row);
      }
    };
    if (ok) sample(4);
    const auto t0 = std::chrono::steady_clock::now();
    for (int step = 0; ok && step < tg; ++step, ++pos) {
      batch.n_tokens = 0;
      for (int s = 0; s < n; ++s) add(next[static_cast<size_t>(s)], pos, s);
      for (int i = 0; i < n; ++i) batch.logits[i] = 1;
      ok = llama_decode(ctx, batch) == 0;
      if (ok) sample(1);
    }
    llama_synchronize(ctx);
    const auto t1 = std::chrono::steady_clock::now();
    if (ok) tps = 1000.0 * n * tg / Ms(t0, t1);
    else Fail("llama_decode failed in the batched run of " + std::to_string(n));
    llama_batch_free(batch);
    llama_free(ctx);
    return tps;
  }

  // One persistent ggml thread pool for every decode, as mlosd's llama plugin and llama-server
  // have (without one, each llama_decode starts and joins its threads: a large share of a
  // decode step on many cores). The CPU backend is loaded at run time, hence the lookups.
  void MakeThreadpool() {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu == nullptr) return;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    using NewFn = ggml_threadpool_t (*)(ggml_threadpool_params*);
    auto make = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
    pool_free_ = reinterpret_cast<void (*)(ggml_threadpool_t)>(
        ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
    if (make == nullptr || pool_free_ == nullptr) return;
    ggml_threadpool_params params = ggml_threadpool_params_default(opts_.threads);
    pool_ = make(&params);
  }

  // Random prompt of `n` ordinary tokens (fixed seed), as llama-bench does.
  std::vector<llama_token> RandomTokens(int n, uint32_t seed) const {
    std::mt19937 rng(seed);
    int n_vocab = llama_vocab_n_tokens(vocab_);
    std::uniform_int_distribution<int> dist(0, n_vocab - 1);
    std::vector<llama_token> tokens;
    if (llama_vocab_get_add_bos(vocab_)) tokens.push_back(llama_vocab_bos(vocab_));
    while (static_cast<int>(tokens.size()) < n) {
      llama_token t = dist(rng);
      if (llama_vocab_get_attr(vocab_, t) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN |
                                             LLAMA_TOKEN_ATTR_UNUSED)) {
        continue;
      }
      tokens.push_back(t);
    }
    return tokens;
  }

 private:
  bool Fail(const std::string& msg) {
    std::fprintf(stderr, "mlos-llama-direct: %s\n", msg.c_str());
    return false;
  }

  Options opts_;
  llama_model* model_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  llama_context* ctx_ = nullptr;
  llama_sampler* sampler_ = nullptr;
  ggml_threadpool_t pool_ = nullptr;
  void (*pool_free_)(ggml_threadpool_t) = nullptr;
};

int RunGenerate(Runner& r, const Options& o) {
  auto prompt = r.Tokenize(o.prompt);
  if (!prompt) return 1;
  if (static_cast<int>(prompt->size()) + o.max_tokens > o.ctx) {
    std::fprintf(stderr, "mlos-llama-direct: prompt (%zu tokens) + --max-tokens exceeds --ctx %d\n",
                 prompt->size(), o.ctx);
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  if (!r.DecodePrompt(*prompt)) return 1;
  auto t1 = std::chrono::steady_clock::now();
  std::vector<llama_token> out;
  if (!r.Generate(o.max_tokens, /*stop_at_eog=*/true, out)) return 1;
  auto t2 = std::chrono::steady_clock::now();
  std::string text;
  for (llama_token t : out) text += r.Piece(t);
  if (!o.json) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  double prompt_ms = Ms(t0, t1), gen_ms = Ms(t1, t2);
  std::string ids;
  for (size_t i = 0; i < out.size(); ++i) ids += (i ? "," : "") + std::to_string(out[i]);
  std::printf(
      "{\"tokens\":[%s],\"text\":\"%s\",\"prompt_tokens\":%zu,\"completion_tokens\":%zu,"
      "\"prompt_ms\":%.3f,\"gen_ms\":%.3f,\"prompt_tps\":%.2f,\"gen_tps\":%.2f}\n",
      ids.c_str(), JsonEscape(text).c_str(), prompt->size(), out.size(), prompt_ms, gen_ms,
      prompt_ms > 0 ? 1000.0 * static_cast<double>(prompt->size()) / prompt_ms : 0.0,
      gen_ms > 0 ? 1000.0 * static_cast<double>(out.size()) / gen_ms : 0.0);
  return 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string JoinNumbers(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.2f", i ? "," : "", v[i]);
    s += buf;
  }
  return s;
}

int RunBench(Runner& r, Options o) {
  std::vector<llama_token> file_prompt;
  std::string file_text;
  if (!o.pp_file.empty()) {
    std::FILE* f = std::fopen(o.pp_file.c_str(), "rb");
    if (f == nullptr) {
      std::fprintf(stderr, "mlos-llama-direct: cannot read --pp-file %s\n", o.pp_file.c_str());
      return 2;
    }
    std::string text;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
    auto tokens = r.Tokenize(text);
    if (!tokens || tokens->empty()) return 1;
    file_prompt = std::move(*tokens);
    file_text = std::move(text);
    o.pp = static_cast<int>(file_prompt.size());
  }
  if (o.pp > o.ctx || 4 + o.tg > o.ctx) {
    std::fprintf(stderr, "mlos-llama-direct: --pp / --tg exceed --ctx %d\n", o.ctx);
    return 2;
  }
  std::vector<double> pp_tps, tg_tps;
  for (int rep = -1; rep < o.reps; ++rep) {  // rep -1: warm-up, not counted
    auto prompt = file_prompt.empty()
                      ? r.RandomTokens(o.pp, 1234u + static_cast<uint32_t>(rep + 1))
                      : file_prompt;
    r.Reset();
    auto t0 = std::chrono::steady_clock::now();
    if (!file_text.empty()) {
      // From text to the first token, as a server's time to first token: tokenize, decode,
      // sample the first token.
      auto tokens = r.Tokenize(file_text);
      if (!tokens || !r.DecodePrompt(*tokens)) return 1;
      std::vector<llama_token> first;
      if (!r.Generate(1, /*stop_at_eog=*/false, first)) return 1;
    } else if (!r.DecodePrompt(prompt)) {
      return 1;
    }
    auto t1 = std::chrono::steady_clock::now();

    auto short_prompt = r.RandomTokens(4, 99u + static_cast<uint32_t>(rep + 1));
    r.Reset();
    if (!r.DecodePrompt(short_prompt)) return 1;
    std::vector<llama_token> out;
    auto t2 = std::chrono::steady_clock::now();
    if (!r.Generate(o.tg + 1, /*stop_at_eog=*/false, out)) return 1;  // tg decodes
    auto t3 = std::chrono::steady_clock::now();
    if (rep < 0) continue;
    pp_tps.push_back(1000.0 * o.pp / Ms(t0, t1));
    tg_tps.push_back(1000.0 * o.tg / Ms(t2, t3));
  }
  std::string parallel;
  for (int n : o.parallel) {
    std::vector<double> runs;
    for (int rep = -1; rep < o.reps; ++rep) {
      const double tps = r.BatchedDecodeTps(n, o.tg, 7u + static_cast<uint32_t>(rep + 1));
      if (tps < 0) return 1;
      if (rep >= 0) runs.push_back(tps);
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s{\"n\":%d,\"tg_tps\":%.2f,\"tg_tps_runs\":[", 
                  parallel.empty() ? "" : ",", n, Median(runs));
    parallel += buf + JoinNumbers(runs) + "]}";
  }
  std::printf(
      "{\"pp\":%d,\"tg\":%d,\"reps\":%d,\"threads\":%d,\"batch\":%d,\"ctx\":%d,"
      "\"pp_source\":\"%s\",\"pp_tps\":%.2f,\"tg_tps\":%.2f,\"pp_tps_runs\":[%s],"
      "\"tg_tps_runs\":[%s],\"parallel\":[%s]}\n",
      o.pp, o.tg, o.reps, o.threads, o.batch, o.ctx, o.pp_file.empty() ? "random" : "file",
      Median(pp_tps), Median(tg_tps), JoinNumbers(pp_tps).c_str(), JoinNumbers(tg_tps).c_str(),
      parallel.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  if (!o.verbose) llama_log_set(QuietLog, nullptr);
  llama_backend_init();
  int rc = 1;
  {
    Runner r;
    if (r.Load(o)) rc = o.bench ? RunBench(r, o) : RunGenerate(r, o);
  }
  llama_backend_free();
  return rc;
}
