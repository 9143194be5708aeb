// ramq inspect FILE: placeholder until implemented below.
#include "cli/cli.h"

namespace ramq::cli {
Command add_inspect_command(CLI::App& app, Options&) {
  auto* cmd = app.add_subcommand("inspect", "Describe a safetensors model or GGUF file");
  return {cmd, [] { return 0; }};
}
}  // namespace ramq::cli
