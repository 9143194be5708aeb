#include "pipeline/audit.h"

#include <algorithm>
#include <set>
#include <system_error>

#include "ramq/mlx_writer.h"

namespace fs = std::filesystem;

namespace ramq::pipeline {

std::vector<std::string> audit_input_names(const ModelReader& model) {
  std::set<std::string> names;
  for (const auto& f : model.input_files()) names.insert(f);
  std::error_code ec;
  for (fs::directory_iterator it(model.dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (is_mlx_passthrough_file(n) && fs::is_regular_file(it->path())) names.insert(n);
  }
  if (ec) throw Error(model.dir().string(), "", "cannot list the model directory: " + ec.message());
  return {names.begin(), names.end()};
}

InputDigests::InputDigests(const ModelReader& model)
    : worker_([this, dir = model.dir(), names = audit_input_names(model)](std::stop_token stop) {
        try {
          for (const auto& n : names) {
            if (stop.stop_requested()) return;
            digests_.push_back(digest_file(dir / n, n));
          }
        } catch (...) {
          error_ = std::current_exception();
        }
      }) {}

const std::vector<FileDigest>& InputDigests::get() {
  if (worker_.joinable()) worker_.join();
  if (error_) std::rethrow_exception(error_);
  return digests_;
}

ManifestContext audit_context(const QuantizeRequest& req, const Options& opt, const QuantizeResult& result,
                              InputDigests& inputs, const std::vector<std::pair<fs::path, std::string>>& side_outputs) {
  ManifestContext ctx;
  ctx.command_line = manifest_command_line(req.command_line);
  ctx.options = &opt;
  ctx.model_dir = req.model_dir.string();
  ctx.plan = &result.plan;
  ctx.analysis = result.analysis ? &*result.analysis : nullptr;
  ctx.inputs = inputs.get();
  if (req.plan_file) ctx.plan_file = digest_file(*req.plan_file, req.plan_file->string());
  for (const auto& [now_at, name] : side_outputs) ctx.side_outputs.push_back(digest_file(now_at, name));
  return ctx;
}

}  // namespace ramq::pipeline
