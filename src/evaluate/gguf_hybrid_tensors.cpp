// Hybrid families' GGUF tensors in their Hugging Face form (evaluate/gguf_hybrid_tensors.h).
#include "evaluate/gguf_hybrid_tensors.h"

#include <numeric>

#include "ramq/config_fields.h"
#include "ramq/family_config.h"

namespace ramq::eval {

namespace {

bool ends_with(const std::string& s, std::string_view tail) { return s.ends_with(tail); }

// Identity over n entries, except the value heads from `base` on (nv heads of `width` entries
// each): Hugging Face head g * r + j reads stored head j * nk + g.
std::vector<std::int64_t> untile(std::int64_t n, std::int64_t base, std::int64_t nk, std::int64_t nv,
                                 std::int64_t width) {
  if (base + nv * width != n) return {};  // a malformed shape, which the shape check reports
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  const std::int64_t r = nv / nk;
  for (std::int64_t h = 0; h < nv; ++h) {
    const std::int64_t stored = (h % r) * nk + h / r;
    for (std::int64_t e = 0; e < width; ++e) perm[static_cast<std::size_t>(base + h * width + e)] = base + stored * width + e;
  }
  return perm;
}

}  // namespace

std::optional<std::string> hybrid_gguf_alias(const ModelFamily& family, const std::string& gguf_name) {
  const TensorNames& t = *family.names;
  std::string_view s = gguf_name;
  if (!s.starts_with(t.gguf_layer_prefix)) return std::nullopt;
  s.remove_prefix(t.gguf_layer_prefix.size());
  const auto n = take_layer_index(s);
  if (!n) return std::nullopt;
  const std::string p = std::string(t.hf_layer_prefix) + std::to_string(*n) + ".";
  if (s == "attn_qkv.weight") return p + "linear_attn.in_proj_qkv.weight";
  if (s == "attn_gate.weight") return p + "linear_attn.in_proj_z.weight";
  if (s == "ffn_gate_exps.weight") return p + "mlp.experts.*.gate_proj.weight";
  if (s == "ffn_up_exps.weight") return p + "mlp.experts.*.up_proj.weight";
  if (s == "ffn_down_exps.weight") return p + "mlp.experts.*.down_proj.weight";
  // llama.cpp's alternative to ffn_gate_exps + ffn_up_exps (create_tensor_gate_up_exps):
  // {hidden, 2 x expert_ff, experts}, each expert's rows [gate; up] as transformers' gate_up_proj.
  if (s == "ffn_gate_up_exps.weight") return p + "mlp.experts.gate_up_proj";
  return std::nullopt;
}

HybridTensorView hybrid_tensor_view(const ModelFamily& family, const ModelConfig& config, const std::string& hf_name,
                                    std::int64_t rows, std::int64_t cols) {
  HybridTensorView v;
  const bool norm = ends_with(hf_name, "layernorm.weight") || ends_with(hf_name, "self_attn.q_norm.weight") ||
                    ends_with(hf_name, "self_attn.k_norm.weight") || hf_name == family.names->global[1].hf;
  if (norm) v.values = StoredValues::PlusOne;
  const auto at = hf_name.find("linear_attn.");
  if (at == std::string::npos) return v;
  const std::string s = hf_name.substr(at + 12);
  const LinearAttentionFields la = read_linear_attention_fields(ConfigFields(config.raw, "config.json"), config);
  if (s == "A_log") v.values = StoredValues::NegatedExp;
  if (s == "conv1d.weight") v.shape = {rows, 1, cols};
  // llama.cpp's qwen35 graph pairs value head h with key head h % nk; its converter re-tiles.
  const bool tiled = family.gguf_architecture != "qwen3next" && la.key_heads != la.value_heads;
  if (!tiled) return v;
  const std::int64_t nk = la.key_heads, nv = la.value_heads, dv = la.value_head_dim, ck = la.key_dim();
  if (s == "in_proj_qkv.weight" || s == "conv1d.weight") v.row_perm = untile(rows, 2 * ck, nk, nv, dv);
  if (s == "in_proj_z.weight") v.row_perm = untile(rows, 0, nk, nv, dv);
  if (s == "in_proj_b.weight" || s == "in_proj_a.weight") v.row_perm = untile(rows, 0, nk, nv, 1);
  if (s == "A_log" || s == "dt_bias") v.col_perm = untile(cols, 0, nk, nv, 1);
  if (s == "out_proj.weight") v.col_perm = untile(cols, 0, nk, nv, dv);
  return v;
}

}  // namespace ramq::eval
