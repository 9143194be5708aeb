// Option groups shared by several subcommands, and the strict number checks every numeric
// option uses.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "cli/cli.h"
#include "ramq/budget.h"
#include "ramq/error.h"

namespace ramq::cli {

// Numbers on the command line are checked here, on the text, before CLI11 converts them: its
// conversions wrap "-1" to 2^64-1 and saturate 2^64 for unsigned targets, read "0x10" as hex and
// "010" as octal, and its Range lets NaN through (every comparison with NaN is false). A value
// that passes these checks is one CLI11 converts exactly.

// A plain decimal integer (digits only, no leading zero) in [lo, hi].
CLI::Validator count_in(std::uint64_t lo, std::uint64_t hi) {
  const std::string desc = "INT in [" + std::to_string(lo) + " - " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || (text.size() > 1 && text[0] == '0'))
          return "'" + text + "' is not a plain non-negative integer (decimal digits only, no leading zero)";
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc::result_out_of_range || v > hi)
          return text + " is above the largest allowed value, " + std::to_string(hi);
        if (ec != std::errc() || end != text.data() + text.size()) return "'" + text + "' is not an integer";
        if (v < lo) return text + " is below the smallest allowed value, " + std::to_string(lo);
        return {};
      },
      desc);
}

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string show_real(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

// A finite number in [lo, hi]; an infinite bound means none on that side.
CLI::Validator finite_in(double lo, double hi) {
  std::string desc = "FLOAT finite";
  if (std::isfinite(lo) && std::isfinite(hi))
    desc = "FLOAT in [" + show_real(lo) + " - " + show_real(hi) + "]";
  else if (std::isfinite(lo))
    desc = "FLOAT >= " + show_real(lo);
  else if (std::isfinite(hi))
    desc = "FLOAT <= " + show_real(hi);
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || end != text.data() + text.size()) return "'" + text + "' is not a number";
        if (ec == std::errc::result_out_of_range) return text + " is beyond the range of a double";
        if (ec != std::errc()) return "'" + text + "' is not a number";
        if (!std::isfinite(v)) return text + " is not a finite number";
        if (v < lo) return text + " is below " + show_real(lo);
        if (v > hi) return text + " is above " + show_real(hi);
        return {};
      },
      desc);
}

// The SWAN policy assigns 16 bits to S >= t16, then 8 bits to S >= t8, then 2 bits to S <= t2,
// else 4 bits (src/plan/policy.cpp): with t8 > t16 or t2 > t8 the tiers overlap and the command
// line would not mean what it says. The weights only scale a sum (no division), so zero is fine.
void check_option_relations(const Options& o) {
  const SwanPolicyOptions& s = o.swan;
  if (s.t8 > s.t16)
    throw CLI::ValidationError("--t8", show_real(s.t8) + " is above --t16 " + show_real(s.t16) +
                                           " (swan needs --t2 <= --t8 <= --t16)");
  if (s.t2 > s.t8)
    throw CLI::ValidationError("--t2", show_real(s.t2) + " is above --t8 " + show_real(s.t8) +
                                           " (swan needs --t2 <= --t8 <= --t16)");
  if (o.policy == PolicyKind::Budget && (o.budget.target_bpw > 0) == (o.budget.target_bytes > 0))
    throw CLI::ValidationError("--policy budget", "needs exactly one of --target-bpw and --target-size");
}

// An option whose value is a name parsed into an enum (the names are the parser's; the default
// shown is the current value's).
template <class E>
CLI::Option* add_enum_option(CLI::App* cmd, const std::string& flag, E& target,
                             std::optional<E> (*parse)(std::string_view), std::string_view (*name_of)(E),
                             const std::vector<std::string>& names, const std::string& what) {
  return cmd
      ->add_option_function<std::string>(flag, [&target, parse](const std::string& v) { target = *parse(v); }, what)
      ->check(CLI::IsMember(names))
      ->default_str(std::string(name_of(target)));
}

void add_probe_option(CLI::App* cmd, Options& o, const std::string& what) {
  add_enum_option(cmd, "--probe", o.probe.mode, parse_probe_mode, probe_mode_name, {"none", "self"}, what);
}

// Options shared by `plan` and `quantize` (policy settings).
void add_policy_options(CLI::App* cmd, Options& o) {
  add_enum_option(cmd, "--policy", o.policy, parse_policy, policy_name, {"swan", "uniform", "budget", "llama-mix"},
                  "Bit allocation policy: swan (SWAN thresholds), uniform (baseline), budget (least weighted error "
                  "within --target-bpw/--target-size), or llama-mix (llama.cpp's per-tensor rules for --mix; GGUF only)");
  auto* bpw = cmd->add_option("--target-bpw", o.budget.target_bpw,
                              "budget: bits per weight over all parameters, of the whole output (8 x file bytes / "
                              "parameters; headers and metadata included)")
                  ->check(finite_in(0.5, 64.0));
  auto* size = cmd->add_option_function<std::string>(
      "--target-size",
      [&o](const std::string& text) {
        try {
          o.budget.target_bytes = parse_byte_size(text);
        } catch (const Error& e) {
          throw CLI::ValidationError("--target-size", e.problem());
        }
      },
      "budget: total output bytes, e.g. 4.2GB, 300MB, 512KiB (B, KB, MB, GB, TB; KiB, MiB, GiB, TiB)");
  bpw->excludes(size);
  add_probe_option(cmd, o,
                   "budget: sensitivity weights from the data-free model (none) or measured by the model's own forward "
                   "passes (self; `quantize` measures them, `plan` needs an analysis made with --probe self)");
  cmd->add_option("--mix", o.mix, "llama-mix: the llama.cpp mix to reproduce")
      ->check(CLI::IsMember({"Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"}))
      ->capture_default_str();
  add_enum_option(cmd, "--format", o.format, parse_output_format, output_format_name, {"mlx", "gguf"},
                  "Output format: mlx (affine groups) or gguf (llama.cpp types; swan maps 2/4/8/16 bits to "
                  "Q2_K/Q4_K/Q8_0/F16)");
  cmd->add_option("--bits", o.uniform.bits,
                  "uniform: bits for every quantizable tensor (2, 3, 4, 5, 6, 8; 16 keeps every tensor in float, e.g. "
                  "with --keep-dtype --format gguf for an F32 GGUF)")
      ->check(count_in(2, 16))
      ->check(CLI::IsMember({2, 3, 4, 5, 6, 8, 16}))
      ->capture_default_str();
  cmd->add_option("--group", o.uniform.group, "uniform: group size (32, 64, 128)")
      ->check(count_in(32, 128))
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_flag("--quantize-embeddings", o.uniform.quantize_embeddings,
                "uniform: also quantize embed_tokens and lm_head (kept 16-bit by default)");
  // Thresholds: any finite number (S is a weighted sum of scores in [0, 1]; a threshold outside
  // the range S takes simply empties a tier). Weights: finite and >= 0.
  const auto any_finite = finite_in(-kInf, kInf);
  const auto weight = finite_in(0.0, kInf);
  // Defined before --t8/--t16: CLI11 runs option callbacks in definition order, so thresholds
  // given explicitly override the preset's.
  cmd->add_option_function<std::string>(
         "--swan-preset",
         [&o](const std::string& name) {
           const auto [t8, t16] = swan_preset_thresholds(name);
           o.swan.t8 = t8;
           o.swan.t16 = t16;
         },
         "swan: thresholds t8/t16 of the paper (0.65/0.90, the default) or of the reference CLI's GUIDE.md: "
         "compression 0.55/0.90, balanced 0.45/0.85 (its default), quality 0.35/0.80, conservative 0.30/0.75")
      ->check(CLI::IsMember({"paper", "compression", "balanced", "quality", "conservative"}));
  cmd->add_option("--t16", o.swan.t16, "swan: S >= t16 keeps the tensor in 16 bits")
      ->check(any_finite)
      ->capture_default_str();
  cmd->add_option("--t8", o.swan.t8, "swan: S >= t8 gives 8 bits")
      ->check(any_finite)
      ->capture_default_str();
  cmd->add_option("--t2", o.swan.t2, "swan: S <= t2 gives 2 bits (otherwise 4 bits)")
      ->check(any_finite)
      ->capture_default_str();
  cmd->add_option("--w-svd", o.swan.w_svd, "swan: weight of the spectral score in S")
      ->check(weight)
      ->capture_default_str();
  cmd->add_option("--w-kurt", o.swan.w_kurt, "swan: weight of the kurtosis score in S")
      ->check(weight)
      ->capture_default_str();
  cmd->add_option("--w-out", o.swan.w_out, "swan: weight of the output-noise score in S")
      ->check(weight)
      ->capture_default_str();
  cmd->add_option("--w-err", o.swan.w_err, "swan: weight of the reconstruction-error score in S")
      ->check(weight)
      ->capture_default_str();
  cmd->add_option("--group8", o.swan.group8, "swan: group size of 8-bit tensors")
      ->check(count_in(32, 128))
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_option("--group4", o.swan.group4, "swan: group size of 4-bit tensors")
      ->check(count_in(32, 128))
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_option("--group2", o.swan.group2, "swan: group size of 2-bit tensors")
      ->check(count_in(32, 128))
      ->check(CLI::IsMember({32, 64, 128}))
      ->capture_default_str();
  cmd->add_flag("--strict-groups", o.strict_groups,
                "Keep a tensor 16-bit when its row length is not divisible by the chosen group (default: use the "
                "largest smaller group of 32/64/128 that divides it)");
  cmd->add_flag("--keep-dtype", o.keep_dtype, "Keep F32 tensors that are not quantized in F32 (default: write F16)");
}

// Options of the analysis (metrics).
void add_metric_options(CLI::App* cmd, Options& o) {
  cmd->add_option("--seed", o.seed, "Seed of the randomized SVD and the probe vectors")
      ->check(count_in(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  cmd->add_option("--rsvd-rank", o.metrics.rsvd_rank, "Rank k of the randomized SVD (matrices with min dim > 512)")
      ->check(count_in(1, 4096))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
         "--svd",
         [&o](const std::string& v) {
           o.metrics.rsvd_method = v == "subspace" ? RsvdMethod::Subspace : RsvdMethod::BlockKrylov;
         },
         "Randomized SVD of matrices with min dim > 512: block Krylov (default; 2*depth-1 products with "
         "--krylov-block columns) or subspace iteration (Halko-Martinsson-Tropp, 2*power-iters+2 products with "
         "rank+16 columns)")
      ->check(CLI::IsMember({"krylov", "subspace"}))
      ->default_str("krylov");
  cmd->add_option("--krylov-block", o.metrics.krylov_block, "Block Krylov: columns per block")
      ->check(count_in(1, 4096))
      ->capture_default_str();
  cmd->add_option("--krylov-depth", o.metrics.krylov_depth,
                  "Block Krylov: blocks in the Krylov basis (0: ceil(9 * rank / (4 * block)), 9 for the defaults; at "
                  "least ceil(rank / block))")
      ->check(count_in(0, 4096))
      ->capture_default_str();
  cmd->add_option("--power-iters", o.metrics.rsvd_power_iters, "Subspace iteration (--svd subspace): power iterations")
      ->check(count_in(0, 20))
      ->capture_default_str();
  cmd->add_option("--probes", o.metrics.probes, "Gaussian probe vectors for the output-noise metric")
      ->check(count_in(1, 4096))
      ->capture_default_str();
  cmd->add_flag("--rd,!--no-rd", o.rd.enabled,
                "Measure rate-distortion curves (every candidate encoding's bytes and error; needed by --policy "
                "budget; `quantize` measures them only for the budget policy or --save-analysis)")
      ->capture_default_str();
  cmd->add_option("--rd-elements", o.rd.max_elements,
                  "Rate-distortion: about this many elements measured per tensor (at least 8 rows; 0 = no limit)")
      ->check(count_in(0, std::uint64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--rd-rows", o.rd.max_rows, "Rate-distortion: rows measured per tensor (evenly spaced; 0 = all rows)")
      ->check(count_in(0, std::uint64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
         "--rd-formats",
         [&o](const std::string& f) {
           o.rd.mlx = f != "gguf";
           o.rd.gguf = f != "mlx";
         },
         "Rate-distortion: candidate families to measure (both, mlx, gguf)")
      ->check(CLI::IsMember({"both", "mlx", "gguf"}))
      ->default_str("both");
  cmd->add_option("--probe-sequences", o.probe.sequences, "--probe self: sequences the model generates")
      ->check(count_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--probe-length", o.probe.length,
                  "--probe self: tokens per generated sequence (at most the model's max_position_embeddings)")
      ->check(count_in(2, 8192))
      ->capture_default_str();
  add_enum_option(cmd, "--mlx-encoder", o.mlx_encoder, parse_mlx_encoder, mlx_encoder_name, {"search", "minmax"},
                  "MLX affine encoder: search (error-minimising scale/bias per group) or minmax (plain min/max "
                  "round-to-nearest)");
}

}  // namespace ramq::cli
