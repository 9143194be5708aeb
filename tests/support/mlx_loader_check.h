// Test support: mlx_lm's loading rules applied to an MLX output directory, without Python.
//
// What mlx_lm.load (mlx_lm/utils.py load_model) does with a directory, step by step, and where
// each rule comes from (mlx-lm d78bf58e, mlx 846d1762):
//  1. weights = every "model*.safetensors" file (utils.py load_model, lines 336-343);
//  2. model = Model(ModelArgs.from_dict(config)) (lines 361-370): the modules of the family's
//     model class, mlx_lm/models/<family>.py (see mlx_moe_modules in mlx_loader_check.cpp);
//  3. weights = model.sanitize(weights) (line 372-373): <family>.py Model.sanitize (the hybrid
//     families qwen3_next, qwen3_5, qwen3_5_moe: mlx_loader_hybrid.cpp);
//  4. nn.quantize(model, group_size, bits, class_predicate) with config["quantization"]'s
//     default (utils.py lines 375-393; mlx python/mlx/nn/layers/quantized.py quantize, lines
//     72-100): a leaf module whose path is a key of config["quantization"] gets that entry's
//     parameters; else a module with to_quantized (Linear, Embedding, SwitchLinear) is quantized
//     iff "<path>.scales" is among the weights, with the default;
//  5. model.load_weights(weights, strict=True) (utils.py line 445; mlx python/mlx/nn/layers/
//     base.py Module.load_weights, lines 179-203): no weight without a parameter, no parameter
//     without a weight, equal shapes.
// Beyond mlx_lm (what mlx's kernels need): a quantized weight is uint32 and its scales/biases
// are floats; every override key names a quantizable module (mlx_lm.convert writes no other:
// utils.py quantize_model's wrapped_predicate, line 876).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ramq::testkit {

struct MlxArray {
  std::string dtype;  // safetensors dtype: "U32", "F16", "BF16", "F32"
  std::vector<std::int64_t> shape;
  std::string bytes;
};

// One leaf module of the mlx_lm model and what nn.quantize made of it.
struct MlxModule {
  // Conv1d: mlx nn.Conv1d, weight [out, kernel, in / groups], not quantizable. Parameter: a bare
  // mx.array attribute (A_log, dt_bias), stored under the module path itself (no ".weight").
  enum class Kind { Linear, Embedding, RMSNorm, SwitchLinear, Conv1d, Parameter };
  Kind kind = Kind::Linear;
  std::vector<std::int64_t> weight_shape;  // float shape: [out, in], [vocab, dims], [dims], [E, out, in]
  bool bias = false;
  bool quantized = false;
  int bits = 0, group = 0;
};

struct MlxLoaded {
  nlohmann::json config;
  std::map<std::string, MlxModule> modules;  // by module path ("model.layers.0.mlp.switch_mlp.up_proj")
  std::map<std::string, MlxArray> weights;   // after sanitize(), by parameter path
};

// Loads `dir` as mlx_lm would. `violation` (if not null) receives the first violated rule, ""
// when mlx_lm would load the directory; the returned weights are valid only then.
MlxLoaded mlx_load(const std::filesystem::path& dir, std::string* violation);

// The float weight of a module ("<path>.weight"), dequantized when quantized: mlx/ops.cpp
// affine_dequantize (lines 5248-5335, its fallback 5294-5323): codes unpacked least significant
// bit first from the uint32 words, w = scales * q + biases per group of `group` elements along
// the last axis, here in float32 (MLX rounds the result to the scales' dtype).
std::vector<float> mlx_module_weight(const MlxLoaded& m, const std::string& module_path);

// Floats of an F32/F16/BF16 array (little-endian).
std::vector<float> mlx_floats(const MlxArray& a);

}  // namespace ramq::testkit
