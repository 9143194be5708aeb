#include "ramq/atomic_output.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "ramq/error.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace ramq {
namespace {

class AtomicOutputTest : public ::testing::Test {
 protected:
  testkit::TempDir tmp_{"ramq_atomic"};

  // Names of everything directly inside dir_.
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename().string());
    return out;
  }
  fs::path dir_ = tmp_.path();
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}
std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(AtomicOutputTest, TempIsAHiddenSiblingNamedAfterTheOutput) {
  AtomicOutput out(dir_ / "model-mlx", true);
  EXPECT_EQ(out.final_path(), dir_ / "model-mlx");
  EXPECT_EQ(out.temp_path().parent_path(), dir_);
  EXPECT_EQ(out.temp_path().filename().string(), ".model-mlx.ramq-tmp-" + std::to_string(::getpid()));
  EXPECT_TRUE(fs::is_directory(out.temp_path()));
  EXPECT_FALSE(fs::exists(out.final_path()));
}

TEST_F(AtomicOutputTest, CommitMovesDirectoryIntoPlace) {
  const fs::path final_path = dir_ / "out";
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "a.txt", "hello");
    EXPECT_FALSE(fs::exists(final_path));
    out.commit();
  }
  EXPECT_TRUE(fs::is_directory(final_path));
  EXPECT_EQ(read_file(final_path / "a.txt"), "hello");
  EXPECT_EQ(entries(), std::set<std::string>{"out"});  // no temporary left behind
}

TEST_F(AtomicOutputTest, CommitMovesFileIntoPlace) {
  const fs::path final_path = dir_ / "plan.json";
  {
    AtomicOutput out(final_path, false);
    EXPECT_FALSE(fs::exists(out.temp_path()));  // the caller creates the file
    write_file(out.temp_path(), "{}");
    out.commit();
  }
  EXPECT_EQ(read_file(final_path), "{}");
  EXPECT_EQ(entries(), std::set<std::string>{"plan.json"});
}

TEST_F(AtomicOutputTest, DestroyWithoutCommitLeavesNothing) {
  {
    AtomicOutput out(dir_ / "out", true);
    write_file(out.temp_path() / "a.txt", "partial");
    fs::create_directories(out.temp_path() / "sub");
    write_file(out.temp_path() / "sub" / "b.txt", "partial");
  }
  {
    AtomicOutput out(dir_ / "file.bin", false);
    write_file(out.temp_path(), "partial");
  }
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicOutputTest, ExceptionBeforeCommitLeavesNothing) {
  try {
    AtomicOutput out(dir_ / "out", true);
    write_file(out.temp_path() / "a.txt", "partial");
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(entries().empty());
}

// An earlier output: its ramq-manifest.json lists every file in it (include/ramq/output_path.h).
TEST_F(AtomicOutputTest, ReplacesAnExistingOutputDirectory) {
  const fs::path final_path = dir_ / "out";
  fs::create_directories(final_path);
  write_file(final_path / "config.json", "old");
  write_file(final_path / "stale.safetensors", "old");
  write_file(final_path / "ramq-manifest.json",
             R"({"kind": "ramq-manifest", "outputs": [{"file": "config.json"}, {"file": "stale.safetensors"}]})");
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "config.json", "new");
    out.commit();
  }
  EXPECT_EQ(read_file(final_path / "config.json"), "new");
  EXPECT_FALSE(fs::exists(final_path / "stale.safetensors"));
  EXPECT_EQ(entries(), std::set<std::string>{"out"});  // the old directory set aside is gone too
}

TEST_F(AtomicOutputTest, ReplacesAnEmptyDirectory) {
  const fs::path final_path = dir_ / "out";
  fs::create_directories(final_path);
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "x", "new");
    out.commit();
  }
  EXPECT_EQ(read_file(final_path / "x"), "new");
}

TEST_F(AtomicOutputTest, RefusesADirectoryWithFilesNoManifestLists) {
  const fs::path final_path = dir_ / "out";
  fs::create_directories(final_path);
  write_file(final_path / "config.json", "old");
  write_file(final_path / "notes.txt", "mine");
  write_file(final_path / "ramq-manifest.json", R"({"kind": "ramq-manifest", "outputs": [{"file": "config.json"}]})");
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "config.json", "new");
    EXPECT_THROW(out.commit(), Error);
  }
  EXPECT_EQ(read_file(final_path / "notes.txt"), "mine");
  EXPECT_EQ(read_file(final_path / "config.json"), "old");
  EXPECT_EQ(entries(), std::set<std::string>{"out"});
}

TEST_F(AtomicOutputTest, RefusesAFileRamqDidNotWrite) {
  const fs::path final_path = dir_ / "f.json";
  write_file(final_path, "someone else's");
  {
    AtomicOutput out(final_path, false);
    write_file(out.temp_path(), "new");
    EXPECT_THROW(out.commit(), Error);
  }
  EXPECT_EQ(read_file(final_path), "someone else's");
  EXPECT_EQ(entries(), std::set<std::string>{"f.json"});
}

TEST_F(AtomicOutputTest, ReplacesAnExistingFile) {
  const fs::path final_path = dir_ / "f.json";
  write_file(final_path, R"({"kind": "ramq-plan"})");  // one of ramq's own files
  {
    AtomicOutput out(final_path, false);
    write_file(out.temp_path(), "new");
    out.commit();
  }
  EXPECT_EQ(read_file(final_path), "new");
  EXPECT_EQ(entries(), std::set<std::string>{"f.json"});
}

TEST_F(AtomicOutputTest, DirectoryOutputOverAFileIsAnError) {
  const fs::path final_path = dir_ / "out";
  write_file(final_path, "a file");
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "a.txt", "x");
    EXPECT_THROW(out.commit(), Error);
  }
  EXPECT_EQ(read_file(final_path), "a file");
  EXPECT_EQ(entries(), std::set<std::string>{"out"});
}

TEST_F(AtomicOutputTest, FileOutputOverADirectoryIsAnError) {
  const fs::path final_path = dir_ / "out";
  fs::create_directories(final_path);
  write_file(final_path / "keep.txt", "x");
  {
    AtomicOutput out(final_path, false);
    write_file(out.temp_path(), "new");
    EXPECT_THROW(out.commit(), Error);
  }
  EXPECT_EQ(read_file(final_path / "keep.txt"), "x");
  EXPECT_EQ(entries(), std::set<std::string>{"out"});
}

TEST_F(AtomicOutputTest, RefusesToReplaceAnUnrelatedDirectory) {
  const fs::path final_path = dir_ / "documents";
  fs::create_directories(final_path);
  write_file(final_path / "thesis.tex", "precious");
  {
    AtomicOutput out(final_path, true);
    write_file(out.temp_path() / "config.json", "{}");
    EXPECT_THROW(out.commit(), Error);
  }
  EXPECT_EQ(read_file(final_path / "thesis.tex"), "precious");
  EXPECT_EQ(entries(), std::set<std::string>{"documents"});
}

TEST_F(AtomicOutputTest, CommitWithoutAnyOutputIsAnError) {
  AtomicOutput out(dir_ / "f.bin", false);
  EXPECT_THROW(out.commit(), Error);
  EXPECT_FALSE(fs::exists(dir_ / "f.bin"));
}

TEST_F(AtomicOutputTest, TrailingSeparatorAndMissingParents) {
  const fs::path final_path = dir_ / "a" / "b" / "out";
  {
    AtomicOutput out(final_path.string() + "/", true);
    EXPECT_EQ(out.final_path(), final_path);
    write_file(out.temp_path() / "x", "1");
    out.commit();
  }
  EXPECT_EQ(read_file(final_path / "x"), "1");
}

TEST_F(AtomicOutputTest, PathsWithoutAFinalNameAreRejected) {
  EXPECT_THROW(AtomicOutput(dir_ / ".", true), Error);
  EXPECT_THROW(AtomicOutput(dir_ / "..", true), Error);
}

// A termination signal removes the registered temporary and exits with 128 + signal.
TEST_F(AtomicOutputTest, SignalRemovesTemporary) {
  for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
    const fs::path final_path = dir_ / ("out" + std::to_string(sig));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      install_cleanup_signal_handlers();
      AtomicOutput out(final_path, true);
      write_file(out.temp_path() / "model.safetensors", std::string(100000, 'x'));
      write_file(out.temp_path() / "config.json", "{}");
      ::raise(sig);
      ::_exit(0);  // not reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    EXPECT_TRUE(entries().empty()) << "signal " << sig;
  }
}

}  // namespace
}  // namespace ramq
