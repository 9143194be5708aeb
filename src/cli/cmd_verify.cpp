// ramq verify OUT: re-hash an output (MLX directory or GGUF file) against its ramq-manifest.json.
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/manifest.h"

namespace ramq::cli {

Command add_verify_command(CLI::App& app, Options&) {
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "verify", "Check an output against its audit manifest (ramq-manifest.json): every file's size and sha256");
  cmd->add_option("OUTPUT", *out,
                  "An MLX output directory, a GGUF file (its manifest is FILE.ramq-manifest.json), or the manifest")
      ->required();
  return {cmd, [out] {
            const VerifyReport r = verify_output(*out);
            std::printf("verified %s: %zu file(s) match %s\n", out->c_str(), r.files, r.manifest.string().c_str());
            return 0;
          }};
}

}  // namespace ramq::cli
