// The Gemma 3 families (src/arch/gemma3.cpp): registry rows, every Hugging Face tensor of a
// synthetic checkpoint and the GGUF name llama.cpp's loader looks up (written out here from
// llama-arch.cpp's LLM_TENSOR_NAMES and src/models/gemma3.cpp load_arch_tensors), roles, what is
// left out, mlx_lm paths (models/gemma3.py sanitize: vision_tower / multi_modal_projector
// popped, "language_model.*" kept), and the config/tensor check on synthetic checkpoints
// (tests/support/synthetic_gemma3.h).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ramq/config_check.h"
#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/safetensors.h"
#include "ramq/tensor_role.h"
#include "support/error_text.h"
#include "support/synthetic_gemma3.h"
#include "support/temp_dir.h"

namespace ramq {
namespace {

using nlohmann::json;
using testkit::error_of;
using testkit::SyntheticGemma3;

SyntheticGemma3 gemma(const std::string& type) {
  SyntheticGemma3 s;
  s.model_type = type;
  return s;
}

template <class Edit>
std::string check_error(const testkit::TempDir& tmp, const SyntheticGemma3& s, Edit&& edit) {
  testkit::write_synthetic_gemma3(tmp.path(), s);
  json c = testkit::synthetic_gemma3_config(s);
  edit(s.wrapped() ? c["text_config"] : c);
  std::ofstream(tmp.path() / "config.json") << c.dump(2);
  return error_of([&] { validate_config_against_tensors(ModelReader(tmp.path())); });
}
std::string check_error(const testkit::TempDir& tmp, const SyntheticGemma3& s) {
  return check_error(tmp, s, [](json&) {});
}

TEST(Gemma3Family, RegistryRows) {
  const ModelFamily* text = find_family("gemma3_text");
  const ModelFamily* wrapped = find_family("gemma3");
  ASSERT_NE(text, nullptr);
  ASSERT_NE(wrapped, nullptr);
  for (const ModelFamily* f : {text, wrapped}) {
    EXPECT_EQ(f->gguf_architecture, "gemma3");
    EXPECT_TRUE(f->gemma && f->qk_norm);
    EXPECT_FALSE(f->permute_qk || f->qkv_bias || f->sliding_window_flag);
    EXPECT_EQ(f->activation, "gelu_pytorch_tanh");
    EXPECT_EQ(f->moe, nullptr);
  }
  EXPECT_EQ(text->hf_architecture, "Gemma3ForCausalLM");
  EXPECT_EQ(wrapped->hf_architecture, "Gemma3ForConditionalGeneration");
  // A GGUF file of architecture gemma3 reads back as the text model.
  EXPECT_EQ(find_gguf_family("gemma3"), text);
}

// Hugging Face name (after the text prefix) -> llama.cpp name, per layer.
const std::vector<std::pair<std::string, std::string>> kLayer{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
};

TEST(Gemma3Family, NamesMapToLlamaCppAndBack) {
  for (const std::string type : {"gemma3_text", "gemma3"}) {
    const ModelFamily& f = *find_family(type);
    const std::string text = type == "gemma3" ? "language_model.model." : "model.";
    std::vector<std::pair<std::string, std::string>> all{{text + "embed_tokens.weight", "token_embd.weight"},
                                                         {text + "norm.weight", "output_norm.weight"}};
    for (const std::string n : {"0", "5"})
      for (const auto& [h, g] : kLayer) all.emplace_back(text + "layers." + n + "." + h, "blk." + n + "." + g);
    for (const auto& [h, g] : all) {
      EXPECT_EQ(hf_to_gguf_tensor_name(f, h, "m"), g) << type;
      EXPECT_EQ(gguf_to_hf_tensor_name(f, g), h) << type;
    }
    // llama.cpp's required tensors: every per-layer one above (output.weight is optional, tied).
    const auto required = required_gguf_tensors(f, 1);
    const std::set<std::string> req(required.begin(), required.end());
    for (const auto& [h, g] : kLayer) EXPECT_TRUE(req.count("blk.0." + g)) << g;
    EXPECT_FALSE(req.count("output.weight"));
  }
  const ModelFamily& w = *find_family("gemma3");
  EXPECT_EQ(hf_to_gguf_tensor_name(w, "vision_tower.vision_model.embeddings.patch_embedding.weight", "m"), "");
  EXPECT_EQ(hf_to_gguf_tensor_name(w, "multi_modal_projector.mm_soft_emb_norm.weight", "m"), "");
  EXPECT_TRUE(is_left_out("gemma3", "multi_modal_projector.mm_input_projection_weight"));
  EXPECT_FALSE(is_left_out("gemma3", "language_model.model.norm.weight"));
  EXPECT_FALSE(is_left_out("gemma3_text", "model.norm.weight"));
}

TEST(Gemma3Family, RolesAndNeverQuantized) {
  const ModelFamily& f = *find_family("gemma3_text");
  const struct {
    std::string name;
    TensorRole role;
  } rows[] = {
      {"model.layers.0.pre_feedforward_layernorm.weight", TensorRole::Norm},
      {"model.layers.0.post_feedforward_layernorm.weight", TensorRole::Norm},
      {"model.layers.0.post_attention_layernorm.weight", TensorRole::Norm},
      {"blk.0.post_ffw_norm.weight", TensorRole::Norm},
      {"blk.0.post_attention_norm.weight", TensorRole::Norm},
      {"language_model.model.layers.2.self_attn.q_norm.weight", TensorRole::QNorm},
      {"language_model.model.layers.2.self_attn.k_norm.weight", TensorRole::KNorm},
      {"language_model.model.embed_tokens.weight", TensorRole::Embedding},
      {"model.layers.1.mlp.gate_proj.weight", TensorRole::FfnGate},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(classify_tensor(r.name).role, r.role) << r.name;
    EXPECT_EQ(f.never_quantized(r.role), is_norm(r.role)) << r.name;
  }
}

TEST(Gemma3Family, MlxPathsAreMlxLmsAfterSanitize) {
  const ModelFamily &text = *find_family("gemma3_text"), &wrapped = *find_family("gemma3");
  // mlx_lm models/gemma3_text.py: Model.model = Gemma3Model, its names are Hugging Face's.
  EXPECT_EQ(text.mlx_path("model.layers.3.pre_feedforward_layernorm.weight"),
            "model.layers.3.pre_feedforward_layernorm.weight");
  // mlx_lm models/gemma3.py: Model.language_model = gemma3_text.Model; sanitize pops the rest.
  EXPECT_EQ(wrapped.mlx_path("language_model.model.embed_tokens.weight"), "language_model.model.embed_tokens.weight");
  EXPECT_EQ(wrapped.mlx_path("vision_tower.vision_model.embeddings.patch_embedding.weight"), "");
  EXPECT_EQ(wrapped.mlx_path("multi_modal_projector.mm_input_projection_weight"), "");
}

TEST(Gemma3Family, SyntheticCheckpointsPassTheConfigCheck) {
  for (const std::string type : {"gemma3_text", "gemma3"}) {
    const testkit::TempDir tmp;
    EXPECT_EQ(check_error(tmp, gemma(type)), "(no ramq::Error)") << type;
    // Tied by Gemma 3's default: no lm_head, no tie_word_embeddings field.
    EXPECT_TRUE(ModelReader(tmp.path()).config().tie_word_embeddings) << type;
  }
}

TEST(Gemma3Family, ConfigCheckRefusesWhatGemma3IsNot) {
  const testkit::TempDir tmp;
  SyntheticGemma3 s = gemma("gemma3");
  s.omit = "language_model.model.layers.4.post_feedforward_layernorm.weight";
  EXPECT_NE(check_error(tmp, s).find("post_feedforward_layernorm"), std::string::npos) << check_error(tmp, s);
  s.omit.clear();
  EXPECT_EQ(check_error(tmp, s, [](json& c) { c["hidden_activation"] = "silu"; }),
            (tmp.path() / "config.json").string() +
                ": field 'hidden_activation' is \"silu\": gemma3 models use 'gelu_pytorch_tanh'");
  EXPECT_NE(check_error(tmp, s, [](json& c) { c["intermediate_size"] = 768; }).find("intermediate_size"),
            std::string::npos);
  EXPECT_NE(check_error(tmp, s, [](json& c) { c["tie_word_embeddings"] = false; }).find("tie_word_embeddings"),
            std::string::npos);
}

TEST(Gemma3Family, MissingFieldsTakeGemma3TextConfigsDefaults) {
  // The text_config of a released multimodal checkpoint (gemma-3-4b) lists only what differs.
  const json c = {{"architectures", {"Gemma3ForConditionalGeneration"}},
                  {"model_type", "gemma3"},
                  {"text_config",
                   {{"hidden_size", 2560}, {"intermediate_size", 10240}, {"model_type", "gemma3_text"},
                    {"num_hidden_layers", 34}, {"rope_scaling", {{"factor", 8.0}, {"rope_type", "linear"}}},
                    {"sliding_window", 1024}}}};
  const ModelConfig cfg = parse_model_config(c.dump(), "m/config.json");
  EXPECT_EQ(cfg.num_attention_heads, 8);
  EXPECT_EQ(cfg.num_key_value_heads, 4);
  EXPECT_EQ(cfg.head_dim, 256);
  EXPECT_EQ(cfg.vocab_size, 262208);
  EXPECT_EQ(cfg.max_position_embeddings, 131072);
  EXPECT_EQ(cfg.rope_theta, 1000000.0);
  EXPECT_TRUE(cfg.tie_word_embeddings);
  // Other families still need them.
  json llama = c["text_config"];
  llama["model_type"] = "llama";
  llama["architectures"] = {"LlamaForCausalLM"};
  EXPECT_NE(error_of([&] { parse_model_config(llama.dump(), "m/config.json"); }).find("num_attention_heads"),
            std::string::npos);
}

// The gemma3.* keys of a config (parse_model_config of the synthetic config with `edit`), or the
// error that refuses it.
template <class Edit>
std::string gemma3_keys(Edit&& edit) {
  json c = testkit::synthetic_gemma3_config(gemma("gemma3_text"));
  edit(c);
  const ModelConfig cfg = parse_model_config(c.dump(), "m/config.json");
  std::string out;
  try {
    for (const GgufKV& kv : llama_gguf_metadata(cfg, *find_family("gemma3_text"), "m", 0, 512, "m/config.json"))
      if (kv.key.find("sliding") != std::string::npos || kv.key.find("swa") != std::string::npos ||
          kv.key.find("softcap") != std::string::npos)
        out += kv.key + " ";
  } catch (const Error& e) {
    return e.what();
  }
  return out;
}

TEST(Gemma3Family, GgufKeysFollowLlamaCppsLoader) {
  EXPECT_EQ(gemma3_keys([](json&) {}), "gemma3.attention.sliding_window gemma3.rope.freq_base_swa ");
  // Another period than llama.cpp's default 6 is written; every layer global: no window.
  EXPECT_EQ(gemma3_keys([](json& c) { c["sliding_window_pattern"] = 3; }),
            "gemma3.attention.sliding_window gemma3.attention.sliding_window_pattern gemma3.rope.freq_base_swa ");
  EXPECT_EQ(gemma3_keys([](json& c) { c["sliding_window_pattern"] = 1; }), "gemma3.rope.freq_base_swa ");
  EXPECT_EQ(gemma3_keys([](json& c) { c["final_logit_softcapping"] = 30.0; }),
            "gemma3.attention.sliding_window gemma3.rope.freq_base_swa gemma3.final_logit_softcapping ");
  // layer_types of the same period read as the pattern.
  EXPECT_EQ(gemma3_keys([](json& c) {
              c.erase("sliding_window_pattern");
              c["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention",
                                  "sliding_attention", "full_attention"};
            }),
            "gemma3.attention.sliding_window gemma3.attention.sliding_window_pattern gemma3.rope.freq_base_swa ");
  // What llama.cpp's graph would compute differently is refused.
  EXPECT_EQ(gemma3_keys([](json& c) { c["query_pre_attn_scalar"] = 256; }),
            "m/config.json: field 'query_pre_attn_scalar' is 256.0 but llama.cpp's gemma3 architecture scales "
            "attention by 1/sqrt(128): a GGUF file would compute another model");
  EXPECT_NE(gemma3_keys([](json& c) {
              c["layer_types"] = {"full_attention", "sliding_attention", "sliding_attention", "sliding_attention",
                                  "sliding_attention", "full_attention"};
            }).find("field 'layer_types' has no period"),
            std::string::npos);
  EXPECT_NE(gemma3_keys([](json& c) { c["attn_logit_softcapping"] = 50.0; }).find("'attn_logit_softcapping'"),
            std::string::npos);
}

}  // namespace
}  // namespace ramq
