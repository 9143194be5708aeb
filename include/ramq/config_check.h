// One check of config.json against the tensors, run before any output is written, whatever the
// format (src/read/config_check.cpp).
#pragma once

#include "ramq/safetensors.h"

namespace ramq {

// Throws ramq::Error naming config.json or the tensor's file, the tensor, and the disagreement.
void validate_config_against_tensors(const ModelReader& model);

}  // namespace ramq
