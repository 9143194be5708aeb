// general.file_type of a GGUF file ramq writes (write/gguf_llama_writer.h).
#include "write/gguf_llama_writer.h"

namespace ramq {

std::uint32_t llama_file_type(const std::map<GgmlType, std::int64_t>& params_by_type) {
  for (const bool want_quant : {true, false}) {
    std::optional<GgmlType> best;
    std::int64_t best_n = 0;
    for (const auto& info : ggml_types()) {
      if (info.is_float() == want_quant) continue;
      const auto it = params_by_type.find(info.type);
      if (it != params_by_type.end() && it->second > best_n) best = info.type, best_n = it->second;
    }
    if (best) return ggml_type_info(*best).file_type;
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
