// GGUF writer container format, checked byte by byte with a separate minimal parser, plus the
// Llama-specific pure functions: name map, q/k permutation, file type, metadata.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>

#include "ramq/error.h"
#include "ramq/gguf.h"
#include "ramq/gguf_llama.h"
#include "support/temp_dir.h"
#include "write/mini_gguf.h"

namespace ramq {
namespace {

using testkit::MiniGguf;
using testkit::TempDir;

std::vector<std::byte> f32_bytes(const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}
std::string as_string(const std::vector<std::byte>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no ramq::Error)";
}

TEST(GgufWriter, LayoutMatchesSpecByteForByte) {
  TempDir tmp;
  const auto path = tmp / "a.gguf";
  const std::vector<GgufKV> kvs{{"general.architecture", GgufValue::str("llama")},
                                {"x.u32", GgufValue::u32(0xdeadbeef)},
                                {"x.f32", GgufValue::f32(1.5f)},
                                {"x.bool", GgufValue::boolean(true)},
                                {"x.strs", GgufValue::strings({"a", "bc"})},
                                {"x.i32s", GgufValue::i32s({-1, 7})}};
  const std::vector<float> a{1, 2, 3, 4, 5};                 // F32 [5]: 20 bytes -> padded to 32
  std::vector<float> b(12);                                  // F32 [4, 3]: 48 bytes -> 64
  std::iota(b.begin(), b.end(), -6.0f);
  std::vector<GgufTensorSpec> specs{{"t.a", GgmlType::F32, {5}}, {"t.b", GgmlType::F32, {4, 3}}};
  GgufStreamWriter w(path, kvs, specs, 32);
  w.write_next("t.a", f32_bytes(a));
  w.write_next("t.b", f32_bytes(b));
  w.finish();

  const std::string bytes = testkit::slurp(path);
  // Header: magic, version 3, tensor count 2, kv count 6 (alignment 32 is the default: not added).
  ASSERT_GE(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x02\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(16, 8), std::string("\x06\0\0\0\0\0\0\0", 8));
  // First kv: u64 key length 20, key, u32 type 8 (string), u64 length 5, "llama".
  EXPECT_EQ(bytes.substr(24, 8), std::string("\x14\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(32, 20), "general.architecture");
  EXPECT_EQ(bytes.substr(52, 4), std::string("\x08\0\0\0", 4));
  EXPECT_EQ(bytes.substr(56, 8), std::string("\x05\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(64, 5), "llama");
  // Second kv: "x.u32", type 4, 0xdeadbeef little-endian.
  EXPECT_EQ(bytes.substr(69, 8), std::string("\x05\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(bytes.substr(77, 5), "x.u32");
  EXPECT_EQ(bytes.substr(82, 4), std::string("\x04\0\0\0", 4));
  EXPECT_EQ(bytes.substr(86, 4), std::string("\xef\xbe\xad\xde", 4));

  const MiniGguf g = testkit::MiniParser(bytes).parse();
  EXPECT_EQ(g.version, 3u);
  ASSERT_EQ(g.keys.size(), 6u);
  EXPECT_FLOAT_EQ(static_cast<float>(g.at("x.f32").f), 1.5f);
  EXPECT_EQ(g.at("x.f32").type, 6u);
  EXPECT_EQ(g.at("x.bool").type, 7u);
  EXPECT_EQ(g.at("x.bool").u, 1u);
  ASSERT_EQ(g.at("x.strs").type, 9u);
  EXPECT_EQ(g.at("x.strs").elem, 8u);
  ASSERT_EQ(g.at("x.strs").arr.size(), 2u);
  EXPECT_EQ(g.at("x.strs").arr[1].s, "bc");
  EXPECT_EQ(g.at("x.i32s").elem, 5u);
  EXPECT_EQ(g.at("x.i32s").arr[0].i, -1);
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].name, "t.a");
  EXPECT_EQ(g.tensors[0].ne, (std::vector<std::uint64_t>{5}));
  EXPECT_EQ(g.tensors[1].ne, (std::vector<std::uint64_t>{4, 3}));
  EXPECT_EQ(g.tensors[1].type, 0u);
  EXPECT_EQ(g.tensors[0].offset, 0u);
  EXPECT_EQ(g.tensors[1].offset, 32u);  // 20 bytes padded to 32
  // Padding after the infos is zeros up to a multiple of 32.
  EXPECT_EQ(g.data_start % 32, 0u);
  EXPECT_GT(g.data_start, g.infos_end - 1);
  EXPECT_EQ(bytes.substr(g.infos_end, g.data_start - g.infos_end), std::string(g.data_start - g.infos_end, '\0'));
  EXPECT_EQ(g.data(0, 20), as_string(f32_bytes(a)));
  EXPECT_EQ(bytes.substr(g.data_start + 20, 12), std::string(12, '\0'));
  EXPECT_EQ(g.data(1, 48), as_string(f32_bytes(b)));
  EXPECT_EQ(bytes.size(), g.data_start + 32 + 64);  // the last tensor is padded too
  EXPECT_EQ(w.file_bytes(), bytes.size());
}

TEST(GgufWriter, NonDefaultAlignmentIsRecordedAndUsed) {
  TempDir tmp;
  GgufStreamWriter w(tmp / "b.gguf", {}, {{"t", GgmlType::F32, {3}}, {"u", GgmlType::F32, {2}}}, 64);
  w.write_next("t", f32_bytes({1, 2, 3}));
  w.write_next("u", f32_bytes({4, 5}));
  w.finish();
  const MiniGguf g = testkit::mini_gguf(tmp / "b.gguf");
  ASSERT_EQ(g.keys, std::vector<std::string>{"general.alignment"});
  EXPECT_EQ(g.at("general.alignment").type, 4u);
  EXPECT_EQ(g.at("general.alignment").u, 64u);
  EXPECT_EQ(g.data_start % 64, 0u);
  EXPECT_EQ(g.tensors[1].offset, 64u);
  EXPECT_EQ(g.bytes.size(), g.data_start + 128);
}

TEST(GgufWriter, QuantizedTensorSizesFollowTheTypeTable) {
  TempDir tmp;
  std::vector<float> v(64 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i));
  const GgufTensorSpec spec{"q", GgmlType::Q8_0, {64, 3}};
  EXPECT_EQ(spec.nbytes(), 3u * 2u * 34u);  // Q8_0: 34 bytes per 32 values
  std::vector<std::byte> enc(spec.nbytes());
  gguf_encode_rows(GgmlType::Q8_0, v.data(), 3, 64, enc.data());
  GgufStreamWriter w(tmp / "q.gguf", {}, {spec}, 32);
  w.write_next("q", enc);
  w.finish();
  const MiniGguf g = testkit::mini_gguf(tmp / "q.gguf");
  EXPECT_EQ(g.tensors[0].type, 8u);
  EXPECT_EQ(g.data(0, enc.size()), as_string(enc));
}

TEST(GgufWriter, MisuseAndIoFailuresAreErrorsNamingTheFile) {
  TempDir tmp;
  const auto p = (tmp / "c.gguf").string();
  const std::vector<GgufTensorSpec> one{{"t", GgmlType::F32, {2}}};
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::F32, {2}}, {"t", GgmlType::F32, {2}}}); })
                .find("duplicate tensor name"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}}, one); })
                .find("duplicate metadata key 'k'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::Q8_0, {30}}}); }).find("block size 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufStreamWriter(p, {}, {{"t", GgmlType::F32, {1, 1, 1, 1, 1}}}); }).find("1 to 4"),
            std::string::npos);
  {
    GgufStreamWriter w(p, {}, one);
    EXPECT_NE(error_of([&] { w.write_next("t", f32_bytes({1})); }).find("expected 8"), std::string::npos);
    EXPECT_NE(error_of([&] { w.write_next("x", f32_bytes({1, 2})); }).find("expected tensor 't'"), std::string::npos);
    const std::string e = error_of([&] { w.finish(); });
    EXPECT_NE(e.find(p), std::string::npos) << e;
    EXPECT_NE(e.find("only 0 of 1"), std::string::npos) << e;
  }
  const std::string missing = (tmp / "no" / "dir" / "x.gguf").string();
  EXPECT_NE(error_of([&] { GgufStreamWriter(missing, {}, one); }).find(missing + ": cannot create"), std::string::npos);
  // A full disk: /dev/full accepts the open and fails every write with ENOSPC.
  if (std::filesystem::exists("/dev/full")) {
    const std::string e = error_of([&] {
      GgufStreamWriter w("/dev/full", {}, {{"big", GgmlType::F32, {1 << 20}}});
      w.write_next("big", std::vector<std::byte>(4u << 20));
      w.finish();
    });
    EXPECT_NE(e.find("/dev/full"), std::string::npos) << e;
    EXPECT_NE(e.find("disk full"), std::string::npos) << e;
  }
}

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
    EXPECT_EQ(hf_to_gguf_tensor_name(hf, "m.safetensors"), gg);
    EXPECT_EQ(gguf_to_hf_tensor_name(gg).value_or("?"), hf);
  }
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.1.self_attn.rotary_emb.inv_freq", "f"), "");
  EXPECT_FALSE(gguf_to_hf_tensor_name("rope_freqs.weight"));
  for (const std::string bad : {"model.layers.x.mlp.up_proj.weight", "model.layers.01.mlp.up_proj.weight",
                                "model.layers.1.mlp.experts.0.w1.weight", "vision.patch_embed.weight"}) {
    const std::string e = error_of([&] { hf_to_gguf_tensor_name(bad, "m.safetensors"); });
    EXPECT_NE(e.find("m.safetensors: tensor '" + bad + "'"), std::string::npos) << e;
  }
  EXPECT_EQ(gguf_ne_from_shape({172, 64}), (std::vector<std::int64_t>{64, 172}));
  EXPECT_EQ(shape_from_gguf_ne({64, 172}), (std::vector<std::int64_t>{172, 64}));
}

ModelConfig config_from(const std::string& text) { return parse_model_config(text, "config.json"); }

TEST(LlamaMetadata, ArchFileTypeAndKeys) {
  const std::string base = R"({"architectures":["X"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,)"
                           R"("num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"max_position_embeddings":256)";
  const ModelConfig llama = config_from(base + R"(,"model_type":"mistral","head_dim":32,"rope_theta":500000})");
  const GgufArch a = gguf_arch_for(llama, "config.json");
  EXPECT_EQ(a.name, "llama");
  EXPECT_TRUE(a.permute_qk);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.q_proj.weight"), 4);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.k_proj.bias"), 2);
  EXPECT_EQ(qk_permute_heads(a, llama, "model.layers.0.self_attn.v_proj.weight"), 0);
  const ModelConfig qwen = config_from(base + R"(,"model_type":"qwen2"})");
  const GgufArch q = gguf_arch_for(qwen, "config.json");
  EXPECT_EQ(q.name, "qwen2");
  EXPECT_EQ(qk_permute_heads(q, qwen, "model.layers.0.self_attn.q_proj.weight"), 0);
  EXPECT_EQ(gguf_arch_for(config_from(base + R"(,"model_type":"qwen3"})"), "c").name, "qwen3");
  EXPECT_NE(error_of([&] { gguf_arch_for(config_from(base + R"(,"model_type":"gpt2"})"), "dir/config.json"); })
                .find("dir/config.json: model_type 'gpt2'"),
            std::string::npos);

  EXPECT_EQ(llama_file_type({{GgmlType::F16, 1000}, {GgmlType::Q4_K, 600}, {GgmlType::Q6_K, 100}}), 15u);
  EXPECT_EQ(llama_file_type({{GgmlType::Q8_0, 10}, {GgmlType::Q4_0, 5}}), 7u);
  EXPECT_EQ(llama_file_type({{GgmlType::F32, 10}, {GgmlType::F16, 50}}), 1u);
  EXPECT_EQ(llama_file_type({{GgmlType::F32, 10}}), 0u);
  EXPECT_EQ(llama_file_type({{GgmlType::Q6_K, 10}}), 18u);

  const auto kv = llama_gguf_metadata(llama, a, "m", 15, 100, "config.json");
  std::map<std::string, GgufValue> m;
  for (const auto& e : kv) m[e.key] = e.value;
  EXPECT_EQ(std::get<std::string>(m.at("general.architecture").v), "llama");
  EXPECT_EQ(std::get<std::uint64_t>(m.at("general.alignment").v), 32u);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("general.file_type").v), 15u);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("general.quantization_version").v), 2u);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.attention.head_count_kv").v), 2u);
  EXPECT_EQ(m.at("llama.attention.key_length").type, GgufValueType::UINT32);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.attention.key_length").v), 32u);  // head_dim, not 64/4
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.rope.dimension_count").v), 32u);
  EXPECT_EQ(m.at("llama.rope.freq_base").type, GgufValueType::FLOAT32);
  EXPECT_DOUBLE_EQ(std::get<double>(m.at("llama.rope.freq_base").v), 500000.0);
  EXPECT_EQ(std::get<std::uint64_t>(m.at("llama.vocab_size").v), 100u);

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
}

}  // namespace
}  // namespace ramq
