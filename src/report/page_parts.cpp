// Table sections of the report: evaluation, manifest, all tensors.
#include "report/page_parts.h"

#include <algorithm>

#include "report/markup.h"

namespace ramq::report {

namespace {

std::string row(const std::string& key, const std::string& value, bool numeric = false) {
  return "<tr><th>" + esc(key) + "</th><td" + (numeric ? " class=\"num\"" : "") + ">" + esc(value) + "</td></tr>\n";
}

std::string json_scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return sig(v.get<double>(), 8);
  return v.dump();
}

// A table of objects that name files (manifest inputs/outputs), at most 40 rows.
std::string file_table(const nlohmann::json& arr) {
  std::string s = "<table>\n<tr><th>file</th><th>bytes</th><th>sha256</th></tr>\n";
  std::size_t n = 0;
  for (const auto& e : arr) {
    if (++n > 40) {
      s += "<tr><td>" + esc("... " + std::to_string(arr.size() - 40) + " more") + "</td><td></td><td></td></tr>\n";
      break;
    }
    auto field = [&](const char* k) { return e.contains(k) ? json_scalar_text(e[k]) : std::string(); };
    s += "<tr><td>" + esc(field("file")) + "</td><td class=\"num\">" + esc(field("bytes")) + "</td><td><code>" +
         esc(field("sha256")) + "</code></td></tr>\n";
  }
  return s + "</table>\n";
}

bool is_file_list(const nlohmann::json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const auto& e : v)
    if (!e.is_object() || !e.contains("file")) return false;
  return true;
}

}  // namespace

std::string eval_section(const ReportData& d) {
  std::string s = "<section id=\"eval\">\n<h2>Quality</h2>\n";
  if (!d.eval || !d.eval->is_object())
    return s + "<p class=\"missing\">No evaluation given: run <code>ramq eval OUT --reference ORIGINAL --tokens F --json "
               "&gt; eval.json</code> and pass <code>--eval eval.json</code>.</p>\n</section>\n";
  const nlohmann::json& e = *d.eval;
  struct Field {
    const char* key;
    const char* label;
    int digits;
  };
  static const Field kFields[] = {{"ppl", "perplexity", 6},
                                  {"median_window_ppl", "median window perplexity", 6},
                                  {"ppl_reference", "perplexity of the original", 6},
                                  {"ppl_ratio", "perplexity ratio (quantized / original)", 6},
                                  {"mean_kld", "mean KL divergence from the original (nats)", 4},
                                  {"median_kld", "median KL divergence (nats)", 4},
                                  {"top1_agreement", "top-1 agreement with the original", 6},
                                  {"mean_nll", "mean negative log-likelihood (nats)", 6}};
  s += "<table id=\"eval-table\">\n";
  for (const auto& f : kFields) {
    if (!e.contains(f.key) || !e[f.key].is_number()) continue;
    const double v = e[f.key].get<double>();
    const std::string shown = std::string(f.key) == "top1_agreement" ? percent(v) : sig(v, f.digits);
    s += "<tr><th>" + esc(f.label) + "</th><td class=\"num\"" + attr("data-key", f.key) + attr("data-value", sig(v, 17)) +
         ">" + esc(shown) + "</td></tr>\n";
  }
  for (const char* k : {"tokens", "windows", "scored_tokens", "ctx"})
    if (e.contains(k) && e[k].is_number_integer()) s += row(k, std::to_string(e[k].get<std::int64_t>()), true);
  for (const char* k : {"model", "reference", "token_file"})
    if (e.contains(k) && e[k].is_string()) s += row(k, e[k].get<std::string>());
  return s + "</table>\n</section>\n";
}

std::string manifest_section(const ReportData& d) {
  std::string s = "<section id=\"manifest\">\n<h2>Audit manifest</h2>\n";
  if (!d.manifest || !d.manifest->is_object())
    return s + "<p class=\"missing\">No ramq-manifest.json beside the output.</p>\n</section>\n";
  const nlohmann::json& m = *d.manifest;
  std::string scalars, files;
  for (auto it = m.begin(); it != m.end(); ++it) {
    const auto& v = it.value();
    if (it.key() == "tensors") {
      scalars += row("tensors", std::to_string(v.size()) + " decisions (scores shown above)");
    } else if (v.is_primitive()) {
      if (!v.is_null()) scalars += row(it.key(), json_scalar_text(v));
    } else if (v.is_array() && std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_string(); })) {
      std::string joined;
      for (const auto& x : v) joined += (joined.empty() ? "" : " ") + x.get<std::string>();
      scalars += row(it.key(), joined);
    } else if (is_file_list(v)) {
      files += "<h3>" + esc(it.key()) + " (" + std::to_string(v.size()) + ")</h3>\n" + file_table(v);
    } else if (v.is_object() && v.contains("file")) {
      files += "<h3>" + esc(it.key()) + "</h3>\n" + file_table(nlohmann::json::array({v}));
    } else {
      scalars += "<tr><th>" + esc(it.key()) + "</th><td><code>" + esc(v.dump()) + "</code></td></tr>\n";
    }
  }
  return s + "<table id=\"manifest-table\">\n" + scalars + "</table>\n" + files + "</section>\n";
}

std::string tensor_table_section(const ReportData& d) {
  std::string s = "<section id=\"tensors\">\n<details>\n<summary>All " + std::to_string(d.tensors.size()) +
                  " tensors</summary>\n<table id=\"tensor-table\">\n<tr><th>tensor</th><th>layer</th><th>role</th>"
                  "<th>shape</th><th>encoding</th><th>bytes</th><th>bits/weight</th><th>S</th><th>spectral</th>"
                  "<th>kurtosis</th><th>output noise</th><th>reconstruction</th><th>predicted error</th><th>reason</th></tr>\n";
  for (const auto& t : d.tensors) {
    std::string shape;
    for (const auto x : t.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(x);
    auto num = [](const std::string& v) { return "<td class=\"num\">" + esc(v) + "</td>"; };
    s += "<tr><td>" + esc(t.name) + "</td>" + num(t.role.layer >= 0 ? std::to_string(t.role.layer) : "") + "<td>" +
         esc(t.role.role) + "</td><td>" + esc(shape) + "</td><td>" + esc(t.encoding) + "</td>" + num(std::to_string(t.bytes)) +
         num(t.numel > 0 ? fixed(8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.numel), 3) : "");
    if (t.scores) {
      s += num(fixed(t.scores->composite, 3)) + num(fixed(t.scores->s_svd, 3)) + num(fixed(t.scores->s_kurt, 3)) +
           num(fixed(t.scores->s_out, 3)) + num(fixed(t.scores->s_err, 3));
    } else {
      s += "<td></td><td></td><td></td><td></td><td></td>";
    }
    s += num(t.predicted_error ? sig(*t.predicted_error, 3) : "") + "<td>" + esc(t.reason) + "</td></tr>\n";
  }
  return s + "</table>\n</details>\n</section>\n";
}

}  // namespace ramq::report
