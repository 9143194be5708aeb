#include "pipeline/audit.h"

#include <algorithm>
#include <set>
#include <system_error>

#include "ramq/mlx_writer.h"

namespace fs = std::filesystem;

namespace ramq::pipeline {

ManifestContext audit_context(const QuantizeRequest& req, const Options& opt, const ModelReader& model,
                              const QuantizeResult& result) {
  ManifestContext ctx;
  ctx.command_line = manifest_command_line(req.command_line);
  ctx.options = &opt;
  ctx.model_dir = req.model_dir.string();
  ctx.plan = &result.plan;
  ctx.analysis = result.analysis ? &*result.analysis : nullptr;

  // Inputs: every file the model was read from, and the tokenizer / generation files that the
  // writers copy or convert.
  std::set<std::string> names;
  for (const auto& f : model.input_files()) names.insert(f);
  std::error_code ec;
  for (fs::directory_iterator it(model.dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (is_mlx_passthrough_file(n) && fs::is_regular_file(it->path())) names.insert(n);
  }
  if (ec) throw Error(model.dir().string(), "", "cannot list the model directory: " + ec.message());
  for (const auto& n : names) {
    const fs::path path = model.dir() / n;
    // The analysis hashed the model's own files already: reuse those hashes (no second read).
    if (ctx.analysis) {
      const auto it = ctx.analysis->input_sha256.find(n);
      if (it != ctx.analysis->input_sha256.end()) {
        const auto size = fs::file_size(path, ec);
        if (ec) throw Error(path.string(), "", "cannot get the file size: " + ec.message());
        ctx.inputs.push_back({n, static_cast<std::uint64_t>(size), it->second});
        continue;
      }
    }
    ctx.inputs.push_back(digest_file(path, n));
  }
  if (req.plan_file) ctx.plan_file = digest_file(*req.plan_file, req.plan_file->string());
  for (const auto* side : {&req.save_analysis, &req.save_plan})
    if (*side) ctx.side_outputs.push_back(digest_file(**side, (*side)->string()));
  return ctx;
}

}  // namespace ramq::pipeline
