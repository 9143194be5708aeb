#include "ramq/ramq.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "pipeline/audit.h"
#include "pipeline/distributed.h"
#include "ramq/atomic_output.h"
#include "ramq/config_check.h"
#include "write/gguf_llama_writer.h"
#include "ramq/json_io.h"
#include "ramq/manifest.h"
#include "ramq/output_path.h"
#include "ramq/probe.h"

namespace ramq {

ModelAnalysis analyze_directory(const std::filesystem::path& model_dir, const Options& opt) {
  ModelReader model(model_dir);
  ModelAnalysis a = analyze_model(model, opt);
  if (opt.probe.mode == "self") probe_self(model_dir, a, opt);
  return a;
}

ModelAnalysis load_analysis(const std::filesystem::path& path) {
  return analysis_from_json(read_json_file(path), path.string());
}

Plan load_plan(const std::filesystem::path& path) { return plan_from_json(read_json_file(path), path.string()); }

void save_json(const std::filesystem::path& path, const nlohmann::json& j) { write_text_file_atomic(path, j.dump(2) + "\n"); }

namespace {

// --save-analysis and --save-plan of a quantize run: written to their temporaries as soon as they
// are known, moved into place only once the model itself is (a failed run leaves none of them).
class StagedFiles {
 public:
  void stage(const std::filesystem::path& path, const std::string& text) {
    auto out = std::make_unique<AtomicOutput>(path, /*is_directory=*/false);
    write_text_file(out->temp_path(), text, path.string());
    files_.push_back({path, std::move(out)});
  }
  // Where each staged file's bytes are now, with the name the user gave.
  std::vector<std::pair<std::filesystem::path, std::string>> contents() const {
    std::vector<std::pair<std::filesystem::path, std::string>> v;
    for (const auto& f : files_) v.emplace_back(f.second->temp_path(), f.first.string());
    return v;
  }
  void commit_all() {
    for (auto& f : files_) f.second->commit();
  }

 private:
  std::vector<std::pair<std::filesystem::path, std::unique_ptr<AtomicOutput>>> files_;
};

// Every path quantize() writes, checked against what it reads and what exists before any work.
void check_quantize_outputs(const QuantizeRequest& req, const ModelReader& model, const Options& opt) {
  std::vector<OutputTarget> outs;
  if (!req.dry_run) outs.push_back({req.output, opt.format == "mlx", opt.format == "gguf", "-o"});
  if (req.save_analysis) outs.push_back({*req.save_analysis, false, false, "--save-analysis"});
  if (req.save_plan) outs.push_back({*req.save_plan, false, false, "--save-plan"});
  for (const auto& extra : req.other_outputs) outs.push_back({extra.first, false, false, extra.second});
  std::vector<std::filesystem::path> inputs{req.model_dir};
  for (const auto& f : model.input_files()) inputs.push_back(model.dir() / f);
  if (req.plan_file) inputs.push_back(*req.plan_file);
  check_output_targets(outs, inputs, req.force);
}

}  // namespace

std::uint64_t output_file_bytes(const ModelReader& model, const Plan& plan, const Options& opt) {
  if (plan.format == "gguf") {
    std::map<std::string, GgmlType> types;
    for (const auto& d : plan.tensors)
      if (d.gguf_type) types[d.name] = *d.gguf_type;
    return llama_gguf_file_bytes(model, types, GgufWriteOptions{});
  }
  Options w = opt;
  w.keep_dtype = plan.keep_dtype;
  return mlx_weight_files_bytes(model, plan, w);
}

Plan plan_for_model(const ModelAnalysis& analysis, const Options& opt, const ModelReader* model) {
  if (opt.policy != "budget" || model == nullptr) {
    Plan p = make_plan(analysis, opt);
    if (opt.policy == "budget" && p.details.is_object())
      p.details["container_note"] =
          "headers and metadata not counted: the model directory '" + analysis.model_dir + "' could not be read";
    return p;
  }
  // The budget covers the whole output: plan, measure the container the writer would add
  // (headers, metadata, tokenizer, padding), and plan again with that much less for tensors until
  // the assumed container is at least the real one (it changes a little with the encodings).
  // The smallest plan, with its real file size, settles feasibility first.
  Options smallest_opt = opt;
  smallest_opt.budget.smallest = true;
  smallest_opt.budget.container_bytes = 0;
  Plan smallest = make_plan(analysis, smallest_opt);
  const std::uint64_t smallest_file = output_file_bytes(*model, smallest, smallest_opt);
  const std::uint64_t wanted = budget_target_bytes(opt, analysis.total_params);
  if (wanted < smallest_file)
    throw Error("", "",
                "the budget of " + std::to_string(wanted) + " bytes is below the smallest feasible size, " +
                    std::to_string(smallest_file) +
                    " bytes (every quantizable tensor at its smallest encoding, the rest kept 16-bit, with headers "
                    "and metadata)");
  auto finish = [&](Plan p, std::uint64_t file) {
    p.details["file_bytes"] = file;
    p.details["container_bytes_measured"] = file - p.total_bytes;
    p.details["target_bytes"] = wanted;
    p.details["achieved_fraction_of_target"] = static_cast<double>(file) / static_cast<double>(wanted);
    return p;
  };
  Options o = opt;
  o.budget.container_bytes = 0;
  for (int round = 0; round < 8; ++round) {
    Plan p;
    try {
      p = make_plan(analysis, o);
    } catch (const Error&) {
      // The container assumed from the previous round leaves no room: the smallest plan is the
      // only one that fits.
      smallest.details["note"] = "the smallest plan: the only one that fits the budget";
      return finish(std::move(smallest), smallest_file);
    }
    const std::uint64_t file = output_file_bytes(*model, p, o);
    const std::uint64_t container = file > p.total_bytes ? file - p.total_bytes : 0;
    if (container <= o.budget.container_bytes) return finish(std::move(p), file);
    o.budget.container_bytes = container;
  }
  throw Error("", "", "the budget policy could not settle the size of the headers and metadata");
}

Plan plan_for_analysis(const ModelAnalysis& analysis, const Options& opt) {
  if (opt.policy != "budget") return make_plan(analysis, opt);
  std::error_code ec;
  if (analysis.model_dir.empty() || !std::filesystem::is_directory(analysis.model_dir, ec))
    return plan_for_model(analysis, opt, nullptr);
  const ModelReader model(analysis.model_dir);
  return plan_for_model(analysis, opt, &model);
}

namespace {

void check_quantize_input(const ModelReader& model) {
  model.require_float_weights();
  validate_config_against_tensors(model);
  for (const auto& t : model.tensors())
    if (t.numel() == 0)
      throw Error(t.file, t.name, "has no elements (a dimension is 0): an empty tensor cannot be written to a model");
}

// The analysis quantize() runs when no plan file is given.
Options analysis_options(const QuantizeRequest& req, const Options& opt) {
  // Rate-distortion curves cost time: measured when the budget policy needs them (its
  // format's candidates only) or when the analysis is saved (all, as `ramq analyze` does).
  Options analyze_opt = opt;
  analyze_opt.rd.enabled = opt.rd.enabled && (opt.policy == "budget" || req.save_analysis.has_value());
  // Only the swan policy reads the SWAN metrics (and their randomized SVDs, the analysis'
  // costliest part); a saved analysis has them all, as `ramq analyze` writes it.
  analyze_opt.swan_metrics = opt.policy == "swan" || req.save_analysis.has_value();
  analyze_opt.hash_inputs = false;  // quantize hashes the inputs itself (pipeline::InputDigests)
  if (!req.save_analysis) {
    analyze_opt.rd.mlx = opt.rd.mlx && opt.format == "mlx";
    analyze_opt.rd.gguf = opt.rd.gguf && opt.format == "gguf";
  }
  return analyze_opt;
}

std::map<std::string, GgmlType> gguf_types_of(const Plan& plan) {
  std::map<std::string, GgmlType> types;
  for (const auto& d : plan.tensors)
    if (d.gguf_type) types[d.name] = *d.gguf_type;
  return types;
}

// quantize() on a rank other than 0 of a run across processes: analyse and encode this rank's
// share of the tensors, send them to rank 0; print nothing, write nothing.
QuantizeResult quantize_peer(const QuantizeRequest& req, const Options& opt_in, Cluster& cluster) {
  Options opt = opt_in;
  opt.progress = nullptr;  // rank 0 shows progress
  std::unique_ptr<ModelReader> model;
  std::unique_ptr<pipeline::Peer> peer;
  try {
    model = std::make_unique<ModelReader>(req.model_dir);
    check_quantize_input(*model);
    peer = std::make_unique<pipeline::Peer>(cluster, *model);
    peer->hello();
    if (!req.plan_file) {
      const std::vector<std::size_t> mine = peer->own_tensors();
      peer->send_analysis(analyze_model(*model, analysis_options(req, opt), &mine));
    }
  } catch (...) {
    pipeline::Peer::fail(cluster, std::current_exception());
  }
  const Plan plan = peer->wait_for_plan();
  try {
    auto mine = [&](const std::string& name) { return peer->mine(name); };
    if (opt.format == "gguf") {
      GgufWriteOptions gopt;
      gopt.threads = opt.threads;
      encode_llama_gguf_tensors(*model, gguf_types_of(plan), gopt, mine,
                                [&](const std::string& name, std::vector<std::byte>&& bytes) {
                                  std::vector<std::vector<std::byte>> parts;
                                  parts.push_back(std::move(bytes));
                                  peer->send_tensor(name, parts);
                                });
    } else {
      Options write_opt = opt;
      write_opt.keep_dtype = plan.keep_dtype;
      encode_mlx_tensors(*model, plan, write_opt, mine,
                         [&](const std::string& name, std::vector<std::vector<std::byte>>&& parts) {
                           peer->send_tensor(name, parts);
                         });
    }
    peer->finished();
  } catch (...) {
    pipeline::Peer::fail(cluster, std::current_exception());
  }
  return {};
}

}  // namespace

QuantizeResult quantize(const QuantizeRequest& req, const Options& opt) {
  if (opt.format != "mlx" && opt.format != "gguf")
    throw Error("", "", "unknown output format '" + opt.format + "' (expected mlx or gguf)");
  Cluster* cluster = req.cluster != nullptr && req.cluster->size() > 1 ? req.cluster : nullptr;
  if (cluster && cluster->rank() != 0) return quantize_peer(req, opt, *cluster);
  ModelReader model(req.model_dir);
  check_quantize_input(model);
  // The manifest's input digests, read alongside everything below (none are needed before the
  // end); a dry run writes no manifest, so only a saved analysis needs them then.
  std::optional<pipeline::InputDigests> input_digests;
  if (!req.dry_run || req.save_analysis) input_digests.emplace(model);
  // Across processes: this rank analyses and encodes its share, the others theirs (see
  // pipeline/distributed.h); everything else is as in one process.
  std::unique_ptr<pipeline::Root> root;
  if (cluster) {
    root = std::make_unique<pipeline::Root>(*cluster, model);
    root->hello();
  }
  check_quantize_outputs(req, model, opt);  // after the other ranks are known: an error ends them too
  if (opt.probe.mode == "self" && !req.plan_file)  // before the analysis it would follow
    check_probe_length(model.config(), (model.dir() / "config.json").string(), opt.probe);
  StagedFiles side_outputs;
  QuantizeResult result;
  if (!req.plan_file) {
    const Options analyze_opt = analysis_options(req, opt);
    if (root) {
      const std::vector<std::size_t> mine = root->own_tensors();
      root->gather(result.analysis.emplace(analyze_model(model, analyze_opt, &mine)));
    } else {
      result.analysis.emplace(analyze_model(model, analyze_opt));
    }
  }
  try {  // the other ranks wait for the plan: on an error they are told to stop
    if (req.plan_file) {
      result.plan = load_plan(*req.plan_file);
      if (result.plan.format != opt.format)
        throw Error(req.plan_file->string(), "",
                    "the plan is for " + result.plan.format + " output but --format is " + opt.format);
      validate_plan_against_model(result.plan, model, req.plan_file->string());
    } else {
      ModelAnalysis& analysis = *result.analysis;
      if (opt.probe.mode == "self") probe_self(req.model_dir, analysis, opt);
      if (req.save_analysis) {  // a saved analysis records its inputs' hashes, as `ramq analyze` does
        const auto files = model.input_files();
        for (const auto& d : input_digests->get())
          if (std::find(files.begin(), files.end(), d.file) != files.end()) analysis.input_sha256[d.file] = d.sha256;
        side_outputs.stage(*req.save_analysis, analysis_to_json(analysis).dump(2) + "\n");
      }
      result.plan = plan_for_model(analysis, opt, &model);
    }
    if (req.save_plan) side_outputs.stage(*req.save_plan, plan_to_json(result.plan).dump(2) + "\n");
  } catch (...) {
    if (root) root->stop(pipeline::exit_status_of(std::current_exception()));
    throw;
  }
  if (req.dry_run) {  // the plan only: no model is written
    if (root) root->stop(0);
    side_outputs.commit_all();
    return result;
  }
  if (root) root->send_plan(result.plan);
  Options write_opt = opt;
  write_opt.keep_dtype = result.plan.keep_dtype;
  if (opt.format == "gguf") {
    GgufWriteOptions gopt;
    gopt.threads = opt.threads;
    gopt.progress = opt.progress;
    // A llama-mix plan ("llama-mix Q4_K_M") is labelled like llama.cpp's own file of that mix.
    if (result.plan.policy.rfind("llama-mix ", 0) == 0)
      gopt.file_type = llama_mix_file_type(result.plan.policy.substr(10));
    if (root) {
      gopt.remote = [&](const std::string& name) { return root->remote(name); };
      gopt.receive = [&](const std::string& name, std::uint64_t) { return std::move(root->receive_tensor(name, 1)[0]); };
    }
    // The manifest goes beside the file: written to its own temporary, committed with the GGUF
    // file as one unit (include/ramq/manifest.h).
    gopt.before_commit = [&](const std::filesystem::path& temp_file, const GgufWriteSummary& written) {
      if (root) root->finished();  // every rank's last message: none failed
      const auto sidecar = manifest_path_for(req.output, /*is_directory=*/false);
      ManifestContext ctx = pipeline::audit_context(req, opt, result, *input_digests, side_outputs.contents());
      for (const auto& [name, type] : written.written_types) ctx.written_encodings[name] = std::string(ggml_type_info(type).name);
      const std::string text =
          file_manifest_text(temp_file, manifest_output_name(req.output), ctx);
      auto manifest_out = std::make_unique<AtomicOutput>(sidecar, /*is_directory=*/false);
      write_manifest_text(manifest_out->temp_path(), text, sidecar.string());
      return manifest_out;
    };
    const GgufWriteSummary g = write_llama_gguf(model, gguf_types_of(result.plan), req.output, gopt);
    result.written.output = g.output;
    result.written.total_bytes = g.file_bytes;
    result.written.model_bytes = g.file_bytes;
    result.written.tensor_bytes = g.tensor_bytes;
    result.written.params = g.params;
    result.written.average_bits = g.average_bits;
    result.written.shards = 1;
    result.written.note = g.architecture + ", tokenizer: " + g.tokenizer;
  } else {
    MlxRemote remote;
    if (root) {
      remote.is_remote = [&](const std::string& name) { return root->remote(name); };
      remote.receive = [&](const std::string& name, const std::vector<OutTensorSpec>& outs) {
        return root->receive_tensor(name, outs.size());
      };
    }
    result.written = write_mlx_model(
        model, result.plan, write_opt, req.output,
        [&](const std::filesystem::path& dir) {
          if (root) root->finished();  // every rank's last message: none failed
          write_directory_manifest(dir, pipeline::audit_context(req, opt, result, *input_digests, side_outputs.contents()));
        },
        root ? &remote : nullptr);
  }
  side_outputs.commit_all();
  return result;
}

}  // namespace ramq
