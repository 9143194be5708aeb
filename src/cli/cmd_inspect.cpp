// ramq inspect FILE [--json]: a safetensors file, a model directory (Hugging Face or ramq MLX)
// or a GGUF file: metadata, tensors (name, shape, type, bytes) and totals.
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "ramq/inspect.h"

namespace ramq::cli {

Command add_inspect_command(CLI::App& app, Options&) {
  struct Args {
    std::string path;
    bool json = false;
    bool tensors = true;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("inspect", "Describe a safetensors file, a model directory or a GGUF file");
  cmd->add_option("FILE", a->path, "safetensors file, model directory (Hugging Face or MLX), or .gguf file")->required();
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->add_flag("!--no-tensors", a->tensors, "Print only metadata and totals");
  return {cmd, [a] {
            const InspectReport r = inspect_path(a->path);
            if (a->json) {
              auto j = inspect_to_json(r);
              if (!a->tensors) j.erase("tensors");
              std::printf("%s\n", j.dump().c_str());
              return 0;
            }
            std::printf("%s: %s, %zu tensors\n", r.path.c_str(), std::string(inspect_kind_name(r.kind)).c_str(), r.tensors.size());
            for (auto it = r.metadata.begin(); it != r.metadata.end(); ++it)
              std::printf("  %s = %s\n", it.key().c_str(), it.value().dump().c_str());
            if (a->tensors) {
              for (const auto& t : r.tensors) {
                std::string shape;
                for (auto d : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
                std::printf("  %-56s %-8s %-20s %12llu bytes\n", t.name.c_str(), t.type.c_str(), shape.c_str(),
                            static_cast<unsigned long long>(t.bytes));
              }
            }
            std::printf("total: %llu bytes, %lld weights, %.3f bits per weight\n",
                        static_cast<unsigned long long>(r.total_bytes), static_cast<long long>(r.total_params),
                        r.bits_per_weight);
            return 0;
          }};
}

}  // namespace ramq::cli
