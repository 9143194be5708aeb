// The hybrid linear-attention families (src/arch/qwen3_next.cpp, qwen3_5.cpp, hybrid_decoder.cpp):
// registry rows, tensor roles, the shapes config.json implies, and the config/tensor check on
// synthetic checkpoints with the real names (tests/support/synthetic_hybrid.h). Expected shapes
// are written out from the synthetic sizes (hidden 256, 2 heads x 128, 1 kv head, linear heads
// 2 key / 4 value of dim 64, kernel 4, 4 experts of width 256, shared 256, dense 512); the facts
// are transformers' modeling_qwen3_next.py / modeling_qwen3_5.py / modeling_qwen3_5_moe.py
// (notes: /work/notes/qwen35_facts.md §3).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "arch/gguf_hybrid_config.h"
#include "ramq/config_check.h"
#include "ramq/error.h"
#include "ramq/family_config.h"
#include "ramq/model_family.h"
#include "ramq/safetensors.h"
#include "ramq/tensor_role.h"
#include "support/error_text.h"
#include "support/synthetic_hybrid.h"
#include "support/temp_dir.h"

namespace ramq {
namespace {

using nlohmann::json;
using testkit::error_of;
using testkit::SyntheticHybrid;

SyntheticHybrid hybrid(const std::string& type) {
  SyntheticHybrid s;
  s.model_type = type;
  return s;
}

// The synthetic checkpoint of `s` with `edit` applied to the text model's config fields.
template <class Edit>
std::string check_error(const testkit::TempDir& tmp, const SyntheticHybrid& s, Edit&& edit) {
  testkit::write_synthetic_hybrid(tmp.path(), s);
  json c = testkit::synthetic_hybrid_config(s);
  edit(s.wrapped() ? c["text_config"] : c);
  std::ofstream(tmp.path() / "config.json") << c.dump(2);
  return error_of([&] { validate_config_against_tensors(ModelReader(tmp.path())); });
}
std::string check_error(const testkit::TempDir& tmp, const SyntheticHybrid& s) {
  return check_error(tmp, s, [](json&) {});
}

TEST(HybridFamily, RegistryRows) {
  const struct {
    const char *type, *gguf, *hf;
    bool moe;
  } rows[] = {{"qwen3_next", "qwen3next", "Qwen3NextForCausalLM", true},
              {"qwen3_5", "qwen35", "Qwen3_5ForConditionalGeneration", false},
              {"qwen3_5_moe", "qwen35moe", "Qwen3_5MoeForConditionalGeneration", true}};
  for (const auto& r : rows) {
    const ModelFamily* f = find_family(r.type);
    ASSERT_NE(f, nullptr) << r.type;
    EXPECT_TRUE(f->hybrid_attention);
    EXPECT_EQ(f->gguf_architecture, r.gguf);
    EXPECT_EQ(f->hf_architecture, r.hf);
    EXPECT_EQ(f->moe != nullptr, r.moe) << r.type;
    // GGUF output (tests/e2e/gguf_hybrid_llama_cpp_test.cpp) and evaluation
    // (tests/evaluate/hybrid_*_test.cpp) work; GGUF files of the architecture are read back.
    EXPECT_EQ(find_gguf_family(r.gguf, r.moe), f);
    ModelConfig c;
    c.model_type = r.type;
    EXPECT_EQ(&family_for(c, "m/config.json", "GGUF output"), f);
    EXPECT_EQ(&family_for(c, "m/config.json", "evaluation"), f);
  }
  EXPECT_EQ(supported_model_types(), "llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, qwen3_next, qwen3_5, qwen3_5_moe, gemma3_text, gemma3");
  EXPECT_EQ(find_family("qwen3_next")->moe->norm_topk_default, true);
  EXPECT_EQ(find_family("qwen3_5_moe")->moe->norm_topk_fixed, true);
}

TEST(HybridFamily, MlxPathsAreMlxLmsAfterSanitize) {
  const ModelFamily &next = *find_family("qwen3_next"), &dense = *find_family("qwen3_5"),
                    &moe = *find_family("qwen3_5_moe");
  // mlx_lm models/qwen3_next.py sanitize (lines 460-467): experts stacked into switch_mlp.
  EXPECT_EQ(next.mlx_path("model.layers.2.mlp.experts.3.gate_proj.weight"), "model.layers.2.mlp.switch_mlp.gate_proj.weight");
  EXPECT_EQ(next.mlx_path("model.layers.2.linear_attn.in_proj_qkvz.weight"), "model.layers.2.linear_attn.in_proj_qkvz.weight");
  EXPECT_EQ(next.mlx_path("lm_head.weight"), "lm_head.weight");
  // mlx_lm models/qwen3_5.py (Model.sanitize, lines 427-441; TextModel, 319-339).
  EXPECT_EQ(dense.mlx_path("model.language_model.layers.0.linear_attn.A_log"), "language_model.model.layers.0.linear_attn.A_log");
  EXPECT_EQ(dense.mlx_path("model.language_model.embed_tokens.weight"), "language_model.model.embed_tokens.weight");
  EXPECT_EQ(dense.mlx_path("lm_head.weight"), "language_model.lm_head.weight");
  // mlx_lm models/qwen3_5_moe.py sanitize (lines 36-50); the reader presents the fused stacks
  // per expert (read/stacked_experts.h).
  EXPECT_EQ(moe.mlx_path("model.language_model.layers.1.mlp.experts.2.down_proj.weight"),
            "language_model.model.layers.1.mlp.switch_mlp.down_proj.weight");
  EXPECT_EQ(moe.mlx_path("model.language_model.layers.1.mlp.experts.0.gate_proj.weight"),
            "language_model.model.layers.1.mlp.switch_mlp.gate_proj.weight");
  EXPECT_EQ(moe.mlx_path("model.language_model.layers.1.mlp.shared_expert_gate.weight"),
            "language_model.model.layers.1.mlp.shared_expert_gate.weight");
  // Dropped by sanitize (qwen3_5.py lines 431-432, 352; qwen3_next.py line 455).
  EXPECT_EQ(moe.mlx_path("model.visual.blocks.0.attn.qkv.weight"), "");
  EXPECT_EQ(dense.mlx_path("mtp.layers.0.input_layernorm.weight"), "");
  EXPECT_EQ(next.mlx_path("mtp.fc.weight"), "");
}

TEST(HybridFamily, RolesTellLinearAttentionApart) {
  const std::string la = "model.language_model.layers.0.linear_attn.";
  const struct {
    std::string name;
    TensorRole role;
    bool never_quantized;
  } rows[] = {
      {la + "in_proj_qkv.weight", TensorRole::LinearQkv, false},
      {"model.layers.0.linear_attn.in_proj_qkvz.weight", TensorRole::LinearQkv, false},
      {la + "in_proj_z.weight", TensorRole::LinearGate, false},
      {la + "in_proj_b.weight", TensorRole::LinearBetaAlpha, false},
      {la + "in_proj_a.weight", TensorRole::LinearBetaAlpha, false},
      {"model.layers.0.linear_attn.in_proj_ba.weight", TensorRole::LinearBetaAlpha, false},
      {la + "out_proj.weight", TensorRole::LinearOut, false},
      {la + "conv1d.weight", TensorRole::SsmConv, true},
      {la + "A_log", TensorRole::SsmParam, true},
      {la + "dt_bias", TensorRole::SsmParam, true},
      {la + "norm.weight", TensorRole::Norm, true},
      {"model.language_model.layers.3.self_attn.q_proj.weight", TensorRole::AttnQ, false},
      {"model.language_model.layers.3.self_attn.o_proj.weight", TensorRole::AttnOut, false},
      {"model.language_model.layers.3.self_attn.q_norm.weight", TensorRole::QNorm, true},
      {"model.language_model.layers.0.mlp.gate.weight", TensorRole::Router, true},
      {"model.language_model.layers.0.mlp.shared_expert_gate.weight", TensorRole::Router, true},
      {"model.language_model.layers.0.mlp.experts.gate_up_proj", TensorRole::FfnGateUp, false},
      {"model.language_model.layers.0.mlp.experts.down_proj", TensorRole::FfnDown, false},
      {"model.language_model.embed_tokens.weight", TensorRole::Embedding, false},
      // llama.cpp's spellings of the same tensors
      {"blk.0.attn_gate.weight", TensorRole::LinearGate, false},
      {"blk.0.ssm_ba.weight", TensorRole::LinearBetaAlpha, false},
      {"blk.0.ssm_out.weight", TensorRole::LinearOut, false},
      {"blk.0.ssm_conv1d.weight", TensorRole::SsmConv, true},
      {"blk.0.ssm_a", TensorRole::SsmParam, true},
      {"blk.0.ssm_dt.bias", TensorRole::SsmParam, true},
      {"blk.0.ssm_norm.weight", TensorRole::Norm, true},
  };
  const ModelFamily& f = *find_family("qwen3_5_moe");
  for (const auto& r : rows) {
    const TensorPlace p = classify_tensor(r.name);
    EXPECT_EQ(p.role, r.role) << r.name;
    EXPECT_EQ(f.never_quantized(p.role), r.never_quantized) << r.name;
  }
  EXPECT_EQ(classify_tensor(la + "out_proj.weight").layer, 0);
  EXPECT_TRUE(classify_tensor("model.language_model.layers.0.mlp.experts.down_proj").in_experts);
  // Elsewhere out_proj stays an attention output.
  EXPECT_EQ(classify_tensor("model.layers.0.self_attn.out_proj.weight").role, TensorRole::AttnOut);
}

ModelConfig synthetic_model_config(const SyntheticHybrid& s) {
  return parse_model_config(testkit::synthetic_hybrid_config(s).dump(), "config.json");
}

TEST(HybridFamily, ExpectedShapes) {
  const SyntheticHybrid next = hybrid("qwen3_next"), dense = hybrid("qwen3_5"), moe = hybrid("qwen3_5_moe");
  const ModelConfig cn = synthetic_model_config(next), cd = synthetic_model_config(dense),
                    cm = synthetic_model_config(moe);
  EXPECT_EQ(cm.intermediate_size, 0);  // Qwen3.5-MoE's text_config has none
  EXPECT_EQ(cd.intermediate_size, 512);
  const auto shape_of = [](const ModelConfig& c, const std::string& n) {
    const auto s = find_family(c.model_type)->expected_shape(c, n);
    return s ? s->shape : std::vector<std::int64_t>{-1};
  };
  using V = std::vector<std::int64_t>;
  const std::string n = "model.layers.0.", q = "model.language_model.layers.0.";
  EXPECT_EQ(shape_of(cn, n + "linear_attn.in_proj_qkvz.weight"), (V{768, 256}));  // 2*128 + 2*256
  EXPECT_EQ(shape_of(cn, n + "linear_attn.in_proj_ba.weight"), (V{8, 256}));
  EXPECT_EQ(shape_of(cm, q + "linear_attn.in_proj_qkv.weight"), (V{512, 256}));  // 2*128 + 256
  EXPECT_EQ(shape_of(cm, q + "linear_attn.in_proj_z.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cd, q + "linear_attn.in_proj_b.weight"), (V{4, 256}));
  EXPECT_EQ(shape_of(cd, q + "linear_attn.in_proj_a.weight"), (V{4, 256}));
  EXPECT_EQ(shape_of(cd, q + "linear_attn.conv1d.weight"), (V{512, 1, 4}));
  EXPECT_EQ(shape_of(cn, n + "linear_attn.A_log"), (V{4}));
  EXPECT_EQ(shape_of(cn, n + "linear_attn.dt_bias"), (V{4}));
  EXPECT_EQ(shape_of(cn, n + "linear_attn.norm.weight"), (V{64}));
  EXPECT_EQ(shape_of(cn, n + "linear_attn.out_proj.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cn, n + "self_attn.q_proj.weight"), (V{512, 256}));  // query and gate: 2 x 2 x 128
  EXPECT_EQ(shape_of(cn, n + "self_attn.k_proj.weight"), (V{128, 256}));
  EXPECT_EQ(shape_of(cn, n + "self_attn.o_proj.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cn, n + "self_attn.q_norm.weight"), (V{128}));
  EXPECT_EQ(shape_of(cn, n + "mlp.gate.weight"), (V{4, 256}));
  EXPECT_EQ(shape_of(cn, n + "mlp.experts.3.up_proj.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cn, n + "mlp.shared_expert_gate.weight"), (V{1, 256}));
  EXPECT_EQ(shape_of(cm, q + "mlp.experts.1.up_proj.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cm, q + "mlp.experts.1.down_proj.weight"), (V{256, 256}));
  EXPECT_EQ(shape_of(cd, q + "mlp.down_proj.weight"), (V{256, 512}));
  EXPECT_EQ(shape_of(cd, "model.language_model.embed_tokens.weight"), (V{512, 256}));
  EXPECT_EQ(shape_of(cd, "model.language_model.norm.weight"), (V{256}));
  EXPECT_EQ(shape_of(cd, "lm_head.weight"), (V{512, 256}));
  EXPECT_EQ(shape_of(cd, "mtp.fc.weight"), (V{-1}));  // no role: not checked
  EXPECT_EQ(shape_of(cd, "model.visual.blocks.0.attn.qkv.weight"), (V{-1}));
}

TEST(HybridFamily, LayerKindsFromLayerTypesOrInterval) {
  const json raw = {{"linear_num_key_heads", 2}, {"linear_num_value_heads", 6}, {"full_attention_interval", 3}};
  ModelConfig c;
  c.num_hidden_layers = 6;
  const LinearAttentionFields la = read_linear_attention_fields(ConfigFields(raw, "c.json"), c);
  EXPECT_EQ(la.linear_layer, (std::vector<bool>{true, true, false, true, true, false}));
  EXPECT_EQ(la.key_head_dim, 128);  // transformers' defaults
  EXPECT_EQ(la.conv_kernel, 4);
  EXPECT_EQ(la.conv_dim(), 2 * 2 * 128 + 6 * 128);
  const json typed = {{"layer_types", {"full_attention", "linear_attention"}}, {"full_attention_interval", 3}};
  c.num_hidden_layers = 2;
  EXPECT_EQ(read_linear_attention_fields(ConfigFields(typed, "c.json"), c).linear_layer, (std::vector<bool>{false, true}));
  EXPECT_EQ(error_of([&] { read_linear_attention_fields(ConfigFields(json{{"layer_types", {"full_attention"}}}, "c.json"), c); }),
            "c.json: field 'layer_types' must be an array of num_hidden_layers (2) strings, got [\"full_attention\"]");
  EXPECT_EQ(error_of([&] {
              read_linear_attention_fields(ConfigFields(json{{"layer_types", {"full_attention", "sliding_attention"}}}, "c.json"), c);
            }),
            "c.json: field 'layer_types' entry 1 is \"sliding_attention\": each layer is 'linear_attention' or "
            "'full_attention'");
  EXPECT_EQ(error_of([&] {
              read_linear_attention_fields(ConfigFields(json{{"linear_num_key_heads", 4}, {"linear_num_value_heads", 6}}, "c.json"), c);
            }),
            "c.json: field 'linear_num_value_heads' (6) must be a multiple of linear_num_key_heads (4)");
}

TEST(HybridFamily, SyntheticCheckpointsPassTheConfigCheck) {
  for (const char* type : {"qwen3_next", "qwen3_5", "qwen3_5_moe"})
    for (const bool tied : {false, true}) {
      SyntheticHybrid s = hybrid(type);
      s.tied = tied;
      s.extras = !tied;
      testkit::TempDir tmp;
      EXPECT_EQ(check_error(tmp, s), "(no ramq::Error)") << type << " tied " << tied;
    }
}

TEST(HybridFamily, ConfigCheckRefusesDisagreements) {
  testkit::TempDir tmp;
  const std::string dir = tmp.path().string();
  const SyntheticHybrid next = hybrid("qwen3_next"), moe = hybrid("qwen3_5_moe"), dense = hybrid("qwen3_5");
  // Layer 1 made a full-attention layer: its linear-attention tensors are of no use.
  EXPECT_EQ(check_error(tmp, next, [](json& c) { c["full_attention_interval"] = 2; }),
            dir + "/model.safetensors: tensor 'model.layers.1.linear_attn.A_log': is a linear-attention tensor but config.json's "
                  "full_attention_interval 2 makes layer 1 a full_attention layer");
  EXPECT_EQ(check_error(tmp, moe,
                        [](json& c) {
                          c["layer_types"] = {"linear_attention", "linear_attention", "linear_attention", "linear_attention"};
                        }),
            dir + "/model.safetensors: tensor 'model.language_model.layers.3.self_attn.k_norm.weight': is a full-attention "
                  "tensor but config.json's layer_types[3] is 'linear_attention'");
  EXPECT_EQ(check_error(tmp, dense, [](json& c) { c["linear_conv_kernel_dim"] = 3; }),
            dir + "/model.safetensors: tensor 'model.language_model.layers.0.linear_attn.conv1d.weight': has shape [512, 1, 4] "
                  "but config.json implies [2 x linear_num_key_heads x linear_key_head_dim + linear_num_value_heads x "
                  "linear_value_head_dim, 1, linear_conv_kernel_dim] = [512, 1, 3]");
  EXPECT_EQ(check_error(tmp, moe, [](json& c) { c["num_experts"] = 3; }),
            dir + "/model.safetensors: tensor 'model.language_model.layers.0.mlp.experts.3.down_proj.weight': is expert 3 but "
                  "config.json has num_experts 3 (experts 0 to 2)");
  EXPECT_EQ(check_error(tmp, next, [](json& c) { c["num_experts"] = 3; }),
            dir + "/model.safetensors: tensor 'model.layers.0.mlp.experts.3.down_proj.weight': is expert 3 but config.json has "
                  "num_experts 3 (experts 0 to 2)");
  // A fifth layer declared: linear by the interval, and missing.
  EXPECT_EQ(check_error(tmp, next, [](json& c) { c["num_hidden_layers"] = 5; }),
            dir + "/config.json: tensor 'model.layers.4.input_layernorm.weight': is missing: config.json declares "
                  "num_hidden_layers 5 and every layer of a qwen3_next model has it");
  EXPECT_EQ(check_error(tmp, next, [](json& c) { c["partial_rotary_factor"] = 0.01; }),
            dir + "/config.json: field 'partial_rotary_factor' is 0.01: head_dim 128 x factor gives 1 rotary "
                  "dimensions; rotary embeddings need an even, non-zero number");
  EXPECT_EQ(check_error(tmp, dense, [](json& c) { c["rope_parameters"]["partial_rotary_factor"] = 1.5; }),
            dir + "/config.json: field 'rope_parameters.partial_rotary_factor' must be a number in (0, 1], got 1.5");
  EXPECT_EQ(check_error(tmp, dense, [](json& c) { c["attention_bias"] = true; }),
            dir + "/config.json: field 'attention_bias' is true: ramq supports qwen3_5 models without attention biases "
                  "only");
  EXPECT_EQ(check_error(tmp, next, [](json& c) { c["mlp_only_layers"] = {1}; }),
            dir + "/config.json: field 'mlp_only_layers' is [1]: only models whose every layer has experts ([]) are "
                  "supported");
}

TEST(HybridFamily, MissingTensorsOfEitherLayerKindAreNamed) {
  testkit::TempDir tmp;
  const std::string dir = tmp.path().string();
  SyntheticHybrid dense = hybrid("qwen3_5");
  dense.omit = "model.language_model.layers.1.linear_attn.in_proj_a.weight";
  EXPECT_EQ(check_error(tmp, dense), dir + "/config.json: tensor '" + dense.omit +
                                         "': is missing: config.json's layer_types[1] is 'linear_attention'");
  SyntheticHybrid next = hybrid("qwen3_next");
  next.omit = "model.layers.3.self_attn.q_norm.weight";
  EXPECT_EQ(check_error(tmp, next), dir + "/config.json: tensor '" + next.omit +
                                        "': is missing: config.json's full_attention_interval 4 makes layer 3 a "
                                        "full_attention layer");
  next.omit = "model.layers.2.linear_attn.A_log";
  EXPECT_EQ(check_error(tmp, next), dir + "/config.json: tensor '" + next.omit +
                                        "': is missing: config.json's full_attention_interval 4 makes layer 2 a "
                                        "linear_attention layer");
}

}  // namespace
}  // namespace ramq
