// ramq command-line tool: a thin shell over libramq (include/ramq/ramq.h). Each subcommand
// lives in its own cmd_*.cpp.
#include <cstdio>
#include <string>

#include "cli/cli.h"
#include "ramq/atomic_output.h"
#include "ramq/ramq.h"

int main(int argc, char** argv) {
  ramq::install_cleanup_signal_handlers();
  ramq::cli::set_command_line(argc, argv);
  ramq::Options opt;
  CLI::App app{"ramq " + std::string(ramq::kVersion) +
               ": data-free mixed-precision quantization of Hugging Face models (no calibration data)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ramq::kVersion));
  app.add_option("--threads", opt.threads, "Worker threads (0 = all cores); output does not depend on it")
      ->capture_default_str();
  bool quiet = false;
  double progress_interval = 5.0;
  app.add_flag("-q,--quiet", quiet, "No progress on stderr (errors are still reported)");
  app.add_option("--progress-interval", progress_interval,
                 "Seconds between progress lines when stderr is not a terminal (0 = one per tensor)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();

  const std::vector<ramq::cli::Command> commands = {
      ramq::cli::add_analyze_command(app, opt), ramq::cli::add_plan_command(app, opt),
      ramq::cli::add_quantize_command(app, opt), ramq::cli::add_eval_command(app, opt),
      ramq::cli::add_inspect_command(app, opt), ramq::cli::add_verify_command(app, opt),
      ramq::cli::add_report_command(app, opt)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the usage error
    return code == 0 ? 0 : 2;
  }

  // A bar on a terminal (redrawn at most 10 times a second), plain lines on a log.
  const ramq::ProgressStyle style = ramq::progress_style_for(fileno(stderr), quiet);
  ramq::Progress progress(stderr, style, style == ramq::ProgressStyle::kBar ? 0.1 : progress_interval);
  opt.progress = &progress;
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
