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

namespace {

// Every field of Options that can change the output (all but threads and progress), by name.
nlohmann::json options_to_json(const Options& o) {
  // Every field of Options except threads and progress (neither changes the output). A field
  // added to Options belongs here too.
  const auto& s = o.swan;
  return {{"seed", o.seed},
          {"metrics", metric_options_to_json(o.metrics)},
          {"swan_metrics", o.swan_metrics},
          {"policy", policy_name(o.policy)},
          {"mix", o.mix},
          {"swan",
           {{"w_svd", s.w_svd}, {"w_kurt", s.w_kurt}, {"w_out", s.w_out}, {"w_err", s.w_err}, {"t16", s.t16},
            {"t8", s.t8}, {"t2", s.t2}, {"group8", s.group8}, {"group4", s.group4}, {"group2", s.group2}}},
          {"uniform",
           {{"bits", o.uniform.bits}, {"group", o.uniform.group}, {"quantize_embeddings", o.uniform.quantize_embeddings}}},
          {"budget", {{"target_bpw", o.budget.target_bpw}, {"target_bytes", o.budget.target_bytes}}},
          {"rd", {{"enabled", o.rd.enabled}, {"max_rows", o.rd.max_rows}, {"max_elements", o.rd.max_elements}, {"mlx", o.rd.mlx}, {"gguf", o.rd.gguf}}},
          {"mlx_encoder", mlx_encoder_name(o.mlx_encoder)},
          {"format", output_format_name(o.format)},
          {"keep_dtype", o.keep_dtype},
          {"strict_groups", o.strict_groups},
          {"max_shard_bytes", o.max_shard_bytes}};
}

}  // namespace

ManifestContext audit_context(const QuantizeRequest& req, const Options& opt, const QuantizeResult& result,
                              InputDigests& inputs, const std::vector<std::pair<fs::path, std::string>>& side_outputs) {
  ManifestContext ctx;
  ctx.command_line = manifest_command_line(req.command_line);
  ctx.options = options_to_json(opt);
  ctx.model_dir = req.model_dir.string();
  ctx.plan = &result.plan;
  ctx.analysis = result.analysis ? &*result.analysis : nullptr;
  ctx.inputs = inputs.get();
  if (req.plan_file) ctx.plan_file = digest_file(*req.plan_file, req.plan_file->string());
  for (const auto& [now_at, name] : side_outputs) ctx.side_outputs.push_back(digest_file(now_at, name));
  return ctx;
}

}  // namespace ramq::pipeline
