// The heat map of bits per tensor: one row per layer, one column per role; tensors outside the
// layers (embeddings, head) in a row of their own above; experts of one projection side by side
// in one column.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "report/charts.h"
#include "report/markup.h"

namespace ramq::report {

namespace {

constexpr double kLabelWidth = 64, kHeaderHeight = 30, kGlobalRowHeight = 20, kGap = 12;

// Roles in the order a transformer block uses them; others follow alphabetically.
const std::vector<std::string>& known_column_order() {
  static const std::vector<std::string> order = {"q",        "k",        "v",           "o",         "qkv",
                                                 "gate",     "up",       "gate_up",     "down",      "router",
                                                 "exp.gate", "exp.up",   "exp.down",    "shared.gate", "shared.up",
                                                 "shared.down"};
  return order;
}

std::string cell_rect(const ReportTensor& t, double x, double y, double w, double h) {
  const std::string detail = tensor_detail(t);
  return "<rect class=\"cell\"" + attr("x", fixed(x, 2)) + attr("y", fixed(y, 2)) + attr("width", fixed(w, 2)) +
         attr("height", fixed(h, 2)) + attr("fill", bits_colour(t.bits)) + attr("data-name", t.name) +
         attr("data-bits", std::to_string(t.bits)) + attr("data-bytes", std::to_string(t.bytes)) +
         attr("data-encoding", t.encoding) + detail_attr(detail) + "><title>" + esc(detail) + "</title></rect>\n";
}

std::string text(double x, double y, const std::string& s, const std::string& extra = "") {
  return "<text" + attr("x", fixed(x, 2)) + attr("y", fixed(y, 2)) + extra + ">" + esc(s) + "</text>\n";
}

}  // namespace

std::string heat_map_svg(const ReportData& d) {
  std::vector<const ReportTensor*> globals;
  std::map<std::pair<std::int64_t, std::string>, std::vector<const ReportTensor*>> cells;
  std::set<std::string> roles;
  std::set<std::int64_t> layers;
  for (const auto& t : d.tensors) {
    if (!t.is_matrix()) continue;
    if (t.role.layer < 0) {
      globals.push_back(&t);
      continue;
    }
    cells[{t.role.layer, t.role.role}].push_back(&t);
    roles.insert(t.role.role);
    layers.insert(t.role.layer);
  }
  std::vector<std::string> columns;
  for (const auto& r : known_column_order())
    if (roles.count(r)) columns.push_back(r);
  for (const auto& r : roles)
    if (std::find(columns.begin(), columns.end(), r) == columns.end()) columns.push_back(r);

  const std::size_t ncols = std::max<std::size_t>({columns.size(), globals.size(), 1});
  const double cw = std::clamp(880.0 / static_cast<double>(ncols), 22.0, 64.0);
  const double rh = layers.empty() ? 18.0 : std::clamp(560.0 / static_cast<double>(layers.size()), 4.0, 18.0);
  const double global_h = globals.empty() ? 0.0 : kGlobalRowHeight + kGap;
  const double width = kLabelWidth + static_cast<double>(ncols) * cw + 8;
  const double height = kHeaderHeight + global_h + static_cast<double>(layers.size()) * rh + 6;

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart heatmap\"" + attr("width", fixed(width, 0)) +
                  attr("height", fixed(height, 0)) + attr("viewBox", "0 0 " + fixed(width, 0) + " " + fixed(height, 0)) +
                  " role=\"img\" aria-label=\"Bits per tensor: layers down, roles across\">\n";
  // Global tensors (embeddings, head, ...), labelled inside their cells.
  double y = kHeaderHeight;
  if (!globals.empty()) {
    s += text(4, y + 14, "model", " class=\"rowlabel\"");
    for (std::size_t i = 0; i < globals.size(); ++i) {
      const ReportTensor& t = *globals[i];
      const double x = kLabelWidth + static_cast<double>(i) * cw;
      s += cell_rect(t, x + 0.5, y, cw - 1, kGlobalRowHeight);
      s += text(x + cw / 2, y + 14, t.role.role, " class=\"incell\" text-anchor=\"middle\"" + attr("fill", text_colour_on(t.bits)));
    }
    y += global_h;
  }
  // Column headers.
  for (std::size_t c = 0; c < columns.size(); ++c)
    s += text(kLabelWidth + (static_cast<double>(c) + 0.5) * cw, kHeaderHeight - 8, columns[c],
              " class=\"colhead\" text-anchor=\"middle\"");
  // Layers.
  const int label_every = std::max(1, static_cast<int>(std::ceil(11.0 / rh)));
  int row = 0;
  for (const std::int64_t layer : layers) {
    if (row % label_every == 0) s += text(4, y + std::min(rh, 14.0) - 2, "layer " + std::to_string(layer), " class=\"rowlabel\"");
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto it = cells.find({layer, columns[c]});
      if (it == cells.end()) continue;
      auto ts = it->second;
      std::stable_sort(ts.begin(), ts.end(), [](const ReportTensor* a, const ReportTensor* b) {
        return std::make_pair(a->role.expert, a->name) < std::make_pair(b->role.expert, b->name);
      });
      const double x0 = kLabelWidth + static_cast<double>(c) * cw + 0.5, w = (cw - 1) / static_cast<double>(ts.size());
      for (std::size_t k = 0; k < ts.size(); ++k)
        s += cell_rect(*ts[k], x0 + static_cast<double>(k) * w, y + 0.5, w, std::max(rh - 1, 1.0));
    }
    y += rh;
    ++row;
  }
  return s + "</svg>\n";
}

}  // namespace ramq::report
