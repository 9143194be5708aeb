// ramq command-line tool: a thin shell over libramq (include/ramq/ramq.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "ramq/atomic_output.h"
#include "ramq/ramq.h"

namespace {

namespace fs = std::filesystem;

// Options shared by `plan` and `quantize` (policy settings).
void add_policy_options(CLI::App* cmd, ramq::Options& o) {
  cmd->add_option("--policy", o.policy,
                  "Bit allocation policy: swan (SWAN thresholds), uniform (baseline), or llama-mix (llama.cpp's "
                  "per-tensor rules for --mix; GGUF only)")
      ->check(CLI::IsMember({"swan", "uniform", "llama-mix"}))
      ->capture_default_str();
  cmd->add_option("--mix", o.mix, "llama-mix: the llama.cpp mix to reproduce")
      ->check(CLI::IsMember({"Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"}))
      ->capture_default_str();
  cmd->add_option("--format", o.format,
                  "Output format: mlx (affine groups) or gguf (llama.cpp types; swan maps 2/4/8/16 bits to "
                  "Q2_K/Q4_K/Q8_0/F16)")
      ->check(CLI::IsMember({"mlx", "gguf"}))
      ->capture_default_str();
  cmd->add_option("--bits", o.uniform.bits, "uniform: bits for every quantizable tensor (2, 3, 4, 5, 6, 8)")
      ->check(CLI::IsMember({2, 3, 4, 5, 6, 8}))
      ->capture_default_str();
  cmd->add_option("--group", o.uniform.group, "uniform: group size (32, 64, 128)")
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_flag("--quantize-embeddings", o.uniform.quantize_embeddings,
                "uniform: also quantize embed_tokens and lm_head (kept 16-bit by default)");
  cmd->add_option("--t16", o.swan.t16, "swan: S >= t16 keeps the tensor in 16 bits")->capture_default_str();
  cmd->add_option("--t8", o.swan.t8, "swan: S >= t8 gives 8 bits")->capture_default_str();
  cmd->add_option("--t2", o.swan.t2, "swan: S <= t2 gives 2 bits (otherwise 4 bits)")->capture_default_str();
  cmd->add_option("--w-svd", o.swan.w_svd, "swan: weight of the spectral score in S")->capture_default_str();
  cmd->add_option("--w-kurt", o.swan.w_kurt, "swan: weight of the kurtosis score in S")->capture_default_str();
  cmd->add_option("--w-out", o.swan.w_out, "swan: weight of the output-noise score in S")->capture_default_str();
  cmd->add_option("--w-err", o.swan.w_err, "swan: weight of the reconstruction-error score in S")->capture_default_str();
  cmd->add_option("--group8", o.swan.group8, "swan: group size of 8-bit tensors")
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_option("--group4", o.swan.group4, "swan: group size of 4-bit tensors")
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_option("--group2", o.swan.group2, "swan: group size of 2-bit tensors")
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_flag("--strict-groups", o.strict_groups,
                "Keep a tensor 16-bit when its row length is not divisible by the chosen group (default: use the "
                "largest smaller group of 32/64/128 that divides it)");
  cmd->add_flag("--keep-dtype", o.keep_dtype, "Keep F32 tensors that are not quantized in F32 (default: write F16)");
}

// Options of the analysis (metrics).
void add_metric_options(CLI::App* cmd, ramq::Options& o) {
  cmd->add_option("--seed", o.seed, "Seed of the randomized SVD and the probe vectors")->capture_default_str();
  cmd->add_option("--rsvd-rank", o.metrics.rsvd_rank, "Rank k of the randomized SVD (matrices with min dim > 512)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--power-iters", o.metrics.rsvd_power_iters, "Power iterations of the randomized SVD")
      ->check(CLI::Range(0, 20))
      ->capture_default_str();
  cmd->add_option("--probes", o.metrics.probes, "Gaussian probe vectors for the output-noise metric")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
}

struct EvalArgs {
  std::string model, reference, text, tokens;
  bool json = false;
  ramq::EvalOptions opt;
};

int run_eval(EvalArgs& a, unsigned threads) {
  a.opt.threads = threads;
  a.opt.progress = !a.json;
  std::vector<std::uint32_t> ids;
  std::string stream_file;
  if (!a.tokens.empty()) {
    stream_file = a.tokens;
    ids = ramq::read_token_file(a.tokens);
  } else {
    throw ramq::Error(a.text, "", "--text needs a tokenizer, which this build does not have yet; use --tokens");
  }
  auto model = ramq::load_language_model(a.model, a.opt);
  std::unique_ptr<ramq::LanguageModel> reference;
  if (!a.reference.empty()) reference = ramq::load_language_model(a.reference, a.opt);
  ramq::EvalResult r;
  try {
    r = ramq::evaluate(*model, reference.get(), ids, a.opt);
  } catch (const ramq::Error& e) {
    if (!e.file().empty()) throw;
    throw ramq::Error(stream_file, e.tensor(), e.problem());
  }
  if (a.json) {
    auto j = ramq::eval_result_to_json(r);
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

void print_summary(const ramq::QuantizeResult& r) {
  const auto& w = r.written;
  std::printf("wrote %s\n", w.output.string().c_str());
  std::printf("  %d shard(s), %.3f MB on disk (tensors %.3f MB), %lld parameters, %.3f average bits per weight\n", w.shards,
              static_cast<double>(w.total_bytes) / 1e6, static_cast<double>(w.tensor_bytes) / 1e6,
              static_cast<long long>(w.params), w.average_bits);
  int counts[17] = {};
  for (const auto& d : r.plan.tensors) counts[std::min(d.bits, 16)]++;
  if (!w.note.empty()) std::printf("  %s\n", w.note.c_str());
  std::printf("  tensors by bits:");
  for (int b : {2, 3, 4, 5, 6, 8, 16})
    if (counts[b]) std::printf(" %d-bit x%d", b, counts[b]);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  ramq::install_cleanup_signal_handlers();
  ramq::Options opt;
  CLI::App app{"ramq " + std::string(ramq::kVersion) +
               ": data-free mixed-precision quantization of Hugging Face models (no calibration data)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ramq::kVersion));
  app.add_option("--threads", opt.threads, "Worker threads (0 = all cores); output does not depend on it")
      ->capture_default_str();

  std::string model_dir, analysis_in, out_path, plan_in, save_analysis, save_plan;

  auto* analyze = app.add_subcommand("analyze", "Score every tensor of MODEL_DIR with the four SWAN metrics");
  analyze->add_option("MODEL_DIR", model_dir, "Hugging Face model directory (config.json + safetensors)")->required();
  analyze->add_option("-o,--output", out_path, "Where to write analysis.json")->required();
  add_metric_options(analyze, opt);

  auto* plan = app.add_subcommand("plan", "Choose bits and group size per tensor from an analysis");
  plan->add_option("ANALYSIS", analysis_in, "analysis.json written by `ramq analyze`")->required();
  plan->add_option("-o,--output", out_path, "Where to write plan.json")->required();
  add_policy_options(plan, opt);

  auto* quant = app.add_subcommand("quantize", "Write a mixed-precision model (analyze + plan unless --plan is given)");
  quant->add_option("MODEL_DIR", model_dir, "Hugging Face model directory")->required();
  quant->add_option("-o,--output", out_path, "Output: a directory (mlx) or a .gguf file (gguf)")->required();
  quant->add_option("--plan", plan_in, "Use this plan.json instead of analyzing");
  quant->add_option("--save-analysis", save_analysis, "Also write the analysis to this file");
  quant->add_option("--save-plan", save_plan, "Also write the plan used to this file");
  quant->add_option("--max-shard-bytes", opt.max_shard_bytes, "Largest safetensors shard (tensor bytes)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 50))
      ->capture_default_str();
  add_policy_options(quant, opt);
  add_metric_options(quant, opt);

  EvalArgs ev;
  auto* eval = app.add_subcommand("eval", "Perplexity (and KL divergence against a reference) on the CPU");
  eval->add_option("MODEL", ev.model, "Hugging Face directory, ramq MLX output directory, or ramq .gguf file")->required();
  eval->add_option("--reference", ev.reference, "The original model, for KL divergence, top-1 agreement and PPL ratio");
  auto* text_opt = eval->add_option("--text", ev.text, "Text file, tokenized with the model's tokenizer");
  auto* tok_opt = eval->add_option("--tokens", ev.tokens, "Token ids: raw little-endian uint32 file");
  text_opt->excludes(tok_opt);
  eval->add_option("--ctx", ev.opt.ctx, "Window length in tokens (non-overlapping windows, each from position 0)")
      ->check(CLI::Range(2, 1 << 20))
      ->capture_default_str();
  eval->add_option("--max-tokens", ev.opt.max_tokens, "Use only the first N tokens (0 = all)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40))
      ->capture_default_str();
  eval->add_flag("--json", ev.json, "Print one JSON object on stdout instead of text");

  try {
    app.parse(argc, argv);
    if (eval->parsed() && ev.text.empty() && ev.tokens.empty())
      throw CLI::RequiredError("eval needs --text FILE or --tokens FILE.u32");
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the usage error
    return code == 0 ? 0 : 2;
  }

  try {
    if (analyze->parsed()) {
      const auto a = ramq::analyze_directory(model_dir, opt);
      ramq::save_json(out_path, ramq::analysis_to_json(a));
      int scored = 0;
      for (const auto& t : a.tensors) scored += t.scored ? 1 : 0;
      std::printf("wrote %s (%zu tensors, %d scored)\n", out_path.c_str(), a.tensors.size(), scored);
    } else if (plan->parsed()) {
      const auto a = ramq::load_analysis(analysis_in);
      const auto p = ramq::make_plan(a, opt);
      ramq::save_json(out_path, ramq::plan_to_json(p));
      std::printf("wrote %s (policy %s, %.3f MB, %.3f average bits per weight)\n", out_path.c_str(), p.policy.c_str(),
                  static_cast<double>(p.total_bytes) / 1e6, p.average_bits);
    } else if (eval->parsed()) {
      return run_eval(ev, opt.threads);
    } else if (quant->parsed()) {
      ramq::QuantizeRequest req;
      req.model_dir = model_dir;
      req.output = out_path;
      if (!plan_in.empty()) req.plan_file = plan_in;
      if (!save_analysis.empty()) req.save_analysis = save_analysis;
      if (!save_plan.empty()) req.save_plan = save_plan;
      print_summary(ramq::quantize(req, opt));
    }
  } catch (const ramq::Error& e) {
    std::fprintf(stderr, "ramq: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ramq: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
