// ramq eval MODEL [--reference ORIGINAL] (--text FILE | --tokens FILE.u32) [--ctx N] [--json]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "cli/cli.h"
#include "ramq/input_file.h"
#include "ramq/ramq.h"
#include "ramq/tokenizer.h"

namespace ramq::cli {

namespace {
struct EvalArgs {
  std::string model, reference, text, tokens;
  bool json = false;
  EvalOptions opt;
};

// Positions beyond the ones a model was trained for give meaningless perplexities (rotary
// angles it never saw), so a longer window is refused rather than measured.
void require_window_fits(const LanguageModel& model, int ctx) {
  const auto limit = position_limit(model);
  if (limit && ctx > limit->positions)
    throw Error(limit->file, "",
                "--ctx " + std::to_string(ctx) + " is longer than the model's " + std::to_string(limit->positions) +
                    " positions (" + limit->field + "): give --ctx at most that");
}

int run_eval(EvalArgs& a, const Options& global) {
  a.opt.threads = global.threads;
  a.opt.progress = global.progress;
  std::vector<std::uint32_t> ids;
  std::string stream_file;
  if (!a.tokens.empty()) {
    stream_file = a.tokens;
    ids = read_token_file(a.tokens);
  } else {
    // The text first: a bad --text (a directory, a device) is reported before anything is loaded.
    const std::string text = read_regular_file(a.text, kMaxTextInputBytes);
    // The tokenizer comes from a model directory: the model's own, else the reference's.
    std::filesystem::path tok_dir = std::filesystem::is_directory(a.model) ? std::filesystem::path(a.model) : "";
    if (tok_dir.empty() && !a.reference.empty() && std::filesystem::is_directory(a.reference)) tok_dir = a.reference;
    if (tok_dir.empty())
      throw Error(a.text, "", "--text needs a tokenizer from a model directory: give --reference DIR, or use --tokens");
    const auto tok = load_tokenizer(tok_dir);
    stream_file = a.text;
    ids = encode_document(*tok, text);  // one document, with BOS
  }
  auto model = load_language_model(a.model, a.opt);
  require_window_fits(*model, a.opt.ctx);
  std::unique_ptr<LanguageModel> reference;
  if (!a.reference.empty()) {
    reference = load_language_model(a.reference, a.opt);
    require_window_fits(*reference, a.opt.ctx);
  }
  EvalResult r;
  try {
    r = evaluate(*model, reference.get(), ids, a.opt);
  } catch (const Error& e) {
    if (!e.file().empty()) throw;
    throw Error(stream_file, e.tensor(), e.problem());
  }
  if (a.json) {
    auto j = eval_result_to_json(r);
    j["model"] = a.model;
    if (!a.reference.empty()) j["reference"] = a.reference;
    j["ctx"] = a.opt.ctx;
    j["token_file"] = stream_file;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("model: %s\n", model->description().c_str());
  std::printf("tokens: %lld in %lld windows of %d, %lld scored\n", static_cast<long long>(r.tokens),
              static_cast<long long>(r.windows), a.opt.ctx, static_cast<long long>(r.scored_tokens));
  std::printf("perplexity: %.6f (median window %.6f, mean NLL %.6f nats)\n", r.ppl, r.median_window_ppl, r.mean_nll);
  if (r.ppl_ratio) {
    std::printf("reference perplexity: %.6f, ratio %.6f\n", *r.ppl_reference, *r.ppl_ratio);
    std::printf("KL divergence from the reference: mean %.6g, median %.6g nats; top-1 agreement %.4f%%\n",
                *r.mean_kld, *r.median_kld, 100.0 * *r.top1_agreement);
  }
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app, Options& opt) {
  auto ev = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Perplexity (and KL divergence against a reference) on the CPU");
  cmd->add_option("MODEL", ev->model, "Hugging Face directory, ramq MLX output directory, or ramq .gguf file")->required();
  cmd->add_option("--reference", ev->reference, "The original model, for KL divergence, top-1 agreement and PPL ratio");
  auto* text_opt = cmd->add_option("--text", ev->text, "Text file, tokenized with the model's tokenizer");
  auto* tok_opt = cmd->add_option("--tokens", ev->tokens, "Token ids: raw little-endian uint32 file");
  text_opt->excludes(tok_opt);
  cmd->add_option("--ctx", ev->opt.ctx,
                  "Window length in tokens (non-overlapping windows, each from position 0; at most the model's "
                  "max_position_embeddings, a GGUF's context_length)")
      ->check(count_in(2, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--max-tokens", ev->opt.max_tokens, "Use only the first N tokens (0 = all)")
      ->check(count_in(0, std::uint64_t{1} << 40))
      ->capture_default_str();
  cmd->add_flag("--json", ev->json, "Print one JSON object on stdout instead of text");
  cmd->callback([ev] {
    if (ev->text.empty() && ev->tokens.empty()) throw CLI::RequiredError("eval needs --text FILE or --tokens FILE.u32");
  });
  return {cmd, [ev, &opt] { return run_eval(*ev, opt); }};
}

}  // namespace ramq::cli
