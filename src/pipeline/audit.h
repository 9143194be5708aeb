// pipeline, internal: what quantize() records in the audit manifest (include/ramq/manifest.h).
#pragma once

#include "ramq/manifest.h"
#include "ramq/ramq.h"

#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace ramq::pipeline {

// The files a manifest lists as inputs (names relative to the model directory, sorted): every
// file the model was read from and the tokenizer / generation files beside it that the writers
// copy or convert.
std::vector<std::string> audit_input_names(const ModelReader& model);

// Their digests, computed on a thread of their own from construction on, so that reading them
// overlaps the analysis and the encoding. get() waits for them (and rethrows a hashing error).
class InputDigests {
 public:
  explicit InputDigests(const ModelReader& model);
  const std::vector<FileDigest>& get();

 private:
  std::vector<FileDigest> digests_;
  std::exception_ptr error_;
  std::jthread worker_;  // last: stopped (between files) and joined before the members above go
};

// The manifest context of a quantize run: command line, options, the input digests, the plan
// file and side outputs (--save-analysis, --save-plan: where their bytes are now, and the name
// given), the plan and the analysis. `result` must outlive the returned context.
ManifestContext audit_context(const QuantizeRequest& req, const Options& opt, const QuantizeResult& result,
                              InputDigests& inputs,
                              const std::vector<std::pair<std::filesystem::path, std::string>>& side_outputs);

}  // namespace ramq::pipeline
