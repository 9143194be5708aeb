// pipeline, internal: what quantize() records in the audit manifest (include/ramq/manifest.h).
#pragma once

#include "ramq/manifest.h"
#include "ramq/ramq.h"

namespace ramq::pipeline {

// The manifest context of a quantize run: command line, options, input file digests (the model's
// files and every tokenizer/generation file beside them, reusing the analysis's hashes), the plan
// file and side outputs (--save-analysis, --save-plan), the plan and the analysis. `result` must
// outlive the returned context.
ManifestContext audit_context(const QuantizeRequest& req, const Options& opt, const ModelReader& model,
                              const QuantizeResult& result);

}  // namespace ramq::pipeline
