// End to end on the real pretrained model in ../shared/models/stories260K: analyze, plan and
// quantize through the CLI, then re-read the output with an independent reader and decoder.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "support/mini_safetensors.h"
#include "support/run_ramq.h"

using namespace ramq::testkit;
using nlohmann::json;

namespace {

const MiniFile& original() {
  static const MiniFile f = mini_read(stories_dir() + "/model.safetensors");
  return f;
}

std::string module_of(const std::string& name) { return name.substr(0, name.size() - 7); }

// Checks every tensor of an MLX output directory against the original weights and the plan.
// Returns the number of quantized tensors checked.
int check_mlx_output(const std::filesystem::path& out, const json& plan) {
  const json cfg = json::parse(slurp(out / "config.json"));
  const json index = json::parse(slurp(out / "model.safetensors.index.json"));
  std::map<std::string, MiniFile> shards;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    const std::string shard = it.value().get<std::string>();
    if (!shards.count(shard)) shards[shard] = mini_read(out / shard);
  }
  auto find = [&](const std::string& name) -> const MiniTensor& {
    const std::string shard = index["weight_map"].at(name).get<std::string>();
    return shards.at(shard).tensors.at(name);
  };
  for (const auto& [name, f] : shards) EXPECT_EQ(f.metadata.at("format"), "mlx") << name;

  int quantized = 0;
  bool any_quantized = false;
  for (const auto& d : plan["tensors"]) any_quantized |= d["bits"].get<int>() < 16;
  if (any_quantized) {
    EXPECT_EQ(cfg["quantization"], cfg["quantization_config"]);
  } else {
    EXPECT_FALSE(cfg.contains("quantization"));
  }
  for (const auto& d : plan["tensors"]) {
    const std::string name = d["name"].get<std::string>();
    const int bits = d["bits"].get<int>(), group = d["group"].get<int>();
    const auto orig = mini_floats(original().tensors.at(name));
    if (bits == 16) {
      const MiniTensor& t = find(name);
      EXPECT_EQ(t.dtype, "F16") << name;  // F32 source written as F16
      const auto got = mini_floats(t);
      EXPECT_EQ(got.size(), orig.size()) << name;
      if (got.size() != orig.size()) return -1;
      std::size_t off = 0;
      for (std::size_t i = 0; i < got.size(); ++i)
        off += std::fabs(got[i] - orig[i]) > std::ldexp(std::fabs(orig[i]), -11) + 1e-7f ? 1 : 0;
      EXPECT_EQ(off, 0u) << name << ": elements not equal to the F16 rounding of the source";
      const std::string mod = module_of(name);
      if (cfg.contains("quantization")) {
        EXPECT_FALSE(cfg["quantization"].contains(mod)) << name;
      }
      continue;
    }
    ++quantized;
    const std::string mod = module_of(name);
    const MiniTensor& w = find(mod + ".weight");
    const MiniTensor& s = find(mod + ".scales");
    const MiniTensor& b = find(mod + ".biases");
    const auto shape = d["shape"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(w.dtype, "U32");
    EXPECT_EQ(s.dtype, "F16");
    EXPECT_EQ(b.dtype, "F16");
    EXPECT_EQ(w.shape, (std::vector<std::int64_t>{shape[0], shape[1] * bits / 32})) << name;
    EXPECT_EQ(s.shape, (std::vector<std::int64_t>{shape[0], shape[1] / group})) << name;
    EXPECT_EQ(b.shape, s.shape);
    // config.json: the module's (bits, group) is either the default or listed explicitly.
    const json& q = cfg["quantization"];
    if (q.contains(mod)) {
      EXPECT_EQ(q[mod]["bits"].get<int>(), bits) << name;
      EXPECT_EQ(q[mod]["group_size"].get<int>(), group) << name;
    } else {
      EXPECT_EQ(q["bits"].get<int>(), bits) << name;
      EXPECT_EQ(q["group_size"].get<int>(), group) << name;
    }
    // Error bound per element, from the group's own min/max: ramq's default encoder may clip a
    // group's range, but no element errs by more than one step (range / qmax), plus the F16
    // rounding of scale and bias (relative 2^-11 each; doubled for slack).
    // Its squared error must also be below that of plain min/max round-to-nearest computed here
    // independently (in double, without rounding scale and bias): the encoder's whole point.
    const auto deq = mini_mlx_dequant(w, s, b, bits, group);
    EXPECT_EQ(deq.size(), orig.size()) << name;
    if (deq.size() != orig.size()) return -1;
    std::size_t over_bound = 0;
    double err2 = 0, ref2 = 0, rtn2 = 0;
    const int qmax = (1 << bits) - 1;
    for (std::size_t g0 = 0; g0 < orig.size(); g0 += static_cast<std::size_t>(group)) {
      float lo = orig[g0], hi = orig[g0];
      for (std::size_t i = g0; i < g0 + static_cast<std::size_t>(group); ++i) {
        lo = std::min(lo, orig[i]);
        hi = std::max(hi, orig[i]);
      }
      const double step = (static_cast<double>(hi) - lo) / qmax;
      const double bound = step * (1 + std::ldexp(1.0, -10)) + std::ldexp(std::fabs(lo) + (hi - lo), -10) + 1e-7;
      for (std::size_t i = g0; i < g0 + static_cast<std::size_t>(group); ++i) {
        const double e = std::fabs(static_cast<double>(deq[i]) - orig[i]);
        over_bound += e > bound ? 1 : 0;
        err2 += e * e;
        ref2 += static_cast<double>(orig[i]) * orig[i];
        const double rtn = step > 0 ? lo + step * std::nearbyint((orig[i] - lo) / step) : lo;
        rtn2 += (rtn - orig[i]) * (rtn - orig[i]);
      }
    }
    EXPECT_EQ(over_bound, 0u) << name << ": elements beyond one quantization step (bits " << bits << ")";
    EXPECT_LT(err2, rtn2) << name << ": not better than min/max round-to-nearest (bits " << bits << ")";
    // Relative error of the whole tensor, bounded by what its bit width allows for these weights.
    const double rel = std::sqrt(err2 / ref2);
    EXPECT_LT(rel, 2.0 / qmax) << name;
    EXPECT_GT(rel, 0.0) << name;
  }
  return quantized;
}

}  // namespace

TEST(Stories260K, AnalyzePlanQuantizeSwan) {
  TempDir tmp("e2e-swan");
  auto r = run_ramq({"analyze", stories_dir(), "-o", (tmp / "analysis.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json a = json::parse(slurp(tmp / "analysis.json"));
  ASSERT_EQ(a["tensors"].size(), 47u);
  int scored = 0;
  for (const auto& t : a["tensors"]) {
    const auto shape = t["shape"].get<std::vector<std::int64_t>>();
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    const bool expect_scored = shape.size() == 2 && n >= 1024;
    ASSERT_EQ(t["scored"].get<bool>(), expect_scored) << t["name"];
    if (!expect_scored) continue;
    ++scored;
    const auto& s = t["scores"];
    for (const char* k : {"s_svd", "s_kurt", "s_out", "s_err"}) {
      ASSERT_GE(s[k].get<double>(), 0.0);
      ASSERT_LE(s[k].get<double>(), 1.0);
    }
    // S is the documented weighted sum of the four scores.
    const double S = 0.20 * s["s_svd"].get<double>() + 0.45 * s["s_kurt"].get<double>() +
                     0.15 * s["s_out"].get<double>() + 0.20 * s["s_err"].get<double>();
    EXPECT_NEAR(s["S"].get<double>(), S, 1e-12);
    // Raw values map to scores by the documented normalisations.
    const auto& raw = t["raw"];
    EXPECT_NEAR(s["s_kurt"].get<double>(), std::clamp(raw["kappa"].get<double>() / 10, 0.0, 1.0), 1e-12);
    EXPECT_NEAR(s["s_svd"].get<double>(), std::clamp((raw["c"].get<double>() - 0.1) / 0.8, 0.0, 1.0), 1e-12);
    EXPECT_FALSE(raw["randomized_svd"].get<bool>());  // min dim <= 512 everywhere in this model
  }
  EXPECT_EQ(scored, 36);  // embeddings + 7 matrices x 5 layers
  EXPECT_EQ(a["input_sha256"]["model.safetensors"], "54e3eb9fe3f0874894e5502fb799b0c38f92ae5a2dd336b541fd16184d02f47b");

  r = run_ramq({"plan", (tmp / "analysis.json").string(), "--policy", "swan", "-o", (tmp / "plan.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json plan = json::parse(slurp(tmp / "plan.json"));
  std::uint64_t bytes = 0;
  std::int64_t params = 0;
  for (const auto& d : plan["tensors"]) {
    bytes += d["bytes"].get<std::uint64_t>();
    params += d["numel"].get<std::int64_t>();
    const std::string name = d["name"].get<std::string>();
    if (name.find("down_proj") != std::string::npos) {  // rows of 172 fit no group size
      EXPECT_EQ(d["bits"].get<int>(), 16);
      EXPECT_NE(d["reason"].get<std::string>().find("172"), std::string::npos);
    }
    if (name.find("norm") != std::string::npos || name.find("embed") != std::string::npos) {
      EXPECT_EQ(d["bits"].get<int>(), 16) << name;
    }
  }
  EXPECT_EQ(params, 260032);
  EXPECT_EQ(plan["totals"]["bytes"].get<std::uint64_t>(), bytes);
  EXPECT_NEAR(plan["totals"]["average_bits"].get<double>(), 8.0 * static_cast<double>(bytes) / static_cast<double>(params), 1e-9);

  r = run_ramq({"quantize", stories_dir(), "--plan", (tmp / "plan.json").string(), "--format", "mlx", "-o",
                (tmp / "out").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("bits per weight in the model files"), std::string::npos) << r.out;
  check_mlx_output(tmp / "out", plan);
  // Tensor data in the output adds up to the plan's bytes.
  const json index = json::parse(slurp(tmp / "out" / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), bytes);
}

TEST(Stories260K, OneGoQuantizeEqualsStepByStep) {
  TempDir tmp("e2e-onego");
  ASSERT_EQ(run_ramq({"analyze", stories_dir(), "-o", (tmp / "a.json").string()}).status, 0);
  ASSERT_EQ(run_ramq({"plan", (tmp / "a.json").string(), "-o", (tmp / "p.json").string()}).status, 0);
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "--plan", (tmp / "p.json").string(), "-o", (tmp / "o1").string()}).status, 0);
  auto r = run_ramq({"quantize", stories_dir(), "--format", "mlx", "-o", (tmp / "o2").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& e : std::filesystem::directory_iterator(tmp / "o1")) {
    if (e.path().filename() == "ramq-manifest.json") continue;  // records the different command lines
    EXPECT_EQ(slurp(e.path()), slurp(tmp / "o2" / e.path().filename())) << e.path().filename();
  }
}

// --swan-preset sets the reference CLI's thresholds: the plan equals the one from the same
// thresholds given as --t8/--t16, a threshold given explicitly overrides the preset's, and the
// reference's default ("balanced", 0.45 / 0.85) gives this model more 8-bit tensors than the
// paper's 0.65 / 0.90.
TEST(Stories260K, SwanPresetsAreTheReferenceThresholds) {
  TempDir tmp("e2e-swan-preset");
  const std::string a = (tmp / "a.json").string();
  ASSERT_EQ(run_ramq({"analyze", stories_dir(), "-o", a}).status, 0);
  const auto plan = [&](const std::string& name, std::vector<std::string> args) {
    const std::string out = (tmp / (name + ".json")).string();
    args.insert(args.begin(), {"plan", a, "-o", out});
    const auto r = run_ramq(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(slurp(out));
  };
  const auto balanced = plan("balanced", {"--swan-preset", "balanced"});
  EXPECT_EQ(balanced["tensors"], plan("explicit", {"--t8", "0.45", "--t16", "0.85"})["tensors"]);
  EXPECT_EQ(plan("override", {"--swan-preset", "balanced", "--t8", "0.5"})["tensors"],
            plan("explicit-override", {"--t8", "0.5", "--t16", "0.85"})["tensors"]);
  const auto paper = plan("paper", {"--swan-preset", "paper"});
  EXPECT_EQ(paper["tensors"], plan("default", {})["tensors"]);
  const auto eight_bit = [](const nlohmann::json& p) {
    int n = 0;
    for (const auto& d : p["tensors"]) n += d.value("bits", 0) == 8;
    return n;
  };
  EXPECT_GT(eight_bit(balanced), eight_bit(paper));
}

TEST(Stories260K, UniformEveryBitWidthAndGroup) {
  TempDir tmp("e2e-uniform");
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int group : {32, 64}) {
      const auto out = tmp / ("u" + std::to_string(bits) + "g" + std::to_string(group));
      auto r = run_ramq({"quantize", stories_dir(), "--policy", "uniform", "--bits", std::to_string(bits), "--group",
                         std::to_string(group), "--quantize-embeddings", "-o", out.string(), "--save-plan",
                         out.string() + ".plan.json"});
      ASSERT_EQ(r.status, 0) << r.err;
      const json plan = json::parse(slurp(out.string() + ".plan.json"));
      // q, k, v, o, gate, up in 5 layers + the embedding: 31 tensors with rows of 64.
      EXPECT_EQ(check_mlx_output(out, plan), 31) << bits << "/" << group;
      const json cfg = json::parse(slurp(out / "config.json"));
      EXPECT_EQ(cfg["quantization"]["bits"].get<int>(), bits);
      EXPECT_EQ(cfg["quantization"]["group_size"].get<int>(), group);
    }
  }
}

// Shards: with a small --max-shard-bytes the model is split into model-0000K-of-0000N files;
// the index maps every tensor to the shard that holds it, a module's weight/scales/biases stay
// together, no shard exceeds the limit unless one module alone does, total_size is the sum of
// all tensor bytes, and the dequantized weights equal those of the unsharded output.
TEST(Stories260K, ShardedOutputMatchesUnsharded) {
  TempDir tmp("e2e-shards");
  const std::uint64_t limit = 60000;
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "-o", (tmp / "one").string()}).status, 0);
  auto r = run_ramq({"quantize", stories_dir(), "--max-shard-bytes", std::to_string(limit), "-o", (tmp / "many").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json index = json::parse(slurp(tmp / "many" / "model.safetensors.index.json"));
  std::map<std::string, MiniFile> shards;
  for (const auto& e : std::filesystem::directory_iterator(tmp / "many"))
    if (e.path().extension() == ".safetensors") shards[e.path().filename().string()] = mini_read(e.path());
  ASSERT_GE(shards.size(), 3u);
  const std::size_t n = shards.size();
  std::uint64_t total = 0;
  std::size_t k = 1;
  for (const auto& [file, f] : shards) {
    char want[64];
    std::snprintf(want, sizeof want, "model-%05zu-of-%05zu.safetensors", k++, n);
    EXPECT_EQ(file, want);
    EXPECT_EQ(f.metadata.at("format"), "mlx") << file;
    std::uint64_t bytes = 0;
    std::map<std::string, std::uint64_t> by_module;
    for (const auto& [name, t] : f.tensors) {
      EXPECT_EQ(index["weight_map"].at(name).get<std::string>(), file) << name;
      bytes += t.bytes.size();
      by_module[name.substr(0, name.rfind('.'))] += t.bytes.size();
    }
    total += bytes;
    if (f.tensors.size() > 3 || by_module.size() > 1) {
      EXPECT_LE(bytes, limit) << file;
    }
  }
  EXPECT_EQ(index["weight_map"].size(), [&] {
    std::size_t c = 0;
    for (const auto& [file, f] : shards) c += f.tensors.size();
    return c;
  }());
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), total);
  // Every module's tensors in one shard.
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    const std::string mod = it.key().substr(0, it.key().rfind('.'));
    for (const char* part : {".weight", ".scales", ".biases"})
      if (index["weight_map"].contains(mod + part)) {
        EXPECT_EQ(index["weight_map"][mod + part], it.value()) << mod;
      }
  }
  // Same tensors, same bytes as the single-file output.
  const MiniFile one = mini_read(tmp / "one" / "model.safetensors");
  EXPECT_EQ(one.tensors.size(), index["weight_map"].size());
  for (const auto& [name, t] : one.tensors) {
    const auto& f = shards.at(index["weight_map"].at(name).get<std::string>());
    EXPECT_EQ(f.tensors.at(name).bytes, t.bytes) << name;
    EXPECT_EQ(f.tensors.at(name).shape, t.shape) << name;
  }
}
