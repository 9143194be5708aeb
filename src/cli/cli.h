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

// Checks of numbers on the command line, made on the text before CLI11 converts it (options.cpp):
// a plain decimal integer in [lo, hi] (no sign, hex, octal or exponent: CLI11 would wrap or
// saturate them), and a finite real in [lo, hi] (NaN and infinities refused).
CLI::Validator count_in(std::uint64_t lo, std::uint64_t hi);
CLI::Validator finite_in(double lo, double hi);
// Relations between options, once all are parsed (t2 <= t8 <= t16); throws CLI::ValidationError.
void check_option_relations(const Options& o);

// Shared option groups.
void add_policy_options(CLI::App* cmd, Options& o);
void add_metric_options(CLI::App* cmd, Options& o);
// --force: replace an existing output file that ramq did not write (output_checks.cpp).
void add_force_flag(CLI::App* cmd, bool& force);
// Checks the files a subcommand writes ((path, option) pairs; empty paths skipped) against the
// files and directories it reads, before any work (include/ramq/output_path.h).
void check_command_outputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                           const std::vector<std::string>& inputs, bool force);
// --probe none|self, described for the subcommand.
void add_probe_option(CLI::App* cmd, Options& o, const std::string& what);

// Subcommands. `opt` outlives the commands; it carries --threads and shared settings.
Command add_analyze_command(CLI::App& app, Options& opt);
Command add_plan_command(CLI::App& app, Options& opt);
Command add_quantize_command(CLI::App& app, Options& opt);
Command add_eval_command(CLI::App& app, Options& opt);
Command add_generate_command(CLI::App& app, Options& opt);
Command add_inspect_command(CLI::App& app, Options& opt);
Command add_verify_command(CLI::App& app, Options& opt);
Command add_report_command(CLI::App& app, Options& opt);

// The command line as typed (argv), kept by main() for the audit manifest (command_line.cpp).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

}  // namespace ramq::cli
