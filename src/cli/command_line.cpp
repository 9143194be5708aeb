// The command line as typed, for the audit manifest.
#include "cli/cli.h"

namespace ramq::cli {

namespace {
std::vector<std::string>& stored() {
  static std::vector<std::string> argv;
  return argv;
}
}  // namespace

void set_command_line(int argc, char** argv) { stored().assign(argv, argv + argc); }

const std::vector<std::string>& command_line() { return stored(); }

}  // namespace ramq::cli
