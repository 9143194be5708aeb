// The budget policy through the command line on the example model: the whole output fits the
// target, the error the analysis predicts is the error the file delivers (measured here with the
// tests' own MLX decoder), infeasible budgets name the smallest size, --dry-run writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/eval.h"
#include "support/mini_safetensors.h"
#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ramq::testkit;

namespace {

std::uint64_t safetensors_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") n += fs::file_size(e.path());
  return n;
}

}  // namespace

TEST(BudgetCli, WholeOutputFitsTheTarget) {
  TempDir tmp("budget-size");
  const std::int64_t params = 260032;
  for (const double bpw : {6.0, 7.0, 8.0}) {
    const auto out = tmp / ("m" + std::to_string(static_cast<int>(bpw)));
    auto r = run_ramq({"quantize", stories_dir(), "--policy", "budget", "--target-bpw", std::to_string(bpw), "-o",
                       out.string(), "--save-plan", out.string() + ".plan.json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const double target = bpw * params / 8.0;
    const auto bytes = static_cast<double>(safetensors_bytes(out));
    EXPECT_LE(bytes, target) << bpw;
    EXPECT_GE(bytes, 0.99 * target) << bpw;
    const json p = json::parse(slurp(out.string() + ".plan.json"));
    EXPECT_EQ(p["details"]["file_bytes"].get<std::uint64_t>(), safetensors_bytes(out));
  }
  for (const std::uint64_t size : {262912u, 281792u, 300000u}) {  // GGUF: the file itself
    const auto out = tmp / ("g" + std::to_string(size) + ".gguf");
    auto r = run_ramq({"quantize", stories_dir(), "--format", "gguf", "--policy", "budget", "--target-size",
                       std::to_string(size), "-o", out.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_LE(fs::file_size(out), size);
    EXPECT_GE(static_cast<double>(fs::file_size(out)), 0.99 * static_cast<double>(size));
  }
}

// With every row measured (--rd-rows 0), the relative error recorded in analysis.json for the
// chosen encoding equals ||W - Q(W)||^2 / ||W||^2 of the written file.
TEST(BudgetCli, PredictedErrorIsDeliveredError) {
  TempDir tmp("budget-rd");
  const auto out = tmp / "out";
  auto r = run_ramq({"quantize", stories_dir(), "--policy", "budget", "--target-bpw", "7", "--rd-rows", "0",
                     "--save-analysis", (tmp / "a.json").string(), "--save-plan", (tmp / "p.json").string(), "-o",
                     out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json a = json::parse(slurp(tmp / "a.json"));
  const json p = json::parse(slurp(tmp / "p.json"));
  // The saved analysis records its inputs' hashes as `ramq analyze` does (the hashes published
  // in ../shared/models/stories260K/README.md), though quantize computes them on its own thread.
  EXPECT_EQ(a["input_sha256"]["model.safetensors"], "54e3eb9fe3f0874894e5502fb799b0c38f92ae5a2dd336b541fd16184d02f47b");
  EXPECT_EQ(a["input_sha256"]["config.json"], "b3818b2f8a2d915e0de7f5da35ea536746a0faab9540ba8dc51de3aec77e9b2c");
  EXPECT_EQ(a["input_sha256"].size(), 2u);
  std::map<std::string, json> rd;
  for (const auto& t : a["tensors"])
    if (t.contains("rd")) rd[t["name"].get<std::string>()] = t["rd"];
  const MiniFile orig = mini_read(fs::path(stories_dir()) / "model.safetensors");
  const MiniFile got = mini_read(out / "model.safetensors");
  int checked = 0;
  for (const auto& d : p["tensors"]) {
    const int bits = d["bits"].get<int>();
    if (bits >= 16) continue;
    const std::string name = d["name"].get<std::string>(), mod = name.substr(0, name.size() - 7);
    const int group = d["group"].get<int>();
    ASSERT_EQ(rd[name]["sampled_rows"], rd[name]["rows"]) << name;
    double predicted = -1;
    for (const auto& pt : rd[name]["points"])
      if (pt["format"] == "mlx" && pt["bits"] == bits && pt["group"] == group) predicted = pt["rel_err"].get<double>();
    ASSERT_GE(predicted, 0) << name;
    const auto w = mini_floats(orig.tensors.at(name));
    const auto q = mini_mlx_dequant(got.tensors.at(mod + ".weight"), got.tensors.at(mod + ".scales"),
                                    got.tensors.at(mod + ".biases"), bits, group);
    ASSERT_EQ(q.size(), w.size());
    double e = 0, n = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      e += (static_cast<double>(q[i]) - w[i]) * (static_cast<double>(q[i]) - w[i]);
      n += static_cast<double>(w[i]) * w[i];
    }
    EXPECT_NEAR(e / n, predicted, 1e-9 * predicted) << name;
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(BudgetCli, InfeasibleBudgetAndDryRun) {
  TempDir tmp("budget-cli");
  const auto out = tmp / "out";
  auto r = run_ramq({"quantize", stories_dir(), "--policy", "budget", "--target-size", "100KB", "-o", out.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("smallest feasible size"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // The smallest size it names is achievable, to the byte.
  const auto at = r.err.find("smallest feasible size, ");
  ASSERT_NE(at, std::string::npos);
  const std::string smallest = r.err.substr(at + 24, r.err.find(' ', at + 24) - at - 24);
  r = run_ramq({"quantize", stories_dir(), "--policy", "budget", "--target-size", smallest, "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_LE(safetensors_bytes(out), std::stoull(smallest));

  const auto dry = tmp / "dry";
  r = run_ramq({"quantize", stories_dir(), "--policy", "budget", "--target-bpw", "7.5", "--dry-run", "-o", dry.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(dry));
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n     4 "), std::string::npos) << r.out;  // the last layer's row
  EXPECT_NE(r.out.find("safetensors files: "), std::string::npos) << r.out;
}

// --probe self: the KL divergence recorded for a tensor equals what `ramq eval` measures on the
// probe's own token sequences for a model in which only that tensor is quantized with the probe
// encoding (every other tensor kept in F32); identical analysis for 1 and 2 threads; a budget
// plan made with it says so.
TEST(BudgetCli, SelfProbeAgreesWithEval) {
  TempDir tmp("budget-probe");
  const std::string seq = "3", len = "64";
  for (const char* threads : {"1", "2"}) {
    auto r = run_ramq({"--threads", threads, "analyze", stories_dir(), "--probe", "self", "--probe-sequences", seq,
                       "--probe-length", len, "-o", (tmp / (std::string("a") + threads + ".json")).string()});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  EXPECT_EQ(slurp(tmp / "a1.json"), slurp(tmp / "a2.json"));
  const json a = json::parse(slurp(tmp / "a1.json"));
  ASSERT_EQ(a["probe"]["kind"], "self");
  ASSERT_EQ(a["probe"]["tokens"].size(), 3u);
  // The probe tokens as one stream: windows of 64 tokens are exactly the probe's sequences.
  std::string stream;
  for (const auto& s : a["probe"]["tokens"]) {
    ASSERT_EQ(s.size(), 64u);
    for (const auto& t : s) {
      const auto v = t.get<std::uint32_t>();
      stream.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  write_file(tmp / "probe.u32", stream);
  int probed = 0;
  for (const auto& t : a["tensors"]) probed += t.contains("probe") ? 1 : 0;
  EXPECT_EQ(probed, 31);  // q, k, v, o, gate, up in 5 layers + the embedding (down_proj fits no 4-bit encoding)

  // Layer 3's v_proj quantized alone, as the probe did it.
  ASSERT_EQ(run_ramq({"plan", (tmp / "a1.json").string(), "--policy", "uniform", "--bits", "16", "--keep-dtype", "-o",
                      (tmp / "p.json").string()})
                .status,
            0);
  json p = json::parse(slurp(tmp / "p.json"));
  const std::string name = "model.layers.3.self_attn.v_proj.weight";
  json probe;
  for (const auto& t : a["tensors"])
    if (t["name"] == name) probe = t["probe"];
  ASSERT_EQ(probe["encoding"], "mlx 4-bit g64");
  for (auto& d : p["tensors"])
    if (d["name"] == name) d["bits"] = 4, d["group"] = 64;
  write_file(tmp / "p1.json", p.dump());
  auto r = run_ramq({"quantize", stories_dir(), "--plan", (tmp / "p1.json").string(), "-o", (tmp / "one").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_ramq({"eval", (tmp / "one").string(), "--reference", stories_dir(), "--tokens", (tmp / "probe.u32").string(),
                "--ctx", len, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const double kld = json::parse(r.out)["mean_kld"].get<double>();
  EXPECT_GT(kld, 0.0);
  // Both sides run the same forward pass (same code, same OpenBLAS kernel, same weights: the
  // probe's mlx_dequantize and the evaluator's MLX decoder compute s * q + b alike), so their
  // logits are the same bits, and both take log-softmax in double the same way. They differ in
  // one rounding only: the probe keeps the reference log-probabilities as float
  // (src/evaluate/self_probe.cpp, ProbeInputs::ref_logp), eval keeps them in double. How far that
  // moves the KL divergence depends on the logits' last bits, i.e. on the CPU's OpenBLAS kernel
  // (measured: 7.7e-7 relative on AMD Zen, 1.66e-6 on Sapphire Rapids), so no fixed relative
  // tolerance is safe. The bound below is derived instead, from the models' own logits:
  //   per position, with eval's reference log-probabilities lr_i (p_i = exp(lr_i)) and model
  //   log-probabilities lm_i, the probe uses a_i = fl32(lr_i) = lr_i + e_i, |e_i| <= u |lr_i|,
  //   u = 2^-24 (round to nearest; lr_i <= 0 is far from float's range limits). Then
  //     sum_i exp(a_i)(a_i - lm_i) - sum_i p_i (lr_i - lm_i)
  //       = sum_i p_i [(exp(e_i) - 1)(lr_i - lm_i) + exp(e_i) e_i],
  //   and |exp(e) - 1| <= |e| exp(|e|), so its magnitude is at most
  //     B = sum_i p_i u |lr_i| exp(u |lr_i|) (|lr_i - lm_i| + 1).
  //   The rest of both computations (exp, products and the sums over the vocabulary and over
  //   the positions, all in double) adds at most (V + P + 4) 2^-53 times the sum of the
  //   magnitudes of the terms per path (the standard bound gamma_n for a sum of n terms, plus
  //   one rounding for exp and for each product): R = 2 (V + P + 4) 2^-53 sum_i p_i (|lr_i| +
  //   |lm_i| + 1) exp(u |lr_i|) per position, both paths together.
  //   The probe clamps a negative per-position KL to 0, which moves a position by at most its
  //   own rounding error (B + R), since the true value is >= 0.
  // So |probe - eval| <= mean over positions of (B + R). The logits are recomputed here through
  // the library, which is the code both commands run (bit-identical on this machine).
  // (If the probe kept lr_i in double, as eval does, the two would be equal: B = 0.)
  const double bound = [&] {
    ramq::EvalOptions eo;
    eo.ctx = std::stoi(len);
    eo.threads = 1;
    const auto ref_model = ramq::load_language_model(stories_dir(), eo);
    const auto q_model = ramq::load_language_model(tmp / "one", eo);
    const auto V = static_cast<std::size_t>(ref_model->vocab_size());
    const double u = std::ldexp(1.0, -24);
    auto log_softmax = [&](const float* z) {
      double mx = z[0];
      for (std::size_t i = 1; i < V; ++i) mx = std::max(mx, static_cast<double>(z[i]));
      double s = 0;
      for (std::size_t i = 0; i < V; ++i) s += std::exp(static_cast<double>(z[i]) - mx);
      const double lse = mx + std::log(s);
      std::vector<double> out(V);
      for (std::size_t i = 0; i < V; ++i) out[i] = static_cast<double>(z[i]) - lse;
      return out;
    };
    double sum = 0, positions = 0;
    for (const auto& s : a["probe"]["tokens"]) {
      const auto tokens = s.get<std::vector<std::uint32_t>>();
      const std::span<const std::uint32_t> feed(tokens.data(), tokens.size() - 1);
      const std::vector<float> zr = ref_model->forward(feed), zq = q_model->forward(feed);
      positions += static_cast<double>(feed.size());
      const double P = static_cast<double>(a["probe"]["tokens"].size() * feed.size());
      for (std::size_t t = 0; t < feed.size(); ++t) {
        const auto lr = log_softmax(zr.data() + t * V), lm = log_softmax(zq.data() + t * V);
        double b = 0, mag = 0;
        for (std::size_t i = 0; i < V; ++i) {
          const double pr = std::exp(lr[i]), e = u * std::fabs(lr[i]), g = std::exp(e);
          b += pr * e * g * (std::fabs(lr[i] - lm[i]) + 1);
          mag += pr * g * (std::fabs(lr[i]) + std::fabs(lm[i]) + 1);
        }
        sum += b + 2 * (static_cast<double>(V) + P + 4) * std::ldexp(1.0, -53) * mag;
      }
    }
    return sum / positions;
  }();
  const double diff = std::fabs(probe["kld"].get<double>() - kld);
  EXPECT_LE(diff, bound) << "probe " << probe["kld"] << ", eval " << kld;
  std::printf("[ probe ] |probe - eval| = %.3g (%.3g relative), derived bound %.3g\n", diff, diff / kld, bound);

  // A budget plan from the probed analysis.
  r = run_ramq({"plan", (tmp / "a1.json").string(), "--policy", "budget", "--probe", "self", "--target-bpw", "8", "-o",
                (tmp / "pb.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const json pb = json::parse(slurp(tmp / "pb.json"));
  EXPECT_EQ(pb["details"]["probe"]["kind"], "self");
  EXPECT_NE(pb["details"]["sensitivity"].get<std::string>().find("probe self"), std::string::npos);
  // Without probe measurements the option is refused.
  ASSERT_EQ(run_ramq({"analyze", stories_dir(), "-o", (tmp / "plain.json").string()}).status, 0);
  r = run_ramq({"plan", (tmp / "plain.json").string(), "--policy", "budget", "--probe", "self", "--target-bpw", "8",
                "-o", (tmp / "x.json").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--probe self"), std::string::npos) << r.err;
}
