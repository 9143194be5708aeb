// The report page: summary figures, heat map, byte bars, score distributions, predicted-error
// scatter, evaluation, manifest and the tensor table, as one well-formed XHTML-compatible file.
#include <algorithm>
#include <map>

#include "ramq/output_path.h"
#include "ramq/atomic_output.h"
#include "ramq/json_io.h"
#include "ramq/report.h"
#include "ramq/version.h"
#include "report/charts.h"
#include "report/markup.h"
#include "report/page_parts.h"
#include "report/report_data.h"

namespace ramq {

using namespace report;

namespace {

std::string figure(const std::string& id, const std::string& label, const std::string& shown, const std::string& value,
                   const std::string& note) {
  return "<div class=\"fig\"><div class=\"label\">" + esc(label) + "</div><div class=\"value\"" + attr("id", id) +
         attr("data-value", value) + ">" + esc(shown) + "</div><div class=\"note\">" + esc(note) + "</div></div>\n";
}

std::string ratio_text(std::uint64_t ours, std::uint64_t theirs) {
  if (theirs == 0) return "n/a";
  return fixed(static_cast<double>(ours) / static_cast<double>(theirs), 3) + "x";
}

std::string summary_section(const ReportData& d) {
  std::size_t quantized = 0;
  for (const auto& t : d.tensors) quantized += t.quantized() ? 1 : 0;
  std::string s = "<section id=\"summary\">\n<div class=\"figs\">\n";
  s += figure("total-bytes", "Size of the tensors", human_bytes(d.total_bytes), std::to_string(d.total_bytes),
              std::to_string(d.total_bytes) + " bytes");
  s += figure("average-bits", "Average bits per weight", fixed(d.average_bits, 3), sig(d.average_bits, 17),
              std::to_string(d.total_params) + " weights");
  s += figure("tensor-count", "Tensors quantized", std::to_string(quantized) + " of " + std::to_string(d.tensors.size()),
              std::to_string(quantized), "the rest kept in float");
  if (d.original_bytes)
    s += figure("vs-original", "Against the original", ratio_text(d.total_bytes, *d.original_bytes),
                std::to_string(*d.original_bytes), "original " + human_bytes(*d.original_bytes));
  s += figure("vs-16bit", "Against 16-bit", ratio_text(d.total_bytes, d.f16_bytes), std::to_string(d.f16_bytes),
              "all weights 16-bit: " + human_bytes(d.f16_bytes));
  if (d.uniform4_bytes)
    s += figure("vs-uniform4", "Against uniform 4-bit", ratio_text(d.total_bytes, *d.uniform4_bytes),
                std::to_string(*d.uniform4_bytes),
                (d.format == OutputFormat::Gguf ? "Q4_K: " : "group 64: ") + human_bytes(*d.uniform4_bytes));
  return s + "</div>\n</section>\n";
}

std::string heat_map_section(const ReportData& d) {
  std::map<int, int> present;
  std::size_t vectors = 0;
  std::uint64_t vector_bytes = 0;
  for (const auto& t : d.tensors) {
    if (t.is_matrix()) {
      ++present[t.bits];
    } else {
      ++vectors;
      vector_bytes += t.bytes;
    }
  }
  std::string s = "<section id=\"heatmap\">\n<h2>Bits per tensor</h2>\n<p class=\"legend\">";
  for (const auto& [bits, n] : present)
    s += "<span class=\"swatch\"" + attr("style", "background:" + bits_colour(bits)) + "></span>" + esc(bits_label(bits)) +
         " (" + std::to_string(n) + ")&#160;&#160; ";
  s += "</p>\n<div class=\"hm\">\n" + heat_map_svg(d) +
       "<div id=\"info\" class=\"info\">Point at a cell for the tensor's shape, encoding, bytes and scores (each cell also "
       "has a tooltip).</div>\n</div>\n";
  if (vectors > 0)
    s += "<p class=\"small\">Not drawn: " + std::to_string(vectors) + " one-dimensional tensors (norms, biases), " +
         human_bytes(vector_bytes) + ", kept in float.</p>\n";
  return s + "</section>\n";
}

std::string bytes_section(const ReportData& d) {
  std::map<std::string, std::uint64_t> by_role;
  std::map<int, std::pair<std::uint64_t, std::int64_t>> by_bits;
  for (const auto& t : d.tensors) {
    by_role[role_family(t.role.role)] += t.bytes;
    by_bits[t.bits].first += t.bytes;
    by_bits[t.bits].second += t.numel;
  }
  std::vector<std::pair<std::string, std::uint64_t>> roles(by_role.begin(), by_role.end());
  std::stable_sort(roles.begin(), roles.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const double total = std::max<double>(1.0, static_cast<double>(d.total_bytes));
  std::vector<Bar> role_bars, bit_bars;
  for (const auto& [role, bytes] : roles)
    role_bars.push_back({role, static_cast<double>(bytes),
                         human_bytes(bytes) + " (" + percent(static_cast<double>(bytes) / total) + ")", "#4c72b0"});
  for (const auto& [bits, bp] : by_bits)
    bit_bars.push_back({bits_label(bits), static_cast<double>(bp.first),
                        human_bytes(bp.first) + ", " +
                            percent(static_cast<double>(bp.second) / std::max<double>(1.0, static_cast<double>(d.total_params))) +
                            " of weights",
                        bits_colour(bits)});
  return "<section id=\"bytes\">\n<h2>Where the bytes go</h2>\n<div class=\"row\">\n<div><h3>By role</h3>\n" +
         bar_chart_svg(role_bars, "Bytes by tensor role") + "</div>\n<div><h3>By bit width</h3>\n" +
         bar_chart_svg(bit_bars, "Bytes by bit width") + "</div>\n</div>\n</section>\n";
}

std::string scores_section(const ReportData& d) {
  std::string s = "<section id=\"scores\">\n<h2>Sensitivity scores</h2>\n";
  if (!d.has_scores) return s + "<p class=\"missing\">No SWAN scores: give the analysis (--analysis analysis.json).</p>\n</section>\n";
  std::vector<double> svd, kurt, out, err, composite;
  for (const auto& t : d.tensors) {
    if (!t.scores) continue;
    svd.push_back(t.scores->s_svd);
    kurt.push_back(t.scores->s_kurt);
    out.push_back(t.scores->s_out);
    err.push_back(t.scores->s_err);
    composite.push_back(t.scores->composite);
  }
  s += "<p class=\"small\">Each score is in [0, 1] (1 = most sensitive); " + std::to_string(svd.size()) +
       " scored tensors.</p>\n<div class=\"row\">\n";
  s += histogram_svg("spectral concentration", svd, 20) + histogram_svg("excess kurtosis", kurt, 20) +
       histogram_svg("output-noise amplification", out, 20) + histogram_svg("reconstruction error", err, 20) +
       histogram_svg("composite S", composite, 20);
  return s + "</div>\n</section>\n";
}

std::string rd_section(const ReportData& d) {
  std::string s = "<section id=\"rd\">\n<h2>Predicted error against bytes</h2>\n";
  const std::string svg = d.has_rd ? scatter_svg(d) : "";
  if (svg.empty())
    return s + "<p class=\"missing\">The analysis has no rate-distortion data (per-tensor \"rd\" candidates), so "
               "there is nothing to plot.</p>\n</section>\n";
  return s + "<p class=\"small\">Grey: every candidate encoding of every tensor; coloured: the encoding chosen (colour = "
             "bits).</p>\n" + svg + "</section>\n";
}

constexpr const char* kStyle = R"(
body{font-family:sans-serif;margin:24px;color:#222;background:#fff;max-width:1240px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:6px 0}.sub,.small,.note{color:#555;font-size:13px}
.figs{display:flex;flex-wrap:wrap;gap:12px;margin-top:14px}
.fig{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:150px}
.fig .label{font-size:12px;color:#555}.fig .value{font-size:22px;font-weight:bold}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.hm{display:flex;gap:16px;align-items:flex-start}
.info{white-space:pre-line;font-size:12px;border:1px solid #ddd;border-radius:6px;padding:8px;width:300px;color:#333}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle;border:1px solid #888}
.legend{font-size:13px}.missing{color:#8a6d3b;font-size:13px}
svg.chart text{font-size:11px;fill:#333;pointer-events:none}svg.chart text.incell{font-size:10px}
svg.chart text.charttitle{font-size:12px;font-weight:bold}svg.chart .tick{fill:#666}
svg .cell{stroke:none}svg .cell:hover,svg .point:hover{stroke:#000;stroke-width:1.5}
svg .axis{stroke:#888}svg .grid{stroke:#eee}svg .cand{fill:#bbb}svg .point{stroke:#333;stroke-width:.6}
svg .hbar{fill:#4c72b0}table{border-collapse:collapse;font-size:12px}
td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}td.num{text-align:right}
code{font-size:12px;word-break:break-all}
)";

constexpr const char* kScript = R"(
(function(){var info=document.getElementById('info');if(!info)return;
function show(e){var t=e.target;if(!t||!t.getAttribute)return;var d=t.getAttribute('data-detail');
if(d===null)return;info.textContent=d;}
document.addEventListener('mouseover',show);})();
)";

std::string render_page(const ReportData& d) {
  std::size_t quantized = 0;
  for (const auto& t : d.tensors) quantized += t.quantized() ? 1 : 0;
  std::string s = "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
                  "<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n" +
                  std::string(kReportGeneratorTag) + " " + esc(kVersion) + "\"/>\n" +
                  "<title>" + esc("ramq report: " + d.title) + "</title>\n<style>/*<![CDATA[*/" + kStyle +
                  "/*]]>*/</style>\n</head>\n<body>\n";
  s += "<h1>" + esc("ramq report: " + d.title) + "</h1>\n<p class=\"sub\">" +
       esc((!d.format ? std::string("unquantized") : std::string(output_format_name(*d.format)) + " output") +
           (d.policy.empty() ? "" : ", policy " + d.policy) + ", " + std::to_string(d.tensors.size()) + " tensors (" +
           std::to_string(quantized) + " quantized); from " + d.sources) + "</p>\n";
  s += summary_section(d) + heat_map_section(d) + bytes_section(d) + scores_section(d) + rd_section(d);
  s += eval_section(d) + manifest_section(d) + tensor_table_section(d);
  if (!d.notes.empty()) {
    s += "<section id=\"notes\">\n<h2>Notes</h2>\n<ul>\n";
    for (const auto& n : d.notes) s += "<li class=\"small\">" + esc(n) + "</li>\n";
    s += "</ul>\n</section>\n";
  }
  s += "<p class=\"small\">Made by ramq " + esc(kVersion) +
       ". This page loads nothing from the network; the optional script below only fills the hover panel.</p>\n";
  s += "<script>/*<![CDATA[*/" + std::string(kScript) + "/*]]>*/</script>\n</body>\n</html>\n";
  return s;
}

}  // namespace

std::string render_report_html(const ReportInputs& in) { return render_page(build_report_data(in)); }

ReportSummary write_report(const std::filesystem::path& html_file, const ReportInputs& in) {
  const ReportData d = build_report_data(in);
  write_text_file_atomic(html_file, render_page(d));
  ReportSummary r;
  r.tensors = d.tensors.size();
  for (const auto& t : d.tensors) r.quantized += t.quantized() ? 1 : 0;
  r.total_bytes = d.total_bytes;
  r.total_params = d.total_params;
  r.average_bits = d.average_bits;
  return r;
}

}  // namespace ramq
