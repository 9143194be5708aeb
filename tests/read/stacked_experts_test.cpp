// Stacked routed experts read as per-expert tensors (read/stacked_experts.h): stacks stored
// [E, in, out] (read column by column), block-scaled stacks (FP8 whose gate/up halves start inside
// a block of scales, MXFP4), Mixtral's transformers 5 names, and the refusals. Expected values are
// indexed from the stored stack here, and block-scaled ones come from the test's own encoders
// (support/block_scaled.h).
#include <gtest/gtest.h>

#include <bit>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/safetensors.h"
#include "support/block_scaled.h"
#include "support/safetensors_builder.h"

using namespace ramq;
using namespace ramq::testkit;

namespace {

std::string moe_config(const std::string& model_type, std::int64_t hidden, bool fp8 = false) {
  auto c = nlohmann::json::parse(tiny_config_json());
  c["model_type"] = model_type;
  c["hidden_size"] = hidden;
  if (fp8) c["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  return c.dump();
}

// Element (r, c) of a [rows, cols] matrix whose element (r, c) is `at(r, c)`.
template <class At>
std::vector<float> matrix(std::int64_t rows, std::int64_t cols, At at) {
  std::vector<float> m;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) m.push_back(at(r, c));
  return m;
}

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]), std::bit_cast<std::uint32_t>(want[i])) << what << " element " << i;
}

const TensorInfo& tensor(const ModelReader& m, const std::string& name) {
  const TensorInfo* t = m.find(name);
  if (t == nullptr) throw std::runtime_error("no tensor " + name);
  return *t;
}

}  // namespace

// [E, in, out] stacks: gate_up [E, H, 2I] and down [E, I, H], F32 and BF16, I = 70 (more rows than
// one 64-row gather), read whole, by rows, by ranges and as dtype bytes.
TEST(StackedExperts, TransposedStacksReadColumnByColumn) {
  const std::int64_t E = 3, H = 8, I = 70;
  for (const DType dt : {DType::F32, DType::BF16}) {
    TempDir tmp;
    std::vector<float> gate_up(E * H * 2 * I), down(E * I * H);
    // Distinct-looking integers of magnitude <= 125: exact in BF16 too.
    for (std::size_t i = 0; i < gate_up.size(); ++i) gate_up[i] = static_cast<float>(static_cast<int>(i * 13) % 251) - 125.0f;
    for (std::size_t i = 0; i < down.size(); ++i) down[i] = static_cast<float>(static_cast<int>(i * 7) % 241) - 120.0f;
    SafetensorsBuilder b;
    b.add("model.layers.0.mlp.experts.gate_up_proj", dt, {E, H, 2 * I}, gate_up)
        .add("model.layers.0.mlp.experts.down_proj", dt, {E, I, H}, down);
    write_model(tmp.path(), b, moe_config("qwen3_moe", H));
    const ModelReader m(tmp.path());
    ASSERT_EQ(m.tensors().size(), static_cast<std::size_t>(3 * E));
    for (std::int64_t e = 0; e < E; ++e) {
      const std::string x = "model.layers.0.mlp.experts." + std::to_string(e) + ".";
      const TensorInfo& gate = tensor(m, x + "gate_proj.weight");
      const TensorInfo& up = tensor(m, x + "up_proj.weight");
      const TensorInfo& dn = tensor(m, x + "down_proj.weight");
      EXPECT_EQ(gate.shape, (std::vector<std::int64_t>{I, H}));
      EXPECT_EQ(dn.shape, (std::vector<std::int64_t>{H, I}));
      EXPECT_EQ(gate.dtype, dt);
      EXPECT_EQ(gate.source_dtype(), std::string(dtype_name(dt)));
      EXPECT_EQ(up.stored_as, "model.layers.0.mlp.experts.gate_up_proj [3, 8, 140], expert " + std::to_string(e) +
                                  ", columns 70-139");
      const auto stored_gu = [&](std::int64_t in, std::int64_t out) { return gate_up[(e * H + in) * 2 * I + out]; };
      const auto want_gate = matrix(I, H, [&](std::int64_t r, std::int64_t c) { return stored_gu(c, r); });
      const auto want_up = matrix(I, H, [&](std::int64_t r, std::int64_t c) { return stored_gu(c, I + r); });
      const auto want_down = matrix(H, I, [&](std::int64_t r, std::int64_t c) { return down[(e * I + c) * H + r]; });
      expect_bits(m.load_f32(gate), want_gate, "gate");
      expect_bits(m.load_f32(up, 2), want_up, "up");
      expect_bits(m.load_f32(dn), want_down, "down");
      // Rows 3 and 66 (either side of the 64-row gather), and a range that starts and ends mid-row.
      const std::vector<std::int64_t> rows = {3, 66};
      const auto got_rows = m.load_rows_f32(up, rows, H);
      for (std::size_t k = 0; k < rows.size(); ++k)
        for (std::int64_t c = 0; c < H; ++c)
          ASSERT_EQ(got_rows[k * H + static_cast<std::size_t>(c)], want_up[static_cast<std::size_t>(rows[k] * H + c)]);
      std::vector<float> range(517);
      m.load_range_f32(gate, 5, range);
      expect_bits(range, std::vector<float>(want_gate.begin() + 5, want_gate.begin() + 522), "range");
      const auto bytes = m.dtype_bytes(dn);
      std::vector<float> back(want_down.size());
      convert_to_f32(dt, bytes, back);
      expect_bits(back, want_down, "dtype bytes");
    }
  }
}

// FP8 stacks [E, 2I, H] with weight_scale_inv [E, ceil(2I/128), ceil(H/128)]: I = 96, so the up
// half of each expert starts 96 rows into a block of scales; H = 160 has an edge block.
TEST(StackedExperts, Fp8StacksKeepTheirScalePhase) {
  TempDir tmp;
  const std::int64_t E = 2, H = 160, I = 96;
  std::string codes, down_codes;
  std::vector<float> scales, down_scales;
  std::vector<Fp8Matrix> gu, dn;
  for (std::int64_t e = 0; e < E; ++e) {
    const auto w = matrix(2 * I, H, [&](std::int64_t r, std::int64_t c) { return std::sin(0.37f * float(r * H + c + e)) * float(1 + r % 7); });
    gu.push_back(fp8_encode(w, 2 * I, H));
    codes += gu.back().codes;
    scales.insert(scales.end(), gu.back().scale_inv.begin(), gu.back().scale_inv.end());
    const auto d = matrix(H, I, [&](std::int64_t r, std::int64_t c) { return std::cos(0.11f * float(r * I + c - e)); });
    dn.push_back(fp8_encode(d, H, I));
    down_codes += dn.back().codes;
    down_scales.insert(down_scales.end(), dn.back().scale_inv.begin(), dn.back().scale_inv.end());
  }
  SafetensorsBuilder b;
  b.add_raw("model.layers.0.mlp.experts.gate_up_proj", "F8_E4M3", {E, 2 * I, H}, codes)
      .add("model.layers.0.mlp.experts.gate_up_proj_scale_inv", DType::F32, {E, 2, 2}, scales)
      .add_raw("model.layers.0.mlp.experts.down_proj", "F8_E4M3", {E, H, I}, down_codes)
      .add("model.layers.0.mlp.experts.down_proj_scale_inv", DType::F32, {E, 2, 1}, down_scales);
  write_model(tmp.path(), b, moe_config("qwen3_moe", H, true));
  const ModelReader m(tmp.path());
  for (std::int64_t e = 0; e < E; ++e) {
    const std::string x = "model.layers.0.mlp.experts." + std::to_string(e) + ".";
    const auto& d = gu[static_cast<std::size_t>(e)].decoded;
    const TensorInfo& up = tensor(m, x + "up_proj.weight");
    EXPECT_EQ(up.source_dtype(), "F8_E4M3");
    EXPECT_EQ(up.block_row_phase, 96);
    expect_bits(m.load_f32(tensor(m, x + "gate_proj.weight")), {d.begin(), d.begin() + I * H}, "gate");
    expect_bits(m.load_f32(up), {d.begin() + I * H, d.end()}, "up");
    expect_bits(m.load_f32(tensor(m, x + "down_proj.weight")), dn[static_cast<std::size_t>(e)].decoded, "down");
  }
  // The same codes stored [E, in, out] are refused: their scales would run across the output.
  SafetensorsBuilder t;
  t.add_raw("model.layers.0.mlp.experts.down_proj", "F8_E4M3", {E, I, H}, down_codes)
      .add("model.layers.0.mlp.experts.down_proj_scale_inv", DType::F32, {E, 1, 2}, std::vector<float>(E * 2, 1.0f));
  std::filesystem::create_directories(tmp.path() / "t");
  write_model(tmp.path() / "t", t, moe_config("qwen3_moe", H, true));
  try {
    const ModelReader bad(tmp.path() / "t");
    FAIL() << "a block-scaled [E, in, out] stack was read";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("'model.layers.0.mlp.experts.down_proj': is a block-scaled (F8_E4M3) expert "
                                           "stack stored [experts, in, out] [2, 96, 160]"),
              std::string::npos)
        << err.what();
  }
}

// MXFP4 stacks (gpt-oss's storage): blocks [E, 2I, H/32, 16] and scales [E, 2I, H/32].
TEST(StackedExperts, Mxfp4StacksSplitByRows) {
  TempDir tmp;
  const std::int64_t E = 3, H = 64, I = 5;
  std::string blocks, scales;
  std::vector<std::vector<float>> decoded;
  for (std::int64_t e = 0; e < E; ++e) {
    const auto w = matrix(2 * I, H, [&](std::int64_t r, std::int64_t c) { return std::sin(float(r * 3 + c * 5 + e)) * float(1 << (r % 4)); });
    const Mxfp4Matrix mx = mxfp4_encode(w, 2 * I, H);
    blocks += mx.blocks;
    scales += mx.scales;
    decoded.push_back(mx.decoded);
  }
  SafetensorsBuilder b;
  b.add_raw("model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", {E, 2 * I, H / 32, 16}, blocks)
      .add_raw("model.layers.0.mlp.experts.gate_up_proj_scales", "U8", {E, 2 * I, H / 32}, scales);
  write_model(tmp.path(), b, moe_config("qwen2_moe", H));
  const ModelReader m(tmp.path());
  ASSERT_EQ(m.tensors().size(), static_cast<std::size_t>(2 * E));
  for (std::int64_t e = 0; e < E; ++e) {
    const auto& d = decoded[static_cast<std::size_t>(e)];
    const std::string x = "model.layers.0.mlp.experts." + std::to_string(e) + ".";
    expect_bits(m.load_f32(tensor(m, x + "gate_proj.weight")), {d.begin(), d.begin() + I * H}, "gate");
    expect_bits(m.load_f32(tensor(m, x + "up_proj.weight")), {d.begin() + I * H, d.end()}, "up");
    EXPECT_EQ(tensor(m, x + "up_proj.weight").source_dtype(), "MXFP4");
  }
}

// Mixtral as transformers 5 saves it: "mlp.gate.weight" and "mlp.experts.*" stacks become
// "block_sparse_moe.gate.weight" and "block_sparse_moe.experts.<e>.w1/w3/w2.weight".
TEST(StackedExperts, MixtralStacksTakeMixtralNames) {
  TempDir tmp;
  SafetensorsBuilder b;
  b.add("model.layers.1.mlp.gate.weight", DType::F32, {2, 8}, std::vector<float>(16, 0.25f))
      .add("model.layers.1.mlp.experts.gate_up_proj", DType::F32, {2, 6, 8}, std::vector<float>(96, 0.5f))
      .add("model.layers.1.mlp.experts.down_proj", DType::F32, {2, 8, 3}, std::vector<float>(48, 0.75f));
  write_model(tmp.path(), b, moe_config("mixtral", 8));
  const ModelReader m(tmp.path());
  std::vector<std::string> names;
  for (const auto& t : m.tensors()) names.push_back(t.name);
  const std::string p = "model.layers.1.block_sparse_moe.";
  EXPECT_EQ(names, (std::vector<std::string>{p + "experts.0.w1.weight", p + "experts.0.w2.weight", p + "experts.0.w3.weight",
                                             p + "experts.1.w1.weight", p + "experts.1.w2.weight", p + "experts.1.w3.weight",
                                             p + "gate.weight"}));
  EXPECT_EQ(tensor(m, p + "gate.weight").stored_as, "model.layers.1.mlp.gate.weight");
  EXPECT_EQ(tensor(m, p + "experts.1.w3.weight").stored_as, "model.layers.1.mlp.experts.gate_up_proj [2, 6, 8], expert 1, rows 3-5");
  EXPECT_EQ(m.load_f32(tensor(m, p + "experts.1.w2.weight")), std::vector<float>(24, 0.75f));
}
