// ramq command-line tool: a thin shell over libramq (include/ramq/ramq.h). Each subcommand
// lives in its own cmd_*.cpp.
#include <cstdio>
#include <string>

#include "cli/cli.h"
#include "ramq/atomic_output.h"
#include "ramq/ramq.h"

int main(int argc, char** argv) {
  ramq::install_cleanup_signal_handlers();
  ramq::Options opt;
  CLI::App app{"ramq " + std::string(ramq::kVersion) +
               ": data-free mixed-precision quantization of Hugging Face models (no calibration data)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ramq::kVersion));
  app.add_option("--threads", opt.threads, "Worker threads (0 = all cores); output does not depend on it")
      ->capture_default_str();

  const std::vector<ramq::cli::Command> commands = {
      ramq::cli::add_analyze_command(app, opt), ramq::cli::add_plan_command(app, opt),
      ramq::cli::add_quantize_command(app, opt), ramq::cli::add_eval_command(app, opt),
      ramq::cli::add_inspect_command(app, opt)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the usage error
    return code == 0 ? 0 : 2;
  }

  try {
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const ramq::Error& e) {
    std::fprintf(stderr, "ramq: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ramq: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
