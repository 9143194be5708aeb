// The audit manifest (ramq-manifest.json) of quantize outputs and `ramq verify`. Hashes are
// checked with coreutils' sha256sum, not with ramq's own code.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "ramq/version.h"
#include "support/run_ramq.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ramq::testkit;

namespace {

std::string sha256sum(const fs::path& p) {
  const auto r = run_program("/usr/bin/sha256sum", {p.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out.substr(0, 64);
}

// Every file named in a list of {file, bytes, sha256} under `base` has that size and hash.
void expect_digests(const json& list, const fs::path& base) {
  for (const auto& e : list) {
    const fs::path p = base / e["file"].get<std::string>();
    ASSERT_TRUE(fs::is_regular_file(p)) << p;
    EXPECT_EQ(e["bytes"].get<std::uint64_t>(), fs::file_size(p)) << p;
    EXPECT_EQ(e["sha256"].get<std::string>(), sha256sum(p)) << p;
  }
}

void flip_last_byte(const fs::path& p) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(-1, std::ios::end);
  const char c = static_cast<char>(f.get());
  f.seekp(-1, std::ios::end);
  f.put(static_cast<char>(c ^ 0x5a));
}

void expect_verify_fails_naming(const fs::path& out, const fs::path& culprit) {
  const auto r = run_ramq({"verify", out.string()});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(culprit.string()), std::string::npos) << r.err;
}

}  // namespace

TEST(Manifest, MlxOutputRecordsInputsDecisionsAndOutputs) {
  TempDir tmp("manifest-mlx");
  const fs::path out = tmp / "out";
  auto r = run_ramq({"--threads", "2", "quantize", stories_dir(), "--format", "mlx", "-o", out.string(), "--seed", "7"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json m = json::parse(slurp(out / "ramq-manifest.json"));
  EXPECT_EQ(m["kind"], "ramq-manifest");
  EXPECT_EQ(m["ramq_version"], ramq::kVersion);
  const std::vector<std::string> want_cmd = {"ramq", "quantize", stories_dir(), "--format", "mlx", "-o", out.string(), "--seed", "7"};
  EXPECT_EQ(m["command_line"].get<std::vector<std::string>>(), want_cmd);
  EXPECT_EQ(m["options"]["seed"].get<std::uint64_t>(), 7u);
  EXPECT_EQ(m["options"]["policy"], "swan");
  EXPECT_FALSE(m["options"].contains("threads"));
  for (const char* k : {"metrics", "swan", "uniform", "mix", "format", "keep_dtype", "strict_groups", "max_shard_bytes"})
    EXPECT_TRUE(m["options"].contains(k)) << k;

  // Inputs: the model's files, hashed.
  std::vector<std::string> inputs;
  for (const auto& e : m["inputs"]) inputs.push_back(e["file"]);
  EXPECT_EQ(inputs, (std::vector<std::string>{"config.json", "model.safetensors", "tok512.bin"}));
  expect_digests(m["inputs"], stories_dir());

  // Outputs: every file of the directory but the manifest.
  std::vector<std::string> outputs, present;
  for (const auto& e : m["outputs"]) outputs.push_back(e["file"]);
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename() != "ramq-manifest.json") present.push_back(e.path().filename().string());
  std::sort(present.begin(), present.end());
  EXPECT_EQ(outputs, present);
  expect_digests(m["outputs"], out);

  // One decision per tensor of the model (47), with the metrics of the scored ones.
  ASSERT_EQ(m["tensors"].size(), 47u);
  for (const auto& t : m["tensors"]) {
    EXPECT_TRUE(t.contains("bits") && t.contains("reason") && t.contains("shape")) << t.dump();
    // docs/method.md, "Which tensors are scored": 2-D tensors of at least 1024 elements are scored.
    const auto shape = t["shape"].get<std::vector<std::int64_t>>();
    const bool scoreable = shape.size() == 2 && shape[0] * shape[1] >= 1024;
    EXPECT_EQ(t["scored"].get<bool>(), scoreable) << t["name"];
    if (scoreable) {
      for (const char* k : {"c", "kappa", "delta", "nrmse"}) EXPECT_TRUE(t["metrics"].contains(k)) << t["name"];
      EXPECT_TRUE(t["scores"].contains("S")) << t["name"];
    }
  }

  r = run_ramq({"verify", out.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
}

TEST(Manifest, VerifyNamesTheFirstTamperedFile) {
  TempDir tmp("manifest-tamper");
  const fs::path out = tmp / "out";
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "--policy", "uniform", "-o", out.string()}).status, 0);
  ASSERT_EQ(run_ramq({"verify", out.string()}).status, 0);
  flip_last_byte(out / "model.safetensors");
  expect_verify_fails_naming(out, out / "model.safetensors");
  flip_last_byte(out / "model.safetensors");  // restored
  ASSERT_EQ(run_ramq({"verify", out.string()}).status, 0);

  { std::ofstream(out / "extra.bin") << "x"; }
  expect_verify_fails_naming(out, out / "extra.bin");
  fs::remove(out / "extra.bin");
  fs::remove(out / "config.json");
  expect_verify_fails_naming(out, out / "config.json");
  fs::remove(out / "ramq-manifest.json");
  expect_verify_fails_naming(out, out / "ramq-manifest.json");
}

// The manifest carries its own digest over its exact bytes: its last member is "manifest_sha256",
// the sha256 of the file with that member's line taken out (checked here with coreutils'
// sha256sum); editing a decision in it makes verify fail naming the manifest.
TEST(Manifest, EditedManifestIsReported) {
  TempDir tmp("manifest-self");
  const fs::path out = tmp / "out";
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "-o", out.string()}).status, 0);
  const fs::path mf = out / "ramq-manifest.json";
  const std::string text = slurp(mf);
  json m = json::parse(text);
  ASSERT_TRUE(m.contains("manifest_sha256"));
  const std::string last = ",\n  \"manifest_sha256\": \"" + m["manifest_sha256"].get<std::string>() + "\"\n}\n";
  ASSERT_TRUE(text.ends_with(last)) << "the digest is the manifest's last line";
  { std::ofstream(tmp / "body.json", std::ios::binary) << text.substr(0, text.size() - last.size()) << "\n}\n"; }
  EXPECT_EQ(m["manifest_sha256"].get<std::string>(), sha256sum(tmp / "body.json"));
  ASSERT_EQ(run_ramq({"verify", out.string()}).status, 0);
  m["tensors"][3]["bits"] = 2;
  { std::ofstream(mf, std::ios::binary) << m.dump(2) << "\n"; }
  expect_verify_fails_naming(out, mf);
  const auto r = run_ramq({"verify", out.string()});
  EXPECT_NE(r.err.find("was changed"), std::string::npos) << r.err;
}

TEST(Manifest, GgufSidecarIsVerified) {
  TempDir tmp("manifest-gguf");
  const fs::path out = tmp / "m.gguf";
  auto r = run_ramq({"quantize", stories_dir(), "--format", "gguf", "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const fs::path sidecar = tmp / "m.gguf.ramq-manifest.json";
  ASSERT_TRUE(fs::exists(sidecar));
  const json m = json::parse(slurp(sidecar));
  ASSERT_EQ(m["outputs"].size(), 1u);
  EXPECT_EQ(m["outputs"][0]["file"], "m.gguf");
  expect_digests(m["outputs"], tmp.path());
  for (const auto& t : m["tensors"]) EXPECT_TRUE(t.contains("gguf_type")) << t.dump();
  EXPECT_EQ(run_ramq({"verify", out.string()}).status, 0);
  EXPECT_EQ(run_ramq({"verify", sidecar.string()}).status, 0);
  flip_last_byte(out);
  expect_verify_fails_naming(out, out);
}

TEST(Manifest, PlanFileIsRecorded) {
  TempDir tmp("manifest-plan");
  const fs::path plan = tmp / "p.json", out = tmp / "out";
  ASSERT_EQ(run_ramq({"analyze", stories_dir(), "-o", (tmp / "a.json").string()}).status, 0);
  ASSERT_EQ(run_ramq({"plan", (tmp / "a.json").string(), "-o", plan.string()}).status, 0);
  ASSERT_EQ(run_ramq({"quantize", stories_dir(), "--plan", plan.string(), "-o", out.string()}).status, 0);
  const json m = json::parse(slurp(out / "ramq-manifest.json"));
  EXPECT_EQ(m["plan_file"]["file"], plan.string());
  EXPECT_EQ(m["plan_file"]["sha256"], sha256sum(plan));
  EXPECT_EQ(m["tensors"].size(), 47u);
}

TEST(Manifest, IdenticalAcrossRunsAndThreadCounts) {
  TempDir tmp("manifest-det");
  for (const char* format : {"mlx", "gguf"}) {
    const fs::path out = tmp / (std::string("out.") + format);
    const fs::path manifest = std::string(format) == "mlx" ? out / "ramq-manifest.json" : fs::path(out.string() + ".ramq-manifest.json");
    std::string first, first_out;
    for (const char* threads : {"1", "2"}) {
      auto r = run_ramq({"--threads", threads, "quantize", stories_dir(), "--format", format, "-o", out.string()});
      ASSERT_EQ(r.status, 0) << r.err;
      const std::string now = slurp(manifest);
      if (first.empty()) {
        first = now;
        continue;
      }
      EXPECT_TRUE(now == first) << format << ": manifest differs between --threads 1 and 2";
    }
  }
}
