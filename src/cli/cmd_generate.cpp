// ramq generate MODEL -p TEXT [-n N] [--seed S] [--temp T] [--top-k K] [--chat] [--tokenizer DIR]
// [--json]: text from a model (any input or output format `ramq eval` reads), streamed to
// stdout as it is generated.
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "ramq/error.h"
#include "ramq/generate.h"
#include "ramq/tokenizer.h"

namespace ramq::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, tokenizer;
  std::optional<std::int64_t> tokens;
  std::uint64_t seed = 0;
  std::optional<double> temperature;
  std::optional<int> top_k;
  bool chat = false, json = false;
};

constexpr double kFallbackTemperature = 0.8;
constexpr int kFallbackTopK = 40;

// The tokenizer as `eval --text` finds it: the model directory's own; a .gguf model names the
// directory it came from with --tokenizer.
std::unique_ptr<Tokenizer> tokenizer_for(const GenerateArgs& a) {
  if (!a.tokenizer.empty()) return load_tokenizer(a.tokenizer);
  if (std::filesystem::is_directory(a.model)) return load_tokenizer(a.model);
  throw Error(a.model, "", "generate needs a tokenizer from a model directory: give --tokenizer DIR");
}

// Bytes of `text` up to the start of an unfinished UTF-8 sequence at its end.
std::size_t complete_utf8_length(const std::string& text) {
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

// Prints the text of the generated ids as it grows: each new id's text is the suffix of the
// decoded ids (after a few prompt ids of context, so a leading space is kept), up to the last
// complete UTF-8 character.
class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::span<const std::uint32_t> prompt) : tok_(tok) {
    const std::size_t context = std::min<std::size_t>(prompt.size(), 8);
    ids_.assign(prompt.end() - static_cast<std::ptrdiff_t>(context), prompt.end());
    context_size_ = context;
    context_text_ = tok_.decode(ids_);
  }
  void add_silently(std::uint32_t id) { ids_.push_back(id); }
  void add(std::uint32_t id) {
    ids_.push_back(id);
    const std::string text = generated_text();
    const std::size_t ready = complete_utf8_length(text);
    if (ready > printed_) {
      std::fwrite(text.data() + printed_, 1, ready - printed_, stdout);
      std::fflush(stdout);
      printed_ = ready;
      ends_with_newline_ = text[ready - 1] == '\n';
    }
  }
  void finish() const {
    if (printed_ > 0 && !ends_with_newline_) std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  // The text of the ids added so far.
  std::string generated_text() const {
    const std::string text = tok_.decode(ids_);
    if (text.starts_with(context_text_)) return text.substr(context_text_.size());
    return tok_.decode(std::span<const std::uint32_t>(ids_).subspan(context_size_));
  }

 private:
  const Tokenizer& tok_;
  std::vector<std::uint32_t> ids_;
  std::size_t context_size_ = 0;
  std::string context_text_;
  std::size_t printed_ = 0;
  bool ends_with_newline_ = false;
};

// The prompt as the model reads it: the text itself, or (--chat) the chat template's rendering.
std::string prompt_text(const GenerateArgs& a, const GenerationDefaults& d) {
  if (!a.chat) return a.prompt;
  if (!d.chat_template) throw Error(d.chat_template_file, "", "the model has no chat template: run without --chat");
  return render_chat_prompt(*d.chat_template, d.chat_template_file, a.prompt, d.bos_token, d.eos_token);
}

int run_generate(const GenerateArgs& a, const Options& global) {
  if (a.prompt.empty()) throw Error("", "", "the prompt (-p) is empty");
  const GenerationDefaults defaults = read_generation_defaults(a.model);
  const auto tok = tokenizer_for(a);
  const std::string text = prompt_text(a, defaults);
  // A chat template writes the special tokens itself, so its text is encoded without BOS (as
  // transformers' apply_chat_template(tokenize=True) does).
  const std::vector<std::uint32_t> prompt = tok->encode(text, !a.chat);
  GenerateOptions opt;
  opt.max_new_tokens = a.tokens;
  opt.stop_ids = defaults.stop_ids;
  opt.threads = global.threads;
  opt.sampling.seed = a.seed;
  opt.sampling.temperature = a.temperature.value_or(defaults.temperature.value_or(kFallbackTemperature));
  opt.sampling.top_k = a.top_k.value_or(defaults.top_k.value_or(kFallbackTopK));
  if (a.json) {
    const GenerateResult r = generate(a.model, prompt, opt, [](std::uint32_t) {});
    TextStream text_of(*tok, prompt);  // the text the stream would have printed
    for (std::size_t i = 0; i + (r.stopped ? 1 : 0) < r.tokens.size(); ++i) text_of.add_silently(r.tokens[i]);
    const nlohmann::json j = {{"prompt", text},
                              {"prompt_tokens", prompt},
                              {"tokens", r.tokens},
                              {"text", text_of.generated_text()},
                              {"stopped_at_eos", r.stopped},
                              {"temperature", opt.sampling.temperature},
                              {"top_k", opt.sampling.top_k},
                              {"seed", opt.sampling.seed}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  TextStream stream(*tok, prompt);
  generate(a.model, prompt, opt, [&](std::uint32_t id) { stream.add(id); });
  stream.finish();
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app, Options& opt) {
  auto g = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a model on the CPU (streamed to stdout)");
  cmd->add_option("MODEL", g->model, "Hugging Face directory, ramq MLX output directory, or ramq .gguf file")->required();
  cmd->add_option("-p,--prompt", g->prompt, "The prompt text")->required();
  cmd->add_option("-n,--tokens", g->tokens,
                  "Tokens to generate (default 128, or fewer if the model's positions end sooner); generation also "
                  "stops at an end-of-sequence token")
      ->check(count_in(0, std::uint64_t{1} << 40));
  cmd->add_option("--seed", g->seed, "Seed of the sampler: same seed, same text")
      ->check(count_in(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  cmd->add_option("--temp", g->temperature,
                  "Sampling temperature, 0 = greedy (default: generation_config.json's, a GGUF's "
                  "general.sampling.temp, else 0.8)")
      ->check(finite_in(0.0, 1000.0));
  cmd->add_option("--top-k", g->top_k,
                  "Sample among the K most likely tokens, 0 = all (default: generation_config.json's, a GGUF's "
                  "general.sampling.top_k, else 40)")
      ->check(count_in(0, 1 << 30));
  cmd->add_flag("--chat", g->chat,
                "Wrap the prompt as one user message in the model's chat template (rendered by Python's Jinja2)");
  cmd->add_option("--tokenizer", g->tokenizer,
                  "Model directory whose tokenizer to use (needed for a .gguf MODEL: the directory it was made from)");
  cmd->add_flag("--json", g->json, "Print one JSON object (prompt and generated token ids, text) when done");
  return {cmd, [g, &opt] { return run_generate(*g, opt); }};
}

}  // namespace ramq::cli
