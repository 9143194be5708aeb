// The layering of the source tree, checked on the sources themselves: every stage folder under
// src/ has a rank (the order its libraries link in), and a file may include only headers of its
// own stage or of a lower one, whether private ("plan/foo.h", beside its sources) or public
// ("ramq/plan.h", whose stage the table below names). include/ramq/ holds the public API only:
// every header there is listed with its stage, and a header no source outside its own stage and
// no test or tool includes is private (it belongs beside its sources).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Lowest first: the dependency order of the stage libraries (src/*/CMakeLists.txt).
const std::vector<std::string> kStages = {"common", "encode", "read",     "arch",   "tokenize", "analyze",
                                          "plan",   "write",  "evaluate", "report", "pipeline", "cli"};

// The stage that implements each public header.
const std::map<std::string, std::string> kPublicHeaderStage = {
    {"analysis.h", "analyze"},    {"atomic_output.h", "common"},   {"budget.h", "plan"},
    {"chat_template.h", "write"}, {"generate.h", "evaluate"},
    {"config_check.h", "arch"},   {"config_fields.h", "read"},     {"family_config.h", "arch"},
    {"gguf_metadata.h", "arch"},  {"gguf_names.h", "arch"},        {"model_family.h", "arch"},
    {"gemma3_config.h", "arch"},  {"longrope.h", "arch"},
    {"qk_permute.h", "arch"},     {"tensor_role.h", "arch"},   {"module_weight.h", "arch"},   {"dtype.h", "common"},           {"encoding.h", "encode"},
    {"error.h", "common"},        {"eval.h", "evaluate"},          {"ggml_types.h", "encode"},
    {"gguf.h", "read"},           {"hash.h", "common"},
    {"input_file.h", "common"},   {"inspect.h", "read"},           {"json_io.h", "common"},
    {"manifest.h", "write"},      {"metrics.h", "analyze"},
    {"mlx_affine.h", "encode"},   {"mlx_writer.h", "write"},       {"options.h", "pipeline"},       {"output_writer.h", "write"},
    {"output_path.h", "common"},  {"parallel.h", "common"},        {"plan.h", "plan"},
    {"probe.h", "evaluate"},      {"progress.h", "common"},        {"ramq.h", "pipeline"},
    {"rate_distortion.h", "analyze"}, {"report.h", "report"},      {"rng.h", "common"},
    {"safetensors.h", "read"},    {"safetensors_writer.h", "write"}, {"sensitivity.h", "plan"},
    {"tekken.h", "tokenize"},     {"tokenizer.h", "tokenize"},  {"utf8.h", "common"},            {"version.h", "common"},
};

int rank_of(const std::string& stage) {
  for (std::size_t i = 0; i < kStages.size(); ++i)
    if (kStages[i] == stage) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> quoted_includes(const fs::path& file) {
  std::ifstream in(file);
  static const std::regex include(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, include)) out.push_back(m[1]);
  return out;
}

bool is_source(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".cpp" || ext == ".h";
}

// The stage a quoted include belongs to: "ramq/x.h" by the table, "stage/..." by its folder; ""
// for includes of the same folder or unknown public headers (reported separately).
std::string stage_of_include(const std::string& inc) {
  if (inc.rfind("ramq/", 0) == 0) {
    const auto it = kPublicHeaderStage.find(inc.substr(5));
    return it == kPublicHeaderStage.end() ? "" : it->second;
  }
  const auto slash = inc.find('/');
  return slash == std::string::npos ? "" : inc.substr(0, slash);
}

const fs::path kRoot = RAMQ_SOURCE_DIR;

// Calls f(file, stage, include) for every quoted include of every source under src/.
template <class F>
void for_each_src_include(F f) {
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "src")) {
    if (!e.is_regular_file() || !is_source(e.path())) continue;
    const std::string stage = fs::relative(e.path(), kRoot / "src").begin()->string();
    for (const auto& inc : quoted_includes(e.path())) f(fs::relative(e.path(), kRoot).string(), stage, inc);
  }
}

std::string lines(const std::vector<std::string>& v) {
  std::string all;
  for (const auto& l : v) all += "\n  " + l;
  return all;
}

}  // namespace

TEST(Layering, EveryStageFolderHasARank) {
  for (const auto& e : fs::directory_iterator(kRoot / "src")) {
    if (!e.is_directory()) continue;
    EXPECT_GE(rank_of(e.path().filename().string()), 0) << e.path() << " has no rank";
  }
}

TEST(Layering, EveryPublicHeaderHasAStage) {
  for (const auto& e : fs::directory_iterator(kRoot / "include/ramq")) {
    EXPECT_TRUE(kPublicHeaderStage.count(e.path().filename().string()))
        << e.path() << ": give it a stage in this test, or move it beside its sources if it is private";
  }
  for (const auto& [header, stage] : kPublicHeaderStage) {
    EXPECT_TRUE(fs::exists(kRoot / "include/ramq" / header)) << header << " is listed but does not exist";
    EXPECT_GE(rank_of(stage), 0) << header;
  }
}

TEST(Layering, NoStageIncludesALaterStage) {
  std::vector<std::string> back_edges;
  for_each_src_include([&](const std::string& file, const std::string& stage, const std::string& inc) {
    const std::string target = stage_of_include(inc);
    if (!target.empty() && rank_of(target) > rank_of(stage))
      back_edges.push_back(file + " (" + stage + ") includes " + inc + " (" + target + ")");
  });
  // Public headers: a header may include only headers of its own stage or lower ones.
  for (const auto& [header, stage] : kPublicHeaderStage) {
    for (const auto& inc : quoted_includes(kRoot / "include/ramq" / header)) {
      const std::string target = stage_of_include(inc);
      if (!target.empty() && rank_of(target) > rank_of(stage))
        back_edges.push_back("include/ramq/" + header + " (" + stage + ") includes " + inc + " (" + target + ")");
    }
  }
  EXPECT_TRUE(back_edges.empty()) << "includes that run back up the pipeline:" << lines(back_edges);
}

TEST(Layering, PrivateHeadersStayInTheirStage) {
  // "stage/foo.h" is private to its stage; only common/'s are shared by every stage.
  std::vector<std::string> leaks;
  for_each_src_include([&](const std::string& file, const std::string& stage, const std::string& inc) {
    const std::string target = stage_of_include(inc);
    if (inc.rfind("ramq/", 0) != 0 && !target.empty() && target != stage && target != "common")
      leaks.push_back(file + " includes " + inc);
  });
  EXPECT_TRUE(leaks.empty()) << "private headers of another stage:" << lines(leaks);
}

TEST(Layering, PublicHeadersAreUsedOutsideTheirStage) {
  // A header in include/ramq/ that only its own stage includes is private: it goes beside its
  // sources. (Tests, tools and the command line count as outside users.)
  std::map<std::string, std::set<std::string>> users;  // header -> stages or "outside"
  auto scan = [&](const fs::path& dir, bool in_src) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() || !is_source(e.path())) continue;
      const std::string stage = in_src ? fs::relative(e.path(), kRoot / "src").begin()->string() : "outside";
      for (const auto& inc : quoted_includes(e.path()))
        if (inc.rfind("ramq/", 0) == 0) users[inc.substr(5)].insert(stage);
    }
  };
  scan(kRoot / "src", true);
  scan(kRoot / "include/ramq", false);  // a public header's includes are public too
  for (const char* dir : {"tests", "bench", "fuzz"})
    if (fs::exists(kRoot / dir)) scan(kRoot / dir, false);
  for (const auto& [header, stage] : kPublicHeaderStage) {
    const auto& u = users[header];
    const bool outside = std::any_of(u.begin(), u.end(), [&](const std::string& s) { return s != stage; });
    EXPECT_TRUE(outside) << "include/ramq/" << header << " is used only by " << stage << ": move it beside its sources";
  }
}
