// write, internal: general.sampling.* GGUF metadata from a model directory's
// generation_config.json, as llama.cpp's converter writes them (gguf-py/gguf/metadata.py
// `Metadata.load` and `set_gguf_meta_model`; types from gguf_writer.py `add_sampling_*`).
#pragma once

#include <filesystem>
#include <vector>

#include "ramq/gguf.h"

namespace ramq {

// Appends the general.sampling.* keys generation_config.json gives (none without the file).
// Throws Error(file, "", ...) for invalid JSON or a value of the wrong type.
void append_sampling_kvs(const std::filesystem::path& model_dir, std::vector<GgufKV>& kvs);

}  // namespace ramq
