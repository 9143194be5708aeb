// The report's charts as inline SVG text (heat_map.cpp, charts.cpp). Every tensor mark carries
// class="cell" (heat map) or class="point" (scatter), data-name/data-bits/data-bytes/
// data-encoding, a data-detail text for the hover panel and an SVG <title> tooltip, so the
// details are there without scripts too. Scatter points also carry data-error (the chosen
// candidate's relative error); candidates are class="cand" with data-name/data-encoding/data-bytes.
#pragma once

#include <string>
#include <vector>

#include "report/report_data.h"

namespace ramq::report {

// Colour of a bit class (2, 3, 4, 5, 6, 8; 16 = kept in float), and its legend text.
std::string bits_colour(int bits);
std::string bits_label(int bits);
// Black or white, whichever reads better on bits_colour(bits).
std::string text_colour_on(int bits);
// Multi-line description of a tensor (name, shape, encoding, bytes, scores, predicted error).
std::string tensor_detail(const ReportTensor& t);
// ` data-detail="..."` with newlines kept as character references.
std::string detail_attr(const std::string& detail);

// Layers down, roles across (per-expert tensors share their column, side by side).
std::string heat_map_svg(const ReportData& d);

struct Bar {
  std::string label;
  double value = 0;
  std::string value_text;
  std::string colour;
};
std::string bar_chart_svg(const std::vector<Bar>& bars, const std::string& aria_label);

// Counts of `values` (in [0, 1]) in `bins` equal bins.
std::string histogram_svg(const std::string& title, const std::vector<double>& values, int bins);

// Predicted error against bytes: every candidate encoding of every tensor, the chosen ones
// highlighted. Empty when there is no rate-distortion data.
std::string scatter_svg(const ReportData& d);

}  // namespace ramq::report
