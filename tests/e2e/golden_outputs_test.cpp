// Every file ramq writes, pinned by hash: each policy and format on the example model
// (stories260K), on the K-quant model (kjv-llama-3.7M) and on the tiny synthetic preset, plus
// analyze, plan and report. A change that is meant to keep the outputs (a refactoring) must pass
// unchanged; one that is meant to change them regenerates the list with
//   RAMQ_UPDATE_GOLDEN=tests/e2e/golden_outputs.txt build/tests/e2e/test_golden_outputs
// and the diff of that file shows which outputs moved.
//
// The runs use relative paths inside one temporary directory, so that the manifests (which
// record the command line and the model directory as given) are the same on every machine.
//
// Outputs that go through OpenBLAS or libm (the SWAN statistics' SVDs, --probe self's forward
// passes; docs/reliability.md, "Same bytes") are the same bits only on the same kind of CPU at its own SIMD
// level: those cases are compared only on the CPU model the list was made on (its first line)
// with RAMQ_ISA unset, and elsewhere just run. Every other case is compared everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "ramq/hash.h"
#include "support/run_ramq.h"

using namespace ramq::testkit;
namespace fs = std::filesystem;

namespace {

struct GoldenCase {
  std::string name;
  std::vector<std::string> args;     // after `ramq --threads 2`
  std::vector<std::string> outputs;  // files or directories the run writes
  bool same_on_every_cpu = true;     // false: SWAN statistics or forward passes are in the outputs
};

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  auto quantize = [&](const std::string& model, const std::string& format, const std::string& tag,
                      std::vector<std::string> extra) {
    const std::string name = model + "-" + format + "-" + tag;
    const std::string out = "out/" + name + (format == "gguf" ? ".gguf" : "");
    std::vector<std::string> args = {"quantize", "models/" + model, "--format", format, "-o", out,
                                     "--save-plan", "out/" + name + ".plan.json"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::string> outputs = {out, "out/" + name + ".plan.json"};
    if (format == "gguf") outputs.push_back(out + ".ramq-manifest.json");
    const bool policy_set = std::find(extra.begin(), extra.end(), "--policy") != extra.end();
    const bool probe = std::find(extra.begin(), extra.end(), "--probe") != extra.end();
    cases.push_back({name, args, outputs, policy_set && !probe});
  };
  for (const std::string model : {"stories260K", "kjv", "tiny"}) {
    for (const std::string format : {"mlx", "gguf"}) {
      quantize(model, format, "swan", {});
      quantize(model, format, "uniform", {"--policy", "uniform"});
      // stories260K's 64-wide rows and 16-bit embeddings put its smallest plan near 6 bits.
      quantize(model, format, "budget", {"--policy", "budget", "--target-bpw", model == "stories260K" ? "9" : "5"});
    }
    quantize(model, "gguf", "mix-q4km", {"--policy", "llama-mix", "--mix", "Q4_K_M"});
  }
  quantize("kjv", "gguf", "mix-q3km", {"--policy", "llama-mix", "--mix", "Q3_K_M"});
  quantize("kjv", "gguf", "mix-q6k", {"--policy", "llama-mix", "--mix", "Q6_K"});
  quantize("kjv", "gguf", "mix-q8", {"--policy", "llama-mix", "--mix", "Q8_0"});
  quantize("kjv", "gguf", "budget-size", {"--policy", "budget", "--target-size", "1800KB"});
  quantize("kjv", "gguf", "f32", {"--policy", "uniform", "--bits", "16", "--keep-dtype"});
  quantize("kjv", "mlx", "budget-probe", {"--policy", "budget", "--target-bpw", "4.5", "--probe", "self"});
  quantize("stories260K", "mlx", "uniform2-emb",
           {"--policy", "uniform", "--bits", "2", "--group", "32", "--quantize-embeddings"});
  quantize("stories260K", "mlx", "uniform8-minmax", {"--policy", "uniform", "--bits", "8", "--mlx-encoder", "minmax"});
  quantize("stories260K", "mlx", "swan-strict-keep", {"--strict-groups", "--keep-dtype", "--group4", "128"});
  quantize("stories260K", "gguf", "uniform3", {"--policy", "uniform", "--bits", "3"});
  quantize("tiny", "mlx", "swan-shards", {"--max-shard-bytes", "20000000", "--t8", "0.5"});
  quantize("tiny", "gguf", "budget-smallest", {"--policy", "budget", "--target-bpw", "2.8"});
  cases.push_back({"stories260K-analyze", {"analyze", "models/stories260K", "-o", "out/s.analysis.json"},
                   {"out/s.analysis.json"}, false});
  cases.push_back({"stories260K-plan-budget",
                   {"plan", "out/s.analysis.json", "--policy", "budget", "--target-bpw", "6", "-o", "out/s.plan.json"},
                   {"out/s.plan.json"}, false});
  cases.push_back({"stories260K-report", {"report", "out/stories260K-mlx-swan", "-o", "out/s.report.html"},
                   {"out/s.report.html"}, false});
  return cases;
}

// sha256 over the relative names and sha256 of every file under the outputs, in name order.
std::string outputs_digest(const fs::path& root, const std::vector<std::string>& outputs) {
  std::map<std::string, std::string> files;
  for (const auto& o : outputs) {
    const fs::path p = root / o;
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = ramq::sha256_file_hex(e.path());
    } else {
      files[o] = ramq::sha256_file_hex(p);
    }
  }
  std::string listing;
  for (const auto& [name, digest] : files) listing += name + " " + digest + "\n";
  return ramq::sha256_hex(std::as_bytes(std::span(listing.data(), listing.size())));
}

std::string cpu_model() {
  std::istringstream in(slurp("/proc/cpuinfo"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

struct Golden {
  std::string cpu;  // the CPU model the list was made on
  std::map<std::string, std::string> digests;
};

Golden read_golden(const fs::path& file) {
  Golden g;
  std::istringstream in(slurp(file));
  std::string line;
  std::getline(in, line);
  if (line.rfind("cpu ", 0) == 0) g.cpu = line.substr(4);
  std::string name, digest;
  while (in >> name >> digest) g.digests[name] = digest;
  return g;
}

void copy_model(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from))
    if (e.is_regular_file()) fs::copy_file(e.path(), to / e.path().filename());
}

}  // namespace

TEST(GoldenOutputs, EveryPolicyAndFormatGivesThePinnedBytes) {
  TempDir tmp("golden");
  copy_model(shared_dir() + "/models/stories260K", tmp / "models/stories260K");
  copy_model(shared_dir() + "/models/kjv-llama-3.7M", tmp / "models/kjv");
  auto made = run_program(RAMQ_MAKE_SYNTHETIC, {"--preset", "tiny", "--seed", "1", "-o", "models/tiny"}, tmp.path());
  ASSERT_EQ(made.status, 0) << made.err;
  fs::create_directories(tmp / "out");

  const char* update = std::getenv("RAMQ_UPDATE_GOLDEN");
  const fs::path golden_file = update ? fs::path(update) : fs::path(RAMQ_GOLDEN_FILE);
  const Golden golden = update ? Golden{} : read_golden(golden_file);
  const bool same_cpu = golden.cpu == cpu_model() && std::getenv("RAMQ_ISA") == nullptr;
  if (!update && !same_cpu)
    std::printf("note: CPU '%s' (list made on '%s') or RAMQ_ISA set: outputs of SWAN statistics and forward passes "
                "are run, not compared\n", cpu_model().c_str(), golden.cpu.c_str());
  std::string written = "cpu " + cpu_model() + "\n";
  for (const auto& c : golden_cases()) {
    std::vector<std::string> args = {"--threads", "2"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_program(RAMQ_BINARY, args, tmp.path());
    ASSERT_EQ(r.status, 0) << c.name << ": " << r.err;
    const std::string digest = outputs_digest(tmp.path(), c.outputs);
    written += c.name + " " + digest + "\n";
    if (update || (!c.same_on_every_cpu && !same_cpu)) continue;
    ASSERT_TRUE(golden.digests.count(c.name)) << c.name << " is not in " << golden_file;
    EXPECT_EQ(digest, golden.digests.at(c.name)) << c.name << ": the outputs changed";
  }
  if (update) {
    std::ofstream(golden_file) << written;
  } else {
    EXPECT_EQ(golden.digests.size(), golden_cases().size()) << golden_file << " lists cases this test does not run";
  }
}
