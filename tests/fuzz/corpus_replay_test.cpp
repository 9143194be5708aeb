// Replays every file of the fuzzing seed corpus (fuzz/corpus/TARGET) and regression corpus
// (fuzz/regressions/TARGET: inputs that once crashed a parser) through the same entry points the
// libFuzzer targets use. Each input must either load or be refused with a ramq::Error; any other
// exception fails the test, and a crash or sanitizer report fails the whole test binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.h"
#include "ramq/error.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs_of(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().front() != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class CorpusReplay : public testing::TestWithParam<std::string> {};

TEST_P(CorpusReplay, EveryInputLoadsOrFailsWithRamqError) {
  const auto* target = ramq::fuzz::find_target(GetParam());
  ASSERT_NE(target, nullptr);
  const fs::path root = RAMQ_SOURCE_DIR "/fuzz";
  const auto seeds = inputs_of(root / "corpus" / GetParam());
  EXPECT_FALSE(seeds.empty()) << "no seed corpus in " << (root / "corpus" / GetParam());
  auto all = seeds;
  const auto regressions = inputs_of(root / "regressions" / GetParam());
  all.insert(all.end(), regressions.begin(), regressions.end());
  int loaded = 0, refused = 0;
  for (const auto& file : all) {
    const auto bytes = read_all(file);
    try {
      target->run(bytes);
      ++loaded;
    } catch (const ramq::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": escaped as " << typeid(e).name() << ": " << e.what();
    }
  }
  EXPECT_EQ(loaded + refused, static_cast<int>(all.size()));
  // The seeds are valid files of their format: at least one must load.
  if (!seeds.empty()) {
    EXPECT_GT(loaded, 0) << "no input of " << GetParam() << " loads";
  }
  std::printf("%s: %zu seed(s), %zu regression(s): %d loaded, %d refused with ramq::Error\n", GetParam().c_str(),
              seeds.size(), regressions.size(), loaded, refused);
}

std::vector<std::string> target_names() {
  std::vector<std::string> out;
  for (const auto& t : ramq::fuzz::targets()) out.emplace_back(t.name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusReplay, testing::ValuesIn(target_names()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
