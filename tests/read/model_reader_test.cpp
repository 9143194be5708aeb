// ModelReader and parse_model_config on the shared stories260K model and on built models.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/safetensors.h"
#include "support/safetensors_builder.h"

namespace ramq {
namespace {

namespace fs = std::filesystem;
using testkit::SafetensorsBuilder;
using testkit::TempDir;
using testkit::write_file;

const fs::path kStories = fs::path(RAMQ_SHARED_DIR) / "models" / "stories260K";

TEST(ModelReader, Stories260KStructureAndConfig) {
  ModelReader r(kStories);
  EXPECT_EQ(r.dir(), kStories);
  ASSERT_EQ(r.tensors().size(), 47u);
  for (std::size_t i = 1; i < r.tensors().size(); ++i) EXPECT_LT(r.tensors()[i - 1].name, r.tensors()[i].name);

  const TensorInfo* emb = r.find("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<std::int64_t>{512, 64}));
  EXPECT_EQ(emb->dtype, DType::F32);
  EXPECT_EQ(emb->nbytes, 512u * 64u * 4u);
  EXPECT_EQ(emb->file, (kStories / "model.safetensors").string());
  EXPECT_EQ(r.find("model.does.not.exist"), nullptr);

  const ModelConfig& c = r.config();
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.raw.at("hidden_act"), "silu");

  EXPECT_EQ(r.input_files(), (std::vector<std::string>{"config.json", "model.safetensors"}));
}

// Decodes a tensor of stories260K without ramq: header parsed by hand, bytes read with ifstream.
std::vector<float> decode_independently(const fs::path& file, const std::string& tensor) {
  std::ifstream in(file, std::ios::binary);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len_bytes[i];
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  const auto j = nlohmann::json::parse(header);
  const auto& e = j.at(tensor);
  EXPECT_EQ(e.at("dtype"), "F32");
  const auto begin = e.at("data_offsets")[0].get<std::uint64_t>();
  const auto end = e.at("data_offsets")[1].get<std::uint64_t>();
  std::vector<float> out((end - begin) / 4);
  in.seekg(static_cast<std::streamoff>(8 + n + begin));
  std::vector<unsigned char> raw(end - begin);
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  EXPECT_TRUE(in.good());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint32_t bits = static_cast<std::uint32_t>(raw[4 * i]) | static_cast<std::uint32_t>(raw[4 * i + 1]) << 8 |
                               static_cast<std::uint32_t>(raw[4 * i + 2]) << 16 |
                               static_cast<std::uint32_t>(raw[4 * i + 3]) << 24;
    out[i] = std::bit_cast<float>(bits);
  }
  return out;
}

TEST(ModelReader, Stories260KLoadMatchesIndependentDecode) {
  ModelReader r(kStories);
  for (const char* name : {"model.layers.2.self_attn.q_proj.weight", "model.norm.weight", "model.embed_tokens.weight"}) {
    const TensorInfo* t = r.find(name);
    ASSERT_NE(t, nullptr) << name;
    const auto expected = decode_independently(kStories / "model.safetensors", name);
    const auto got = r.load_f32(*t);
    ASSERT_EQ(got.size(), expected.size()) << name;
    ASSERT_EQ(static_cast<std::int64_t>(got.size()), t->numel());
    bool any_nonzero = false;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(expected[i])) << name << " @" << i;
      any_nonzero |= got[i] != 0.0f;
    }
    EXPECT_TRUE(any_nonzero) << name;
    EXPECT_EQ(r.raw(*t).size(), t->nbytes);

    // After release() the pages are re-read from the file: same values.
    r.release(*t);
    EXPECT_EQ(r.load_f32(*t), got) << name;
  }
}

TEST(ModelReader, ShardedModelWithF16AndBF16) {
  TempDir tmp;
  // Values exactly representable in F16 and BF16.
  const std::vector<float> f16_vals = {1.0f, -2.0f, 0.5f, 0.0f, 65504.0f, -0x1p-14f};
  const std::vector<float> bf16_vals = {1.0f, -0.5f, 3.0f, 1024.0f, -0.0f, 0x1p-100f};
  const std::vector<float> f32_vals = {0.1f, -0.2f, 0.3f, 1e-30f};

  SafetensorsBuilder s1;
  s1.add("model.layers.0.mlp.up_proj.weight", DType::F16, {2, 3}, f16_vals)
      .add("model.norm.weight", DType::F32, {4}, f32_vals);
  SafetensorsBuilder s2;
  s2.add("model.embed_tokens.weight", DType::BF16, {3, 2}, bf16_vals)
      .add_raw("model.rotary.inv_freq_ids", "I64", {2}, std::string(16, '\0'));
  s1.write(tmp / "model-00001-of-00002.safetensors");
  s2.write(tmp / "model-00002-of-00002.safetensors");
  write_file(tmp / "config.json", testkit::tiny_config_json());
  const nlohmann::json index = {
      {"metadata", {{"total_size", 100}}},
      {"weight_map",
       {{"model.layers.0.mlp.up_proj.weight", "model-00001-of-00002.safetensors"},
        {"model.norm.weight", "model-00001-of-00002.safetensors"},
        {"model.embed_tokens.weight", "model-00002-of-00002.safetensors"},
        {"model.rotary.inv_freq_ids", "model-00002-of-00002.safetensors"}}}};
  write_file(tmp / "model.safetensors.index.json", index.dump(2));

  ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 4u);
  EXPECT_EQ(r.tensors()[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(r.tensors()[1].name, "model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(r.tensors()[2].name, "model.norm.weight");
  EXPECT_EQ(r.tensors()[3].name, "model.rotary.inv_freq_ids");
  EXPECT_EQ(r.config().hidden_size, 8);
  EXPECT_EQ(r.input_files(),
            (std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors", "model.safetensors.index.json"}));

  const TensorInfo* up = r.find("model.layers.0.mlp.up_proj.weight");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->file, (tmp / "model-00001-of-00002.safetensors").string());
  EXPECT_EQ(up->dtype, DType::F16);
  EXPECT_EQ(r.load_f32(*up), f16_vals);

  const TensorInfo* emb = r.find("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->file, (tmp / "model-00002-of-00002.safetensors").string());
  EXPECT_EQ(emb->shape, (std::vector<std::int64_t>{3, 2}));
  const auto bf = r.load_f32(*emb);
  EXPECT_EQ(bf, bf16_vals);
  EXPECT_TRUE(std::signbit(bf[4]));  // -0.0 kept

  const TensorInfo* norm = r.find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(r.load_f32(*norm), f32_vals);

  // Selected rows, from each dtype: the written values of those rows (rows 2 and 0 of the BF16
  // 3 x 2, row 1 of the F16 2 x 3, the F32 vector as rows of 2).
  const std::int64_t emb_rows[] = {0, 2};
  EXPECT_EQ(r.load_rows_f32(*emb, emb_rows, 2), (std::vector<float>{bf16_vals[0], bf16_vals[1], bf16_vals[4], bf16_vals[5]}));
  const std::int64_t up_rows[] = {1};
  EXPECT_EQ(r.load_rows_f32(*up, up_rows, 3), (std::vector<float>{f16_vals[3], f16_vals[4], f16_vals[5]}));
  const std::int64_t norm_rows[] = {1};
  EXPECT_EQ(r.load_rows_f32(*norm, norm_rows, 2), (std::vector<float>{f32_vals[2], f32_vals[3]}));
  const std::int64_t past_end[] = {2};
  EXPECT_THROW(r.load_rows_f32(*norm, past_end, 2), std::out_of_range);
  EXPECT_THROW(r.load_rows_f32(*norm, norm_rows, 3), Error);  // 4 elements are not rows of 3
  EXPECT_NO_THROW(r.check_finite(*emb, 2));

  // Into a caller's buffer: the same values; a buffer of the wrong size is refused untouched.
  std::vector<float> into(6, 9.0f);
  r.load_f32_into(*emb, into, 2);
  EXPECT_EQ(into, bf16_vals);
  std::vector<float> wrong(5, 9.0f);
  EXPECT_THROW(r.load_f32_into(*emb, wrong), std::invalid_argument);
  EXPECT_EQ(wrong, std::vector<float>(5, 9.0f));

  // The raw bytes are exactly what was written.
  const auto raw = r.raw(*up);
  const std::string expected_raw = s1.entries()[0].data;
  ASSERT_EQ(raw.size(), expected_raw.size());
  EXPECT_EQ(std::memcmp(raw.data(), expected_raw.data(), raw.size()), 0);
}

TEST(ModelReader, RoundedBuilderValuesDecodeToRoundedFloats) {
  TempDir tmp;
  const std::vector<float> vals = {0.1f, -0.2f, 3.14159f, 1e-3f};
  SafetensorsBuilder b;
  b.add_rounded("h", DType::F16, {4}, vals).add_rounded("b", DType::BF16, {2, 2}, vals);
  testkit::write_model(tmp.path(), b);
  ModelReader r(tmp.path());
  const auto h = r.load_f32(*r.find("h"));
  const auto bf = r.load_f32(*r.find("b"));
  ASSERT_EQ(h.size(), 4u);
  ASSERT_EQ(bf.size(), 4u);
  for (std::size_t i = 0; i < vals.size(); ++i) {
    EXPECT_EQ(h[i], round_to_dtype(vals[i], DType::F16));
    EXPECT_EQ(bf[i], round_to_dtype(vals[i], DType::BF16));
    EXPECT_NE(h[i], vals[i]);
  }
}

TEST(ModelReader, ShardInSubdirectoryAndSymlinkInsideDirAreAccepted) {
  TempDir tmp;
  fs::create_directory(tmp / "weights");
  SafetensorsBuilder s;
  s.add("w", DType::F32, {2}, {1.0f, 2.0f});
  s.write(tmp / "weights" / "real.safetensors");
  fs::create_symlink("weights/real.safetensors", tmp / "link.safetensors");
  SafetensorsBuilder s2;
  s2.add("v", DType::F32, {1}, {3.0f});
  s2.write(tmp / "weights" / "other.safetensors");
  write_file(tmp / "config.json", testkit::tiny_config_json());
  write_file(tmp / "model.safetensors.index.json",
             R"({"weight_map":{"w":"link.safetensors","v":"weights/other.safetensors"}})");
  ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 2u);
  EXPECT_EQ(r.load_f32(*r.find("w")), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(r.load_f32(*r.find("v")), (std::vector<float>{3.0f}));
  EXPECT_EQ(r.input_files(), (std::vector<std::string>{"config.json", "link.safetensors",
                                                       "model.safetensors.index.json", "weights/other.safetensors"}));
}

TEST(ModelReader, IndexTakesPrecedenceOverSingleFile) {
  TempDir tmp;
  SafetensorsBuilder single;
  single.add("old", DType::F32, {1}, {9.0f});
  testkit::write_model(tmp.path(), single);
  SafetensorsBuilder shard;
  shard.add("new", DType::F32, {1}, {1.0f});
  shard.write(tmp / "model-00001-of-00001.safetensors");
  write_file(tmp / "model.safetensors.index.json", R"({"weight_map":{"new":"model-00001-of-00001.safetensors"}})");
  ModelReader r(tmp.path());
  ASSERT_EQ(r.tensors().size(), 1u);
  EXPECT_EQ(r.tensors()[0].name, "new");
}

TEST(ModelConfig, DefaultsAreApplied) {
  const auto c = parse_model_config(
      R"({"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":96,"intermediate_size":256,)"
      R"("num_hidden_layers":2,"num_attention_heads":12,"vocab_size":100,"max_position_embeddings":128})",
      "cfg.json");
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 12);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.raw.at("hidden_size"), 96);
}

TEST(ModelConfig, ExplicitHeadDimNeedNotDivide) {
  const auto c = parse_model_config(
      R"({"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","hidden_size":100,"intermediate_size":256,)"
      R"("num_hidden_layers":2,"num_attention_heads":3,"num_key_value_heads":1,"head_dim":128,"vocab_size":100,)"
      R"("max_position_embeddings":128,"rope_theta":1000000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":true,)"
      R"("head_dim_unused":null})",
      "cfg.json");
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(ModelConfig, TextConfigFallback) {
  const auto c = parse_model_config(
      R"({"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","tie_word_embeddings":true,)"
      R"("text_config":{"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,"num_hidden_layers":3,)"
      R"("num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"vocab_size":300,)"
      R"("max_position_embeddings":1024,"rms_norm_eps":1e-6,"rope_theta":500.0}})",
      "cfg.json");
  EXPECT_EQ(c.architecture, "Gemma3ForConditionalGeneration");
  EXPECT_EQ(c.model_type, "gemma3");  // top level wins
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.raw.contains("text_config"));
}

TEST(ModelConfig, RopeParametersFallback) {
  const auto c = parse_model_config(
      R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":128,)"
      R"("num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"max_position_embeddings":16,)"
      R"("rope_parameters":{"rope_type":"default","rope_theta":250000.0}})",
      "cfg.json");
  EXPECT_DOUBLE_EQ(c.rope_theta, 250000.0);
}

}  // namespace
}  // namespace ramq
