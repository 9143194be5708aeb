// A run's settings, split into what each stage takes.
#include "ramq/options.h"

namespace ramq {

AnalysisOptions Options::analysis_options() const {
  AnalysisOptions a;
  a.threads = threads;
  a.seed = seed;
  a.metrics = metrics;
  a.swan_metrics = swan_metrics;
  a.rd = rd;
  a.hash_inputs = hash_inputs;
  a.mlx_encoder = mlx_encoder;
  a.progress = progress;
  return a;
}

PlanOptions Options::plan_options() const {
  PlanOptions p;
  p.format = format;
  p.keep_dtype = keep_dtype;
  p.strict_groups = strict_groups;
  switch (policy) {
    case PolicyKind::Swan: p.policy = swan; break;
    case PolicyKind::Uniform: p.policy = uniform; break;
    case PolicyKind::LlamaMix: p.policy = LlamaMixOptions{mix}; break;
    case PolicyKind::Budget: {
      BudgetPolicyOptions b = budget;
      b.probed = probe.mode == ProbeMode::Self;
      p.policy = b;
      break;
    }
  }
  return p;
}

WriteOptions Options::write_options() const {
  WriteOptions w;
  w.threads = threads;
  w.mlx_encoder = mlx_encoder;
  w.max_shard_bytes = max_shard_bytes;
  w.gguf_pre = gguf_pre;
  w.progress = progress;
  return w;
}

}  // namespace ramq
