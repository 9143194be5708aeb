// ramq quantize MODEL_DIR [--plan plan.json] --format mlx|gguf -o OUT
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "cli/mpi_cluster.h"
#include "ramq/json_io.h"
#include "ramq/ramq.h"
#include "ramq/report.h"

namespace ramq::cli {

namespace {
void print_summary(const QuantizeResult& r) {
  const auto& w = r.written;
  std::printf("wrote %s\n", w.output.string().c_str());
  // MLX output is a directory of safetensors shards; GGUF output is always one file.
  const std::string files = r.plan.format == OutputFormat::Gguf ? "one GGUF file" : std::to_string(w.shards) + " shard(s)";
  const double file_bpw = w.params > 0 ? 8.0 * static_cast<double>(w.model_bytes) / static_cast<double>(w.params) : 0.0;
  std::printf("  %s, %.3f MB on disk, %lld parameters: %.3f bits per weight in the model file%s, %.3f in tensor data\n",
              files.c_str(), static_cast<double>(w.total_bytes) / 1e6, static_cast<long long>(w.params), file_bpw,
              r.plan.format == OutputFormat::Gguf ? "" : "s", w.average_bits);
  int counts[17] = {};
  for (const auto& d : r.plan.tensors) counts[std::min(d.bits(), 16)]++;
  if (!w.note.empty()) std::printf("  %s\n", w.note.c_str());
  std::printf("  tensors by bits:");
  for (int b : {2, 3, 4, 5, 6, 8, 16})
    if (counts[b]) std::printf(" %d-bit x%d", b, counts[b]);
  std::printf("\n");
}

nlohmann::json summary_json(const QuantizeResult& r, const std::string& report) {
  const auto& w = r.written;
  nlohmann::json j = {{"command", "quantize"},
                      {"output", w.output.string()},
                      {"format", output_format_name(r.plan.format)},
                      {"policy", plan_policy_label(r.plan)},
                      {"plan", plan_to_json(r.plan)["totals"]},
                      {"written",
                       {{"file_bytes", w.total_bytes},
                        {"model_bytes", w.model_bytes},
                        {"tensor_bytes", w.tensor_bytes},
                        {"params", w.params},
                        {"average_bits", w.average_bits},
                        {"shards", w.shards},
                        {"note", w.note}}}};
  if (!report.empty()) j["report"] = report;
  return j;
}

// The report of a fresh output: the plan (and analysis) from memory, bits and bytes read back.
void write_quantize_report(const QuantizeResult& r, const QuantizeRequest& req, const std::string& html) {
  ReportInputs in;
  in.title = req.output.filename().string();
  in.output = inspect_path(req.output);
  in.plan = plan_to_json(r.plan);
  in.plan_file = req.plan_file ? req.plan_file->string() : "the plan";
  if (r.analysis) in.analysis = analysis_to_json(*r.analysis);
  if (const auto m = find_manifest(req.output)) {
    in.manifest = read_json_file(*m);
    in.manifest_file = m->string();
  }
  in.original_bytes = inspect_path(req.model_dir).total_bytes;
  write_report(html, in);
}

}  // namespace

Command add_quantize_command(CLI::App& app, Options& opt) {
  struct Args {
    std::string model_dir, out, plan, save_analysis, save_plan, report;
    bool json = false;
    bool dry_run = false;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Write a mixed-precision model (analyze + plan unless --plan is given)");
  cmd->add_option("MODEL_DIR", a->model_dir, "Hugging Face model directory")->required();
  cmd->add_option("-o,--output", a->out, "Output: a directory (mlx) or a .gguf file (gguf); required unless --dry-run");
  cmd->add_flag("--dry-run", a->dry_run,
                "Analyze and plan, print the plan's size, bits per weight and per-layer summary; write no model");
  cmd->callback([a] {
    if (a->out.empty() && !a->dry_run) throw CLI::RequiredError("--output");
  });
  cmd->add_option("--plan", a->plan, "Use this plan.json instead of analyzing");
  cmd->add_option("--save-analysis", a->save_analysis, "Also write the analysis to this file");
  cmd->add_option("--save-plan", a->save_plan, "Also write the plan used to this file");
  cmd->add_option("--report", a->report, "Also write the HTML report (as `ramq report`) to this file");
  cmd->add_flag("--json", a->json, "Print one JSON summary object on stdout instead of text");
  add_force_flag(cmd, a->force);
  cmd->add_option("--max-shard-bytes", opt.max_shard_bytes, "Largest safetensors shard (tensor bytes, MLX)")
      ->check(count_in(1, std::uint64_t{1} << 50))
      ->capture_default_str();
  cmd->add_option("--gguf-pre", opt.gguf_pre,
                  "GGUF: tokenizer.ggml.pre for a tokenizer.json (a llama.cpp pre-tokenizer name, e.g. llama-bpe, "
                  "qwen2); by default identified as llama.cpp's converter does, by hashing its check text");
  add_policy_options(cmd, opt);
  add_metric_options(cmd, opt);
  return {cmd, [a, &opt] {
            QuantizeRequest req;
            req.model_dir = a->model_dir;
            req.output = a->out;
            req.command_line = command_line();
            if (!a->plan.empty()) req.plan_file = a->plan;
            if (!a->save_analysis.empty()) req.save_analysis = a->save_analysis;
            if (!a->save_plan.empty()) req.save_plan = a->save_plan;
            req.dry_run = a->dry_run;
            req.force = a->force;
            if (!a->report.empty() && !a->dry_run) req.other_outputs.emplace_back(a->report, "--report");
            req.cluster = current_cluster();  // under mpirun: this process's part of the run
            const QuantizeResult r = quantize(req, opt);
            if (req.cluster && req.cluster->rank() != 0) return 0;  // rank 0 reports and writes
            if (a->dry_run) {
              std::printf("%s", plan_summary_text(r.plan).c_str());
              return 0;
            }
            if (!a->report.empty()) write_quantize_report(r, req, a->report);
            if (a->json) {
              std::printf("%s\n", summary_json(r, a->report).dump().c_str());
            } else {
              print_summary(r);
              if (!a->report.empty()) std::printf("  report: %s\n", a->report.c_str());
            }
            return 0;
          }};
}

}  // namespace ramq::cli
