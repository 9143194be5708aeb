// The ramq command line: one file per subcommand (cmd_*.cpp), each registering itself on the
// CLI11 app and returning the function that runs it. A thin shell over libramq.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ramq/options.h"

namespace ramq::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // exit status; throws ramq::Error on bad input
};

// Shared option groups.
void add_policy_options(CLI::App* cmd, Options& o);
void add_metric_options(CLI::App* cmd, Options& o);
// --probe none|self, described for the subcommand.
void add_probe_option(CLI::App* cmd, Options& o, const std::string& what);

// Subcommands. `opt` outlives the commands; it carries --threads and shared settings.
Command add_analyze_command(CLI::App& app, Options& opt);
Command add_plan_command(CLI::App& app, Options& opt);
Command add_quantize_command(CLI::App& app, Options& opt);
Command add_eval_command(CLI::App& app, Options& opt);
Command add_inspect_command(CLI::App& app, Options& opt);
Command add_verify_command(CLI::App& app, Options& opt);
Command add_report_command(CLI::App& app, Options& opt);

// The command line as typed (argv), kept by main() for the audit manifest (command_line.cpp).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

}  // namespace ramq::cli
