#include "ramq/ramq.h"

#include <map>

#include "ramq/gguf_llama.h"
#include "ramq/json_io.h"

namespace ramq {

ModelAnalysis analyze_directory(const std::filesystem::path& model_dir, const Options& opt) {
  ModelReader model(model_dir);
  return analyze_model(model, opt);
}

ModelAnalysis load_analysis(const std::filesystem::path& path) {
  return analysis_from_json(read_json_file(path), path.string());
}

Plan load_plan(const std::filesystem::path& path) { return plan_from_json(read_json_file(path), path.string()); }

void save_json(const std::filesystem::path& path, const nlohmann::json& j) { write_text_file_atomic(path, j.dump(2) + "\n"); }

QuantizeResult quantize(const QuantizeRequest& req, const Options& opt) {
  if (opt.format != "mlx" && opt.format != "gguf")
    throw Error("", "", "unknown output format '" + opt.format + "' (expected mlx or gguf)");
  ModelReader model(req.model_dir);
  QuantizeResult result;
  if (req.plan_file) {
    result.plan = load_plan(*req.plan_file);
    if (result.plan.format != opt.format)
      throw Error(req.plan_file->string(), "",
                  "the plan is for " + result.plan.format + " output but --format is " + opt.format);
    validate_plan_against_model(result.plan, model, req.plan_file->string());
  } else {
    const ModelAnalysis analysis = analyze_model(model, opt);
    if (req.save_analysis) save_json(*req.save_analysis, analysis_to_json(analysis));
    result.plan = make_plan(analysis, opt);
  }
  if (req.save_plan) save_json(*req.save_plan, plan_to_json(result.plan));
  Options write_opt = opt;
  write_opt.keep_dtype = result.plan.keep_dtype;
  if (opt.format == "gguf") {
    std::map<std::string, GgmlType> types;
    for (const auto& d : result.plan.tensors)
      if (d.gguf_type) types[d.name] = *d.gguf_type;
    GgufWriteOptions gopt;
    gopt.threads = opt.threads;
    const GgufWriteSummary g = write_llama_gguf(model, types, req.output, gopt);
    result.written.output = g.output;
    result.written.total_bytes = g.file_bytes;
    result.written.tensor_bytes = g.tensor_bytes;
    result.written.params = g.params;
    result.written.average_bits = g.average_bits;
    result.written.shards = 1;
    result.written.note = g.architecture + ", tokenizer: " + g.tokenizer;
  } else {
    result.written = write_mlx_model(model, result.plan, write_opt, req.output);
  }
  return result;
}

}  // namespace ramq
