// The example model's report rendered by headless Chromium (Debian's `chromium`): the
// screenshot is produced, decodes, has the window's size, is far from a blank page, and shows
// the heat map's colours. Chromium missing is a failure unless RAMQ_ALLOW_MISSING_CHROMIUM=1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "report/png_lite.h"
#include "report/report_checks.h"
#include "support/run_ramq.h"
#include "support/temp_dir.h"
#include "support/xml_lite.h"

namespace ramq::testkit {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kWidth = 1400, kHeight = 2000;

// RAMQ_CHROMIUM, else `chromium` or `chromium-browser` on PATH; "" when there is none.
std::string find_chromium() {
  if (const char* e = std::getenv("RAMQ_CHROMIUM"); e && *e) return e;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::size_t b = 0;
    while (b <= dirs.size()) {
      const std::size_t e = std::min(dirs.find(':', b), dirs.size());
      const fs::path p = fs::path(dirs.substr(b, e - b)) / name;
      if (!p.parent_path().empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
      b = e + 1;
    }
  }
  return "";
}

// Renders `html` to `png` with a fresh profile and HOME (nothing is read from or written to the
// user's); at most three minutes.
RunResult screenshot(const std::string& chromium, const fs::path& html, const fs::path& png, const TempDir& scratch) {
  static int n = 0;
  const fs::path profile = scratch / ("profile-" + std::to_string(n++));
  fs::create_directories(profile);
  return run_program("/usr/bin/env",
                     {"HOME=" + scratch.path().string(), "timeout", "180", chromium, "--headless", "--no-sandbox",
                      "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile.string(),
                      "--screenshot=" + png.string(),
                      "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight),
                      "file://" + fs::absolute(html).string()});
}

std::uint32_t parse_hex_colour(const std::string& c) {
  if (c.size() != 7 || c[0] != '#') throw std::runtime_error("not a #rrggbb colour: " + c);
  return static_cast<std::uint32_t>(std::stoul(c.substr(1), nullptr, 16));
}

TEST(ReportScreenshot, ChromiumRendersTheExampleReport) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    const char* allow = std::getenv("RAMQ_ALLOW_MISSING_CHROMIUM");
    if (allow && std::string(allow) == "1") GTEST_SKIP() << "chromium not installed (RAMQ_ALLOW_MISSING_CHROMIUM=1)";
    FAIL() << "chromium is not installed (apt-get install chromium, or set RAMQ_ALLOW_MISSING_CHROMIUM=1)";
  }
  TempDir d("ramq-screenshot");
  const auto q = run_ramq({"-q", "quantize", stories_dir(), "-o", (d / "out").string(), "--save-analysis",
                           (d / "analysis.json").string(), "--report", (d / "report.html").string()});
  ASSERT_EQ(q.status, 0) << q.err;
  std::ofstream(d / "blank.html") << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>blank</title></head>"
                                     "<body></body></html>\n";

  const auto r = screenshot(chromium, d / "report.html", d / "report.png", d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto b = screenshot(chromium, d / "blank.html", d / "blank.png", d);
  ASSERT_EQ(b.status, 0) << b.err;
  ASSERT_TRUE(fs::exists(d / "report.png")) << r.err;
  ASSERT_TRUE(fs::exists(d / "blank.png")) << b.err;

  const std::string png = slurp(d / "report.png"), blank = slurp(d / "blank.png");
  const auto [w, h] = png_size(png);
  EXPECT_EQ(w, kWidth);
  EXPECT_EQ(h, kHeight);
  EXPECT_GT(png.size(), 20u * 1024u);
  EXPECT_GT(png.size(), 4 * blank.size()) << "the report's screenshot is hardly bigger than a blank page's";

  const PngImage img = decode_png(png);
  const PngImage empty = decode_png(blank);
  std::set<std::uint32_t> colours, blank_colours;
  std::size_t not_white = 0;
  for (std::uint32_t y = 0; y < img.height; ++y)
    for (std::uint32_t x = 0; x < img.width; ++x) {
      const std::uint32_t c = img.rgb(x, y);
      colours.insert(c);
      not_white += c != 0xFFFFFF ? 1 : 0;
    }
  for (std::uint32_t y = 0; y < empty.height; ++y)
    for (std::uint32_t x = 0; x < empty.width; ++x) blank_colours.insert(empty.rgb(x, y));
  EXPECT_EQ(blank_colours.size(), 1u) << "the blank page is expected to be one colour";
  EXPECT_GT(colours.size(), 50u) << "the screenshot is (nearly) one colour";
  EXPECT_GT(static_cast<double>(not_white) / (static_cast<double>(img.width) * img.height), 0.02);

  // Every colour the heat map's cells are filled with (read from the page) is on screen.
  const auto doc = parse_xml(slurp(d / "report.html"));
  const XmlNode* hm = doc->find_id("heatmap");
  ASSERT_NE(hm, nullptr);
  std::set<std::uint32_t> fills;
  for (const XmlNode* c : elements(*hm, "rect", "cell")) fills.insert(parse_hex_colour(attr_or_empty(*c, "fill")));
  ASSERT_GE(fills.size(), 2u) << "the example model mixes quantized and float tensors";
  for (const std::uint32_t f : fills) EXPECT_TRUE(colours.count(f)) << "heat-map colour #" << std::hex << f << " not drawn";
}

}  // namespace
}  // namespace ramq::testkit
