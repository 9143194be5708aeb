// Colours, tensor details, bar charts, histograms and the predicted-error scatter.
#include <algorithm>
#include <cmath>
#include <map>

#include "report/charts.h"
#include "report/markup.h"

namespace ramq::report {

namespace {

// Viridis samples: dark for few bits, light for many; float tensors grey.
const std::map<int, std::pair<const char*, bool>>& palette() {  // colour, dark (white text)
  static const std::map<int, std::pair<const char*, bool>> p = {
      {2, {"#440154", true}}, {3, {"#3b528b", true}},  {4, {"#21918c", true}},  {5, {"#27ad81", false}},
      {6, {"#5ec962", false}}, {8, {"#fde725", false}}, {16, {"#bdbdbd", false}}};
  return p;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s;
  for (const auto d : shape) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return "[" + s + "]";
}

std::string svg_open(double w, double h, const std::string& cls, const std::string& aria) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\"" + attr("class", "chart " + cls) + attr("width", fixed(w, 0)) +
         attr("height", fixed(h, 0)) + attr("viewBox", "0 0 " + fixed(w, 0) + " " + fixed(h, 0)) + " role=\"img\"" +
         attr("aria-label", aria) + ">\n";
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return "<text" + attr("x", fixed(x, 2)) + attr("y", fixed(y, 2)) + extra + ">" + esc(s) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& cls) {
  return "<line" + attr("x1", fixed(x1, 2)) + attr("y1", fixed(y1, 2)) + attr("x2", fixed(x2, 2)) +
         attr("y2", fixed(y2, 2)) + attr("class", cls) + "/>\n";
}

}  // namespace

std::string bits_colour(int bits) {
  const auto it = palette().find(bits);
  return it == palette().end() ? "#bdbdbd" : it->second.first;
}

std::string text_colour_on(int bits) {
  const auto it = palette().find(bits);
  return it != palette().end() && it->second.second ? "#ffffff" : "#000000";
}

std::string bits_label(int bits) { return bits >= 16 ? "float (16-bit)" : std::to_string(bits) + "-bit"; }

std::string tensor_detail(const ReportTensor& t) {
  std::string s = t.name + "\nshape " + shape_text(t.shape) + ", " + std::to_string(t.numel) + " weights\n" + t.encoding +
                  ", " + std::to_string(t.bytes) + " bytes";
  if (t.numel > 0) s += " (" + fixed(8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.numel), 3) + " bits per weight)";
  if (t.scores) {
    const auto& c = *t.scores;
    s += "\nSWAN S=" + fixed(c.composite, 3) + ": spectral " + fixed(c.s_svd, 3) + ", kurtosis " + fixed(c.s_kurt, 3) +
         ", output noise " + fixed(c.s_out, 3) + ", reconstruction " + fixed(c.s_err, 3);
  }
  if (t.predicted_error) s += "\npredicted relative error " + sig(*t.predicted_error, 3);
  if (!t.reason.empty()) s += "\n" + t.reason;
  return s;
}

std::string detail_attr(const std::string& detail) {
  std::string e = esc(detail), out;
  for (const char c : e) out += c == '\n' ? std::string("&#10;") : std::string(1, c);
  return " data-detail=\"" + out + "\"";
}

std::string bar_chart_svg(const std::vector<Bar>& bars, const std::string& aria_label) {
  constexpr double kLabel = 120, kBarArea = 300, kValue = 170, kRow = 22;
  const double width = kLabel + kBarArea + kValue, height = kRow * static_cast<double>(bars.size()) + 4;
  double max = 0;
  for (const auto& b : bars) max = std::max(max, b.value);
  std::string s = svg_open(width, height, "bars", aria_label);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = 2 + kRow * static_cast<double>(i);
    const double w = max > 0 ? std::max(1.0, kBarArea * b.value / max) : 1.0;
    s += text(kLabel - 6, y + 15, b.label, " text-anchor=\"end\"");
    s += "<rect class=\"bar\"" + attr("x", fixed(kLabel, 2)) + attr("y", fixed(y + 3, 2)) + attr("width", fixed(w, 2)) +
         attr("height", fixed(kRow - 6, 2)) + attr("fill", b.colour) + "><title>" + esc(b.label + ": " + b.value_text) +
         "</title></rect>\n";
    s += text(kLabel + w + 6, y + 15, b.value_text);
  }
  return s + "</svg>\n";
}

std::string histogram_svg(const std::string& title, const std::vector<double>& values, int bins) {
  constexpr double kW = 210, kH = 140, kLeft = 30, kTop = 22, kPlotH = 90;
  const double plot_w = kW - kLeft - 8, bw = plot_w / bins;
  std::vector<int> counts(static_cast<std::size_t>(bins), 0);
  for (const double v : values) {
    const int b = std::clamp(static_cast<int>(std::floor(v * bins)), 0, bins - 1);
    ++counts[static_cast<std::size_t>(b)];
  }
  const int max = std::max(1, *std::max_element(counts.begin(), counts.end()));
  std::string s = svg_open(kW, kH, "hist", "Distribution of " + title);
  s += text(kLeft, 14, title, " class=\"charttitle\"");
  for (int i = 0; i < bins; ++i) {
    const int c = counts[static_cast<std::size_t>(i)];
    if (c == 0) continue;
    const double h = kPlotH * c / max;
    s += "<rect class=\"hbar\"" + attr("x", fixed(kLeft + i * bw + 0.5, 2)) + attr("y", fixed(kTop + kPlotH - h, 2)) +
         attr("width", fixed(bw - 1, 2)) + attr("height", fixed(h, 2)) + "><title>" +
         esc(fixed(static_cast<double>(i) / bins, 2) + "-" + fixed(static_cast<double>(i + 1) / bins, 2) + ": " +
             std::to_string(c) + " tensors") +
         "</title></rect>\n";
  }
  s += line(kLeft, kTop + kPlotH, kLeft + plot_w, kTop + kPlotH, "axis");
  s += line(kLeft, kTop, kLeft, kTop + kPlotH, "axis");
  s += text(kLeft - 4, kTop + 8, std::to_string(max), " text-anchor=\"end\" class=\"tick\"");
  s += text(kLeft - 4, kTop + kPlotH, "0", " text-anchor=\"end\" class=\"tick\"");
  for (const double x : {0.0, 0.5, 1.0})
    s += text(kLeft + x * plot_w, kTop + kPlotH + 14, fixed(x, 1), " text-anchor=\"middle\" class=\"tick\"");
  return s + "</svg>\n";
}

std::string scatter_svg(const ReportData& d) {
  constexpr double kW = 760, kH = 380, kLeft = 64, kRight = 16, kTop = 14, kBottom = 44;
  constexpr std::size_t kMaxCandidates = 20000;
  std::size_t candidates = 0;
  double min_b = 0, max_b = 0, min_e = 0, max_e = 0;
  bool first = true;
  for (const auto& t : d.tensors)
    for (const auto& p : t.rd) {
      ++candidates;
      if (p.bytes == 0) continue;
      const double b = static_cast<double>(p.bytes);
      min_b = first ? b : std::min(min_b, b);
      max_b = first ? b : std::max(max_b, b);
      if (p.error > 0) {
        min_e = min_e == 0 ? p.error : std::min(min_e, p.error);
        max_e = std::max(max_e, p.error);
      }
      first = false;
    }
  if (first) return "";
  if (min_e == 0) min_e = max_e = 1e-6;
  const double floor_e = min_e / 3;  // zero errors (float encodings) sit on the bottom edge
  const double lx0 = std::floor(std::log10(min_b)), lx1 = std::max(lx0 + 1, std::ceil(std::log10(max_b)));
  const double ly0 = std::floor(std::log10(floor_e)), ly1 = std::max(ly0 + 1, std::ceil(std::log10(max_e)));
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto px = [&](double b) { return kLeft + pw * (std::log10(b) - lx0) / (lx1 - lx0); };
  auto py = [&](double e) { return kTop + ph - ph * (std::log10(std::max(e, floor_e)) - ly0) / (ly1 - ly0); };

  std::string s = svg_open(kW, kH, "scatter", "Predicted error against bytes for every candidate encoding");
  for (double l = lx0; l <= lx1; l += 1) {
    s += line(px(std::pow(10.0, l)), kTop, px(std::pow(10.0, l)), kTop + ph, "grid");
    s += text(px(std::pow(10.0, l)), kTop + ph + 16, human_bytes(static_cast<std::uint64_t>(std::pow(10.0, l))),
              " text-anchor=\"middle\" class=\"tick\"");
  }
  for (double l = ly0; l <= ly1; l += 1) {
    s += line(kLeft, py(std::pow(10.0, l)), kLeft + pw, py(std::pow(10.0, l)), "grid");
    s += text(kLeft - 6, py(std::pow(10.0, l)) + 4, "1e" + fixed(l, 0), " text-anchor=\"end\" class=\"tick\"");
  }
  s += text(kLeft + pw / 2, kH - 6, "bytes of the tensor (log scale)", " text-anchor=\"middle\" class=\"axislabel\"");
  s += text(14, kTop + ph / 2, "relative squared error (log scale)",
            " text-anchor=\"middle\" class=\"axislabel\" transform=\"rotate(-90 14 " + fixed(kTop + ph / 2, 2) + ")\"");
  if (candidates <= kMaxCandidates)
    for (const auto& t : d.tensors)
      for (const auto& p : t.rd)
        if (p.bytes > 0)
          s += "<circle class=\"cand\"" + attr("cx", fixed(px(static_cast<double>(p.bytes)), 2)) +
               attr("cy", fixed(py(p.error), 2)) + " r=\"1.8\"" + attr("data-name", t.name) +
               attr("data-encoding", p.label) + attr("data-bytes", std::to_string(p.bytes)) + "/>\n";
  for (const auto& t : d.tensors) {
    if (t.chosen_rd < 0) continue;
    const RdPoint& p = t.rd[static_cast<std::size_t>(t.chosen_rd)];
    if (p.bytes == 0) continue;
    const std::string detail = tensor_detail(t);
    s += "<circle class=\"point\"" + attr("cx", fixed(px(static_cast<double>(p.bytes)), 2)) +
         attr("cy", fixed(py(p.error), 2)) + " r=\"4\"" + attr("fill", bits_colour(t.bits)) + attr("data-name", t.name) +
         attr("data-bits", std::to_string(t.bits)) + attr("data-bytes", std::to_string(t.bytes)) +
         attr("data-encoding", t.encoding) + attr("data-error", sig(p.error, 17)) + detail_attr(detail) + "><title>" +
         esc(detail) + "</title></circle>\n";
  }
  return s + "</svg>\n";
}

}  // namespace ramq::report
