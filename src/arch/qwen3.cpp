// The qwen3 family: Hugging Face model_type "qwen3", llama.cpp architecture "qwen3": the llama
// layout with q_norm/k_norm (RMS norms over each head) in every layer and no q/k permutation;
// sliding_window applies only with use_sliding_window. llama.cpp has no 70B size for it.
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"qwen3"};

}  // namespace

ModelFamily qwen3_family() {
  ModelFamily f = dense_decoder_family("qwen3", kModelTypes, "qwen3", "Qwen3ForCausalLM");
  f.qk_norm = true;
  f.sliding_window_flag = true;
  return f;
}

}  // namespace ramq
