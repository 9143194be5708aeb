// config.json against the tensors (src/arch/config_check.cpp), through the command line for both
// output formats: every disagreement ends with exit 1, one line naming config.json or the
// tensor's file and the tensor, and no output; a consistent model still quantizes.
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "ramq/rng.h"
#include "support/cli_failure.h"
#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using ramq::DType;
using namespace ramq::testkit;

namespace {

using Shape = std::vector<std::int64_t>;

// A complete small Llama-family checkpoint held as names and shapes, so that each case can break
// one thing before it is written. head_dim (32) is explicit and differs from hidden / heads (16),
// and q (4 x 32) differs from hidden (64), so that a transposed projection cannot pass by chance.
// Row lengths are multiples of 32 so that GGUF's block types fit.
struct TinyModel {
  json config;
  std::map<std::string, Shape> tensors;
};

constexpr std::int64_t kHidden = 64, kHeads = 4, kKvHeads = 1, kHeadDim = 32, kFfn = 96, kVocab = 64, kLayers = 2;
constexpr std::int64_t kQ = kHeads * kHeadDim, kKv = kKvHeads * kHeadDim;

std::string layer(std::int64_t i, const std::string& rest) { return "model.layers." + std::to_string(i) + "." + rest; }

void add_layer(TinyModel& m, std::int64_t i) {
  const std::string type = m.config["model_type"];
  for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight"}) m.tensors[layer(i, n)] = {kHidden};
  m.tensors[layer(i, "self_attn.q_proj.weight")] = {kQ, kHidden};
  m.tensors[layer(i, "self_attn.k_proj.weight")] = {kKv, kHidden};
  m.tensors[layer(i, "self_attn.v_proj.weight")] = {kKv, kHidden};
  m.tensors[layer(i, "self_attn.o_proj.weight")] = {kHidden, kQ};
  m.tensors[layer(i, "mlp.gate_proj.weight")] = {kFfn, kHidden};
  m.tensors[layer(i, "mlp.up_proj.weight")] = {kFfn, kHidden};
  m.tensors[layer(i, "mlp.down_proj.weight")] = {kHidden, kFfn};
  if (type == "qwen2") {
    m.tensors[layer(i, "self_attn.q_proj.bias")] = {kQ};
    m.tensors[layer(i, "self_attn.k_proj.bias")] = {kKv};
    m.tensors[layer(i, "self_attn.v_proj.bias")] = {kKv};
  }
  if (type == "qwen3")
    for (const char* n : {"self_attn.q_norm.weight", "self_attn.k_norm.weight"}) m.tensors[layer(i, n)] = {kHeadDim};
}

TinyModel tiny(const std::string& model_type = "llama") {
  TinyModel m;
  const char* arch = model_type == "qwen2" ? "Qwen2ForCausalLM" : model_type == "qwen3" ? "Qwen3ForCausalLM"
                                                                                        : "LlamaForCausalLM";
  m.config = {{"architectures", {arch}},  {"model_type", model_type},     {"hidden_size", kHidden},
              {"intermediate_size", kFfn}, {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads},
              {"num_key_value_heads", kKvHeads}, {"head_dim", kHeadDim},  {"vocab_size", kVocab},
              {"max_position_embeddings", 128}, {"rms_norm_eps", 1e-5},   {"rope_theta", 10000.0},
              {"tie_word_embeddings", false},   {"hidden_act", "silu"}};
  m.tensors["model.embed_tokens.weight"] = {kVocab, kHidden};
  m.tensors["lm_head.weight"] = {kVocab, kHidden};
  m.tensors["model.norm.weight"] = {kHidden};
  for (std::int64_t i = 0; i < kLayers; ++i) add_layer(m, i);
  return m;
}

// Writes the model with deterministic random weights (norms near 1).
void write(const fs::path& dir, const TinyModel& m) {
  ramq::Rng rng(7);
  SafetensorsBuilder b;
  for (const auto& [name, shape] : m.tensors) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    const bool norm = name.find("norm") != std::string::npos;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>((norm ? 1.0 : 0.0) + 0.125 * rng.normal());
    b.add_rounded(name, DType::F32, shape, v);
  }
  fs::create_directories(dir);
  write_model(dir, b, m.config.dump(2));
}

std::vector<std::string> mlx_args(const fs::path& dir, const fs::path& out) {
  return {"quantize", dir.string(), "--format", "mlx", "--policy", "uniform", "--bits", "4", "--group", "32",
          "-o", out.string()};
}
std::vector<std::string> gguf_args(const fs::path& dir, const fs::path& out) {
  return {"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "-o", out.string()};
}

struct Case {
  std::string label;
  std::function<void(TinyModel&)> edit;
  std::vector<std::string> expect;  // substrings of the error line ("$DIR" = the model directory)
};

// Each case through both formats (the GGUF file is written to `out` itself, which
// expect_clean_failure checks is not left behind).
void expect_rejected_in_both_formats(const Case& c, const std::string& model_type = "llama") {
  for (const bool gguf : {false, true}) {
    BadInput bad;
    bad.label = c.label + (gguf ? " (gguf)" : " (mlx)");
    bad.make = [&](const fs::path& dir) {
      TinyModel m = tiny(model_type);
      c.edit(m);
      write(dir, m);
    };
    bad.expect = c.expect;
    bad.args = [gguf](const fs::path& dir, const fs::path& out) { return gguf ? gguf_args(dir, out) : mlx_args(dir, out); };
    expect_clean_failure(bad);
  }
}

const std::string kQProj = "model.layers.0.self_attn.q_proj.weight";
const std::string kKProj = "model.layers.0.self_attn.k_proj.weight";

}  // namespace

TEST(ConfigTensor, ShapesThatDisagreeWithConfigJson) {
  const std::vector<Case> cases = {
      {"transposed q_proj", [](TinyModel& m) { m.tensors[kQProj] = {kHidden, kQ}; },
       {"$DIR/model.safetensors", kQProj, "[64, 128]", "[num_attention_heads x head_dim, hidden_size] = [128, 64]"}},
      {"1-D q_proj", [](TinyModel& m) { m.tensors[kQProj] = {kQ * kHidden}; },
       {"$DIR/model.safetensors", kQProj, "[8192]", "[128, 64]"}},
      {"transposed o_proj", [](TinyModel& m) { m.tensors[layer(1, "self_attn.o_proj.weight")] = {kQ, kHidden}; },
       {"$DIR/model.safetensors", "model.layers.1.self_attn.o_proj.weight", "[hidden_size, num_attention_heads x head_dim]"}},
      {"hidden_size disagrees", [](TinyModel& m) { m.config["hidden_size"] = 32; },
       {"$DIR/model.safetensors", "lm_head.weight", "[vocab_size, hidden_size] = [64, 32]"}},
      // (k_proj is the first projection in name order.)
      {"head_dim disagrees", [](TinyModel& m) { m.config["head_dim"] = 16; },
       {"$DIR/model.safetensors", kKProj, "[num_key_value_heads x head_dim, hidden_size] = [16, 64]"}},
      {"head_dim absent: hidden_size / num_attention_heads disagrees", [](TinyModel& m) { m.config.erase("head_dim"); },
       {"$DIR/model.safetensors", kKProj, "[num_key_value_heads x head_dim, hidden_size] = [16, 64]"}},
      {"vocab_size disagrees with the embedding rows", [](TinyModel& m) { m.config["vocab_size"] = 100; },
       {"$DIR/model.safetensors", "lm_head.weight", "vocab_size", "[100, 64]"}},
      {"vocab_size disagrees (tied: the embedding)",
       [](TinyModel& m) {
         m.config["vocab_size"] = 100, m.config["tie_word_embeddings"] = true;
         m.tensors.erase("lm_head.weight");
       },
       {"$DIR/model.safetensors", "model.embed_tokens.weight", "vocab_size"}},
      {"intermediate_size disagrees", [](TinyModel& m) { m.config["intermediate_size"] = 128; },
       {"$DIR/model.safetensors", "mlp.down_proj.weight", "[hidden_size, intermediate_size] = [64, 128]"}},
      {"num_key_value_heads disagrees", [](TinyModel& m) { m.config["num_key_value_heads"] = 2; },
       {"$DIR/model.safetensors", "self_attn.k_proj.weight", "num_key_value_heads x head_dim"}},
      {"a norm of the wrong length", [](TinyModel& m) { m.tensors["model.norm.weight"] = {kHidden + 1}; },
       {"$DIR/model.safetensors", "model.norm.weight", "[hidden_size] = [64]"}},
  };
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) expect_rejected_in_both_formats(c);
}

TEST(ConfigTensor, LayersHeadAndArchitectureTensors) {
  const std::vector<Case> cases = {
      {"more layers than num_hidden_layers", [](TinyModel& m) { m.config["num_hidden_layers"] = 1; },
       {"$DIR/model.safetensors", "model.layers.1.", "num_hidden_layers 1"}},
      {"an extra layer's stray tensor",
       [](TinyModel& m) { m.tensors[layer(7, "input_layernorm.weight")] = {kHidden}; },
       {"$DIR/model.safetensors", "model.layers.7.input_layernorm.weight", "layer 7", "num_hidden_layers 2"}},
      {"a declared layer missing", [](TinyModel& m) { m.config["num_hidden_layers"] = 3; },
       {"$DIR/config.json", "model.layers.2.", "is missing", "num_hidden_layers 3"}},
      {"one tensor of a layer missing", [](TinyModel& m) { m.tensors.erase(layer(1, "mlp.up_proj.weight")); },
       {"$DIR/config.json", "model.layers.1.mlp.up_proj.weight", "is missing"}},
      {"untied without lm_head", [](TinyModel& m) { m.tensors.erase("lm_head.weight"); },
       {"$DIR/config.json", "lm_head.weight", "tie_word_embeddings false"}},
      {"attention_bias true without biases", [](TinyModel& m) { m.config["attention_bias"] = true; },
       {"$DIR/config.json", "model.layers.0.self_attn.q_proj.bias", "attention_bias true"}},
      {"a q_norm without its k_norm", [](TinyModel& m) { m.tensors[layer(0, "self_attn.q_norm.weight")] = {kHeadDim}; },
       {"$DIR/config.json", "model.layers.0.self_attn.k_norm.weight", "pair"}},
  };
  for (const auto& c : cases) expect_rejected_in_both_formats(c);

  expect_rejected_in_both_formats({"qwen2 without a k bias", [](TinyModel& m) { m.tensors.erase(layer(1, "self_attn.k_proj.bias")); },
                                   {"$DIR/config.json", "model.layers.1.self_attn.k_proj.bias", "qwen2"}},
                                  "qwen2");
  expect_rejected_in_both_formats({"qwen2 bias of the wrong length", [](TinyModel& m) { m.tensors[layer(0, "self_attn.q_proj.bias")] = {kKv}; },
                                   {"$DIR/model.safetensors", "model.layers.0.self_attn.q_proj.bias", "[128]"}},
                                  "qwen2");
  expect_rejected_in_both_formats({"qwen3 k_norm of the wrong length", [](TinyModel& m) { m.tensors[layer(1, "self_attn.k_norm.weight")] = {kHidden}; },
                                   {"$DIR/model.safetensors", "model.layers.1.self_attn.k_norm.weight", "[head_dim] = [32]"}},
                                  "qwen3");
  expect_rejected_in_both_formats({"qwen3 without q_norm", [](TinyModel& m) { m.tensors.erase(layer(0, "self_attn.q_norm.weight")); },
                                   {"$DIR/config.json", "model.layers.0.self_attn.q_norm.weight", "qwen3"}},
                                  "qwen3");
}

TEST(ConfigTensor, MalformedConfigFields) {
  const std::vector<Case> cases = {
      {"rope_scaling is a string", [](TinyModel& m) { m.config["rope_scaling"] = "yes"; },
       {"$DIR/config.json", "'rope_scaling'", "object", "\"yes\""}},
      {"rope_scaling is a number", [](TinyModel& m) { m.config["rope_scaling"] = 2; },
       {"$DIR/config.json", "'rope_scaling'", "object"}},
      {"rope_scaling of an unknown type", [](TinyModel& m) { m.config["rope_scaling"] = {{"rope_type", "warp"}, {"factor", 2}}; },
       {"$DIR/config.json", "rope_scaling.rope_type", "'warp'"}},
      {"rope_scaling type not a string", [](TinyModel& m) { m.config["rope_scaling"] = {{"type", 3}, {"factor", 2}}; },
       {"$DIR/config.json", "rope_scaling.type", "string"}},
      {"linear rope_scaling without factor", [](TinyModel& m) { m.config["rope_scaling"] = {{"rope_type", "linear"}}; },
       {"$DIR/config.json", "rope_scaling.factor", "missing"}},
      {"llama3 rope_scaling without low_freq_factor",
       [](TinyModel& m) {
         m.config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}, {"high_freq_factor", 4},
                                     {"original_max_position_embeddings", 64}};
       },
       {"$DIR/config.json", "rope_scaling.low_freq_factor", "missing"}},
      {"rope_parameters not an object", [](TinyModel& m) { m.config["rope_parameters"] = json::array({1, 2}); },
       {"$DIR/config.json", "'rope_parameters'", "object"}},
      {"attention_bias not a boolean", [](TinyModel& m) { m.config["attention_bias"] = "no"; },
       {"$DIR/config.json", "'attention_bias'", "true or false"}},
      {"hidden_act not silu", [](TinyModel& m) { m.config["hidden_act"] = "gelu"; },
       {"$DIR/config.json", "'hidden_act'", "silu"}},
      {"sliding_window not an integer", [](TinyModel& m) { m.config["sliding_window"] = "wide"; },
       {"$DIR/config.json", "'sliding_window'"}},
      {"partial rotary embeddings", [](TinyModel& m) { m.config["partial_rotary_factor"] = 0.5; },
       {"$DIR/config.json", "'partial_rotary_factor'"}},
  };
  for (const auto& c : cases) expect_rejected_in_both_formats(c);
}

// A consistent model still quantizes in both formats, for each Llama-family variant; a null
// rope_scaling counts as absent.
TEST(ConfigTensor, ConsistentModelsQuantize) {
  for (const std::string type : {"llama", "qwen2", "qwen3"}) {
    TempDir tmp("cfg-ok");
    TinyModel m = tiny(type);
    m.config["rope_scaling"] = nullptr;
    if (type == "qwen3") {  // tied: no lm_head
      m.config["tie_word_embeddings"] = true;
      m.tensors.erase("lm_head.weight");
    }
    if (type == "llama") m.config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
    write(tmp / "model", m);
    const auto mlx = run_ramq(mlx_args(tmp / "model", tmp / "out-mlx"));
    EXPECT_EQ(mlx.status, 0) << type << ": " << mlx.err;
    EXPECT_TRUE(fs::exists(tmp / "out-mlx" / "model.safetensors")) << type;
    const auto gguf = run_ramq(gguf_args(tmp / "model", tmp / "out.gguf"));
    EXPECT_EQ(gguf.status, 0) << type << ": " << gguf.err;
    EXPECT_TRUE(fs::exists(tmp / "out.gguf")) << type;
  }
}

// A model_type ramq does not know is passed through to MLX as it is: its own layer count and
// tensor names are not held against the Llama layout. Only what holds for every config is checked.
TEST(ConfigTensor, UnknownModelTypePassesThroughToMlx) {
  TempDir tmp("cfg-unknown");
  TinyModel m = tiny();
  m.config["model_type"] = "mystery";
  m.config["architectures"] = {"MysteryForCausalLM"};
  m.config["num_hidden_layers"] = 1;                           // the checkpoint has two
  m.tensors["model.layers.0.mixer.in_proj.weight"] = {kHidden, kHidden};  // no Llama role
  m.tensors.erase("lm_head.weight");                           // untied, yet no lm_head
  m.config["rope_scaling"] = {{"rope_type", "longrope"}};      // not a Llama type, still an object
  write(tmp / "model", m);
  const auto r = run_ramq(mlx_args(tmp / "model", tmp / "out"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp / "out" / "model.safetensors"));

  expect_clean_failure({"unknown model_type, rope_scaling not an object",
                        [](const fs::path& dir) {
                          TinyModel u = tiny();
                          u.config["model_type"] = "mystery";
                          u.config["rope_scaling"] = "yes";
                          write(dir, u);
                        },
                        {"$DIR/config.json", "'rope_scaling'", "object"},
                        mlx_args});
}
