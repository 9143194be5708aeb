// ramq command-line tool: a thin shell over libramq (include/ramq/ramq.h). Each subcommand
// lives in its own cmd_*.cpp.
#include <cstdio>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "cli/mpi_cluster.h"
#include "ramq/atomic_output.h"
#include "ramq/ramq.h"

namespace {
// Usage errors in one line, like every other error (the README's promise), with the hint CLI11
// would put on a second line.
std::string one_line_usage_error(const CLI::App*, const CLI::Error& e) {
  std::string what = e.what();
  for (char& c : what)
    if (c == '\n' || c == '\r') c = ' ';
  return "ramq: error: " + what + " (run with --help for more information)\n";
}
}  // namespace

int main(int argc, char** argv) {
  ramq::install_cleanup_signal_handlers();
  ramq::cli::set_command_line(argc, argv);
  ramq::Options opt;
  CLI::App app{"ramq " + std::string(ramq::kVersion) +
               ": data-free mixed-precision quantization of Hugging Face models (no calibration data)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(ramq::kVersion));
  app.failure_message(one_line_usage_error);
  // More threads than this only costs memory and start-up time (and would be a typo).
  constexpr unsigned kMaxThreads = 4096;
  app.add_option("--threads", opt.threads, "Worker threads (0 = all cores); output does not depend on it")
      ->check(ramq::cli::count_in(0, kMaxThreads))
      ->capture_default_str();
  bool quiet = false;
  double progress_interval = 5.0;
  app.add_flag("-q,--quiet", quiet, "No progress on stderr (errors are still reported)");
  app.add_option("--progress-interval", progress_interval,
                 "Seconds between progress lines when stderr is not a terminal (0 = one per tensor)")
      ->check(ramq::cli::finite_in(0.0, 86400.0))
      ->capture_default_str();

  const std::vector<ramq::cli::Command> commands = {
      ramq::cli::add_analyze_command(app, opt), ramq::cli::add_plan_command(app, opt),
      ramq::cli::add_quantize_command(app, opt), ramq::cli::add_eval_command(app, opt),
      ramq::cli::add_generate_command(app, opt), ramq::cli::add_inspect_command(app, opt),
      ramq::cli::add_verify_command(app, opt), ramq::cli::add_report_command(app, opt)};

  // Under mpirun every process gets the same command line; only rank 0 speaks (ranks > 0 report
  // their errors to it: src/pipeline/distributed.h).
  const ramq::cli::Launch launch = ramq::cli::launch_from_environment();
  const bool silent_rank = launch.rank > 0;
  try {
    app.parse(argc, argv);
    ramq::cli::check_option_relations(opt);  // relations between options, once all are known
  } catch (const CLI::ParseError& e) {
    std::ostringstream sink;
    // prints help/version (code 0) or the usage error
    const int code = silent_rank ? app.exit(e, sink, sink) : app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // Several processes: MPI for `quantize`, a clear refusal otherwise. One process (no launcher,
  // or `mpirun -n 1`): MPI is not initialised at all.
  std::unique_ptr<ramq::Cluster> cluster;
  if (launch.by_launcher && launch.size != 1) {
    const std::string procs = launch.size > 1 ? std::to_string(launch.size) + " processes" : "several processes";
    std::string refusal;
    const CLI::App* parsed = nullptr;
    for (const auto& c : commands)
      if (c.app->parsed()) parsed = c.app;
    if (!ramq::cli::mpi_built())
      refusal = "started by mpirun (or another MPI launcher) with " + procs +
                ", but this ramq was built without MPI: install libopenmpi-dev and rebuild (CMake option RAMQ_MPI), "
                "or run it without mpirun";
    else if (parsed == nullptr || parsed->get_name() != "quantize")
      refusal = "`ramq " + (parsed ? parsed->get_name() : std::string("?")) +
                "` runs in one process: run it without mpirun (only `ramq quantize` runs across MPI processes)";
    if (!refusal.empty()) {
      if (!silent_rank) std::fprintf(stderr, "ramq: error: %s\n", refusal.c_str());
      return 2;
    }
    try {
      cluster = ramq::cli::start_mpi(argc, argv);
    } catch (const std::exception& e) {
      if (!silent_rank) std::fprintf(stderr, "ramq: internal error: %s\n", e.what());
      return 3;
    }
    ramq::cli::set_current_cluster(cluster.get());
  }
  const bool other_rank = cluster && cluster->rank() != 0;

  // A bar on a terminal (redrawn at most 10 times a second), plain lines on a log.
  const ramq::ProgressStyle style = ramq::progress_style_for(fileno(stderr), quiet || other_rank);
  ramq::Progress progress(stderr, style, style == ramq::ProgressStyle::kBar ? 0.1 : progress_interval);
  opt.progress = &progress;
  // An error on rank 0 while other ranks may be waiting on it (or one escaping on another rank)
  // ends the whole run once reported: MPI_Abort, so mpirun exits non-zero.
  auto fail = [&](int code, const char* kind, const char* what) {
    if (other_rank)
      std::fprintf(stderr, "ramq: %s (rank %d of %d): %s\n", kind, cluster->rank(), cluster->size(), what);
    else
      std::fprintf(stderr, "ramq: %s: %s\n", kind, what);
    if (cluster && (other_rank || cluster->peers_busy)) cluster->abort(code);
    return code;
  };
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
  } catch (const ramq::ClusterStop& s) {
    return s.status();  // another rank of an MPI run: rank 0 reported why
  } catch (const ramq::Error& e) {
    return fail(1, "error", e.what());
  } catch (const std::exception& e) {
    return fail(3, "internal error", e.what());
  }
  return 0;
}
