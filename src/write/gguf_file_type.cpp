// general.file_type of a GGUF file ramq writes (write/gguf_llama_writer.h).
#include "write/gguf_llama_writer.h"

namespace ramq {

std::uint32_t llama_file_type(const std::map<GgmlType, std::int64_t>& params_by_type) {
  const auto ftype = [](GgmlType t) -> std::uint32_t {
    switch (t) {
      case GgmlType::F32: return 0;
      case GgmlType::F16: return 1;
      case GgmlType::Q4_0: return 2;
      case GgmlType::Q4_1: return 3;
      case GgmlType::Q8_0: return 7;
      case GgmlType::Q5_0: return 8;
      case GgmlType::Q5_1: return 9;
      case GgmlType::Q2_K: return 10;
      case GgmlType::Q3_K: return 12;  // MOSTLY_Q3_K_M
      case GgmlType::Q4_K: return 15;  // MOSTLY_Q4_K_M
      case GgmlType::Q5_K: return 17;  // MOSTLY_Q5_K_M
      case GgmlType::Q6_K: return 18;
      case GgmlType::IQ4_NL: return 25;
      case GgmlType::BF16: return 32;
    }
    return 0;
  };
  const auto is_float = [](GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; };
  for (const bool want_quant : {true, false}) {
    std::optional<GgmlType> best;
    std::int64_t best_n = 0;
    for (const auto& info : ggml_types()) {
      if (is_float(info.type) == want_quant) continue;
      const auto it = params_by_type.find(info.type);
      if (it != params_by_type.end() && it->second > best_n) best = info.type, best_n = it->second;
    }
    if (best) return ftype(*best);
  }
  return 0;
}

std::optional<std::uint32_t> llama_mix_file_type(const std::string& mix) {
  if (mix == "Q3_K_M") return 12;  // LLAMA_FTYPE_MOSTLY_Q3_K_M
  if (mix == "Q4_K_M") return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  if (mix == "Q5_K_M") return 17;  // LLAMA_FTYPE_MOSTLY_Q5_K_M
  if (mix == "Q6_K") return 18;    // LLAMA_FTYPE_MOSTLY_Q6_K
  if (mix == "Q8_0") return 7;     // LLAMA_FTYPE_MOSTLY_Q8_0
  return std::nullopt;
}

}  // namespace ramq
