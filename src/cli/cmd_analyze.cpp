// ramq analyze MODEL_DIR -o analysis.json
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/probe.h"
#include "ramq/ramq.h"

namespace ramq::cli {

Command add_analyze_command(CLI::App& app, Options& opt) {
  struct Args {
    std::string model_dir, out;
    bool json = false;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("analyze", "Score every tensor of MODEL_DIR with the four SWAN metrics");
  cmd->add_option("MODEL_DIR", a->model_dir, "Hugging Face model directory (config.json + safetensors)")->required();
  cmd->add_option("-o,--output", a->out, "Where to write analysis.json")->required();
  cmd->add_flag("--json", a->json, "Print one JSON summary object on stdout instead of text");
  add_force_flag(cmd, a->force);
  add_metric_options(cmd, opt);
  add_probe_option(cmd, opt,
                   "Also measure each quantizable tensor's sensitivity with the model's own forward passes on "
                   "sequences it generates (self; used by `plan --policy budget --probe self`)");
  return {cmd, [a, &opt] {
            check_command_outputs({{a->out, "-o"}}, {a->model_dir}, a->force);
            // The probe runs after the whole analysis: a length the model cannot take fails first.
            if (opt.probe.mode == ProbeMode::Self) {
              const ModelReader model(a->model_dir);
              check_probe_length(model.config(), (model.dir() / "config.json").string(), opt.probe);
            }
            const auto an = analyze_directory(a->model_dir, opt);
            save_json(a->out, analysis_to_json(an));
            int scored = 0;
            for (const auto& t : an.tensors) scored += t.scored ? 1 : 0;
            if (a->json) {
              const nlohmann::json j = {{"command", "analyze"},     {"output", a->out},
                                        {"model_dir", an.model_dir}, {"tensors", an.tensors.size()},
                                        {"scored_tensors", scored},  {"total_params", an.total_params},
                                        {"input_sha256", an.input_sha256}};
              std::printf("%s\n", j.dump().c_str());
            } else {
              std::printf("wrote %s (%zu tensors, %d scored)\n", a->out.c_str(), an.tensors.size(), scored);
            }
            return 0;
          }};
}

}  // namespace ramq::cli
