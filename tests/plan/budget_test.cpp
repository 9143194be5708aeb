// The budget policy: the solver against brute force, byte sizes, the sensitivity model's
// closed forms, and plans built from hand-made analyses (achieved size, infeasible budgets,
// experts sharing one encoding).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "ramq/budget.h"
#include "ramq/error.h"
#include "ramq/plan.h"
#include "ramq/options.h"
#include "ramq/rng.h"
#include "ramq/sensitivity.h"

using namespace ramq;

namespace {
std::uint64_t mlx_bytes(std::int64_t rows, std::int64_t cols, int bits, int group) {
  const std::vector<std::int64_t> shape = {rows, cols};
  return Encoding::mlx_affine(bits, group).bytes(shape, DType::F16, false);
}

// The least cost of any choice with total bytes <= budget, by enumerating every combination.
double brute_force(const std::vector<BudgetItem>& items, std::uint64_t budget) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::size_t> pick(items.size(), 0);
  for (;;) {
    std::uint64_t bytes = 0;
    double cost = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      bytes += items[i].options[pick[i]].bytes;
      cost += items[i].options[pick[i]].cost;
    }
    if (bytes <= budget) best = std::min(best, cost);
    std::size_t i = 0;
    while (i < items.size() && ++pick[i] == items[i].options.size()) pick[i++] = 0;
    if (i == items.size()) return best;
  }
}

std::vector<BudgetItem> random_items(Rng& rng, std::size_t n, std::size_t options) {
  std::vector<BudgetItem> items(n);
  for (auto& it : items) {
    for (std::size_t j = 0; j < options; ++j) {
      // bytes in multiples of 8 (like real encodings), costs falling roughly with bytes
      const std::uint64_t bytes = 8 * (1 + rng.next_u64() % 200);
      const double cost = 1000.0 / static_cast<double>(bytes) * (0.5 + rng.uniform());
      it.options.push_back({bytes, cost});
    }
  }
  return items;
}

TensorAnalysis tensor(const std::string& name, std::vector<std::int64_t> shape, std::vector<RdPoint> points,
                      double s = 0.3) {
  TensorAnalysis t;
  t.name = name;
  t.shape = shape;
  t.dtype = "BF16";
  t.numel = 1;
  for (auto d : shape) t.numel *= d;
  t.scored = true;
  t.raw = RawMetrics{};
  t.scores = SwanScores{s, s, s, s, s};
  TensorRd rd;
  rd.rows = t.numel / shape.back();
  rd.sampled_rows = rd.rows;
  rd.points = std::move(points);
  t.rd = rd;
  return t;
}

// MLX candidates of a rows x cols BF16 tensor with errors falling by 4x per bit (like rounding to
// a grid: error ~ 2^-2b), scaled by `e`.
std::vector<RdPoint> mlx_curve(std::int64_t rows, std::int64_t cols, double e) {
  std::vector<RdPoint> pts;
  RdPoint f;  // 16-bit copy: lossless for BF16 sources
  f.bytes = static_cast<std::uint64_t>(rows * cols * 2);
  pts.push_back(f);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64, 128}) {
      if (cols % group) continue;
      RdPoint p;
      p.encoding = Encoding::mlx_affine(bits, group);
      p.bytes = mlx_bytes(rows, cols, bits, group);
      p.rel_err = e * std::ldexp(1.0, -2 * bits) * (1.0 + group / 256.0);
      pts.push_back(p);
    }
  }
  return pts;
}

ModelAnalysis analysis_of(std::vector<TensorAnalysis> ts, std::int64_t layers, std::int64_t heads = 8,
                          std::int64_t kv_heads = 8) {
  ModelAnalysis a;
  a.config.num_hidden_layers = layers;
  a.config.num_attention_heads = heads;
  a.config.num_key_value_heads = kv_heads;
  for (auto& t : ts) a.total_params += t.numel;
  a.tensors = std::move(ts);
  a.rd_options = RdOptions{};
  return a;
}

}  // namespace

// ------------------------------------------------------------------ solver

TEST(BudgetSolver, ExactDynamicProgrammeMatchesBruteForce) {
  Rng rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const auto items = random_items(rng, 2 + trial % 4, 2 + trial % 3);
    std::uint64_t lo = 0, hi = 0;
    for (const auto& it : items) {
      std::uint64_t a = ~0ull, b = 0;
      for (const auto& o : it.options) a = std::min(a, o.bytes), b = std::max(b, o.bytes);
      lo += a;
      hi += b;
    }
    for (std::uint64_t budget = lo; budget <= hi + 16; budget += std::max<std::uint64_t>(1, (hi - lo) / 7)) {
      const BudgetSolution s = solve_budget(items, budget);
      ASSERT_TRUE(s.exact);
      EXPECT_LE(s.bytes, budget);
      EXPECT_NEAR(s.cost, brute_force(items, budget), 1e-9) << "trial " << trial << " budget " << budget;
      EXPECT_EQ(s.min_bytes, lo);
      EXPECT_EQ(s.max_bytes, hi);
    }
  }
}

// With few cells the programme rounds byte counts up: still feasible, and never worse than the
// optimum of a budget smaller by one cell per item (what the rounding can cost at most).
TEST(BudgetSolver, CoarseCellsStayFeasibleAndNearOptimal) {
  Rng rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const auto items = random_items(rng, 5, 3);
    std::uint64_t lo = 0;
    for (const auto& it : items) {
      std::uint64_t a = ~0ull;
      for (const auto& o : it.options) a = std::min(a, o.bytes);
      lo += a;
    }
    const std::uint64_t budget = lo + 600 + 37 * static_cast<std::uint64_t>(trial);
    const BudgetSolution s = solve_budget(items, budget, 16);
    EXPECT_FALSE(s.exact);
    EXPECT_LE(s.bytes, budget);
    const std::uint64_t slack = items.size() * s.cell_bytes;
    const double bound = budget >= lo + slack ? brute_force(items, budget - slack) : brute_force(items, lo);
    EXPECT_LE(s.cost, bound + 1e-9) << "trial " << trial;
    EXPECT_GE(s.cost, brute_force(items, budget) - 1e-9);
  }
}

TEST(BudgetSolver, DominatedOptionsAndTies) {
  // Option 1 costs more and takes more bytes than option 0: never chosen. Equal options: the lower index.
  std::vector<BudgetItem> items(2);
  items[0].options = {{100, 1.0}, {200, 2.0}, {300, 0.5}};
  items[1].options = {{50, 3.0}, {50, 3.0}};
  BudgetSolution s = solve_budget(items, 350);
  EXPECT_EQ(s.choice, (std::vector<std::size_t>{2, 0}));
  s = solve_budget(items, 349);
  EXPECT_EQ(s.choice, (std::vector<std::size_t>{0, 0}));
  EXPECT_THROW(solve_budget(std::vector<BudgetItem>(1), 10), std::invalid_argument);
}

TEST(BudgetSizes, ParseByteSize) {
  EXPECT_EQ(parse_byte_size("123456"), 123456u);
  EXPECT_EQ(parse_byte_size("4.2GB"), 4200000000u);
  EXPECT_EQ(parse_byte_size("300 MB"), 300000000u);
  EXPECT_EQ(parse_byte_size("512KiB"), 524288u);
  EXPECT_EQ(parse_byte_size("1.5gib"), 1610612736u);
  EXPECT_EQ(parse_byte_size("2TB"), 2000000000000u);
  for (const char* bad : {"", "GB", "1.2.3GB", "12 parsecs", "-5MB", "0", "1e3", "99999999999TB"})
    EXPECT_THROW(parse_byte_size(bad), Error) << bad;
}

// ------------------------------------------------------------------ sensitivity model

TEST(Sensitivity, ClosedFormsOfTheModel) {
  const SensitivityConstants& k = kSensitivity;
  SensitivityContext ctx;
  ctx.num_layers = 9;
  ctx.kv_share = 4;
  TensorAnalysis t;
  t.scores = SwanScores{0, 0, 0, 0, 0.5};
  auto w = [&](const std::string& name) {
    t.name = name;
    return tensor_sensitivity(t, ctx).weight;
  };
  const double swan = 1.0;  // the SWAN score (0.5 here) does not enter the weight
  // depth: linear from depth_first (layer 0) to depth_last (layer 8)
  EXPECT_DOUBLE_EQ(w("model.layers.0.mlp.up_proj.weight"), k.ffn_up * k.depth_first * swan);
  EXPECT_DOUBLE_EQ(w("model.layers.8.mlp.up_proj.weight"), k.ffn_up * k.depth_last * swan);
  EXPECT_DOUBLE_EQ(w("model.layers.4.mlp.down_proj.weight"), k.ffn_down * (k.depth_first + k.depth_last) / 2 * swan);
  // k and v serve kv_share query heads
  EXPECT_DOUBLE_EQ(w("model.layers.0.self_attn.k_proj.weight"), k.attn_k * 4 * k.depth_first * swan);
  EXPECT_DOUBLE_EQ(w("model.layers.0.self_attn.v_proj.weight"), k.attn_v * 4 * k.depth_first * swan);
  EXPECT_DOUBLE_EQ(w("model.layers.0.self_attn.q_proj.weight"), k.attn_q * k.depth_first * swan);
  // outside the layers: no depth factor; tied embeddings count as embedding and head
  EXPECT_DOUBLE_EQ(w("lm_head.weight"), k.head * swan);
  EXPECT_DOUBLE_EQ(w("model.embed_tokens.weight"), k.embedding * swan);
  ctx.tied_embeddings = true;
  EXPECT_DOUBLE_EQ(w("model.embed_tokens.weight"), (k.embedding + k.head) * swan);
  // routed experts are discounted, shared experts are not
  EXPECT_DOUBLE_EQ(w("model.layers.0.mlp.experts.3.down_proj.weight"), k.ffn_down * k.depth_first * k.routed_expert * swan);
  EXPECT_DOUBLE_EQ(w("model.layers.0.mlp.shared_expert.down_proj.weight"), k.ffn_down * k.depth_first * swan);
  EXPECT_EQ(tensor_role("model.layers.0.mlp.gate.weight", false), TensorRole::Router);
  EXPECT_EQ(tensor_layer("model.layers.17.self_attn.o_proj.weight"), 17);
  EXPECT_EQ(tensor_layer("model.norm.weight"), -1);
}

// A fused qkv projection (Phi-3) weighs each row slice by its own role and share: with 8 query
// heads, 2 kv heads (share 4) and head_dim 64, q has 512 rows, k and v 128 each, so the weight
// is (512 x q + 128 x 4 x (k + v)) / 768, the row-weighted mean of what q_proj, k_proj and
// v_proj would weigh apart. A fused gate/up projection weighs as the mean of gate and up.
TEST(Sensitivity, FusedProjectionsWeighTheirSlicesByRows) {
  const SensitivityConstants& k = kSensitivity;
  SensitivityContext ctx;
  ctx.num_layers = 0;  // no depth factor
  ctx.kv_share = 4;
  ctx.q_rows = 512;
  ctx.kv_rows = 128;
  TensorAnalysis t;
  auto w = [&](const std::string& name) {
    t.name = name;
    return tensor_sensitivity(t, ctx).weight;
  };
  const double q = w("model.layers.0.self_attn.q_proj.weight"), kk = w("model.layers.0.self_attn.k_proj.weight"),
               v = w("model.layers.0.self_attn.v_proj.weight");
  EXPECT_DOUBLE_EQ(w("model.layers.0.self_attn.qkv_proj.weight"), (512 * q + 128 * kk + 128 * v) / 768);
  EXPECT_DOUBLE_EQ(w("blk.0.attn_qkv.weight"), (512 * k.attn_q + 128 * 4 * (k.attn_k + k.attn_v)) / 768);
  EXPECT_DOUBLE_EQ(w("model.layers.0.mlp.gate_up_proj.weight"),
                   (w("model.layers.0.mlp.gate_proj.weight") + w("model.layers.0.mlp.up_proj.weight")) / 2);
  t.name = "model.layers.0.self_attn.qkv_proj.weight";
  EXPECT_NE(tensor_sensitivity(t, ctx).describe().find("k/v rows shared"), std::string::npos);
}

// ------------------------------------------------------------------ budget plans

TEST(BudgetPolicy, AchievesTheTargetWithinHalfAPercent) {
  std::vector<TensorAnalysis> ts;
  for (int l = 0; l < 6; ++l)
    for (const char* m : {"self_attn.q_proj", "self_attn.o_proj", "mlp.up_proj", "mlp.down_proj"})
      ts.push_back(tensor("model.layers." + std::to_string(l) + "." + m + ".weight", {256, 512},
                          mlx_curve(256, 512, 1.0 + l)));
  const ModelAnalysis a = analysis_of(ts, 6);
  for (double bpw : {3.0, 4.0, 4.5, 5.5, 7.0}) {
    Options o;
    o.policy = PolicyKind::Budget;
    o.budget.target_bpw = bpw;
    const Plan p = make_plan(a, o);
    const double target = bpw * static_cast<double>(a.total_params) / 8.0;
    EXPECT_LE(static_cast<double>(p.total_bytes), target) << bpw;
    EXPECT_GE(static_cast<double>(p.total_bytes), 0.995 * target) << bpw;
    EXPECT_EQ(p.details["achieved_bytes"].get<std::uint64_t>(), p.total_bytes);
    // More bits go where the weighted error is larger: the last layer's up_proj (error x6, depth
    // x1.5) gets at least the bits of the first layer's (x1, x1).
    EXPECT_GE(p.find("model.layers.5.mlp.up_proj.weight")->bits(), p.find("model.layers.0.mlp.up_proj.weight")->bits());
  }
}

TEST(BudgetPolicy, InfeasibleBudgetNamesTheSmallestSize) {
  const ModelAnalysis a = analysis_of({tensor("model.layers.0.mlp.up_proj.weight", {64, 128}, mlx_curve(64, 128, 1)),
                                       tensor("model.layers.0.mlp.down_proj.weight", {128, 64}, mlx_curve(128, 64, 1))},
                                      1);
  // smallest: both at 2 bits, group 128 (up) and 64 (down)
  const std::uint64_t smallest = mlx_bytes(64, 128, 2, 128) + mlx_bytes(128, 64, 2, 64);
  Options o;
  o.policy = PolicyKind::Budget;
  o.budget.target_bytes = smallest - 1;
  try {
    make_plan(a, o);
    FAIL() << "an infeasible budget was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smallest feasible size, " + std::to_string(smallest) + " bytes"),
              std::string::npos)
        << e.what();
  }
  o.budget.target_bytes = smallest;
  const Plan p = make_plan(a, o);
  EXPECT_EQ(p.total_bytes, smallest);
  o.budget.target_bytes = 0;
  EXPECT_THROW(make_plan(a, o), Error);  // no target at all
}

TEST(BudgetPolicy, ExpertsOfOneProjectionShareAnEncoding) {
  std::vector<TensorAnalysis> ts;
  for (int e = 0; e < 4; ++e)  // expert 2's error is much larger: alone it would get more bits
    ts.push_back(tensor("model.layers.0.mlp.experts." + std::to_string(e) + ".down_proj.weight", {64, 128},
                        mlx_curve(64, 128, e == 2 ? 50.0 : 1.0)));
  ts.push_back(tensor("model.layers.0.self_attn.q_proj.weight", {128, 128}, mlx_curve(128, 128, 1.0)));
  const ModelAnalysis a = analysis_of(ts, 1);
  Options o;
  o.policy = PolicyKind::Budget;
  for (double bpw : {3.0, 4.5, 6.0}) {
    o.budget.target_bpw = bpw;
    const Plan p = make_plan(a, o);
    std::set<std::pair<int, int>> enc;
    for (int e = 0; e < 4; ++e) {
      const auto* d = p.find("model.layers.0.mlp.experts." + std::to_string(e) + ".down_proj.weight");
      enc.insert({d->bits(), d->encoding.group()});
    }
    EXPECT_EQ(enc.size(), 1u) << bpw;
  }
}
