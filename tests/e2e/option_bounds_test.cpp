// Hostile command lines and inputs: every numeric option rejects NaN, infinities, out-of-range
// values and integers CLI11 would wrap or saturate (exit 2, one line naming the option); windows
// longer than the model's positions are refused (exit 1, naming the file and the limit); the
// probe's incremental decoding matches whole-window passes; `plan` refuses tampered analyses
// (exit 1, one line naming the file, the tensor and the problem, no output).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/analysis.h"
#include "ramq/error.h"
#include "support/cli_failure.h"
#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;
using ramq::testkit::run_ramq;
using ramq::testkit::slurp;
using ramq::testkit::stories_dir;
using ramq::testkit::TempDir;
using ramq::testkit::write_file;

namespace {

using Args = std::vector<std::string>;

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// A usage error: exit 2 and one line naming `option` (and `also`, when given).
void expect_usage_error(const Args& args, const std::string& option, const std::string& also = "") {
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  const auto r = run_ramq(args);
  EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 1u) << cmd << ": stderr must be one line: " << r.err;
  EXPECT_NE(r.err.find(option), std::string::npos) << cmd << ": '" << option << "' not in: " << r.err;
  if (!also.empty()) {
    EXPECT_NE(r.err.find(also), std::string::npos) << cmd << ": '" << also << "' not in: " << r.err;
  }
}

// Accepted by the command line: the run then fails on the missing input (exit 1), not with 2.
void expect_parsed(const Args& args) {
  const auto r = run_ramq(args);
  EXPECT_EQ(r.status, 1) << args.back() << ": " << r.err;
}

Args plan_with(const std::string& option, const std::string& value) {
  return {"plan", "missing.json", "-o", "p.json", option, value};
}
Args analyze_with(const std::string& option, const std::string& value) {
  return {"analyze", "missing-dir", "-o", "a.json", option, value};
}
Args eval_with(const std::string& option, const std::string& value) {
  return {"eval", "missing-dir", "--tokens", "t.u32", option, value};
}

}  // namespace

// Class 1: NaN, infinities and out-of-range reals, negative weights, threshold order.
TEST(OptionBounds, RealOptionsMustBeFiniteAndInRange) {
  for (const char* opt : {"--t16", "--t8", "--t2", "--w-svd", "--w-kurt", "--w-out", "--w-err"})
    for (const char* bad : {"nan", "NaN", "inf", "-inf", "1e999", "abc", ""})
      expect_usage_error(plan_with(opt, bad), opt);
  for (const char* opt : {"--w-svd", "--w-kurt", "--w-out", "--w-err"}) expect_usage_error(plan_with(opt, "-0.1"), opt);
  for (const char* bad : {"nan", "inf", "-1", "86401"})
    expect_usage_error({"--progress-interval", bad, "inspect", "missing"}, "--progress-interval");
  expect_usage_error(plan_with("--swan-preset", "fast"), "--swan-preset");
  // The tiers of the swan policy must not overlap: t2 <= t8 <= t16.
  expect_usage_error({"plan", "missing.json", "-o", "p.json", "--t8", "0.95"}, "--t8", "--t16");
  expect_usage_error({"plan", "missing.json", "-o", "p.json", "--t2", "0.7"}, "--t2", "--t8");
  expect_usage_error({"quantize", "missing", "-o", "o", "--t16", "0.5", "--t8", "0.6"}, "--t8", "--t16");
  // Valid values still pass: reordered thresholds, zero weights, the bounds themselves.
  expect_parsed({"plan", "missing.json", "-o", "p.json", "--t16", "0.5", "--t8", "0.4", "--t2", "0.4"});
  expect_parsed({"plan", "missing.json", "-o", "p.json", "--w-svd", "0", "--w-kurt", "1e3", "--t2", "-2"});
  expect_parsed({"--progress-interval", "86400", "inspect", "missing"});
}

// Class 2: --target-bpw nan says what is wrong with --target-bpw.
TEST(OptionBounds, TargetBpwNanIsNamed) {
  for (const char* bad : {"nan", "inf", "0.49", "64.5"})
    expect_usage_error({"quantize", "missing", "-o", "o", "--policy", "budget", "--target-bpw", bad}, "--target-bpw",
                       bad);
  expect_usage_error(plan_with("--target-bpw", "nan"), "--target-bpw", "not a finite number");
  expect_parsed({"quantize", "missing", "-o", "o", "--policy", "budget", "--target-bpw", "0.5"});
}

// Class 3: integers are plain non-negative decimals that fit, never wrapped or saturated.
TEST(OptionBounds, IntegerOptionsAreCheckedNotWrapped) {
  for (const char* bad : {"-1", "18446744073709551616", "1e23", "0x10", "010", " 5", "+5", "5.0", ""})
    expect_usage_error(analyze_with("--seed", bad), "--seed");
  expect_parsed(analyze_with("--seed", "18446744073709551615"));
  const std::vector<std::pair<Args, std::string>> cases = {
      {analyze_with("--rd-rows", "-1"), "--rd-rows"},
      {analyze_with("--rd-rows", "1099511627777"), "--rd-rows"},
      {analyze_with("--rd-elements", "1e3"), "--rd-elements"},
      {analyze_with("--rsvd-rank", "0"), "--rsvd-rank"},
      {analyze_with("--krylov-depth", "-0"), "--krylov-depth"},
      {analyze_with("--probes", "4294967297"), "--probes"},
      {analyze_with("--probe-sequences", "nan"), "--probe-sequences"},
      {analyze_with("--probe-length", "2.5"), "--probe-length"},
      {analyze_with("--power-iters", "21"), "--power-iters"},
      {eval_with("--ctx", "0x200"), "--ctx"},
      {eval_with("--ctx", "4294967298"), "--ctx"},
      {eval_with("--max-tokens", "-1"), "--max-tokens"},
      {eval_with("--max-tokens", "18446744073709551616"), "--max-tokens"},
      {{"quantize", "missing", "-o", "o", "--max-shard-bytes", "-1"}, "--max-shard-bytes"},
      {{"quantize", "missing", "-o", "o", "--policy", "uniform", "--bits", "4.0"}, "--bits"},
      {{"quantize", "missing", "-o", "o", "--group8", "-64"}, "--group8"},
      {{"--threads", "-1", "inspect", "missing"}, "--threads"},
      {{"--threads", "4294967296", "inspect", "missing"}, "--threads"},
      {{"--threads", "100000", "inspect", "missing"}, "--threads"},
  };
  for (const auto& [args, option] : cases) expect_usage_error(args, option);
  expect_parsed({"--threads", "2", "inspect", "missing"});
  expect_parsed(eval_with("--max-tokens", "1099511627776"));
}

// Class 4: eval windows longer than the model's positions (stories260K: 512) are refused.
TEST(OptionBounds, EvalWindowWithinModelPositions) {
  TempDir tmp("bounds-eval");
  const std::vector<std::uint32_t> ids = {1, 403, 407, 261, 247, 38, 356, 300, 419, 267};  // vocab 512
  write_file(tmp / "t.u32", std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4));
  const std::string tokens = (tmp / "t.u32").string();
  auto r = run_ramq({"eval", stories_dir(), "--tokens", tokens, "--ctx", "513"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(stories_dir() + "/config.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("512"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--ctx"), std::string::npos) << r.err;
  // The reference is held to the same limit; the limit itself is fine.
  r = run_ramq({"eval", stories_dir(), "--reference", stories_dir(), "--tokens", tokens, "--ctx", "600"});
  EXPECT_EQ(r.status, 1) << r.err;
  r = run_ramq({"eval", stories_dir(), "--tokens", tokens, "--ctx", "512"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// Class 5: --probe-length is capped by the model's positions, before the analysis runs.
TEST(OptionBounds, ProbeLengthWithinModelPositions) {
  TempDir tmp("bounds-probe");
  const fs::path out = tmp / "a.json";
  const auto r = run_ramq({"analyze", stories_dir(), "--probe", "self", "--probe-length", "513", "-o", out.string()});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--probe-length"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("512"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(stories_dir() + "/config.json"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

// Class 5: incremental decoding (the probe's generation) gives the logits of whole-window passes.
TEST(OptionBounds, IncrementalDecodingMatchesWholeWindow) {
  ramq::EvalOptions eo;
  eo.ctx = 48;
  eo.threads = 2;
  auto incremental = ramq::eval::make_incremental_llama_model(ramq::eval::open_safetensors_weights(stories_dir()), eo);
  auto whole = ramq::eval::make_llama_model(ramq::eval::open_safetensors_weights(stories_dir()), eo);
  const std::size_t vocab = static_cast<std::size_t>(whole->vocab_size());
  std::vector<std::uint32_t> seq;
  for (std::uint32_t i = 0; i < 48; ++i) seq.push_back(1 + (i * 37) % 500);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reuses the cache after clear_cache()
    incremental->clear_cache();
    const auto first = incremental->append({seq.data(), 5});  // a block first, then one at a time
    const auto ref = whole->forward(seq);
    auto gap = [](float a, float b) { return static_cast<double>(std::fabs(a - b)); };
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < first.size(); ++i) worst = std::max(worst, gap(first[i], ref[i]));
    for (std::size_t t = 5; t < seq.size(); ++t) {
      const auto step = incremental->append({&seq[t], 1});
      ASSERT_EQ(step.size(), vocab);
      for (std::size_t v = 0; v < vocab; ++v) {
        worst = std::max(worst, gap(step[v], ref[t * vocab + v]));
        scale = std::max(scale, static_cast<double>(std::fabs(ref[t * vocab + v])));
      }
    }
    EXPECT_LT(worst, 1e-4 * scale) << "pass " << pass;
  }
  EXPECT_THROW(incremental->append({seq.data(), 1}), ramq::Error);  // position 48 of a 48-token window
}

namespace {

// One real analysis of stories260K (no rate-distortion curves: fast), shared by the cases.
const json& stories_analysis() {
  static const json a = [] {
    TempDir tmp("bounds-analysis");
    const auto r = run_ramq({"-q", "analyze", stories_dir(), "--no-rd", "-o", (tmp / "a.json").string()});
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(slurp(tmp / "a.json"));
  }();
  return a;
}

constexpr const char* kQ = "model.layers.0.self_attn.q_proj.weight";

json& tensor_named(json& a, const std::string& name) {
  for (auto& t : a["tensors"])
    if (t["name"] == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// A case: the analysis edited by `edit`, then its text by `retext` (for what JSON cannot hold).
ramq::testkit::BadInput tampered(const std::string& label, std::function<void(json&)> edit,
                                 std::vector<std::string> expect,
                                 std::function<std::string(std::string)> retext = nullptr) {
  return {label,
          [edit, retext](const fs::path& dir) {
            json a = stories_analysis();
            edit(a);
            const std::string text = a.dump();
            write_file(dir / "a.json", retext ? retext(text) : text);
          },
          std::move(expect),
          [](const fs::path& dir, const fs::path& out) {
            return Args{"plan", (dir / "a.json").string(), "--policy", "uniform", "-o", out.string()};
          }};
}

}  // namespace

// Class 6: `plan` refuses tampered analyses itself, with one line and no output.
TEST(OptionBounds, PlanRefusesTamperedAnalyses) {
  const std::string file = "$DIR/a.json";
  const std::string q = std::string("'") + kQ + "'";
  const std::vector<ramq::testkit::BadInput> cases = {
      tampered("2^62 elements",
               [](json& a) {
                 tensor_named(a, kQ)["shape"] = {std::int64_t{1} << 31, std::int64_t{1} << 31};
                 tensor_named(a, kQ)["numel"] = std::int64_t{1} << 62;
               },
               {file, q, "numel"}),
      tampered("numel not the shape's", [](json& a) { tensor_named(a, kQ)["numel"] = 12345; }, {file, q, "numel"}),
      tampered("negative numel", [](json& a) { tensor_named(a, kQ)["numel"] = -4096; }, {file, q, "numel"}),
      tampered("shape overflows",
               [](json& a) { tensor_named(a, kQ)["shape"] = {std::int64_t{1} << 40, std::int64_t{1} << 40}; },
               {file, q, "overflow"}),
      tampered("no tensors", [](json& a) { a["tensors"] = json::array(); }, {file, "no tensors"}),
      tampered("listed twice", [](json& a) { a["tensors"].push_back(tensor_named(a, kQ)); }, {file, q, "twice"}),
      // JSON text cannot hold NaN; 1e999 (infinity) is refused by the reader itself.
      tampered("infinite metric", [](json& a) { tensor_named(a, kQ)["raw"]["kappa"] = 987654.25; }, {file, "1e999"},
               [](std::string t) { return t.replace(t.find("987654.25"), 9, "1e999"); }),
      tampered("tensor the model lacks",
               [](json& a) { tensor_named(a, kQ)["name"] = "model.layers.0.self_attn.x_proj.weight"; },
               {file, "'model.layers.0.self_attn.x_proj.weight'", "not a tensor of the model at " + stories_dir()}),
      tampered("shape the model lacks",
               [](json& a) {
                 auto& t = tensor_named(a, kQ);
                 t["shape"] = {t["shape"][0].get<int>() / 2, t["shape"][1].get<int>() * 2};
               },
               {file, q, "has shape", "in the model at"}),
  };
  for (const auto& c : cases) ramq::testkit::expect_clean_failure(c);

  // Non-finite metrics reach analysis_from_json in memory (CBOR from MPI ranks carries NaN).
  for (const char* field : {"c", "kappa", "delta", "nrmse"}) {
    json a = stories_analysis();
    tensor_named(a, kQ)["raw"][field] = std::nan("");
    try {
      ramq::analysis_from_json(a, "a.json");
      ADD_FAILURE() << field << ": NaN accepted";
    } catch (const ramq::Error& e) {
      EXPECT_EQ(e.tensor(), kQ);
      EXPECT_NE(e.problem().find("finite"), std::string::npos) << e.what();
    }
  }

  // The untampered analysis plans, and so does one whose model directory is gone.
  TempDir tmp("bounds-plan");
  json a = stories_analysis();
  write_file(tmp / "a.json", a.dump());
  auto r = run_ramq({"plan", (tmp / "a.json").string(), "--policy", "uniform", "-o", (tmp / "p.json").string()});
  EXPECT_EQ(r.status, 0) << r.err;
  a["model_dir"] = (tmp / "moved-away").string();
  write_file(tmp / "b.json", a.dump());
  r = run_ramq({"plan", (tmp / "b.json").string(), "--policy", "uniform", "-o", (tmp / "q.json").string()});
  EXPECT_EQ(r.status, 0) << r.err;
}
