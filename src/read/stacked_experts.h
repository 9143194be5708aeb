// read, internal: routed experts that a checkpoint stores stacked, one 3-D tensor per projection
// (transformers 5's layout for Mixtral, Qwen2/3-MoE, DeepSeek, OLMoE, Qwen3.5: see its
// conversion_mapping), read as the per-expert tensors of the layout before it, so that every
// later stage sees one layout:
//   "<p>.experts.gate_up_proj" [E, 2I, H] -> "<p>.experts.<e>.gate_proj.weight" [I, H] (rows 0..I-1
//                                            of expert e) and "<p>.experts.<e>.up_proj.weight"
//                                            (rows I..2I-1);
//   "<p>.experts.{gate,up,down}_proj" [E, out, in] -> "<p>.experts.<e>.{gate,up,down}_proj.weight";
// each with or without a ".weight" suffix. Each expert's rows are contiguous in the file, so the
// per-expert tensors are byte ranges of the stored one: nothing is copied or converted. Stacks
// stored [E, in, out] (the transpose) cannot be told from [E, out, in] here: the shapes
// config.json implies do that (config_check), and the message names the stored tensor.
// Block-scaled stacks (FP8 with weight_scale_inv, MXFP4 _blocks/_scales) are left whole.
#pragma once

#include <vector>

#include "ramq/safetensors.h"

namespace ramq {

// The model types whose stacks transformers 5 stores [E, out, in] and ramq reads per expert
// (mixtral, qwen2_moe, qwen3_moe). Other types keep their 3-D stacks as they are: gpt-oss and
// Llama 4, for one, store theirs [E, in, out].
bool splits_stacked_experts(const std::string& model_type);

// Replaces every stacked expert tensor of `tensors` by its per-expert views (stored_as names the
// original). Throws Error(file, name, ...) for a fused gate_up_proj with an odd row count, or a
// view whose name is already a stored tensor.
void split_stacked_experts(std::vector<TensorInfo>& tensors);

}  // namespace ramq
