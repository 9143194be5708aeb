// The "quantization" block of an MLX config.json, and which model files are copied.
#include <gtest/gtest.h>

#include "ramq/error.h"
#include "ramq/mlx_writer.h"
#include "ramq/model_family.h"

namespace ramq {
namespace {

TensorDecision dec(const std::string& name, std::int64_t numel, int bits, int group) {
  TensorDecision d;
  d.name = name;
  d.shape = {1, numel};
  d.numel = numel;
  d.encoding = bits < 16 ? Encoding::mlx_affine(bits, group) : Encoding::float_copy();
  return d;
}

TEST(MlxQuantizationConfig, NothingQuantizedGivesNull) {
  Plan p;
  p.tensors = {dec("model.norm.weight", 64, 16, 0), dec("model.embed_tokens.weight", 4096, 16, 0)};
  EXPECT_TRUE(mlx_quantization_config(p).is_null());
  EXPECT_TRUE(mlx_quantization_config(Plan{}).is_null());
}

TEST(MlxQuantizationConfig, UniformPlanHasOnlyTheDefault) {
  Plan p;
  p.tensors = {dec("a.q_proj.weight", 4096, 4, 64), dec("a.k_proj.weight", 1024, 4, 64),
               dec("model.norm.weight", 64, 16, 0)};
  const nlohmann::json expect = {{"group_size", 64}, {"bits", 4}};
  EXPECT_EQ(mlx_quantization_config(p), expect);
}

TEST(MlxQuantizationConfig, DefaultIsMostParametersAndOthersAreListed) {
  Plan p;
  p.tensors = {
      dec("model.layers.0.mlp.down_proj.weight", 3000, 8, 64),  // 8/64: 3000
      dec("model.layers.0.mlp.up_proj.weight", 2000, 4, 128),   // 4/128: 2000 + 2000 = 4000
      dec("model.layers.1.mlp.up_proj.weight", 2000, 4, 128),
      dec("model.layers.1.mlp.down_proj.weight", 500, 2, 32),   // 2/32: 500
      dec("model.norm.weight", 100000, 16, 0),                  // float: no entry, not counted
  };
  const nlohmann::json expect = {
      {"group_size", 128},
      {"bits", 4},
      {"model.layers.0.mlp.down_proj", {{"group_size", 64}, {"bits", 8}}},
      {"model.layers.1.mlp.down_proj", {{"group_size", 32}, {"bits", 2}}},
  };
  EXPECT_EQ(mlx_quantization_config(p), expect);
}

TEST(MlxQuantizationConfig, TiesGoToSmallerBitsThenSmallerGroup) {
  Plan p;
  p.tensors = {dec("x.weight", 1000, 8, 32), dec("y.weight", 1000, 4, 128), dec("z.weight", 1000, 4, 64)};
  const nlohmann::json expect = {
      {"group_size", 64},
      {"bits", 4},
      {"x", {{"group_size", 32}, {"bits", 8}}},
      {"y", {{"group_size", 128}, {"bits", 4}}},
  };
  EXPECT_EQ(mlx_quantization_config(p), expect);

  Plan q;  // bits decide before group: 3/128 beats 4/32 on a tie
  q.tensors = {dec("x.weight", 10, 4, 32), dec("y.weight", 10, 3, 128)};
  const auto j = mlx_quantization_config(q);
  EXPECT_EQ(j["bits"], 3);
  EXPECT_EQ(j["group_size"], 128);
  EXPECT_EQ(j["x"], nlohmann::json({{"group_size", 32}, {"bits", 4}}));
}

TEST(MlxQuantizationConfig, DumpIsStable) {
  Plan p;
  p.tensors = {dec("m.w1.weight", 10, 8, 64), dec("m.w2.weight", 20, 4, 64)};
  EXPECT_EQ(mlx_quantization_config(p).dump(),
            R"({"bits":4,"group_size":64,"m.w1":{"bits":8,"group_size":64}})");
}

TEST(MlxQuantizationConfig, QuantizedNameMustEndInWeight) {
  Plan p;
  p.tensors = {dec("model.layers.0.mlp.down_proj.bias", 100, 4, 64)};
  EXPECT_THROW(mlx_quantization_config(p), Error);
}

TEST(MlxPassthroughFiles, TokenizerFilesAreCopied) {
  for (const char* n : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                        "generation_config.json", "vocab.json", "merges.txt", "added_tokens.json", "tok512.bin",
                        "tok4096.bin", "cl100k_base.tiktoken", "chat_template.jinja", "chat_template.json",
                        "tekken.json"})
    EXPECT_TRUE(is_mlx_passthrough_file(n)) << n;
  for (const char* n : {"config.json", "model.safetensors", "model.safetensors.index.json", "README.md",
                        "pytorch_model.bin", "model-00001-of-00002.safetensors", ".tiktoken", "tokenizer.json.bak"})
    EXPECT_FALSE(is_mlx_passthrough_file(n)) << n;
}

TEST(MlxQuantizationConfig, OverridesAreKeyedByMlxLmModulePaths) {
  // Mixtral's experts: one override for the stacked switch_mlp module, w1 -> gate_proj
  // (mlx_lm models/mixtral.py sanitize); other names unchanged.
  Plan p;
  p.tensors = {dec("model.layers.0.block_sparse_moe.experts.0.w1.weight", 4000, 8, 64),
               dec("model.layers.0.block_sparse_moe.experts.1.w1.weight", 4000, 8, 64),
               dec("model.layers.0.self_attn.o_proj.weight", 9000, 4, 64)};
  const nlohmann::json expect = {{"group_size", 64},
                                 {"bits", 4},
                                 {"model.layers.0.block_sparse_moe.switch_mlp.gate_proj", {{"group_size", 64}, {"bits", 8}}}};
  EXPECT_EQ(mlx_quantization_config(p, find_family("mixtral")->mlx_path), expect);
  p.tensors[1] = dec("model.layers.0.block_sparse_moe.experts.1.w1.weight", 4000, 6, 64);
  EXPECT_THROW(mlx_quantization_config(p, find_family("mixtral")->mlx_path), Error);
}

}  // namespace
}  // namespace ramq
