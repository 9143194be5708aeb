// Test support for the HTML report: runs ramq to make outputs, and checks a report's structure
// against the plan.json and analysis.json it was made from (parsed here with nlohmann::json,
// independently of the report code).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run_ramq.h"
#include "support/xml_lite.h"

namespace ramq::testkit {

inline nlohmann::json load_json(const std::filesystem::path& p) { return nlohmann::json::parse(slurp(p)); }

// Runs ramq and fails the test (with its stderr) unless it exits 0.
inline RunResult run_ok(const std::vector<std::string>& args) {
  RunResult r = run_ramq(args);
  EXPECT_EQ(r.status, 0) << "ramq failed: " << r.err;
  return r;
}

inline std::vector<const XmlNode*> elements(const XmlNode& root, const std::string& name, const std::string& cls) {
  return root.find_all([&](const XmlNode& n) { return n.name == name && n.has_class(cls); });
}

inline std::string attr_or_empty(const XmlNode& n, const std::string& k) {
  const auto* v = n.attr(k);
  return v ? *v : std::string();
}

// The page loads nothing: apart from the two namespace names (identifiers, never fetched), no
// URL, protocol-relative reference, stylesheet import or link, external script, or src/url().
inline void expect_self_contained(std::string html) {
  for (const std::string ns : {"xmlns=\"http://www.w3.org/1999/xhtml\"", "xmlns=\"http://www.w3.org/2000/svg\""})
    for (auto p = html.find(ns); p != std::string::npos; p = html.find(ns)) html.erase(p, ns.size());
  for (const std::string bad : {"http:", "https:", "//", "@import", "<link", "<script src", "src=", "url(", "<iframe",
                                "<img", "<object", "<embed"})
    EXPECT_EQ(html.find(bad), std::string::npos) << "the report contains '" << bad << "'";
}

// One heat-map cell per matrix of the plan (1-D tensors are listed, not drawn), with the plan's
// bits and bytes (and, for GGUF, its type).
inline void expect_heat_map_matches_plan(const XmlNode& doc, const nlohmann::json& plan) {
  const XmlNode* hm = doc.find_id("heatmap");
  ASSERT_NE(hm, nullptr);
  std::map<std::string, const XmlNode*> cells;
  for (const XmlNode* c : elements(*hm, "rect", "cell")) {
    const std::string name = attr_or_empty(*c, "data-name");
    EXPECT_TRUE(cells.emplace(name, c).second) << "two cells for " << name;
  }
  std::size_t matrices = 0;
  for (const auto& t : plan["tensors"]) {
    if (t["shape"].size() < 2) continue;
    ++matrices;
    const std::string name = t["name"].get<std::string>();
    const auto it = cells.find(name);
    ASSERT_NE(it, cells.end()) << "no heat-map cell for " << name;
    EXPECT_EQ(attr_or_empty(*it->second, "data-bits"), std::to_string(t["bits"].get<int>())) << name;
    EXPECT_EQ(attr_or_empty(*it->second, "data-bytes"), std::to_string(t["bytes"].get<std::uint64_t>())) << name;
    if (t.contains("gguf_type")) {
      EXPECT_EQ(attr_or_empty(*it->second, "data-encoding"), t["gguf_type"].get<std::string>()) << name;
    }
  }
  EXPECT_GT(matrices, 0u);
  EXPECT_EQ(cells.size(), matrices);
}

// The summary figures equal plan.json's totals.
inline void expect_totals_match_plan(const XmlNode& doc, const nlohmann::json& plan) {
  const XmlNode* bytes = doc.find_id("total-bytes");
  const XmlNode* bits = doc.find_id("average-bits");
  ASSERT_NE(bytes, nullptr);
  ASSERT_NE(bits, nullptr);
  EXPECT_EQ(attr_or_empty(*bytes, "data-value"), std::to_string(plan["totals"]["bytes"].get<std::uint64_t>()));
  const double want = plan["totals"]["average_bits"].get<double>();
  EXPECT_NEAR(std::stod(attr_or_empty(*bits, "data-value")), want, 1e-12 * want);
  char shown[32];
  std::snprintf(shown, sizeof shown, "%.3f", want);
  EXPECT_EQ(bits->all_text(), shown);
}

// The analysis' candidate for a plan decision, found from the JSON alone: MLX bits/group, the
// GGUF type, or the float point for a tensor kept in 16 bits. Null when there is none.
inline const nlohmann::json* expected_rd_point(const nlohmann::json& decision, const nlohmann::json& rd) {
  for (const auto& p : rd["points"]) {
    const std::string f = p["format"].get<std::string>();
    if (decision.contains("gguf_type")) {
      const std::string type = decision["gguf_type"].get<std::string>();
      if ((f == "gguf" && p["type"] == type) || (f == "float" && (type == "F16" || type == "BF16"))) return &p;
    } else if (decision["bits"].get<int>() < 16) {
      if (f == "mlx" && p["bits"] == decision["bits"] && p["group"] == decision["group"]) return &p;
    } else if (f == "float") {
      return &p;
    }
  }
  return nullptr;
}

// The scatter: one grey point per candidate encoding in the analysis, one marked point per tensor
// whose decision has a candidate (every quantized tensor has one), at that candidate's error.
inline void expect_scatter_matches(const XmlNode& doc, const nlohmann::json& analysis, const nlohmann::json& plan) {
  const XmlNode* sec = doc.find_id("rd");
  ASSERT_NE(sec, nullptr);
  const auto svgs = elements(*sec, "svg", "scatter");
  ASSERT_EQ(svgs.size(), 1u) << "no predicted-error scatter";
  std::map<std::string, std::size_t> cand_count;
  std::size_t cands = 0;
  for (const XmlNode* c : elements(*svgs[0], "circle", "cand")) {
    ++cand_count[attr_or_empty(*c, "data-name")];
    ++cands;
  }
  std::map<std::string, std::vector<const XmlNode*>> chosen;
  for (const XmlNode* c : elements(*svgs[0], "circle", "point")) chosen[attr_or_empty(*c, "data-name")].push_back(c);

  std::map<std::string, const nlohmann::json*> decisions;
  for (const auto& d : plan["tensors"]) decisions[d["name"].get<std::string>()] = &d;
  std::size_t want_cands = 0, quantized_with_point = 0, marked = 0;
  std::set<std::string> heat_cells_with_error;
  for (const auto& t : analysis["tensors"]) {
    if (!t.contains("rd")) continue;
    const std::string name = t["name"].get<std::string>();
    want_cands += t["rd"]["points"].size();
    EXPECT_EQ(cand_count[name], t["rd"]["points"].size()) << name;
    const nlohmann::json& d = *decisions.at(name);
    const nlohmann::json* p = expected_rd_point(d, t["rd"]);
    if (d["bits"].get<int>() < 16) {
      ASSERT_NE(p, nullptr) << "quantized tensor " << name << " has no candidate for its encoding";
      ++quantized_with_point;
    }
    if (p == nullptr) {
      EXPECT_EQ(chosen.count(name), 0u) << name;
      continue;
    }
    ++marked;
    ASSERT_EQ(chosen[name].size(), 1u) << name;
    const XmlNode& c = *chosen[name][0];
    EXPECT_EQ(attr_or_empty(c, "data-bits"), std::to_string(d["bits"].get<int>())) << name;
    const double want = (*p)["rel_err"].get<double>();
    EXPECT_NEAR(std::stod(attr_or_empty(c, "data-error")), want, 1e-12 * want + 1e-300) << name;
    EXPECT_NE(attr_or_empty(c, "data-detail").find("predicted relative error"), std::string::npos) << name;
    if (d["shape"].size() >= 2) heat_cells_with_error.insert(name);
  }
  // The heat map's hover details carry the same predicted error.
  const XmlNode* hm = doc.find_id("heatmap");
  ASSERT_NE(hm, nullptr);
  std::set<std::string> cells_with_error;
  for (const XmlNode* c : elements(*hm, "rect", "cell"))
    if (attr_or_empty(*c, "data-detail").find("\npredicted relative error ") != std::string::npos)
      cells_with_error.insert(attr_or_empty(*c, "data-name"));
  EXPECT_EQ(cells_with_error, heat_cells_with_error);
  std::size_t quantized = 0;
  for (const auto& d : plan["tensors"]) quantized += d["bits"].get<int>() < 16 ? 1 : 0;
  EXPECT_GT(quantized, 0u);
  EXPECT_EQ(quantized_with_point, quantized);
  EXPECT_GT(want_cands, 0u);
  EXPECT_EQ(cands, want_cands);
  std::size_t points = 0;
  for (const auto& [name, v] : chosen) points += v.size();
  EXPECT_EQ(points, marked);
}

// Parses the report (failing the test on malformed markup) and runs the structural checks.
inline std::unique_ptr<XmlNode> check_report(const std::filesystem::path& html_file, const nlohmann::json& plan,
                                             const nlohmann::json* analysis) {
  const std::string html = slurp(html_file);
  std::unique_ptr<XmlNode> doc;
  try {
    doc = parse_xml(html);
  } catch (const std::exception& e) {
    ADD_FAILURE() << html_file << " is not well-formed: " << e.what();
    return nullptr;
  }
  EXPECT_EQ(doc->name, "html");
  expect_self_contained(html);
  expect_heat_map_matches_plan(*doc, plan);
  expect_totals_match_plan(*doc, plan);
  if (analysis) expect_scatter_matches(*doc, *analysis, plan);
  return doc;
}

}  // namespace ramq::testkit
