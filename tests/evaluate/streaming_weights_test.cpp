// The evaluator's on-the-fly weight path (weights decoded a row chunk at a time from the mapped
// file) against whole-tensor dequantization done here with the readers' public API (what the
// evaluator did before: ModelReader::load_f32, mlx_dequantize of the whole matrix,
// GgufReader::load_f32 + llama_unpermute_qk): the same model must give bit-identical logits for
// HF F32 (in place and unaligned) and BF16, MLX 2..8 bits (tied and untied heads), and GGUF
// F32/F16/K-quants/Q8_0 with the llama q/k permutation, for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ramq/gguf_metadata.h"
#include "ramq/gguf_names.h"
#include "ramq/qk_permute.h"
#include "evaluate/llama_forward.h"
#include "evaluate/weights.h"
#include "ramq/error.h"
#include "ramq/eval.h"
#include "ramq/gguf.h"
#include "ramq/mlx_affine.h"
#include "ramq/ramq.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using ramq::testkit::TempDir;

namespace {

// ---- the reference: every tensor decoded whole, held in memory --------------------------------

class MemoryTensor final : public ramq::eval::WeightTensor {
 public:
  MemoryTensor(std::int64_t rows, std::int64_t cols, const float* data) : WeightTensor(rows, cols), data_(data) {}

 protected:
  const float* decode(std::int64_t first, std::int64_t, std::vector<float>&) const override {
    return data_ + first * cols();
  }

 private:
  const float* data_;
};

struct Whole {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

class MemoryWeights final : public ramq::eval::WeightSource {
 public:
  ramq::ModelConfig cfg;
  std::string file;
  std::map<std::string, Whole> t;

  const ramq::ModelConfig& config() const override { return cfg; }
  std::string config_file() const override { return file; }
  bool has(const std::string& n) const override { return t.count(n) > 0; }
  std::vector<std::int64_t> shape(const std::string& n) const override { return t.at(n).shape; }
  std::unique_ptr<ramq::eval::WeightTensor> tensor(const std::string& n) const override {
    const Whole& w = t.at(n);
    const std::int64_t cols = w.shape.empty() ? 1 : w.shape.back();
    return std::make_unique<MemoryTensor>(static_cast<std::int64_t>(w.values.size()) / cols, cols, w.values.data());
  }
  std::string description() const override { return "memory"; }
};

bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// A Hugging Face or MLX directory: float tensors with load_f32, "<m>.weight" + "<m>.scales" +
// "<m>.biases" with mlx_dequantize and the bits/group of config.json's quantization block.
std::unique_ptr<MemoryWeights> whole_safetensors(const fs::path& dir) {
  auto m = std::make_unique<MemoryWeights>();
  const ramq::ModelReader r(dir);
  m->cfg = r.config();
  m->file = (dir / "config.json").string();
  const nlohmann::json q = r.config().raw.value("quantization", nlohmann::json::object());
  for (const auto& info : r.tensors()) {
    const std::string& name = info.name;
    const std::string module = name.substr(0, name.rfind('.'));
    const bool quantized = ends_with(name, ".weight") && r.find(module + ".scales") != nullptr;
    if (!quantized) {
      const bool companion = ends_with(name, ".scales") || ends_with(name, ".biases");
      if (companion && r.find(module + ".weight") != nullptr && r.find(module + ".scales") != nullptr) continue;
      m->t[name] = {info.shape, r.load_f32(info)};
      continue;
    }
    const nlohmann::json& p = q.contains(module) ? q.at(module) : q;
    ramq::MlxQuantized mq;
    mq.bits = p.at("bits").get<int>();
    mq.group = p.at("group_size").get<int>();
    mq.cols = info.shape.back() * 32 / mq.bits;
    mq.rows = info.numel() / info.shape.back();
    mq.packed.resize(static_cast<std::size_t>(info.numel()));
    std::memcpy(mq.packed.data(), r.raw(info).data(), mq.packed.size() * 4);
    mq.scales = r.load_f32(*r.find(module + ".scales"));
    mq.biases = r.load_f32(*r.find(module + ".biases"));
    std::vector<std::int64_t> shape = info.shape;
    shape.back() = mq.cols;
    m->t[name] = {shape, ramq::mlx_dequantize(mq)};
  }
  return m;
}

// A GGUF file: load_f32 of every tensor, q/k rows of "llama" files un-permuted.
std::unique_ptr<MemoryWeights> whole_gguf(const fs::path& file) {
  auto m = std::make_unique<MemoryWeights>();
  const ramq::GgufReader g(file);
  m->file = file.string();
  m->cfg = ramq::model_config_from_gguf(g, m->file);
  const ramq::ModelFamily& family = ramq::family_for(m->cfg, m->file, "evaluation");
  for (const auto& info : g.tensors()) {
    const auto hf = ramq::gguf_to_hf_tensor_name(family, info.name);
    if (!hf) continue;
    Whole w{ramq::shape_from_gguf_ne(info.ne), g.load_f32(info)};
    const std::int64_t heads = ramq::qk_permute_heads(family, m->cfg, *hf);
    if (heads > 0) {
      std::vector<float> out(w.values.size());
      ramq::llama_unpermute_qk(w.values.data(), out.data(), w.shape[0], w.shape.size() > 1 ? w.shape[1] : 1, heads);
      w.values = out;
    }
    m->t[*hf] = w;
  }
  return m;
}

std::unique_ptr<MemoryWeights> whole(const fs::path& p) {
  return p.extension() == ".gguf" ? whole_gguf(p) : whole_safetensors(p);
}

// ---- models -----------------------------------------------------------------------------------

// Rewrites the single-file model `from` into `to` with every tensor as exact F32 (values of
// load_f32), the data area starting at a multiple of 4 bytes or not.
void write_f32_copy(const fs::path& from, const fs::path& to, bool aligned) {
  const ramq::ModelReader r(from);
  for (std::size_t pad = 0; pad < 4; ++pad) {
    ramq::testkit::SafetensorsBuilder b;
    for (const auto& info : r.tensors()) b.add(info.name, ramq::DType::F32, info.shape, r.load_f32(info));
    b.metadata("pad", std::string(pad, ' '));
    const std::string bytes = b.bytes();
    std::uint64_t header = 0;
    for (int i = 0; i < 8; ++i) header |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    if (((8 + header) % 4 == 0) != aligned) continue;
    fs::create_directories(to);
    ramq::testkit::write_model(to, b, r.config().raw.dump());
    return;
  }
  FAIL() << "no padding gives the wanted alignment";
}

ramq::Options quant_options(const std::string& format, const std::string& policy, int bits, int group,
                            bool embeddings) {
  ramq::Options o;
  o.threads = 1;
  o.format = *ramq::parse_output_format(format);
  o.policy = *ramq::parse_policy(policy);
  o.uniform.bits = bits;
  o.uniform.group = group;
  o.uniform.quantize_embeddings = embeddings;
  return o;
}

void quantize(const fs::path& model, const fs::path& out, ramq::Options o) {
  ramq::QuantizeRequest req;
  req.model_dir = model;
  req.output = out;
  ramq::quantize(req, o);
}

ramq::testkit::SyntheticLlama small_llama(bool tied) {
  ramq::testkit::SyntheticLlama s;
  s.layers = 2;
  s.tied = tied;
  return s;
}

struct Models {
  TempDir tmp{"eval-stream"};
  std::vector<fs::path> paths;

  Models() {
    ramq::testkit::write_synthetic_llama(tmp / "bf16", small_llama(false));
    ramq::testkit::write_synthetic_llama(tmp / "tied", small_llama(true));
    write_f32_copy(tmp / "bf16", tmp / "f32-aligned", true);
    write_f32_copy(tmp / "bf16", tmp / "f32-unaligned", false);
    paths = {tmp / "bf16", tmp / "f32-aligned", tmp / "f32-unaligned"};
    const struct {
      const char* name;
      const char* model;
      ramq::Options o;
    } variants[] = {
        {"mlx2-g128", "bf16", quant_options("mlx", "uniform", 2, 128, true)},
        {"mlx3-g32", "bf16", quant_options("mlx", "uniform", 3, 32, true)},
        {"mlx4-g64-tied", "tied", quant_options("mlx", "uniform", 4, 64, true)},
        {"mlx5-g64", "bf16", quant_options("mlx", "uniform", 5, 64, false)},
        {"mlx6-g32", "bf16", quant_options("mlx", "uniform", 6, 32, true)},
        {"mlx8-g128", "f32-aligned", quant_options("mlx", "uniform", 8, 128, true)},
        {"q4km.gguf", "bf16", quant_options("gguf", "llama-mix", 4, 64, false)},
        {"q2k.gguf", "tied", quant_options("gguf", "uniform", 2, 64, true)},
        {"f16.gguf", "bf16", quant_options("gguf", "uniform", 16, 64, false)},
        {"f32.gguf", "f32-aligned", [] {
           auto o = quant_options("gguf", "uniform", 16, 64, false);
           o.keep_dtype = true;
           return o;
         }()},
        {"q3km.gguf", "bf16", [] {
           auto o = quant_options("gguf", "llama-mix", 4, 64, false);
           o.mix = "Q3_K_M";
           return o;
         }()},
        {"q8.gguf", "bf16", [] {
           auto o = quant_options("gguf", "llama-mix", 4, 64, false);
           o.mix = "Q8_0";
           return o;
         }()},
    };
    for (const auto& v : variants) {
      quantize(tmp / v.model, tmp / v.name, v.o);
      paths.push_back(tmp / v.name);
    }
  }
};

const Models& models() {
  static const Models m;
  return m;
}

ramq::EvalOptions threads(unsigned n) {
  ramq::EvalOptions o;
  o.ctx = 256;
  o.threads = n;
  return o;
}

// ---- tests ------------------------------------------------------------------------------------

TEST(EvalStreamingWeights, LogitsEqualWholeTensorDequantization) {
  const auto toks = ramq::testkit::random_tokens(200, 512, 99);
  const auto bf16 = ramq::load_language_model(models().tmp / "bf16", threads(1))->forward(toks);
  for (const auto& p : models().paths) {
    SCOPED_TRACE(p.filename().string());
    const auto expected = ramq::eval::make_llama_model(whole(p), threads(1))->forward(toks);
    ASSERT_EQ(expected.size(), toks.size() * 512);
    for (const unsigned n : {1u, 2u}) {
      const auto got = ramq::load_language_model(p, threads(n))->forward(toks);
      EXPECT_EQ(got, expected) << n << " thread(s)";
    }
    // The quantized variants really differ from the BF16 model; the F32 copies do not.
    const std::string f = p.filename().string();
    const bool lossless = f == "bf16" || f.rfind("f32", 0) == 0;
    if (f != "f16.gguf") {
      EXPECT_EQ(lossless, expected == bf16);
    }
  }
}

TEST(EvalStreamingWeights, ReadRowsDecodesOnlyTheRowsAskedFor) {
  const struct {
    const char* model;
    const char* tensor;
    bool in_place;
  } cases[] = {
      {"f32-aligned", "model.layers.1.mlp.down_proj.weight", true},
      {"f32-unaligned", "model.layers.1.mlp.down_proj.weight", false},
      {"bf16", "lm_head.weight", false},
      {"mlx3-g32", "model.layers.0.mlp.up_proj.weight", false},
      {"mlx4-g64-tied", "model.embed_tokens.weight", false},
      {"q4km.gguf", "model.layers.1.self_attn.k_proj.weight", false},  // permuted rows
      {"f32.gguf", "model.layers.0.self_attn.q_proj.weight", false},   // F32, but permuted
      {"f32.gguf", "model.layers.0.self_attn.v_proj.weight", true},
      {"q8.gguf", "model.layers.0.mlp.down_proj.weight", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.model) + " " + c.tensor);
    const fs::path p = models().tmp / c.model;
    const auto src =
        p.extension() == ".gguf" ? ramq::eval::open_gguf_weights(p) : ramq::eval::open_safetensors_weights(p);
    const auto ref = whole(p);
    const Whole& w = ref->t.at(c.tensor);
    const auto t = src->tensor(c.tensor);
    ASSERT_EQ(t->cols(), w.shape.back());
    ASSERT_EQ(t->rows() * t->cols(), static_cast<std::int64_t>(w.values.size()));
    for (const auto& [first, count] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {5, 3}, {t->rows() - 2, 2}}) {
      std::vector<float> scratch;
      const float* rows = t->read_rows(first, count, scratch);
      if (c.in_place) {
        EXPECT_TRUE(scratch.empty());
      } else {
        EXPECT_EQ(rows, scratch.data());
        EXPECT_EQ(scratch.size(), static_cast<std::size_t>(count * t->cols()));  // only these rows
      }
      const auto at = w.values.begin() + first * t->cols();
      EXPECT_EQ(std::vector<float>(rows, rows + count * t->cols()), std::vector<float>(at, at + count * t->cols()));
    }
    std::vector<float> scratch;
    EXPECT_THROW(t->read_rows(t->rows() - 1, 2, scratch), std::out_of_range);
    EXPECT_THROW(t->read_rows(-1, 1, scratch), std::out_of_range);
  }
}

// Rewrites model `from` into `to`, replacing the 4 bytes of element `index` of `tensor`.
void poison(const fs::path& from, const fs::path& to, const std::string& tensor, std::size_t index, float value) {
  const ramq::ModelReader r(from);
  ramq::testkit::SafetensorsBuilder b;
  for (const auto& info : r.tensors()) {
    const auto raw = r.raw(info);
    std::string bytes(reinterpret_cast<const char*>(raw.data()), raw.size());
    if (info.name == tensor) {
      ASSERT_EQ(info.dtype, ramq::DType::F32);
      std::memcpy(bytes.data() + 4 * index, &value, 4);
    }
    b.add_raw(info.name, std::string(ramq::dtype_name(info.dtype)), info.shape, bytes);
  }
  fs::create_directories(to);
  ramq::testkit::write_model(to, b, r.config().raw.dump());
  for (const auto& e : fs::directory_iterator(from))
    if (e.path().filename() != "model.safetensors" && e.path().filename() != "config.json")
      fs::copy_file(e.path(), to / e.path().filename());
}

TEST(EvalStreamingWeights, NonFiniteWeightsAreRejectedWhenTheModelIsOpened) {
  TempDir tmp("eval-stream-nan");
  const std::string down = "model.layers.1.mlp.down_proj.weight";
  // Element 70000: past the first validation chunk of 65536 elements.
  poison(models().tmp / "f32-aligned", tmp / "nan", down, 70000, std::numeric_limits<float>::quiet_NaN());
  poison(models().tmp / "f32-aligned", tmp / "inf", "lm_head.weight", 3, -std::numeric_limits<float>::infinity());
  for (const auto& [dir, tensor, problem] :
       {std::tuple{tmp / "nan", down, std::string("contains NaN at element 70000")},
        std::tuple{tmp / "inf", std::string("lm_head.weight"), std::string("contains Inf at element 3")}}) {
    try {
      ramq::load_language_model(dir, threads(1));
      ADD_FAILURE() << "expected ramq::Error for " << dir;
    } catch (const ramq::Error& e) {
      EXPECT_EQ(e.file(), (dir / "model.safetensors").string());
      EXPECT_EQ(e.tensor(), tensor);
      EXPECT_EQ(e.problem(), problem);
    }
  }
}

}  // namespace
