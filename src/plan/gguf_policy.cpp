// plan stage in GGUF terms: bit classes -> ggml types, block fallbacks, and the llama-mix
// policy that reproduces llama.cpp's per-tensor rules (src/llama-quant.cpp,
// llama_tensor_get_type_impl, read in ggml-org/llama.cpp's current source; the test suite checks
// them against llama_model_quantize of the v0.5.0 libraries tests/peer ships) for dense
// Llama-family models, dense and mixtures of experts. For the five mixes offered none of
// llama.cpp's n_gqa-based rules applies (those are for Q2_K, Q2_K_S, IQ3_* and IQ4_* only), nor
// its Falcon rules; its 8-expert rules do (eight_expert_rule). Expert tensors take their
// layer's rule (llama.cpp parses the layer from a MoE model's tensor names), so all experts of
// one projection get one type.
#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "ramq/config_fields.h"
#include "ramq/family_config.h"
#include "ramq/gguf_names.h"
#include "ramq/module_weight.h"
#include "ramq/model_family.h"
#include "ramq/tensor_role.h"
#include "ramq/error.h"
#include "ramq/plan.h"

namespace ramq {

GgmlType gguf_type_for_bits(int bits) {
  switch (bits) {
    case 2: return GgmlType::Q2_K;
    case 3: return GgmlType::Q3_K;
    case 4: return GgmlType::Q4_K;
    case 5: return GgmlType::Q5_K;
    case 6: return GgmlType::Q6_K;
    case 8: return GgmlType::Q8_0;
    default: return GgmlType::F16;
  }
}

namespace {
bool fits(GgmlType t, std::int64_t cols) { return cols % ggml_type_info(t).block_size == 0; }
}  // namespace

GgmlType gguf_fallback(GgmlType wanted, std::int64_t cols) {
  if (fits(wanted, cols)) return wanted;
  const double want_bpw = ggml_bits_per_weight(wanted);
  // The type table's fallbacks in their order (32-element block types by bits per weight; IQ4_NL
  // before Q4_0: same size, lower error).
  std::vector<const GgmlTypeInfo*> fallbacks;
  for (const auto& info : ggml_types())
    if (info.fallback_order > 0) fallbacks.push_back(&info);
  std::sort(fallbacks.begin(), fallbacks.end(), [](auto* a, auto* b) { return a->fallback_order < b->fallback_order; });
  for (const GgmlTypeInfo* t : fallbacks)
    if (ggml_bits_per_weight(t->type) >= want_bpw && fits(t->type, cols)) return t->type;
  return GgmlType::F16;
}

GgmlType llama_cpp_fallback(GgmlType wanted, std::int64_t cols) {
  if (fits(wanted, cols)) return wanted;
  GgmlType t = GgmlType::F16;
  switch (wanted) {
    case GgmlType::Q2_K: case GgmlType::Q3_K: t = GgmlType::Q4_0; break;
    case GgmlType::Q4_K: t = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: t = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: t = GgmlType::Q8_0; break;
    default: break;
  }
  return fits(t, cols) ? t : GgmlType::F16;
}

GgmlType gguf_float_type(const TensorAnalysis& t, bool keep_dtype) {
  // Routers stay F32, as llama.cpp's converter writes ffn_gate_inp and its quantizer keeps it.
  if (t.shape.size() < 2 || classify_tensor(t.name).role == TensorRole::Router) return GgmlType::F32;
  if (keep_dtype) return t.dtype == "F32" ? GgmlType::F32 : t.dtype == "BF16" ? GgmlType::BF16 : GgmlType::F16;
  return GgmlType::F16;
}

bool is_llama_mix(const std::string& mix) {
  return mix == "Q3_K_M" || mix == "Q4_K_M" || mix == "Q5_K_M" || mix == "Q6_K" || mix == "Q8_0";
}

namespace {

std::int64_t row_length(const TensorDecision& d) { return d.shape.empty() ? 0 : d.shape.back(); }

std::string fallback_note(GgmlType wanted, GgmlType got, std::int64_t cols) {
  if (wanted == got) return "";
  return "; rows of " + std::to_string(cols) + " do not fit " + std::string(ggml_type_info(wanted).name) + "'s " +
         std::to_string(ggml_type_info(wanted).block_size) + "-element blocks: " + std::string(ggml_type_info(got).name);
}

GgmlType float_type(const TensorAnalysis& t, bool keep_dtype) { return gguf_float_type(t, keep_dtype); }

void set_type(TensorDecision& d, GgmlType t) {
  d.encoding = Encoding::ggml(t);
  d.bytes = d.shape.empty() ? 0 : d.encoding.bytes(d.shape, DType::F32, false);
}

// llama.cpp's tensor roles (those its rules name), from the one classifier (arch/tensor_role.h).
enum class Role { TokenEmbd, Output, AttnQ, AttnK, AttnV, AttnOut, FfnUp, FfnGate, FfnDown, Other };

// llama.cpp's categories are substrings of the GGUF name: a fused linear-attention "attn_qkv"
// (Qwen3.5's in_proj_qkv) is ATTENTION_QKV, which its rules treat as attn_v
// (category_is_attn_v), unlike Qwen3-Next's "ssm_in" (in_proj_qkvz): OTHER.
Role role_of(const ModelFamily* family, const std::string& n) {
  const TensorRole role = classify_tensor(n).role;
  if (role == TensorRole::LinearQkv && family != nullptr &&
      hf_to_gguf_tensor_name(*family, n, "").ends_with(".attn_qkv.weight"))
    return Role::AttnV;
  switch (role) {
    case TensorRole::Embedding: return Role::TokenEmbd;
    case TensorRole::Head: return Role::Output;
    case TensorRole::AttnQ: return Role::AttnQ;
    case TensorRole::AttnK: return Role::AttnK;
    case TensorRole::AttnV: return Role::AttnV;
    // Phi-3's fused attn_qkv is ATTENTION_QKV, one of llama.cpp's attn_v categories (its own
    // ATTENTION_QKV rule comes after the attn_v branch and is never reached); its fused
    // gate_up_proj is written as ffn_up.
    case TensorRole::AttnQkv: return Role::AttnV;
    case TensorRole::FfnGateUp: return Role::FfnUp;
    case TensorRole::AttnOut: return Role::AttnOut;
    case TensorRole::FfnUp: return Role::FfnUp;
    case TensorRole::FfnGate: return Role::FfnGate;
    case TensorRole::FfnDown: return Role::FfnDown;
    default: return Role::Other;
  }
}

int layer_of(const std::string& n) { return static_cast<int>(std::max<std::int64_t>(0, classify_tensor(n).layer)); }

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third in between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// llama.cpp's LLM_TYPE_70B, the only model size its quantization rules look at, decided by
// llama.cpp from the architecture and hyper-parameters (the family's llama_cpp_70b, src/arch/).
bool llama_cpp_type_70b(const ModelConfig& c) {
  const ModelFamily* family = find_family(c.model_type);
  return family != nullptr && family->llama_cpp_70b != nullptr && family->llama_cpp_70b(c);
}

GgmlType mix_default(const std::string& mix) {
  if (mix == "Q3_K_M") return GgmlType::Q3_K;
  if (mix == "Q4_K_M") return GgmlType::Q4_K;
  if (mix == "Q5_K_M") return GgmlType::Q5_K;
  if (mix == "Q6_K") return GgmlType::Q6_K;
  return GgmlType::Q8_0;
}

// attn_v in llama.cpp: the mix's own rule, then the 70B promotion (Q3_K/Q4_K -> Q5_K: "8 heads
// share the same attn_v weights", so the tensor is small and more bits are cheap).
GgmlType attn_v_rule(const std::string& mix, int layer, int n_layers, bool is_70b, std::string& why) {
  char buf[160];
  GgmlType t = mix_default(mix);
  if (mix == "Q3_K_M") {
    t = layer < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    std::snprintf(buf, sizeof buf, "attn_v %d of %d: %s", layer, n_layers, layer < 2 ? "Q5_K (first two)" : "Q4_K");
  } else if ((mix == "Q4_K_M" || mix == "Q5_K_M") && use_more_bits(layer, n_layers)) {
    t = GgmlType::Q6_K;
    std::snprintf(buf, sizeof buf, "attn_v in a use_more_bits layer (%d of %d): Q6_K", layer, n_layers);
  } else {
    std::snprintf(buf, sizeof buf, "attn_v %d of %d: default type of %s", layer, n_layers, mix.c_str());
  }
  why = buf;
  if (is_70b && (t == GgmlType::Q3_K || t == GgmlType::Q4_K)) {
    t = GgmlType::Q5_K;
    why += "; llama.cpp's 70B model type (80 layers): Q5_K";
  }
  return t;
}

// llama.cpp's hparams.n_expert: the routed experts per layer (0 for a dense model).
std::int64_t llama_cpp_expert_count(const ModelConfig& c) {
  const ModelFamily* family = find_family(c.model_type);
  if (family == nullptr || family->moe == nullptr) return 0;
  return read_moe_fields(ConfigFields(c.raw, "config.json"), *family->moe).experts;
}

// What llama_tensor_get_type_impl does for a model of exactly 8 experts (Mixtral), after its
// other rules: attn_v and attn_k at Q8_0 ("for the 8-expert model, bumping this to Q8_0 trades
// just ~128MB"), attn_output at Q5_K for the Q3_K_M and Q4_K_M mixes.
GgmlType eight_expert_rule(const std::string& mix, Role role, GgmlType t, std::string& why) {
  if (role == Role::AttnV || role == Role::AttnK) {
    why += "; 8 experts: Q8_0";
    return GgmlType::Q8_0;
  }
  if (role == Role::AttnOut && (mix == "Q3_K_M" || mix == "Q4_K_M")) {
    why = "attn_output of an 8-expert model: Q5_K";
    return GgmlType::Q5_K;
  }
  return t;
}

// The rule of llama_tensor_get_type for one tensor other than attn_v (attn_v_rule) of a
// non-Falcon model (dense, or MoE without the 8-expert rules).
GgmlType mix_rule(const std::string& mix, Role role, int layer, int n_layers, bool tied, std::int64_t cols,
                  std::string& why) {
  const GgmlType def = mix_default(mix);
  char buf[160];
  if (role == Role::Output || (tied && role == Role::TokenEmbd)) {
    if (cols % ggml_type_info(def).block_size != 0) {
      why = "output/tied embedding: row length not a multiple of the block: Q8_0";
      return GgmlType::Q8_0;
    }
    if (def != GgmlType::Q8_0) {
      why = "output/tied embedding: Q6_K";
      return GgmlType::Q6_K;
    }
    why = "output/tied embedding: Q8_0";
    return def;
  }
  if (role == Role::FfnDown) {
    if (mix == "Q3_K_M") {
      std::snprintf(buf, sizeof buf, "ffn_down layer %d of %d: %s", layer, n_layers, layer < n_layers / 16 ? "Q5_K" : "Q4_K");
      why = buf;
      return layer < n_layers / 16 ? GgmlType::Q5_K : GgmlType::Q4_K;
    }
    if ((mix == "Q4_K_M" || mix == "Q5_K_M") && use_more_bits(layer, n_layers)) {
      std::snprintf(buf, sizeof buf, "ffn_down in a use_more_bits layer (%d of %d): Q6_K", layer, n_layers);
      why = buf;
      return GgmlType::Q6_K;
    }
  }
  if (role == Role::AttnOut && mix == "Q3_K_M") {
    why = "attn_output: Q4_K";
    return GgmlType::Q4_K;
  }
  why = "default type of " + mix;
  return def;
}

}  // namespace

void assign_gguf_types(Plan& p, const ModelAnalysis& analysis, bool keep_dtype) {
  p.format = OutputFormat::Gguf;
  std::map<std::string, const TensorAnalysis*> by_name;
  for (const auto& x : analysis.tensors) by_name[x.name] = &x;
  for (auto& d : p.tensors) {
    const auto it = by_name.find(d.name);
    if (it == by_name.end()) throw Error("", d.name, "tensor missing from the analysis");
    const TensorAnalysis* t = it->second;
    if (!d.quantized()) {
      set_type(d, float_type(*t, keep_dtype));
      continue;
    }
    const GgmlType want = gguf_type_for_bits(d.bits());
    const GgmlType got = gguf_fallback(want, row_length(d));
    d.reason += fallback_note(want, got, row_length(d));
    set_type(d, got == GgmlType::F16 ? float_type(*t, keep_dtype) : got);
  }
  finalize_plan_totals(p);
}

Plan make_llama_mix_plan(const ModelAnalysis& analysis, const LlamaMixOptions& opt, bool keep_dtype) {
  if (!is_llama_mix(opt.mix))
    throw Error("", "", "unknown llama.cpp mix '" + opt.mix + "' (expected Q3_K_M, Q4_K_M, Q5_K_M, Q6_K or Q8_0)");
  Plan p;
  p.format = OutputFormat::Gguf;
  p.policy = PolicyKind::LlamaMix;
  p.mix = opt.mix;
  p.keep_dtype = keep_dtype;
  bool tied = true;
  for (const auto& t : analysis.tensors)
    if (classify_tensor(t.name).role == TensorRole::Head) tied = false;
  const int n_layers = static_cast<int>(std::max<std::int64_t>(1, analysis.config.num_hidden_layers));
  const bool is_70b = llama_cpp_type_70b(analysis.config);
  const bool eight_experts = llama_cpp_expert_count(analysis.config) == 8;
  const ModelFamily* family = find_family(analysis.config.model_type);
  // llama.cpp counts attn_v-like tensors in file order (i_attention_wv of n_attention_wv): by layer.
  std::vector<std::pair<int, std::string>> attn_v;
  for (const auto& t : analysis.tensors)
    if (is_module_weight(t.name) && role_of(family, t.name) == Role::AttnV) attn_v.emplace_back(layer_of(t.name), t.name);
  std::sort(attn_v.begin(), attn_v.end());
  const auto attn_v_index = [&](const std::string& name) {
    for (std::size_t i = 0; i < attn_v.size(); ++i)
      if (attn_v[i].second == name) return static_cast<int>(i);
    return 0;
  };
  for (const auto& t : analysis.tensors) {
    TensorDecision d;
    d.name = t.name;
    d.shape = t.shape;
    d.numel = t.numel;
    const bool float_dtype = t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16";
    const bool allowed = float_dtype && (t.shape.size() == 2 || t.shape.size() == 3) && is_module_weight(t.name) &&
                         !is_never_quantized(classify_tensor(t.name).role);
    if (!allowed) {
      set_type(d, float_type(t, keep_dtype));
      d.reason = "not quantized by llama.cpp (norm, router, 1-D or non-weight)";
    } else {
      std::string why;
      const Role role = role_of(family, t.name);
      GgmlType want = role == Role::AttnV
                          ? attn_v_rule(opt.mix, attn_v_index(t.name), static_cast<int>(attn_v.size()), is_70b, why)
                          : mix_rule(opt.mix, role, layer_of(t.name), n_layers, tied, t.shape.back(), why);
      if (eight_experts) want = eight_expert_rule(opt.mix, role, want, why);
      const GgmlType got = llama_cpp_fallback(want, t.shape.back());
      set_type(d, got);
      d.reason = "llama.cpp " + opt.mix + ": " + why + fallback_note(want, got, t.shape.back());
    }
    p.tensors.push_back(std::move(d));
  }
  std::sort(p.tensors.begin(), p.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  finalize_plan_totals(p);
  return p;
}

}  // namespace ramq
