// The chat-template reading rules of write/gguf_chat_template.cpp (gguf-py's vocab.py,
// SpecialVocab._try_load_from_tokenizer_json, and gguf_writer.py, GGUFWriter.add_chat_template).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <variant>
#include <string>

#include "ramq/error.h"
#include "support/temp_dir.h"
#include "write/gguf_chat_template.h"

namespace ramq {
namespace {

namespace fs = std::filesystem;
using testkit::TempDir;
using Named = std::vector<std::pair<std::string, std::string>>;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

const GgufValue* find_kv(const std::vector<GgufKV>& kvs, const std::string& key) {
  for (const auto& kv : kvs)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

std::string text_of(const GgufValue* v) {
  if (v == nullptr || v->type != GgufValueType::STRING) return "(not a string)";
  return std::get<std::string>(v->v);
}

std::vector<std::string> strings_of(const GgufValue* v) {
  std::vector<std::string> out;
  if (v == nullptr || v->type != GgufValueType::ARRAY) return out;
  for (const auto& item : std::get<std::shared_ptr<GgufArray>>(v->v)->items) out.push_back(std::get<std::string>(item.v));
  return out;
}

std::string error_of(const fs::path& dir) {
  try {
    read_chat_templates(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ChatTemplate, StringInTokenizerConfig) {
  TempDir d;
  write_file(d / "tokenizer_config.json", R"({"chat_template": "{{ bos_token }}{{ x }}\r\n"})");
  const ChatTemplates t = read_chat_templates(d.path());
  ASSERT_TRUE(t.main);
  EXPECT_EQ(*t.main, "{{ bos_token }}{{ x }}\r\n");  // a JSON string is kept as it is
  EXPECT_TRUE(t.named.empty());
  std::vector<GgufKV> kvs;
  append_chat_template_kvs(t, kvs);
  ASSERT_EQ(kvs.size(), 1u);
  EXPECT_EQ(kvs[0].key, "tokenizer.chat_template");
  EXPECT_EQ(text_of(&kvs[0].value), *t.main);
}

TEST(ChatTemplate, ListWithNamedTemplates) {
  TempDir d;
  write_file(d / "tokenizer_config.json", R"({"chat_template": [
      {"name": "tool use", "template": "T"}, {"name": "default", "template": "D"},
      {"name": "rag", "template": "R"}, {"name": "", "template": "skipped"}, {"name": "no_template"}]})");
  const ChatTemplates t = read_chat_templates(d.path());
  ASSERT_TRUE(t.main);
  EXPECT_EQ(*t.main, "D");
  EXPECT_EQ(t.named, (Named{{"rag", "R"}, {"tool_use", "T"}}));  // names reduced to [A-Za-z0-9_]
  std::vector<GgufKV> kvs;
  append_chat_template_kvs(t, kvs);
  ASSERT_EQ(kvs.size(), 4u);
  EXPECT_EQ(text_of(find_kv(kvs, "tokenizer.chat_template.rag")), "R");
  EXPECT_EQ(text_of(find_kv(kvs, "tokenizer.chat_template.tool_use")), "T");
  EXPECT_EQ(text_of(find_kv(kvs, "tokenizer.chat_template")), "D");
  EXPECT_EQ(strings_of(find_kv(kvs, "tokenizer.chat_templates")), (std::vector<std::string>{"rag", "tool_use"}));
}

TEST(ChatTemplate, ListWithoutDefaultWritesOnlyNamedOnes) {
  TempDir d;
  write_file(d / "tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "R"}]})");
  const ChatTemplates t = read_chat_templates(d.path());
  EXPECT_FALSE(t.main);
  std::vector<GgufKV> kvs;
  append_chat_template_kvs(t, kvs);
  EXPECT_EQ(find_kv(kvs, "tokenizer.chat_template"), nullptr);
  EXPECT_NE(find_kv(kvs, "tokenizer.chat_templates"), nullptr);
}

TEST(ChatTemplate, JinjaFileWithAdditionalTemplates) {
  TempDir d;
  write_file(d / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  write_file(d / "chat_template.jinja", "line1\r\nline2\rline3\n");
  write_file(d / "chat_template.json", R"({"chat_template": "from json"})");
  ChatTemplates t = read_chat_templates(d.path());
  ASSERT_TRUE(t.main);
  EXPECT_EQ(*t.main, "line1\nline2\nline3\n");  // Python's text mode: universal newlines
  EXPECT_TRUE(t.named.empty());

  write_file(d / "additional_chat_templates" / "tool-use.jinja", "TOOLS");
  write_file(d / "additional_chat_templates" / "notes.txt", "ignored");
  t = read_chat_templates(d.path());
  EXPECT_EQ(*t.main, "line1\nline2\nline3\n");
  EXPECT_EQ(t.named, (Named{{"tool_use", "TOOLS"}}));
}

TEST(ChatTemplate, JsonFileWhenNoJinjaFile) {
  TempDir d;
  write_file(d / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  write_file(d / "chat_template.json", R"({"chat_template": "from json\r\n"})");
  const ChatTemplates t = read_chat_templates(d.path());
  ASSERT_TRUE(t.main);
  EXPECT_EQ(*t.main, "from json\r\n");
}

TEST(ChatTemplate, TokenizerConfigWinsOverFiles) {
  TempDir d;
  write_file(d / "chat_template.jinja", "from jinja");
  write_file(d / "chat_template.json", R"({"chat_template": "from json"})");
  write_file(d / "tokenizer_config.json", R"({"chat_template": "from config"})");
  EXPECT_EQ(*read_chat_templates(d.path()).main, "from config");
  // Present as null: the key still wins (tokenizer_config.get('chat_template', alt)), no template.
  write_file(d / "tokenizer_config.json", R"({"chat_template": null})");
  EXPECT_TRUE(read_chat_templates(d.path()).empty());
}

TEST(ChatTemplate, NothingWithoutANonEmptyTokenizerConfig) {
  TempDir d;
  write_file(d / "chat_template.jinja", "from jinja");
  EXPECT_TRUE(read_chat_templates(d.path()).empty());  // no tokenizer_config.json
  write_file(d / "tokenizer_config.json", "{}");
  EXPECT_TRUE(read_chat_templates(d.path()).empty());  // "if not tokenizer_config: return True"
  std::vector<GgufKV> kvs;
  append_chat_template_kvs(read_chat_templates(d.path()), kvs);
  EXPECT_TRUE(kvs.empty());
}

TEST(ChatTemplate, MalformedFieldsAreOneLineErrors) {
  TempDir d;
  const std::string config = (d / "tokenizer_config.json").string();
  write_file(d / "tokenizer_config.json", R"({"chat_template": 7})");
  EXPECT_EQ(error_of(d.path()),
            config + ": 'chat_template' must be a string or a list of {name, template}, not a number");
  write_file(d / "tokenizer_config.json", R"({"chat_template": {"default": "x"}})");
  EXPECT_EQ(error_of(d.path()),
            config + ": 'chat_template' must be a string or a list of {name, template}, not an object");
  write_file(d / "tokenizer_config.json", R"({"chat_template": ["x"]})");
  EXPECT_EQ(error_of(d.path()), config + ": chat_template entry 0 must be an object {name, template}, not a string");
  write_file(d / "tokenizer_config.json", R"({"chat_template": [{"name": "a", "template": 1}]})");
  EXPECT_EQ(error_of(d.path()), config + ": chat_template entry 0: 'template' must be a string, not a number");
  write_file(d / "tokenizer_config.json", R"({"chat_template": [{"name": 2, "template": "x"}]})");
  EXPECT_EQ(error_of(d.path()), config + ": chat_template entry 0: 'name' must be a string, not a number");
  write_file(d / "tokenizer_config.json",
             R"({"chat_template": [{"name": "a b", "template": "x"}, {"name": "a_b", "template": "y"}]})");
  EXPECT_NE(error_of(d.path()).find("a second template named 'a_b'"), std::string::npos) << error_of(d.path());
  write_file(d / "tokenizer_config.json", "[1]");
  EXPECT_EQ(error_of(d.path()), config + ": is not a JSON object");

  write_file(d / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  write_file(d / "chat_template.json", R"({"chat_template": false})");
  EXPECT_EQ(error_of(d.path()), (d / "chat_template.json").string() +
                                    ": 'chat_template' must be a string or a list of {name, template}, not a boolean");
}

}  // namespace
}  // namespace ramq
