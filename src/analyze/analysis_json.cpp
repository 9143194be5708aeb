// analysis.json: writing and reading back (with validation) the per-tensor SWAN analysis.
#include <cstdio>
#include <algorithm>
#include <climits>
#include <cmath>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "ramq/analysis.h"
#include "ramq/error.h"
#include "ramq/json_io.h"
#include "ramq/version.h"

namespace ramq {

namespace {
constexpr const char* kKind = "ramq-analysis";

// Element counts an analysis may claim. Far above any real tensor (the configuration limits allow
// at most a 2^24 x 2^20 embedding) and model, and low enough that later sums and byte counts
// (plan sizes, budgets) cannot overflow.
constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 44;
constexpr std::int64_t kMaxModelElements = std::int64_t{1} << 52;

// JSON text holds no NaN or infinity (the reader refuses 1e999), but an analysis that arrives as
// CBOR (from MPI ranks) or is built in memory can: a metric must be a finite number.
void require_finite(const JsonReader& r, std::initializer_list<double> values, const char* what) {
  for (const double v : values)
    if (!std::isfinite(v)) r.fail(std::string(what) + " must be finite numbers");
}

std::string show_shape(const std::vector<std::int64_t>& s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

// A probe encoding in analysis.json: "mlx 4-bit g64" (MLX affine) or "gguf IQ4_NL".
std::string probe_encoding_label(const Encoding& e) {
  if (const auto* a = e.affine()) return "mlx " + std::to_string(a->bits) + "-bit g" + std::to_string(a->group);
  return "gguf " + e.name();
}

std::optional<Encoding> parse_probe_encoding_label(const std::string& label) {
  int bits = 0, group = 0;
  char tail = 0;
  if (std::sscanf(label.c_str(), "mlx %d-bit g%d%c", &bits, &group, &tail) == 2 && mlx_bits_supported(bits) &&
      mlx_group_supported(group) && label == probe_encoding_label(Encoding::mlx_affine(bits, group)))
    return Encoding::mlx_affine(bits, group);
  if (label.rfind("gguf ", 0) == 0)
    if (const auto t = parse_ggml_type(label.substr(5))) return Encoding::ggml(*t);
  return std::nullopt;
}

}  // namespace

nlohmann::json metric_options_to_json(const MetricOptions& m) {
  nlohmann::json j = {{"full_svd_max_dim", m.full_svd_max_dim}, {"rsvd_rank", m.rsvd_rank},
                      {"probes", m.probes},                     {"noise_levels", m.noise_levels},
                      {"err_bits", m.err_bits},                 {"err_group", m.err_group}};
  if (m.rsvd_method == RsvdMethod::BlockKrylov) {
    j["rsvd_method"] = "block_krylov";
    j["krylov_block"] = m.krylov_block;
    j["krylov_depth"] = resolved_krylov_depth(m);
  } else {
    j["rsvd_method"] = "subspace";
    j["rsvd_oversample"] = m.rsvd_oversample;
    j["rsvd_power_iters"] = m.rsvd_power_iters;
  }
  return j;
}

nlohmann::json analysis_to_json(const ModelAnalysis& a) {
  nlohmann::json j;
  j["kind"] = kKind;
  j["ramq_version"] = kVersion;
  j["model_dir"] = a.model_dir;
  j["config"] = a.config.raw;
  j["model"] = {{"architecture", a.config.architecture},
                {"model_type", a.config.model_type},
                {"hidden_size", a.config.hidden_size},
                {"intermediate_size", a.config.intermediate_size},
                {"num_hidden_layers", a.config.num_hidden_layers},
                {"num_attention_heads", a.config.num_attention_heads},
                {"num_key_value_heads", a.config.num_key_value_heads},
                {"head_dim", a.config.head_dim},
                {"vocab_size", a.config.vocab_size},
                {"tie_word_embeddings", a.config.tie_word_embeddings},
                {"total_params", a.total_params}};
  j["input_sha256"] = a.input_sha256;
  if (a.metric_options) j["metric_options"] = metric_options_to_json(*a.metric_options);
  if (a.rd_options) {
    // How the rate-distortion curves were measured: rows per tensor, families, MLX encoder.
    j["rd_options"] = {{"max_rows", a.rd_options->max_rows},
                       {"max_elements", a.rd_options->max_elements},
                       {"mlx", a.rd_options->mlx},
                       {"gguf", a.rd_options->gguf},
                       {"mlx_encoder", a.rd_mlx_encoder}};
  }
  if (!a.probe.is_null()) j["probe"] = a.probe;
  auto& arr = j["tensors"] = nlohmann::json::array();
  for (const auto& t : a.tensors) {
    nlohmann::json e = {{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"numel", t.numel}, {"scored", t.scored}};
    if (!t.source_dtype.empty()) e["source_dtype"] = t.source_dtype;
    if (!t.scored) e["skip_reason"] = t.skip_reason;
    if (t.raw) {
      e["raw"] = {{"c", t.raw->concentration},
                  {"kappa", t.raw->kurtosis},
                  {"delta", t.raw->noise_amp},
                  {"nrmse", t.raw->nrmse},
                  {"randomized_svd", t.raw->randomized_svd}};
    }
    if (t.scores) {
      e["scores"] = {{"s_svd", t.scores->s_svd}, {"s_kurt", t.scores->s_kurt}, {"s_out", t.scores->s_out},
                     {"s_err", t.scores->s_err}, {"S", t.scores->composite}};
    }
    if (t.rd) e["rd"] = rate_distortion_to_json(*t.rd);
    if (t.probe)
      e["probe"] = {{"encoding", probe_encoding_label(t.probe->encoding)}, {"rel_err", t.probe->rel_err}, {"kld", t.probe->kld}};
    arr.push_back(std::move(e));
  }
  return j;
}

ModelAnalysis analysis_from_json(const nlohmann::json& j, const std::string& file) {
  JsonReader r{file, ""};
  if (!j.is_object()) r.fail("not an analysis file (expected a JSON object)");
  if (r.string(j, "kind") != kKind) r.fail("not an analysis file (kind is not \"ramq-analysis\")");
  ModelAnalysis a;
  a.model_dir = r.string(j, "model_dir");
  a.config = parse_model_config(r.field(j, "config").dump(), file);
  const auto& hashes = r.field(j, "input_sha256");
  if (!hashes.is_object()) r.fail("field 'input_sha256' must be an object");
  for (auto it = hashes.begin(); it != hashes.end(); ++it) {
    if (!it.value().is_string()) r.fail("input_sha256 entries must be strings");
    a.input_sha256[it.key()] = it.value().get<std::string>();
  }
  if (j.contains("rd_options")) {
    const auto& ro = j["rd_options"];
    RdOptions o;
    o.max_rows = r.integer(ro, "max_rows");
    o.max_elements = ro.contains("max_elements") ? r.integer(ro, "max_elements") : 0;
    o.mlx = r.boolean(ro, "mlx");
    o.gguf = r.boolean(ro, "gguf");
    a.rd_options = o;
    a.rd_mlx_encoder = r.string(ro, "mlx_encoder");
  }
  if (j.contains("probe") && !j["probe"].is_null()) {
    const auto& pr = j["probe"];
    if (!pr.is_object() || r.string(pr, "kind") != "self") r.fail("field 'probe' must be an object with kind \"self\"");
    a.probe = pr;
  }
  const auto& arr = r.field(j, "tensors");
  if (!arr.is_array()) r.fail("field 'tensors' must be an array");
  std::set<std::string> seen;
  for (const auto& e : arr) {
    JsonReader tr{file, ""};
    TensorAnalysis t;
    t.name = tr.string(e, "name");
    tr.tensor = t.name;
    if (!seen.insert(t.name).second) tr.fail("listed twice");
    t.shape = tr.shape_with_numel(e, t.numel);
    if (t.numel > kMaxTensorElements)
      tr.fail("numel " + std::to_string(t.numel) + " is beyond any real tensor (at most 2^44 elements)");
    t.dtype = tr.string(e, "dtype");
    if (!parse_dtype(t.dtype)) tr.fail("unknown dtype '" + t.dtype + "'");
    if (e.contains("source_dtype")) {
      t.source_dtype = tr.string(e, "source_dtype");
      if (t.source_dtype != "F8_E4M3" && t.source_dtype != "MXFP4") tr.fail("unknown source_dtype '" + t.source_dtype + "'");
    }
    t.scored = tr.boolean(e, "scored");
    if (!t.scored) {
      t.skip_reason = e.contains("skip_reason") && e["skip_reason"].is_string() ? e["skip_reason"].get<std::string>() : "";
    } else if (e.contains("raw")) {  // (absent: the metrics were not computed)
      const auto& raw = tr.field(e, "raw");
      RawMetrics m;
      m.concentration = tr.number(raw, "c");
      m.kurtosis = tr.number(raw, "kappa");
      m.noise_amp = tr.number(raw, "delta");
      m.nrmse = tr.number(raw, "nrmse");
      m.randomized_svd = tr.boolean(raw, "randomized_svd");
      require_finite(tr, {m.concentration, m.kurtosis, m.noise_amp, m.nrmse}, "raw metrics");
      const auto& sc = tr.field(e, "scores");
      SwanScores s;
      s.s_svd = tr.number(sc, "s_svd");
      s.s_kurt = tr.number(sc, "s_kurt");
      s.s_out = tr.number(sc, "s_out");
      s.s_err = tr.number(sc, "s_err");
      s.composite = tr.number(sc, "S");
      require_finite(tr, {s.composite}, "score S");
      for (double v : {s.s_svd, s.s_kurt, s.s_out, s.s_err})
        if (!(v >= 0.0 && v <= 1.0)) tr.fail("scores must lie in [0, 1]");
      t.raw = m;
      t.scores = s;
    }
    if (t.scored) {
      if (e.contains("rd")) t.rd = rate_distortion_from_json(e["rd"], file, t.name);
      if (e.contains("probe")) {
        const auto& pm = e["probe"];
        ProbeMeasure m2;
        const auto encoding = parse_probe_encoding_label(tr.string(pm, "encoding"));
        if (!encoding) tr.fail("probe: unknown encoding '" + tr.string(pm, "encoding") + "'");
        m2.encoding = *encoding;
        m2.rel_err = tr.number(pm, "rel_err");
        m2.kld = tr.number(pm, "kld");
        if (!(m2.rel_err >= 0) || !(m2.kld >= 0) || !std::isfinite(m2.rel_err) || !std::isfinite(m2.kld))
          tr.fail("probe: rel_err and kld must be finite numbers >= 0");
        t.probe = m2;
      }
    }
    a.total_params += t.numel;  // each at most 2^44, the total checked right away: no overflow
    if (a.total_params > kMaxModelElements) tr.fail("the analysis's tensors add up to more than 2^52 elements");
    a.tensors.push_back(std::move(t));
  }
  std::sort(a.tensors.begin(), a.tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return a;
}

void check_analysis_matches_model(const ModelAnalysis& a, const ModelReader& model, const std::string& file) {
  const std::string where = " the model at " + model.dir().string();
  for (const auto& t : a.tensors) {
    const TensorInfo* found = model.find(t.name);
    if (found == nullptr) throw Error(file, t.name, "is not a tensor of" + where);
    if (found->shape != t.shape)
      throw Error(file, t.name,
                  "has shape " + show_shape(t.shape) + " in the analysis but " + show_shape(found->shape) + " in" +
                      where);
  }
}

}  // namespace ramq
