// ramq report [OUT_DIR_OR_GGUF] [--plan plan.json] [--analysis analysis.json] [--eval eval.json] -o report.html
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/report.h"

namespace ramq::cli {

Command add_report_command(CLI::App& app, Options&) {
  struct Args {
    std::string output, html, plan, analysis, eval, manifest, original;
    bool json = false;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("report", "Write one self-contained HTML page about a quantized model");
  cmd->add_option("OUTPUT", a->output,
                  "The quantized model: an MLX directory or a .gguf file (bits and bytes are read from it)");
  cmd->add_option("-o,--output", a->html, "Where to write the HTML page")->required();
  cmd->add_option("--plan", a->plan, "plan.json (policy and reasons; checked against OUTPUT; alone it replaces OUTPUT)");
  cmd->add_option("--analysis", a->analysis, "analysis.json: SWAN scores, source sizes, rate-distortion data");
  cmd->add_option("--eval", a->eval, "The JSON printed by `ramq eval --json` (PPL, KL divergence, top-1 agreement)");
  cmd->add_option("--manifest", a->manifest, "ramq-manifest.json (default: the one beside OUTPUT, if any)");
  cmd->add_option("--original", a->original, "The original model directory, for the size comparison");
  cmd->add_flag("--json", a->json, "Print one JSON summary object on stdout");
  add_force_flag(cmd, a->force);
  cmd->callback([a] {
    if (a->output.empty() && a->plan.empty()) throw CLI::RequiredError("report needs OUTPUT or --plan");
  });
  return {cmd, [a] {
            check_command_outputs({{a->html, "-o"}}, {a->output, a->plan, a->analysis, a->eval, a->manifest, a->original},
                                  a->force);
            ReportFiles f;
            auto set = [](std::optional<std::filesystem::path>& dst, const std::string& v) {
              if (!v.empty()) dst = v;
            };
            set(f.output, a->output);
            set(f.plan, a->plan);
            set(f.analysis, a->analysis);
            set(f.eval, a->eval);
            set(f.manifest, a->manifest);
            set(f.original_model, a->original);
            const ReportSummary s = write_report(a->html, load_report_inputs(f));
            if (a->json) {
              const nlohmann::json j = {{"command", "report"},          {"output", a->html},
                                        {"tensors", s.tensors},          {"quantized_tensors", s.quantized},
                                        {"total_bytes", s.total_bytes},  {"total_params", s.total_params},
                                        {"average_bits", s.average_bits}};
              std::printf("%s\n", j.dump().c_str());
            } else {
              std::printf("wrote %s (%zu tensors, %zu quantized, %.3f MB, %.3f average bits per weight)\n", a->html.c_str(),
                          s.tensors, s.quantized, static_cast<double>(s.total_bytes) / 1e6, s.average_bits);
            }
            return 0;
          }};
}

}  // namespace ramq::cli
