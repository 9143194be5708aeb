// ramq plan analysis.json --policy ... -o plan.json
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "ramq/ramq.h"

namespace ramq::cli {

namespace {

// An analysis fit to plan from: the file's own checks (analysis_from_json), at least one tensor,
// and, when its model directory can be read, every tensor present there with the same shape (a
// tampered or foreign analysis is refused here, not later by `quantize --plan`).
ModelAnalysis load_plannable_analysis(const std::string& file) {
  ModelAnalysis an = load_analysis(file);
  if (an.tensors.empty()) throw Error(file, "", "the analysis lists no tensors");
  std::error_code ec;
  if (an.model_dir.empty() || !std::filesystem::is_directory(an.model_dir, ec)) return an;
  std::unique_ptr<ModelReader> model;
  try {
    model = std::make_unique<ModelReader>(an.model_dir);
  } catch (const Error&) {
    return an;  // not a readable model (any more): nothing to compare with
  }
  check_analysis_matches_model(an, *model, file);
  return an;
}

}  // namespace

Command add_plan_command(CLI::App& app, Options& opt) {
  struct Args {
    std::string analysis, out;
    bool json = false;
    bool dry_run = false;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("plan", "Choose the encoding of every tensor from an analysis");
  cmd->add_option("ANALYSIS", a->analysis, "analysis.json written by `ramq analyze`")->required();
  cmd->add_option("-o,--output", a->out, "Where to write plan.json (required unless --dry-run)");
  cmd->add_flag("--dry-run", a->dry_run, "Print the plan's size, bits per weight and per-layer summary; write nothing");
  cmd->callback([a] {
    if (a->out.empty() && !a->dry_run) throw CLI::RequiredError("--output");
  });
  cmd->add_flag("--json", a->json, "Print one JSON summary object on stdout instead of text");
  add_force_flag(cmd, a->force);
  add_policy_options(cmd, opt);
  return {cmd, [a, &opt] {
            if (!a->dry_run) check_command_outputs({{a->out, "-o"}}, {a->analysis}, a->force);
            const ModelAnalysis analysis = load_plannable_analysis(a->analysis);
            if (opt.policy == PolicyKind::Budget && opt.probe.mode == ProbeMode::Self && analysis.probe.is_null())
              throw Error(a->analysis, "",
                          "--probe self: the analysis has no probe measurements (run `ramq analyze --probe self`)");
            const auto p = plan_for_analysis(analysis, opt);
            if (a->dry_run) {
              std::printf("%s", plan_summary_text(p).c_str());
              return 0;
            }
            const auto j = plan_to_json(p);
            save_json(a->out, j);
            if (a->json) {
              const nlohmann::json summary = {{"command", "plan"},  {"output", a->out},           {"format", output_format_name(p.format)},
                                              {"policy", plan_policy_label(p)}, {"totals", j["totals"]}};
              std::printf("%s\n", summary.dump().c_str());
              return 0;
            }
            std::printf("wrote %s (%s, policy %s, %.3f MB, %.3f average bits per weight)\n", a->out.c_str(),
                        std::string(output_format_name(p.format)).c_str(), plan_policy_label(p).c_str(), static_cast<double>(p.total_bytes) / 1e6, p.average_bits);
            return 0;
          }};
}

}  // namespace ramq::cli
