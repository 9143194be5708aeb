// A plan in a few lines of text (`--dry-run`): size, bits per weight, and per decoder layer the
// parameters, bytes and the encoding of each tensor.
#include <cstdio>
#include <map>

#include "ramq/plan.h"
#include "ramq/sensitivity.h"

namespace ramq {

namespace {

std::string short_encoding(const TensorDecision& d) {
  if (d.encoding.ggml_type()) return d.encoding.name();
  if (!d.quantized()) return "16";
  return std::to_string(d.bits()) + "b/g" + std::to_string(d.encoding.group());
}

std::string short_name(const TensorDecision& d) {
  const TensorRole r = tensor_role(d.name, false);
  if (r != TensorRole::Other) return tensor_role_name(r);
  // not a known role: the last component before ".weight"/".bias"
  std::string n = d.name;
  const auto dot = n.rfind('.');
  const std::string tail = dot == std::string::npos ? n : n.substr(dot + 1);
  if (tail == "weight" || tail == "bias") {
    const std::string head = dot == std::string::npos ? "" : n.substr(0, dot);
    const auto dot2 = head.rfind('.');
    return (dot2 == std::string::npos ? head : head.substr(dot2 + 1)) + (tail == "bias" ? ".bias" : "");
  }
  return tail;
}

std::string bpw(std::uint64_t bytes, std::int64_t params) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", params > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0.0);
  return buf;
}

}  // namespace

std::string plan_summary_text(const Plan& p) {
  struct Layer {
    std::int64_t params = 0;
    std::uint64_t bytes = 0;
    std::string encodings;
  };
  std::map<int, Layer> layers;  // -1: tensors outside the decoder layers
  for (const auto& d : p.tensors) {
    Layer& l = layers[tensor_layer(d.name)];
    l.params += d.numel;
    l.bytes += d.bytes;
    if (d.shape.size() < 2) continue;  // norms and biases: counted, not listed
    l.encodings += (l.encodings.empty() ? "" : ", ") + short_name(d) + " " + short_encoding(d);
  }
  char buf[256];
  std::string out;
  std::snprintf(buf, sizeof buf, "plan: %s, policy %s: %llu bytes of tensors (%.3f MB), %s bits per weight, %lld parameters\n",
                std::string(output_format_name(p.format)).c_str(), plan_policy_label(p).c_str(), static_cast<unsigned long long>(p.total_bytes),
                static_cast<double>(p.total_bytes) / 1e6, bpw(p.total_bytes, p.total_params).c_str(),
                static_cast<long long>(p.total_params));
  out += buf;
  if (p.details.is_object() && p.details.contains("file_bytes")) {
    const auto file = p.details["file_bytes"].get<std::uint64_t>();
    std::snprintf(buf, sizeof buf, "%s: %llu bytes with headers and metadata, %s bits per weight\n",
                  p.format == OutputFormat::Gguf ? "GGUF file" : "safetensors files", static_cast<unsigned long long>(file),
                  bpw(file, p.total_params).c_str());
    out += buf;
  }
  if (p.details.is_object() && p.details.contains("target_bytes")) {
    std::snprintf(buf, sizeof buf, "budget: target %llu bytes, achieved %.4f%% of it; %s\n",
                  static_cast<unsigned long long>(p.details["target_bytes"].get<std::uint64_t>()),
                  100.0 * p.details.value("achieved_fraction_of_target", 0.0),
                  p.details.value("rd_measured_on", std::string()).c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%6s %10s %12s %7s  %s\n", "layer", "params", "bytes", "bits/w", "2-D tensors");
  out += buf;
  for (const auto& [index, l] : layers) {
    const std::string name = index < 0 ? "other" : std::to_string(index);
    std::snprintf(buf, sizeof buf, "%6s %10lld %12llu %7s  ", name.c_str(), static_cast<long long>(l.params),
                  static_cast<unsigned long long>(l.bytes), bpw(l.bytes, l.params).c_str());
    out += buf + l.encodings + "\n";
  }
  return out;
}

}  // namespace ramq
