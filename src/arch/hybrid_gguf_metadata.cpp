// The GGUF metadata of the hybrid linear-attention families beyond the common decoder keys
// (arch/hybrid_decoder.h), as llama.cpp's converter writes them (conversion/qwen.py,
// Qwen3NextModel and Qwen3_5TextModel set_gguf_parameters) and its loader reads them
// (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp load_arch_hparams).
#include <cstdint>
#include <vector>

#include "arch/hybrid_decoder.h"
#include "ramq/config_fields.h"
#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/gguf.h"

namespace ramq {

namespace {

using nlohmann::json;

GgufValue u32(std::int64_t v, const std::string& what, const std::string& file) {
  if (v < 0 || v > 0xffffffffLL) throw Error(file, "", what + " does not fit in uint32");
  return GgufValue::u32(static_cast<std::uint32_t>(v));
}

// rope_parameters.mrope_section, padded with zeros to the 4 entries llama.cpp's IMROPE reads
// (transformers' default [11, 11, 10]). For text every position stream is the same, so the
// sections do not change the result; llama.cpp asserts that their sum fits in the rotated width.
std::vector<std::int32_t> mrope_sections(const ConfigFields& f, std::int64_t rotary_dims) {
  std::vector<std::int32_t> s{11, 11, 10};
  if (const json* rp = f.find("rope_parameters"); rp != nullptr && rp->is_object())
    if (const auto it = rp->find("mrope_section"); it != rp->end() && !it->is_null()) {
      s.clear();
      if (!it->is_array() || it->size() > 4) f.fail("rope_parameters.mrope_section", "must be an array of up to 4 integers");
      for (const auto& x : *it) {
        if (!x.is_number_integer() || x.get<std::int64_t>() < 0 || x.get<std::int64_t>() > 0x7fffffff)
          f.fail("rope_parameters.mrope_section", "must hold non-negative integers");
        s.push_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
      }
    }
  s.resize(4, 0);
  std::int64_t sum = 0;
  for (const auto v : s) sum += v;
  if (sum > rotary_dims)  // llama.cpp: GGML_ASSERT(sect_dims <= ne0) in ggml_mrope_cache_init
    f.fail("rope_parameters.mrope_section",
           "sums to " + std::to_string(sum) + ", more than the " + std::to_string(rotary_dims) +
               " rotated dimensions llama.cpp's multi-section rope allows");
  if (s[0] + s[1] + s[2] == 0) f.fail("rope_parameters.mrope_section", "has no section for text positions");
  return s;
}

}  // namespace

void append_hybrid_gguf_metadata(const ModelFamily& family, const ModelConfig& cfg, const std::string& config_file,
                                 std::vector<GgufKV>& kvs) {
  const ConfigFields f(cfg.raw, config_file);
  const FamilyFields fields = read_family_fields(f, cfg, family);
  const LinearAttentionFields& la = *fields.linear;
  // llama.cpp sizes keys and values of the delta rule from one ssm.state_size (it asserts S_k == S_v).
  if (la.key_head_dim != la.value_head_dim)
    f.fail("linear_value_head_dim", "is " + std::to_string(la.value_head_dim) + " but linear_key_head_dim is " +
                                        std::to_string(la.key_head_dim) +
                                        ": llama.cpp's architecture needs them equal (one ssm.state_size)");
  const std::string a = std::string(family.gguf_architecture) + ".";
  const auto put = [&](const std::string& key, std::int64_t v, const char* what) {
    kvs.push_back({a + key, u32(v, what, config_file)});
  };
  put("rope.dimension_count", fields.rotary_dims, "the rotary width");
  if (family.gguf_architecture != "qwen3next")
    kvs.push_back({a + "rope.dimension_sections", GgufValue::i32s(mrope_sections(f, fields.rotary_dims))});
  put("ssm.conv_kernel", la.conv_kernel, "linear_conv_kernel_dim");
  put("ssm.state_size", la.key_head_dim, "linear_key_head_dim");
  put("ssm.group_count", la.key_heads, "linear_num_key_heads");
  put("ssm.time_step_rank", la.value_heads, "linear_num_value_heads");
  put("ssm.inner_size", la.value_dim(), "linear value width");
  if (f.find("layer_types") != nullptr) kvs.push_back({a + "attention.recurrent_layers", GgufValue::booleans(la.linear_layer)});
  put("full_attention_interval", la.full_attention_interval, "full_attention_interval");
}

}  // namespace ramq
