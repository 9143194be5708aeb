// Progress in the non-terminal mode (plain lines) and when silenced, written to a temporary file
// and read back. No assertion depends on how long anything takes: interval 0 prints on every
// advance, an interval of an hour never prints before the end.
#include "ramq/progress.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace ramq {
namespace {

// A temporary stdio file whose whole content can be read back.
class CapturedFile {
 public:
  CapturedFile() : f_(std::tmpfile()) {}
  ~CapturedFile() {
    if (f_) std::fclose(f_);
  }
  CapturedFile(const CapturedFile&) = delete;
  CapturedFile& operator=(const CapturedFile&) = delete;
  std::FILE* get() const { return f_; }
  std::vector<std::string> lines() const {
    std::fflush(f_);
    std::rewind(f_);
    std::vector<std::string> out;
    std::string cur;
    for (int c; (c = std::fgetc(f_)) != EOF;) {
      if (c == '\n') {
        out.push_back(cur);
        cur.clear();
      } else {
        cur += static_cast<char>(c);
      }
    }
    EXPECT_TRUE(cur.empty()) << "unterminated last line: " << cur;
    std::fseek(f_, 0, SEEK_END);
    return out;
  }

 private:
  std::FILE* f_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Progress, IntervalZeroPrintsOneLinePerItemWithCountBytesRateEta) {
  CapturedFile f;
  ASSERT_NE(f.get(), nullptr);
  Progress p(f.get(), ProgressStyle::kLines, 0.0);
  p.begin({"analyze", "tensors", 3, 3000, ""});
  p.advance(1, 500);
  p.advance(1, 1000);
  p.advance(1, 1500);
  p.end(true);
  const auto lines = f.lines();
  ASSERT_EQ(lines.size(), 4u);
  const char* counts[] = {"1/3 tensors", "2/3 tensors", "3/3 tensors"};
  const char* bytes[] = {"500 B of 3.0 kB", "1.5 kB of 3.0 kB", "3.0 kB of 3.0 kB"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i].rfind("ramq: analyze ", 0), 0u) << lines[i];
    EXPECT_TRUE(contains(lines[i], counts[i])) << lines[i];
    EXPECT_TRUE(contains(lines[i], bytes[i])) << lines[i];
    EXPECT_TRUE(contains(lines[i], "/s, ETA ")) << lines[i];  // a rate, then the time left
    EXPECT_EQ(lines[i].find('\r'), std::string::npos);         // no terminal redraws in a log
    EXPECT_EQ(lines[i].find('\x1b'), std::string::npos);
  }
  EXPECT_TRUE(contains(lines[2], "ETA 0:00")) << lines[2];  // all done: nothing left
  EXPECT_EQ(lines[3].rfind("ramq: analyze done: 3 tensors, 3.0 kB in ", 0), 0u) << lines[3];
}

TEST(Progress, AmountInOtherUnitsAndLargeBytes) {
  CapturedFile f;
  Progress p(f.get(), ProgressStyle::kLines, 0.0);
  p.begin({"eval", "windows", 4, 1024, "tokens"});
  p.advance(2, 512);
  p.end(true);
  p.begin({"write", "tensors", 2, 3'000'000'000ULL, ""});
  p.advance(1, 1'500'000);
  p.end(true);
  const auto lines = f.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(contains(lines[0], "ramq: eval 2/4 windows, 512 tokens of 1024 tokens, ")) << lines[0];
  EXPECT_TRUE(contains(lines[0], " tokens/s, ETA ")) << lines[0];
  EXPECT_EQ(lines[1].rfind("ramq: eval done: 2 windows, 512 tokens in ", 0), 0u) << lines[1];
  EXPECT_TRUE(contains(lines[2], "1/2 tensors, 1.50 MB of 3.00 GB")) << lines[2];
}

TEST(Progress, WithoutAmountRateAndEtaCountItems) {
  CapturedFile f;
  Progress p(f.get(), ProgressStyle::kLines, 0.0);
  p.begin({"hash inputs", "files", 2, 0, ""});
  p.advance(1, 0);
  p.end(true);
  const auto lines = f.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(contains(lines[0], "ramq: hash inputs 1/2 files, ")) << lines[0];
  EXPECT_TRUE(contains(lines[0], " files/s, ETA ")) << lines[0];
  EXPECT_FALSE(contains(lines[0], " B")) << lines[0];
  EXPECT_EQ(lines[1].rfind("ramq: hash inputs done: 1 files in ", 0), 0u) << lines[1];
}

TEST(Progress, LongIntervalPrintsNothingForAQuickTask) {
  CapturedFile f;
  Progress p(f.get(), ProgressStyle::kLines, 3600.0);
  p.begin({"analyze", "tensors", 100, 0, ""});
  for (int i = 0; i < 100; ++i) p.advance(1, 0);
  p.end(true);  // nothing was printed, so no final line either
  EXPECT_TRUE(f.lines().empty());
}

TEST(Progress, QuietPrintsNothing) {
  CapturedFile f;
  Progress p(f.get(), progress_style_for(::fileno(f.get()), /*quiet=*/true), 0.0);
  EXPECT_EQ(p.style(), ProgressStyle::kOff);
  p.begin({"analyze", "tensors", 3, 30, ""});
  p.advance(3, 30);
  p.end(true);
  EXPECT_TRUE(f.lines().empty());
  Progress null_stream(nullptr, ProgressStyle::kLines, 0.0);  // no stream: off as well
  EXPECT_EQ(null_stream.style(), ProgressStyle::kOff);
}

TEST(Progress, NotATerminalMeansPlainLines) {
  CapturedFile f;
  EXPECT_EQ(progress_style_for(::fileno(f.get()), false), ProgressStyle::kLines);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_EQ(progress_style_for(fds[1], false), ProgressStyle::kLines);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Progress, FailedTaskHasNoFinalLine) {
  CapturedFile f;
  Progress p(f.get(), ProgressStyle::kLines, 0.0);
  {
    ProgressScope scope(&p, {"write", "tensors", 2, 0, ""});
    scope.advance(1, 0);
  }  // no done(): the task failed
  {
    ProgressScope scope(&p, {"write", "tensors", 1, 0, ""});
    scope.advance(1, 0);
    scope.done();
  }
  const auto lines = f.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(contains(lines[0], "write 1/2 tensors")) << lines[0];
  EXPECT_TRUE(contains(lines[1], "write 1/1 tensors")) << lines[1];
  EXPECT_EQ(lines[2].rfind("ramq: write done: 1 tensors in ", 0), 0u) << lines[2];
  ProgressScope null_scope(nullptr, {"x", "tensors", 1, 0, ""});  // null progress: every call is a no-op
  null_scope.advance(1, 0);
}

TEST(Progress, ConcurrentAdvancesAreAllCounted) {
  CapturedFile f;
  Progress p(f.get(), ProgressStyle::kLines, 0.0);
  p.begin({"analyze", "tensors", 4000, 8000, ""});
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&p] {
      for (int i = 0; i < 1000; ++i) p.advance(1, 2);
    });
  for (auto& w : workers) w.join();
  p.end(true);
  const auto lines = f.lines();
  ASSERT_GE(lines.size(), 2u);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) EXPECT_EQ(lines[i].rfind("ramq: analyze ", 0), 0u) << lines[i];
  EXPECT_EQ(lines.back().rfind("ramq: analyze done: 4000 tensors, 8.0 kB in ", 0), 0u) << lines.back();
}

}  // namespace
}  // namespace ramq
