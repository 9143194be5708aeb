// read, internal: routed experts that a checkpoint stores stacked, one 3-D tensor per projection
// (transformers 5's layout for Mixtral, Qwen2/3-MoE, DeepSeek, OLMoE, Qwen3.5: the inverse of its
// conversion_mapping.py), read as the per-expert tensors of the layout before it, so that every
// later stage sees one layout:
//   "<p>.experts.gate_up_proj" [E, 2I, H] -> "<p>.experts.<e>.gate_proj.weight" [I, H] (rows 0..I-1
//                                            of expert e) and "<p>.experts.<e>.up_proj.weight"
//                                            (rows I..2I-1);
//   "<p>.experts.{gate,up,down}_proj" [E, out, in] -> "<p>.experts.<e>.{gate,up,down}_proj.weight";
// each with or without a ".weight" suffix. Mixtral's stacks ("mlp.experts.*", router
// "mlp.gate.weight") become its per-expert names ("block_sparse_moe.experts.<e>.w1/w3/w2.weight",
// "block_sparse_moe.gate.weight").
//
// Orientation. A stack stored [E, in, out] (the transpose, x @ W as gpt-oss and Llama 4 compute)
// is told apart by config.json's hidden_size: gate and up take hidden_size inputs, down gives
// hidden_size outputs. Its experts are read column by column (SourceEncoding::Transposed); its
// fused gate_up is split into column halves [E, H, 2I] -> gate columns 0..I-1, up I..2I-1. Where
// both orientations fit (an expert size equal to hidden_size, or 2I for gate_up), the stack is
// read [E, out, in], transformers' layout.
//
// Block-scaled stacks (FP8 codes with weight_scale_inv [E, ceil(rows/br), ceil(cols/bc)], MXFP4
// _blocks/_scales) are split alike, [E, out, in] only; an expert's half of a fused gate_up that
// starts inside a block of FP8 scales keeps its phase (TensorInfo::block_row_phase).
//
// Every per-expert tensor is a byte range of the stored one: nothing is copied or converted here.
#pragma once

#include <vector>

#include "ramq/safetensors.h"

namespace ramq {

// Replaces the stacked expert tensors of `tensors` (sorted by name, block-scaled pairs already
// paired) by their per-expert views, for the model types whose stacks ramq reads (mixtral,
// qwen2_moe, qwen3_moe; other types keep their 3-D tensors as they are). stored_as names the
// stored tensor. Throws Error(file, name, ...) for a fused gate_up_proj with an odd row count, a
// block-scaled stack stored [E, in, out], or a view whose name is already a stored tensor.
void split_stacked_experts(std::vector<TensorInfo>& tensors, const ModelConfig& config);

}  // namespace ramq
