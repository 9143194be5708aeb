// The same input gives byte-identical analysis.json, plan.json and model files, whatever the
// thread count.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"
#include "support/synthetic_llama.h"

using namespace ramq::testkit;
using nlohmann::json;

namespace {
std::map<std::string, std::string> files_of(const std::filesystem::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) m[e.path().filename().string()] = slurp(e.path());
  return m;
}
}  // namespace

TEST(Determinism, OneAndTwoThreadsGiveIdenticalBytes) {
  TempDir tmp("determinism");
  std::map<std::string, std::string> first;
  for (const char* threads : {"1", "2", "1"}) {
    // The same paths every run: the audit manifest (compared too) records the command line.
    const auto run_dir = tmp / "run";
    std::filesystem::remove_all(run_dir);
    std::filesystem::create_directories(run_dir);
    auto r = run_ramq({"--threads", threads, "quantize", stories_dir(), "-o", (run_dir / "out").string(),
                       "--save-analysis", (run_dir / "analysis.json").string(), "--save-plan",
                       (run_dir / "plan.json").string()});
    ASSERT_EQ(r.status, 0) << r.err;
    auto files = files_of(run_dir / "out");
    files["analysis.json"] = slurp(run_dir / "analysis.json");
    files["plan.json"] = slurp(run_dir / "plan.json");
    ASSERT_GE(files.size(), 6u);  // config, index, model, manifest, analysis, plan
    ASSERT_TRUE(files.count("ramq-manifest.json"));
    if (first.empty()) {
      first = files;
      continue;
    }
    ASSERT_EQ(files.size(), first.size());
    for (const auto& [name, bytes] : files) EXPECT_TRUE(bytes == first[name]) << name << " differs with --threads " << threads;
  }
}

// A model whose matrices are wider than 512 in both dimensions, so that the spectral metric takes
// the randomized SVD path (seeded sketches, QR, power iterations): analysis, plan and the GGUF and
// MLX outputs are byte-identical with 1, 2 and 3 threads.
TEST(Determinism, RandomizedSvdModelAnyThreadCount) {
  TempDir tmp("determinism-rsvd");
  write_synthetic_llama(tmp / "model", randomized_svd_llama());
  std::map<std::string, std::string> first;
  for (const char* threads : {"1", "2", "3"}) {
    const auto run_dir = tmp / "run";
    std::filesystem::remove_all(run_dir);
    std::filesystem::create_directories(run_dir);
    auto r = run_ramq({"--threads", threads, "analyze", (tmp / "model").string(), "-o", (run_dir / "a.json").string()});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* format : {"mlx", "gguf"}) {
      const std::string out = (run_dir / (std::string("out.") + format)).string();
      r = run_ramq({"--threads", threads, "quantize", (tmp / "model").string(), "--format", format, "--save-plan",
                    out + ".plan.json", "-o", out});
      ASSERT_EQ(r.status, 0) << r.err;
    }
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(run_dir))
      if (e.is_regular_file()) files[std::filesystem::relative(e.path(), run_dir).string()] = slurp(e.path());
    const json a = json::parse(files.at("a.json"));
    int randomized = 0;
    for (const auto& t : a["tensors"])
      if (t["scored"].get<bool>() && t["raw"]["randomized_svd"].get<bool>()) ++randomized;
    EXPECT_GE(randomized, 8) << "the randomized SVD path was not taken";
    if (first.empty()) {
      first = files;
      continue;
    }
    ASSERT_EQ(files.size(), first.size());
    for (const auto& [name, bytes] : files) EXPECT_TRUE(bytes == first[name]) << name << " differs with --threads " << threads;
  }
}

// Tensors of at least 2^22 elements take the large-tensor path of the analysis (one at a time,
// every worker inside its metrics, the next one read ahead); here 7 of them (embeddings 8.6M,
// projections 4.2M elements), through the randomized SVD: byte-identical with 1, 2, 3 threads.
TEST(Determinism, LargeTensorsAnyThreadCount) {
  TempDir tmp("determinism-large");
  const SyntheticLlama s{.hidden = 2048, .heads = 16, .kv_heads = 2, .ffn = 2048, .layers = 1, .vocab = 4200};
  write_synthetic_llama(tmp / "model", s);
  std::string first;
  for (const char* threads : {"1", "2", "3"}) {
    const auto out = tmp / (std::string("a") + threads + ".json");
    const auto r = run_ramq({"-q", "--threads", threads, "analyze", (tmp / "model").string(), "--no-rd", "--rsvd-rank",
                             "32", "-o", out.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    json a = json::parse(slurp(out));
    int large = 0;
    for (const auto& t : a["tensors"]) {
      std::int64_t n = 1;
      for (const auto& d : t["shape"]) n *= d.get<std::int64_t>();
      if (n >= (std::int64_t{1} << 22)) ++large;
    }
    EXPECT_GE(large, 5) << "too few tensors on the large-tensor path";
    const std::string text = slurp(out);
    if (first.empty()) {
      first = text;
      continue;
    }
    EXPECT_TRUE(text == first) << "analysis differs with --threads " << threads;
  }
}

// --svd picks the randomized SVD (block Krylov by default, subspace iteration on request); the
// analysis records the method and its own settings, and the two estimates of each matrix's
// concentration are close but not the same numbers. Subspace iteration is thread-independent too.
TEST(Determinism, SvdMethodIsChosenAndRecorded) {
  TempDir tmp("determinism-svd-method");
  write_synthetic_llama(tmp / "model", randomized_svd_llama());
  const auto analyze = [&](const std::string& name, std::vector<std::string> extra, const char* threads = "2") {
    std::vector<std::string> args = {"-q", "--threads", threads, "analyze", (tmp / "model").string(), "--no-rd", "-o",
                                     (tmp / name).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_ramq(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(slurp(tmp / name));
  };
  const json krylov = analyze("krylov.json", {});
  const json subspace1 = analyze("subspace1.json", {"--svd", "subspace", "--power-iters", "1"}, "1");
  const json subspace3 = analyze("subspace3.json", {"--svd", "subspace", "--power-iters", "1"}, "3");
  const json deeper = analyze("deeper.json", {"--krylov-depth", "4", "--krylov-block", "32"});

  const json& km = krylov["metric_options"];
  EXPECT_EQ(km["rsvd_method"], "block_krylov");
  EXPECT_EQ(km["krylov_block"], 64);
  EXPECT_EQ(km["krylov_depth"], 9);
  EXPECT_FALSE(km.contains("rsvd_power_iters"));
  const json& sm = subspace1["metric_options"];
  EXPECT_EQ(sm["rsvd_method"], "subspace");
  EXPECT_EQ(sm["rsvd_power_iters"], 1);
  EXPECT_EQ(sm["rsvd_oversample"], 16);
  EXPECT_FALSE(sm.contains("krylov_depth"));
  EXPECT_EQ(deeper["metric_options"]["krylov_depth"], 8);  // 4 blocks of 32 cannot hold 256: raised to 8
  EXPECT_EQ(deeper["metric_options"]["krylov_block"], 32);
  EXPECT_TRUE(subspace1["tensors"] == subspace3["tensors"]) << "subspace iteration depends on the thread count";

  int randomized = 0, differ = 0;
  for (std::size_t i = 0; i < krylov["tensors"].size(); ++i) {
    const json& a = krylov["tensors"][i];
    const json& b = subspace1["tensors"][i];
    ASSERT_EQ(a["name"], b["name"]);
    if (!a["scored"].get<bool>() || !a["raw"]["randomized_svd"].get<bool>()) continue;
    ++randomized;
    const double ca = a["raw"]["c"].get<double>(), cb = b["raw"]["c"].get<double>();
    EXPECT_NEAR(ca, cb, 0.15 * ca) << a["name"];
    if (ca != cb) ++differ;
  }
  EXPECT_GE(randomized, 8);
  EXPECT_EQ(differ, randomized);
}
