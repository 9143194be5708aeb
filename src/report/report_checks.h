// Type checks of the JSON files a report reads but no other stage parses: the object `ramq eval
// --json` prints and ramq-manifest.json. A field of the wrong type is an error naming the file
// and the field (ramq::Error), never silently left out of the page.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ramq::report {

// ppl, median_window_ppl, mean_nll (numbers) and tokens, windows, scored_tokens (integers) are
// required; mean_kld, median_kld, top1_agreement, ppl_reference, ppl_ratio (numbers), ctx
// (integer), model, reference, token_file (strings) are checked when present.
void check_eval_json(const nlohmann::json& j, const std::string& file);

// "kind" must be "ramq-manifest"; every other field ramq writes is checked when present
// (strings, file digests {file, bytes, sha256}, the plan summary, the per-tensor decisions and
// their scores).
void check_manifest_json(const nlohmann::json& j, const std::string& file);

}  // namespace ramq::report
