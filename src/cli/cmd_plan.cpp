// ramq plan analysis.json --policy ... -o plan.json
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/ramq.h"

namespace ramq::cli {

Command add_plan_command(CLI::App& app, Options& opt) {
  struct Args {
    std::string analysis, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("plan", "Choose the encoding of every tensor from an analysis");
  cmd->add_option("ANALYSIS", a->analysis, "analysis.json written by `ramq analyze`")->required();
  cmd->add_option("-o,--output", a->out, "Where to write plan.json")->required();
  add_policy_options(cmd, opt);
  return {cmd, [a, &opt] {
            const auto p = make_plan(load_analysis(a->analysis), opt);
            save_json(a->out, plan_to_json(p));
            std::printf("wrote %s (%s, policy %s, %.3f MB, %.3f average bits per weight)\n", a->out.c_str(),
                        p.format.c_str(), p.policy.c_str(), static_cast<double>(p.total_bytes) / 1e6, p.average_bits);
            return 0;
          }};
}

}  // namespace ramq::cli
