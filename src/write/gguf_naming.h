// write, internal: the general.* naming keys of a GGUF file (name, basename, finetune, version,
// size_label, license, base models, datasets, tags, languages ...) as llama.cpp's converter
// derives them from the model directory's name, config.json's _name_or_path, the parameter count
// and the model card's front matter (gguf-py/gguf/metadata.py; utility.py size_label; the
// converter's conversion/base.py ModelBase.prepare_metadata).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/gguf.h"

namespace ramq {

// gguf_writer.py GGUFWriter.get_total_parameter_count over the tensors of the file: every
// element counts; a tensor whose name holds "_exps." and that has 3 dimensions is a stack of
// experts (ne[2] of them; ne[1] for a ".bias"), of which one counts as expert parameters.
struct GgufParameterCounts {
  std::int64_t total = 0, shared = 0, expert = 0;
  std::int64_t expert_count = 0;  // mean experts per stack (integer division), 0 without stacks
};
GgufParameterCounts gguf_parameter_counts(const std::vector<GgufTensorSpec>& tensors);

// utility.py size_label: "260K", "8.0B", and "8x7.2B" for experts (shared + one expert's).
std::string gguf_size_label(const GgufParameterCounts& counts);

// metadata.py Metadata.get_model_id_components: the parts of a model id ("org/Name-7B-Instruct",
// or a directory name), for a model of total_params parameters.
struct ModelIdComponents {
  std::optional<std::string> full_name, organization, basename, finetune, version, size_label;
};
ModelIdComponents model_id_components(const std::string& model_id, std::int64_t total_params);

// metadata.py Metadata.id_to_title: "meta-llama" -> "Meta Llama" (ASCII letters only are cased).
std::string id_to_title(const std::string& id);

struct GgufNamingInputs {
  std::string directory_name;    // the model directory's own name (not the path)
  nlohmann::json config;         // config.json (for _name_or_path)
  nlohmann::json card;           // the model card's front matter fields (write/gguf_model_card.h)
  GgufParameterCounts counts;    // of the tensors written
  std::string name_override;     // the converter's --model-name; "" = none
};

struct GgufNaming {
  std::vector<GgufKV> kvs;  // in the converter's order (Metadata.set_gguf_meta_model), from general.name
  std::string note;         // values left out because the converter could not write them ("" = none)
};

// The keys llama.cpp's converter writes for these inputs, without the general.sampling.* keys it
// writes before them (write/gguf_sampling.h).
GgufNaming gguf_naming(const GgufNamingInputs& in);

// gguf_naming for a model directory: its name (absolute and normalized, so "." is the directory's
// own name), config.json as read, and README.md's front matter; notes the front matter's problems.
GgufNaming gguf_naming_for_directory(const std::filesystem::path& model_dir, const nlohmann::json& config,
                                     const GgufParameterCounts& counts, const std::string& name_override);

}  // namespace ramq
