// ramq quantize MODEL_DIR [--plan plan.json] --format mlx|gguf -o OUT
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/ramq.h"

namespace ramq::cli {

namespace {
void print_summary(const QuantizeResult& r) {
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

Command add_quantize_command(CLI::App& app, Options& opt) {
  struct Args {
    std::string model_dir, out, plan, save_analysis, save_plan;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Write a mixed-precision model (analyze + plan unless --plan is given)");
  cmd->add_option("MODEL_DIR", a->model_dir, "Hugging Face model directory")->required();
  cmd->add_option("-o,--output", a->out, "Output: a directory (mlx) or a .gguf file (gguf)")->required();
  cmd->add_option("--plan", a->plan, "Use this plan.json instead of analyzing");
  cmd->add_option("--save-analysis", a->save_analysis, "Also write the analysis to this file");
  cmd->add_option("--save-plan", a->save_plan, "Also write the plan used to this file");
  cmd->add_option("--max-shard-bytes", opt.max_shard_bytes, "Largest safetensors shard (tensor bytes, MLX)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 50))
      ->capture_default_str();
  add_policy_options(cmd, opt);
  add_metric_options(cmd, opt);
  return {cmd, [a, &opt] {
            QuantizeRequest req;
            req.model_dir = a->model_dir;
            req.output = a->out;
            if (!a->plan.empty()) req.plan_file = a->plan;
            if (!a->save_analysis.empty()) req.save_analysis = a->save_analysis;
            if (!a->save_plan.empty()) req.save_plan = a->save_plan;
            print_summary(quantize(req, opt));
            return 0;
          }};
}

}  // namespace ramq::cli
