// The two output formats behind OutputWriter: MLX (safetensors shards + config.json, manifest
// inside the directory) and GGUF (one file, manifest beside it).
#include "ramq/output_writer.h"

#include <map>

#include "ramq/atomic_output.h"
#include "write/gguf_llama_writer.h"

namespace ramq {

namespace {

class MlxOutput final : public OutputWriter {
 public:
  explicit MlxOutput(const WriteOptions& opt) : opt_(opt) {}
  OutputFormat format() const override { return OutputFormat::Mlx; }

  std::uint64_t model_file_bytes(const ModelReader& model, const Plan& plan) const override {
    return mlx_weight_files_bytes(model, plan, opt_);
  }

  void encode_tensors(const ModelReader& model, const Plan& plan, const std::function<bool(const std::string&)>& mine,
                      const std::function<void(const std::string&, EncodedParts&&)>& send) const override {
    encode_mlx_tensors(model, plan, opt_, mine,
                       [&](const std::string& name, std::vector<std::vector<std::byte>>&& parts) {
                         send(name, std::move(parts));
                       });
  }

  WriteSummary write(const ModelReader& model, const Plan& plan, const std::filesystem::path& output,
                     const OutputHooks& hooks) const override {
    MlxRemote remote;
    if (hooks.is_remote) {
      remote.is_remote = hooks.is_remote;
      remote.receive = [&](const std::string& name, const std::vector<OutTensorSpec>& outs) {
        return hooks.receive(name, outs.size());
      };
    }
    return write_mlx_model(
        model, plan, opt_, output,
        [&](const std::filesystem::path& dir) {
          if (hooks.before_manifest) hooks.before_manifest();
          write_directory_manifest(dir, hooks.manifest_context());
        },
        hooks.is_remote ? &remote : nullptr);
  }

 private:
  WriteOptions opt_;
};

std::map<std::string, GgmlType> gguf_types_of(const Plan& plan) {
  std::map<std::string, GgmlType> types;
  for (const auto& d : plan.tensors)
    if (const auto t = d.encoding.ggml_type()) types[d.name] = *t;
  return types;
}

class GgufOutput final : public OutputWriter {
 public:
  explicit GgufOutput(const WriteOptions& opt) : opt_(opt) {}
  OutputFormat format() const override { return OutputFormat::Gguf; }

  std::uint64_t model_file_bytes(const ModelReader& model, const Plan& plan) const override {
    return llama_gguf_file_bytes(model, gguf_types_of(plan), gguf_options());
  }

  void encode_tensors(const ModelReader& model, const Plan& plan, const std::function<bool(const std::string&)>& mine,
                      const std::function<void(const std::string&, EncodedParts&&)>& send) const override {
    const GgufWriteOptions gopt = gguf_options();
    encode_llama_gguf_tensors(model, gguf_types_of(plan), gopt, mine,
                              [&](const std::string& name, std::vector<std::byte>&& bytes) {
                                EncodedParts parts;
                                parts.push_back(std::move(bytes));
                                send(name, std::move(parts));
                              });
  }

  WriteSummary write(const ModelReader& model, const Plan& plan, const std::filesystem::path& output,
                     const OutputHooks& hooks) const override {
    GgufWriteOptions gopt = gguf_options();
    gopt.progress = opt_.progress;
    // A llama-mix plan is labelled like llama.cpp's own file of that mix.
    if (plan.policy == PolicyKind::LlamaMix) gopt.file_type = llama_mix_file_type(plan.mix);
    if (hooks.is_remote) {
      gopt.remote = hooks.is_remote;
      gopt.receive = [&](const std::string& name, std::uint64_t) { return std::move(hooks.receive(name, 1)[0]); };
    }
    // The manifest goes beside the file: written to its own temporary, committed with the GGUF
    // file as one unit (include/ramq/manifest.h).
    gopt.before_commit = [&](const std::filesystem::path& temp_file, const GgufWriteSummary& written) {
      if (hooks.before_manifest) hooks.before_manifest();
      const auto sidecar = manifest_path_for(output, /*is_directory=*/false);
      ManifestContext ctx = hooks.manifest_context();
      for (const auto& [name, type] : written.written_types) ctx.written_encodings[name] = Encoding::ggml(type).name();
      const std::string text = file_manifest_text(temp_file, manifest_output_name(output), ctx);
      auto manifest_out = std::make_unique<AtomicOutput>(sidecar, /*is_directory=*/false);
      write_manifest_text(manifest_out->temp_path(), text, sidecar.string());
      return manifest_out;
    };
    const GgufWriteSummary g = write_llama_gguf(model, gguf_types_of(plan), output, gopt);
    WriteSummary w;
    w.output = g.output;
    w.total_bytes = g.file_bytes;
    w.model_bytes = g.file_bytes;
    w.tensor_bytes = g.tensor_bytes;
    w.params = g.params;
    w.average_bits = g.average_bits;
    w.shards = 1;
    w.note = g.architecture + ", tokenizer: " + g.tokenizer + (g.metadata_note.empty() ? "" : "; " + g.metadata_note);
    return w;
  }

 private:
  // What every use of the file's layout shares (its size for the budget, the encoding, the write).
  GgufWriteOptions gguf_options() const {
    GgufWriteOptions g;
    g.threads = opt_.threads;
    g.pre_tokenizer = opt_.gguf_pre;
    return g;
  }

  WriteOptions opt_;
};

}  // namespace

std::unique_ptr<OutputWriter> output_writer_for(OutputFormat format, const WriteOptions& opt) {
  switch (format) {
    case OutputFormat::Gguf: return std::make_unique<GgufOutput>(opt);
    case OutputFormat::Mlx: break;
  }
  return std::make_unique<MlxOutput>(opt);
}

}  // namespace ramq
