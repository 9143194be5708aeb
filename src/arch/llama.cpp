// The llama family: Hugging Face model_type "llama" and "mistral" (the same decoder), llama.cpp
// architecture "llama". convert_hf_to_gguf.py permutes q_proj/k_proj rows for it, and it alone
// takes Llama 3 rope scaling (as the rope_freqs.weight tensor).
#include "arch/dense_decoder.h"

namespace ramq {

namespace {

constexpr std::string_view kModelTypes[] = {"llama", "mistral"};

}  // namespace

ModelFamily llama_family() {
  ModelFamily f = dense_decoder_family("llama", kModelTypes, "llama", "LlamaForCausalLM");
  f.permute_qk = true;
  f.gguf_vocab_and_rope_keys = true;
  f.llama3_rope = true;
  // llama.cpp (src/models/llama.cpp, load_arch_hparams): 80 layers with grouped-query attention
  // (80 layers with n_head == n_head_kv is LLaMA-1 65B).
  f.llama_cpp_70b = [](const ModelConfig& c) {
    const std::int64_t kv = c.num_key_value_heads > 0 ? c.num_key_value_heads : c.num_attention_heads;
    return c.num_hidden_layers == 80 && c.num_attention_heads != kv;
  };
  return f;
}

}  // namespace ramq
