// --force and the output-path check shared by the subcommands that write files
// (include/ramq/output_path.h has the rules).
#include "cli/cli.h"
#include "ramq/output_path.h"

namespace ramq::cli {

void add_force_flag(CLI::App* cmd, bool& force) {
  cmd->add_flag("--force", force,
                "Replace an existing output file that ramq did not write (never a directory holding such files, "
                "never an input of the run)");
}

void check_command_outputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                           const std::vector<std::string>& inputs, bool force) {
  std::vector<OutputTarget> outs;
  for (const auto& [path, option] : outputs)
    if (!path.empty()) outs.push_back({path, false, false, option});
  std::vector<std::filesystem::path> ins;
  for (const auto& in : inputs)
    if (!in.empty()) ins.emplace_back(in);
  check_output_targets(outs, ins, force);
}

}  // namespace ramq::cli
