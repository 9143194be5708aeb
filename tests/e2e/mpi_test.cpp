// `mpirun -n K ramq quantize ...` (Open MPI, on this machine with --oversubscribe) writes the
// same bytes as one process: GGUF and MLX, swan and budget policies, with a saved analysis and
// plan; errors on any rank end the whole run with one line and no output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "ramq/ramq.h"
#include "ramq/safetensors.h"
#include "support/run_ramq.h"
#include "support/synthetic_llama.h"

using namespace ramq::testkit;

namespace {

RunResult run_mpi(int ranks, const std::vector<std::string>& ramq_args) {
  std::vector<std::string> args = {"-n", std::to_string(ranks), "--oversubscribe", "--allow-run-as-root", RAMQ_BINARY};
  args.insert(args.end(), ramq_args.begin(), ramq_args.end());
  // In the sanitizer build (scripts/test-asan.sh): Open MPI's own allocations (its dlopen'ed
  // plugins, unloaded at MPI_Finalize) are reported as leaks, so leak checking is off for the
  // processes mpirun starts; ramq's own code is leak-checked by every single-process test.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string saved = asan ? asan : "";
  if (asan) ::setenv("ASAN_OPTIONS", (saved + ":detect_leaks=0").c_str(), 1);
  RunResult r = run_program(MPIEXEC_BINARY, args);
  if (asan) ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  return r;
}

// Every file under dir (recursively), by relative path.
std::map<std::string, std::string> files_under(const std::filesystem::path& dir) {
  std::map<std::string, std::string> m;
  if (std::filesystem::is_regular_file(dir)) {
    m[dir.filename().string()] = slurp(dir);
    return m;
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[std::filesystem::relative(e.path(), dir).string()] = slurp(e.path());
  return m;
}

// Runs `quantize` once in one process and then under mpirun with each rank count, always with
// the same paths (the audit manifest records the command line), and compares every output byte:
// the model files, the manifest, the saved analysis and plan.
void expect_same_as_one_process(const std::filesystem::path& model, const std::vector<std::string>& extra,
                                const std::string& output_name, const std::vector<int>& rank_counts) {
  TempDir tmp("mpi");
  const auto run_dir = tmp / "run";
  auto run = [&](int ranks) {
    std::filesystem::remove_all(run_dir);
    std::filesystem::create_directories(run_dir);
    std::vector<std::string> args = {"quantize",        model.string(), "-o", (run_dir / output_name).string(),
                                     "--save-analysis", (run_dir / "analysis.json").string(),
                                     "--save-plan",     (run_dir / "plan.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = ranks == 0 ? run_ramq(args) : run_mpi(ranks, args);
    EXPECT_EQ(r.status, 0) << "ranks " << ranks << ": " << r.err;
    return files_under(run_dir);
  };
  const auto single = run(0);
  ASSERT_GE(single.size(), 4u);  // model file(s), manifest, analysis, plan
  for (const int ranks : rank_counts) {
    const auto multi = run(ranks);
    ASSERT_EQ(multi.size(), single.size()) << "ranks " << ranks;
    for (const auto& [name, bytes] : single) {
      ASSERT_TRUE(multi.count(name)) << name << " missing with " << ranks << " ranks";
      EXPECT_TRUE(multi.at(name) == bytes) << name << " differs with " << ranks << " ranks";
    }
  }
}

std::filesystem::path rsvd_model(const TempDir& tmp) {
  write_synthetic_llama(tmp / "model", randomized_svd_llama());
  return tmp / "model";
}

}  // namespace

TEST(Mpi, GgufSwanIdenticalToOneProcess) {
  expect_same_as_one_process(stories_dir(), {"--format", "gguf"}, "model.gguf", {2});
}

TEST(Mpi, MlxSwanIdenticalToOneProcess) {
  expect_same_as_one_process(stories_dir(), {"--format", "mlx"}, "out", {2});
}

TEST(Mpi, GgufBudgetIdenticalToOneProcess) {
  expect_same_as_one_process(stories_dir(), {"--format", "gguf", "--policy", "budget", "--target-bpw", "10"},
                             "model.gguf", {2});
}

TEST(Mpi, RandomizedSvdModelIdenticalWithTwoAndThreeRanks) {
  TempDir tmp("mpi-rsvd");
  const auto model = rsvd_model(tmp);
  expect_same_as_one_process(model, {"--format", "mlx"}, "out", {2, 3});
  expect_same_as_one_process(model, {"--format", "gguf", "--policy", "budget", "--target-bpw", "7"}, "model.gguf",
                             {3});
}

// A mixture of experts: the routed experts of one projection are written as one stacked tensor
// (GGUF *_exps, mlx_lm switch_mlp), encoded by the rank that owns expert 0; the outputs are still
// those of one process.
TEST(Mpi, MoeStacksIdenticalToOneProcess) {
  TempDir tmp("mpi-moe");
  SyntheticLlama s{.hidden = 256, .heads = 4, .kv_heads = 2, .ffn = 256, .layers = 2, .vocab = 512};
  s.model_type = "qwen3_moe";
  s.experts = 4;
  write_synthetic_llama(tmp / "model", s);
  expect_same_as_one_process(tmp / "model", {"--format", "gguf", "--policy", "budget", "--target-bpw", "4.5"},
                             "model.gguf", {2});
  expect_same_as_one_process(tmp / "model", {"--format", "mlx"}, "out", {3});
}

// Tensors are split by size (largest first, each to the least-loaded rank): the loads differ by
// at most the largest tensor, every tensor has exactly one rank, and the split is the same every
// time it is computed.
TEST(Mpi, TensorsSplitByBytesWithinOneTensorOfBalance) {
  const ramq::ModelReader model(stories_dir());
  for (const int ranks : {1, 2, 3, 5}) {
    const auto owners = ramq::assign_tensors_to_ranks(model, ranks);
    ASSERT_EQ(owners.size(), model.tensors().size());
    EXPECT_EQ(owners, ramq::assign_tensors_to_ranks(model, ranks));
    std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
    std::uint64_t largest = 0;
    for (std::size_t i = 0; i < owners.size(); ++i) {
      ASSERT_GE(owners[i], 0);
      ASSERT_LT(owners[i], ranks);
      load[static_cast<std::size_t>(owners[i])] += model.tensors()[i].nbytes;
      largest = std::max(largest, model.tensors()[i].nbytes);
    }
    const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    EXPECT_LE(*hi - *lo, largest) << ranks << " ranks";
    if (ranks > 1) {
      EXPECT_GT(*lo, 0u) << "a rank got nothing to do with " << ranks << " ranks";
    }
  }
}

// A malformed tensor read by rank 1 (not rank 0): the run fails with the problem on one line
// naming the tensor, and no output appears.
TEST(Mpi, ErrorOnAnotherRankEndsTheRunWithoutOutput) {
  TempDir tmp("mpi-error");
  const auto model = rsvd_model(tmp);
  const ramq::ModelReader reader(model);
  const auto owners = ramq::assign_tensors_to_ranks(reader, 2);
  // A tensor owned by rank 1 gets a NaN: the analysis of that rank fails (non-finite weights).
  std::size_t victim = owners.size();
  for (std::size_t i = 0; i < owners.size(); ++i)
    if (owners[i] == 1 && reader.tensors()[i].shape.size() == 2) victim = i;
  ASSERT_LT(victim, owners.size());
  const auto& t = reader.tensors()[victim];
  const std::string name = t.name;
  {
    std::fstream f(t.file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(static_cast<std::streamoff>(t.offset));  // absolute offset of the tensor's data
    const float nan = std::numeric_limits<float>::quiet_NaN();
    if (t.dtype == ramq::DType::F32) {
      f.write(reinterpret_cast<const char*>(&nan), 4);
    } else {  // F16 / BF16: 0x7e00 / 0x7fc0 are NaN
      const std::uint16_t bits = t.dtype == ramq::DType::BF16 ? 0x7fc0 : 0x7e00;
      f.write(reinterpret_cast<const char*>(&bits), 2);
    }
  }
  const auto out = tmp / "out.gguf";
  const RunResult r = run_mpi(2, {"quantize", model.string(), "--format", "gguf", "-o", out.string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find("out.gguf"), std::string::npos) << "left behind: " << e.path();
}

// Only quantize runs across processes; the others refuse mpirun -n 2 with one line.
TEST(Mpi, OtherCommandsRefuseSeveralProcesses) {
  const RunResult r = run_mpi(2, {"analyze", stories_dir(), "-o", "/dev/null"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("only `ramq quantize` runs across MPI processes"), std::string::npos) << r.err;
}
