// Bad input through the command line: non-zero exit, exactly one line on stderr naming the file
// (and tensor) and the problem, and nothing left under the output name (nor a temporary).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "support/cli_failure.h"
#include "support/run_ramq.h"
#include "support/safetensors_builder.h"

namespace fs = std::filesystem;
using ramq::DType;
using ramq::testkit::run_ramq;
using ramq::testkit::TempDir;
using ramq::testkit::raw_safetensors;
using ramq::testkit::SafetensorsBuilder;
using ramq::testkit::opaque_config_json;
using ramq::testkit::write_file;

namespace {

std::vector<float> ramp(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 64.0f;
  return v;
}

SafetensorsBuilder good_weights() {
  SafetensorsBuilder b;
  b.add("model.layers.0.self_attn.q_proj.weight", DType::F32, {32, 64}, ramp(32 * 64))
      .add("model.norm.weight", DType::F32, {8}, std::vector<float>(8, 1.0f));
  return b;
}

using Case = ramq::testkit::BadInput;

std::string entry(const char* dtype, const char* shape, const char* offsets) {
  return std::string(R"({"dtype":")") + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}

void write_weights(const fs::path& dir, const std::string& bytes) {
  write_file(dir / "config.json", opaque_config_json());  // the tensors are stand-ins
  write_file(dir / "model.safetensors", bytes);
}

}  // namespace

TEST(CliErrors, MalformedModelsAreRejectedCleanly) {
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  const std::vector<Case> cases = {
      {"truncated file",
       [](const fs::path& d) {
         auto bytes = good_weights().bytes();
         write_weights(d, bytes.substr(0, bytes.size() - 100));
       },
       {"$DIR/model.safetensors", "'" + q + "'"}},
      {"header length beyond the file",
       [](const fs::path& d) { write_weights(d, raw_safetensors(R"({"w":)" + entry("F32", "[2]", "[0,8]") + "}", std::string(8, '\0'), 1u << 20)); },
       {"$DIR/model.safetensors", "header"}},
      {"header length near 2^64",
       [](const fs::path& d) { write_weights(d, raw_safetensors("{}", "", std::numeric_limits<std::uint64_t>::max() - 3)); },
       {"$DIR/model.safetensors", "header"}},
      {"header is not JSON",
       [](const fs::path& d) { write_weights(d, raw_safetensors("{\"w\": [1, 2", std::string(8, '\0'))); },
       {"$DIR/model.safetensors", "JSON"}},
      {"overlapping tensors",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F32", "[32,64]", "[0,8192]") + R"(,"b":)" +
                                              entry("F32", "[32,64]", "[4096,12288]") + "}",
                                          std::string(12288, '\0')));
       },
       {"$DIR/model.safetensors", "overlap"}},
      {"offsets past the end",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F32", "[32,64]", "[0,8192]") + "}", std::string(100, '\0')));
       },
       {"$DIR/model.safetensors", "tensor 'a'"}},
      {"unknown dtype",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F12", "[2]", "[0,4]") + "}", std::string(4, '\0')));
       },
       {"$DIR/model.safetensors", "tensor 'a'", "F12"}},
      {"shape does not match the byte span",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F32", "[32,64]", "[0,4096]") + "}", std::string(4096, '\0')));
       },
       {"$DIR/model.safetensors", "tensor 'a'", "shape"}},
      {"shape product overflows",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F32", "[4294967296,4294967296]", "[0,4]") + "}", std::string(4, '\0')));
       },
       {"$DIR/model.safetensors", "tensor 'a'"}},
      {"duplicate tensor names",
       [](const fs::path& d) {
         write_weights(d, raw_safetensors(R"({"a":)" + entry("F32", "[1]", "[0,4]") + R"(,"a":)" + entry("F32", "[1]", "[4,8]") + "}",
                                          std::string(8, '\0')));
       },
       {"$DIR/model.safetensors", "'a'"}},
      {"shard path escaping the directory",
       [](const fs::path& d) {
         write_file(d / "config.json", opaque_config_json());
         good_weights().write(d.parent_path() / "outside.safetensors");
         write_file(d / "model.safetensors.index.json", R"({"weight_map":{"model.norm.weight":"../outside.safetensors"}})");
       },
       {"$DIR/model.safetensors.index.json", "../outside.safetensors"}},
      {"NaN in weights",
       [q](const fs::path& d) {
         auto v = ramp(32 * 64);
         v[100] = std::numeric_limits<float>::quiet_NaN();
         SafetensorsBuilder b;
         b.add(q, DType::F32, {32, 64}, v);
         write_weights(d, b.bytes());
       },
       {"$DIR/model.safetensors", "tensor '" + q + "'", "NaN"}},
      {"Inf in a tensor that is only converted",
       [](const fs::path& d) {
         std::vector<float> v(8, 1.0f);
         v[3] = std::numeric_limits<float>::infinity();
         SafetensorsBuilder b;
         b.add("model.norm.weight", DType::F32, {8}, v);
         write_weights(d, b.bytes());
       },
       {"$DIR/model.safetensors", "tensor 'model.norm.weight'", "Inf"}},
      {"missing config.json", [](const fs::path& d) { good_weights().write(d / "model.safetensors"); }, {"$DIR", "config.json"}},
      {"config.json field of the wrong type",
       [](const fs::path& d) {
         write_file(d / "config.json", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":"big"})");
         good_weights().write(d / "model.safetensors");
       },
       {"$DIR/config.json", "hidden_size"}},
  };
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) ramq::testkit::expect_clean_failure(c);
}

TEST(CliErrors, PlanNamingMissingTensor) {
  TempDir tmp("cli-plan");
  const fs::path model = tmp / "model";
  fs::create_directories(model);
  write_weights(model, good_weights().bytes());
  const fs::path plan = tmp / "plan.json";
  write_file(plan, R"({"kind":"ramq-plan","policy":"swan","tensors":[{"name":"ghost.weight","shape":[4,32],)"
                   R"("numel":128,"bits":4,"group":32,"bytes":0}]})");
  const fs::path out = tmp / "out";
  const auto r = run_ramq({"quantize", model.string(), "--plan", plan.string(), "-o", out.string()});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(plan.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tensor 'ghost.weight'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, BadOptionsExitTwo) {
  EXPECT_EQ(run_ramq({"quantize", "x", "-o", "y", "--policy", "uniform", "--bits", "7"}).status, 2);
  EXPECT_EQ(run_ramq({"plan", "a.json", "-o", "p.json", "--policy", "magic"}).status, 2);
  EXPECT_EQ(run_ramq({"quantize", "x", "-o", "y", "--format", "onnx"}).status, 2);
  EXPECT_EQ(run_ramq({}).status, 2);
  EXPECT_EQ(run_ramq({"analyze", "x", "-o", "y", "--svd", "lanczos"}).status, 2);
  EXPECT_EQ(run_ramq({"analyze", "x", "-o", "y", "--krylov-block", "0"}).status, 2);
  EXPECT_EQ(run_ramq({"quantize", "x", "-o", "y", "--krylov-depth", "-1"}).status, 2);
}

// Every option of `ramq --help` and of each subcommand's --help has a description. CLI11 prints
// an option as "  -x,--name TYPE" padded to column 30, then the description, or (when the option
// text is longer) the description on the next line, indented by 30 spaces.
TEST(CliErrors, HelpExplainsEveryOption) {
  const std::vector<std::vector<std::string>> helps = {{"--help"},          {"analyze", "--help"}, {"plan", "--help"},
                                                       {"quantize", "--help"}, {"eval", "--help"},    {"inspect", "--help"},
                                                       {"verify", "--help"},   {"report", "--help"}};
  for (const auto& args : helps) {
    const auto r = run_ramq(args);
    const std::string what = args.size() > 1 ? args[0] : "ramq";
    ASSERT_EQ(r.status, 0) << what;
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    int options = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.rfind("  -", 0) != 0) continue;  // an option entry starts with two spaces and a dash
      ++options;
      const bool same_line = l.size() > 30 && l[29] == ' ' && l[30] != ' ';
      const bool next_line = i + 1 < lines.size() &&
                             lines[i + 1].rfind(std::string(30, ' '), 0) == 0 && lines[i + 1].size() > 30 &&
                             lines[i + 1][30] != ' ';
      EXPECT_TRUE(same_line || next_line) << what << ": no description for: " << l;
    }
    EXPECT_GE(options, 1) << what << ": no options found in:\n" << r.out;
  }
  // The options the foundation issue names are all there.
  const auto q = run_ramq({"quantize", "--help"});
  for (const char* opt : {"--plan", "--format", "--policy", "--bits", "--group", "--quantize-embeddings", "--t16", "--t8",
                          "--t2", "--w-svd", "--w-kurt", "--w-out", "--w-err", "--group8", "--group4", "--group2",
                          "--keep-dtype", "--strict-groups", "--save-plan", "--save-analysis", "--seed", "--max-shard-bytes"})
    EXPECT_NE(q.out.find(opt), std::string::npos) << opt;
}
