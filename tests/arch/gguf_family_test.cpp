// What the families write to GGUF: Hugging Face <-> llama.cpp names, the q/k permutation and the
// general.* / [arch].* metadata (src/arch/gguf_names, qk_permute, gguf_metadata).
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <tuple>

#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/model_family.h"
#include "ramq/qk_permute.h"
#include "ramq/error.h"
#include "support/error_text.h"

namespace ramq {
namespace {

using testkit::error_of;

TEST(LlamaPermute, HandCheckedExample) {
  // One head of 4 rows (2 columns): HF pairs rows (0,2) and (1,3); llama.cpp wants (0,1), (2,3).
  const std::vector<float> in{0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};
  std::vector<float> out(8);
  llama_permute_qk(in.data(), out.data(), 4, 2, 1);
  EXPECT_EQ(out, (std::vector<float>{0, 0.5f, 2, 2.5f, 1, 1.5f, 3, 3.5f}));
  // Two heads of 6 rows, one column: per head [0 1 2 3 4 5] -> [0 3 1 4 2 5].
  std::vector<float> in2(12), out2(12);
  std::iota(in2.begin(), in2.end(), 0.0f);
  llama_permute_qk(in2.data(), out2.data(), 12, 1, 2);
  EXPECT_EQ(out2, (std::vector<float>{0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}));
}

TEST(LlamaPermute, InverseUndoesItAndBadShapesThrow) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  for (const auto& [rows, cols, heads] : {std::tuple{64, 8, 8}, std::tuple{32, 3, 4}, std::tuple{16, 1, 1}}) {
    std::vector<float> x(static_cast<std::size_t>(rows * cols)), y(x.size()), z(x.size());
    for (auto& v : x) v = nd(rng);
    llama_permute_qk(x.data(), y.data(), rows, cols, heads);
    EXPECT_NE(x, y);
    llama_unpermute_qk(y.data(), z.data(), rows, cols, heads);
    EXPECT_EQ(x, z);
  }
  std::vector<float> buf(12);
  EXPECT_THROW(llama_permute_qk(buf.data(), buf.data(), 6, 2, 2), std::invalid_argument);  // head of 3 rows
}

TEST(LlamaNames, MapBothWaysAndRejectUnknown) {
  const ModelFamily& llama = *find_family("llama");
  const std::vector<std::pair<std::string, std::string>> pairs{
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
      {"model.layers.12.self_attn.k_proj.bias", "blk.12.attn_k.bias"},
      {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
      {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
      {"model.layers.3.self_attn.q_norm.weight", "blk.3.attn_q_norm.weight"},
      {"model.layers.3.self_attn.k_norm.weight", "blk.3.attn_k_norm.weight"},
      {"model.layers.4.mlp.gate_proj.weight", "blk.4.ffn_gate.weight"},
      {"model.layers.4.mlp.up_proj.weight", "blk.4.ffn_up.weight"},
      {"model.layers.4.mlp.down_proj.weight", "blk.4.ffn_down.weight"},
      {"model.layers.4.input_layernorm.weight", "blk.4.attn_norm.weight"},
      {"model.layers.4.post_attention_layernorm.weight", "blk.4.ffn_norm.weight"}};
  for (const auto& [hf, gg] : pairs) {
    EXPECT_EQ(hf_to_gguf_tensor_name(llama, hf, "m.safetensors"), gg);
    EXPECT_EQ(gguf_to_hf_tensor_name(llama, gg).value_or("?"), hf);
    EXPECT_EQ(gguf_to_hf_tensor_name(gg).value_or("?"), hf);  // any family's
  }
  EXPECT_EQ(hf_to_gguf_tensor_name(llama, "model.layers.1.self_attn.rotary_emb.inv_freq", "f"), "");
  EXPECT_FALSE(gguf_to_hf_tensor_name(llama, "rope_freqs.weight"));
  for (const std::string bad : {"model.layers.x.mlp.up_proj.weight", "model.layers.01.mlp.up_proj.weight",
                                "model.layers.1.mlp.experts.0.w1.weight", "vision.patch_embed.weight"}) {
    const std::string e = error_of([&] { hf_to_gguf_tensor_name(llama, bad, "m.safetensors"); });
    EXPECT_NE(e.find("m.safetensors: tensor '" + bad + "'"), std::string::npos) << e;
  }
  EXPECT_EQ(gguf_ne_from_shape({172, 64}), (std::vector<std::int64_t>{64, 172}));
  EXPECT_EQ(shape_from_gguf_ne({64, 172}), (std::vector<std::int64_t>{172, 64}));
}

ModelConfig config_from(const std::string& text) { return parse_model_config(text, "config.json"); }

TEST(LlamaMetadata, FamilyPermutationAndKeys) {
  const std::string base = R"({"architectures":["X"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,)"
                           R"("num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"max_position_embeddings":256)";
  const ModelConfig llama = config_from(base + R"(,"model_type":"mistral","head_dim":32,"rope_theta":500000})");
  const ModelFamily& a = family_for(llama, "config.json", "GGUF output");
  EXPECT_EQ(a.gguf_architecture, "llama");
  EXPECT_TRUE(a.permute_qk);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.q_proj.weight"), 4);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.k_proj.bias"), 2);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.v_proj.weight"), 0);
  const ModelConfig qwen = config_from(base + R"(,"model_type":"qwen2"})");
  const ModelFamily& q = family_for(qwen, "config.json", "GGUF output");
  EXPECT_EQ(q.gguf_architecture, "qwen2");
  EXPECT_EQ(qk_permute_heads(q, qwen, "model.layers.0.self_attn.q_proj.weight"), 0);
  EXPECT_EQ(family_for(config_from(base + R"(,"model_type":"qwen3"})"), "c", "GGUF output").gguf_architecture, "qwen3");
  EXPECT_NE(error_of([&] { family_for(config_from(base + R"(,"model_type":"gpt2"})"), "dir/config.json", "GGUF output"); })
                .find("dir/config.json: model_type 'gpt2' is not supported for GGUF output"),
            std::string::npos);

  const auto kv = llama_gguf_metadata(llama, a, "m", 15, 100, "config.json");
  std::map<std::string, GgufValue> m;
  for (const auto& e : kv) m[e.key] = e.value;
  EXPECT_EQ(std::get<std::string>(m.at("general.architecture").v), "llama");
  EXPECT_EQ(m.count("general.alignment"), 0u);  // the default, which llama.cpp's converter leaves out
  EXPECT_EQ(std::get<std::uint64_t>(m.at("general.file_type").v), 15u);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("general.quantization_version").v), 2u);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.attention.head_count_kv").v), 2u);
  EXPECT_EQ(m.at("llama.attention.key_length").type, GgufValueType::UINT32);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.attention.key_length").v), 32u);  // head_dim, not 64/4
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.rope.dimension_count").v), 32u);
  EXPECT_EQ(m.at("llama.rope.freq_base").type, GgufValueType::FLOAT32);
  EXPECT_DOUBLE_EQ(std::get<double>(m.at("llama.rope.freq_base").v), 500000.0);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.vocab_size").v), 100u);

  // The keys llama.cpp's converter writes, as its conversion/base.py (TextModel) and llama.py
  // (LlamaModel: vocab_size, rope.dimension_count) `set_gguf_parameters` do: Qwen2 without
  // head_dim in config.json gets neither those two nor key/value_length.
  const auto keys = [](const std::vector<GgufKV>& kvs) {
    std::vector<std::string> k;
    for (const auto& e : kvs) k.push_back(e.key);
    return k;
  };
  EXPECT_EQ(keys(llama_gguf_metadata(qwen, q, "m", 15, 100, "config.json")),
            (std::vector<std::string>{"general.architecture", "general.type", "general.name", "general.file_type",
                                      "general.quantization_version", "qwen2.context_length",
                                      "qwen2.embedding_length", "qwen2.block_count", "qwen2.feed_forward_length",
                                      "qwen2.attention.head_count", "qwen2.attention.head_count_kv",
                                      "qwen2.rope.freq_base", "qwen2.attention.layer_norm_rms_epsilon"}));
  EXPECT_EQ(keys(kv), (std::vector<std::string>{"general.architecture", "general.type", "general.name",
                                                "general.file_type", "general.quantization_version", "llama.vocab_size",
                                                "llama.context_length", "llama.embedding_length", "llama.block_count",
                                                "llama.feed_forward_length", "llama.attention.head_count",
                                                "llama.attention.head_count_kv", "llama.attention.key_length",
                                                "llama.attention.value_length", "llama.rope.dimension_count",
                                                "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"}));

  const auto lin = llama_gguf_metadata(config_from(base + R"(,"model_type":"llama","rope_scaling":{"type":"linear","factor":2.0}})"),
                                       a, "m", 0, 100, "config.json");
  EXPECT_EQ(lin.back().key, "llama.rope.scaling.factor");
  EXPECT_NE(error_of([&] {
              llama_gguf_metadata(config_from(base + R"(,"model_type":"llama","rope_scaling":{"type":"dynamic","factor":2.0}})"),
                                  a, "m", 0, 100, "config.json");
            }).find("rope_scaling type 'dynamic'"),
            std::string::npos);
  const ModelConfig l3 = config_from(
      base + R"(,"model_type":"llama","rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,)"
             R"("low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})");
  const auto f = llama3_rope_factors(l3);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->size(), 8u);  // head_dim 16 / 2
  EXPECT_FLOAT_EQ((*f)[0], 1.0f);  // high frequency: unchanged
  EXPECT_FLOAT_EQ((*f)[7], 8.0f);  // wavelength 2*pi*500000^(14/16) > 8192: scaled by factor
  EXPECT_FALSE(llama3_rope_factors(llama));

  // rope_parameters (transformers' successor of rope_scaling) is read the same way: the GGUF says
  // what the evaluator computes.
  const auto lin_v5 = llama_gguf_metadata(
      config_from(base + R"(,"model_type":"llama","rope_parameters":{"rope_type":"linear","factor":2.0,"rope_theta":1e6}})"),
      a, "m", 0, 100, "config.json");
  std::map<std::string, GgufValue> m5;
  for (const auto& e : lin_v5) m5[e.key] = e.value;
  ASSERT_TRUE(m5.count("llama.rope.scaling.factor"));
  EXPECT_DOUBLE_EQ(std::get<double>(m5.at("llama.rope.scaling.factor").v), 2.0);
  EXPECT_EQ(std::get<std::string>(m5.at("llama.rope.scaling.type").v), "linear");
  EXPECT_DOUBLE_EQ(std::get<double>(m5.at("llama.rope.freq_base").v), 1e6);
  const ModelConfig l3_v5 = config_from(
      base + R"(,"model_type":"llama","rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,)"
             R"("low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})");
  const auto f5 = llama3_rope_factors(l3_v5);
  ASSERT_TRUE(f5);
  EXPECT_EQ(*f5, *f);
}

}  // namespace
}  // namespace ramq
