// GGUF HOOK: placeholder for the GGUF weight source (see the contract in evaluate/weights.h).
// The owner of the GGUF reader replaces this file's body with the real implementation; the
// evaluate stage already dispatches every "*.gguf" path here (load_language_model).
#include "evaluate/weights.h"

#include "ramq/error.h"

namespace ramq::eval {

std::unique_ptr<WeightSource> open_gguf_weights(const std::filesystem::path& gguf_file) {
  throw Error(gguf_file.string(), "", "GGUF evaluation not available yet");
}

}  // namespace ramq::eval
