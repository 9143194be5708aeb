// The qwen2 family: Hugging Face model_type "qwen2", llama.cpp architecture "qwen2": the llama
// layout with q/k/v biases in every layer and no q/k permutation; sliding_window applies only
// with use_sliding_window.
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"qwen2"};

}  // namespace

ModelFamily qwen2_family() {
  ModelFamily f = dense_decoder_family("qwen2", kModelTypes, "qwen2", "Qwen2ForCausalLM");
  f.qkv_bias = true;
  f.sliding_window_flag = true;
  // llama.cpp (src/models/qwen2.cpp, load_arch_hparams): 80 layers.
  f.llama_cpp_70b = [](const ModelConfig& c) { return c.num_hidden_layers == 80; };
  return f;
}

}  // namespace ramq
