// general.* naming keys as llama.cpp's converter derives them. Every expected value is worked out
// by hand from gguf-py/gguf/metadata.py (line numbers of the llama.cpp source at /work/llsrc, the
// version of tests/peer), utility.py and gguf_writer.py; the comments give the steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/safetensors_builder.h"
#include "support/temp_dir.h"
#include "write/gguf_model_card.h"
#include "write/gguf_naming.h"

namespace fs = std::filesystem;
using namespace ramq;
using nlohmann::json;
using testkit::TempDir;

namespace {

// A model id's components as one line: full|org|basename|finetune|version|size_label, "-" = None.
std::string components(const std::string& id, std::int64_t total) {
  const ModelIdComponents c = model_id_components(id, total);
  std::string s;
  for (const auto* f : {&c.full_name, &c.organization, &c.basename, &c.finetune, &c.version, &c.size_label})
    s += (s.empty() ? "" : "|") + (*f ? **f : std::string("-"));
  return s;
}

// The naming keys as key -> printed value (strings as is, counts as numbers, arrays joined by ",").
std::vector<std::pair<std::string, std::string>> printed(const std::vector<GgufKV>& kvs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : kvs) {
    std::string v;
    if (const auto* s = std::get_if<std::string>(&kv.value.v)) v = *s;
    if (const auto* u = std::get_if<std::uint64_t>(&kv.value.v)) v = "#" + std::to_string(*u);
    if (const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&kv.value.v))
      for (const auto& e : (*a)->items) v += (v.empty() ? "[" : ",") + std::get<std::string>(e.v);
    if (kv.value.type == GgufValueType::ARRAY) v += "]";
    out.emplace_back(kv.key, v);
  }
  return out;
}

GgufParameterCounts dense(std::int64_t n) { return {n, n, 0, 0}; }

GgufNaming naming(const std::string& dir, std::int64_t params, const json& card = json::object(),
                  const json& config = json::object()) {
  return gguf_naming({dir, config, card, dense(params), ""});
}

using KVs = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// get_model_id_components (lines 240-362) on directory names and ids; the parameter counts are
// the real models' (the size check of lines 295-312 compares them with the label).
TEST(GgufNaming, ModelIdComponents) {
  // Parts Meta, Llama, 3.1 (version regex, line 279), 8B (size, line 286), Instruct (finetune,
  // line 317). Leading plain words and versions are the basename (lines 334-336); the trailing
  // part "Instruct" has no basename, so nothing is removed (lines 344-348).
  EXPECT_EQ(components("Meta-Llama-3.1-8B-Instruct", 8030261312), "Meta-Llama-3.1-8B-Instruct|-|Meta-Llama-3.1|Instruct|-|8B");
  // "A3B" matches the size regex ([A]\d+[KMBT]); float("A3") fails, so it stays a size (line
  // 310); both sizes join with "-" (line 352).
  EXPECT_EQ(components("Qwen3-30B-A3B", 30532122624), "Qwen3-30B-A3B|-|Qwen3|-|-|30B-A3B");
  // "8x7B": \d+[x]\d+[KMBT]; "v0.1" is a version, not part of the basename (line 356).
  EXPECT_EQ(components("Mixtral-8x7B-Instruct-v0.1", 46702792704), "Mixtral-8x7B-Instruct-v0.1|-|Mixtral|Instruct|v0.1|8x7B");
  // 135M against 134,515,008 parameters: |135e6 - 134515008| <= 7/8 of the count, a size.
  EXPECT_EQ(components("SmolLM2-135M-Instruct", 134515008), "SmolLM2-135M-Instruct|-|SmolLM2|Instruct|-|135M");
  // One part, no size (sizes need i > 0), no finetune or version: too ambiguous, no basename
  // (line 358).
  EXPECT_EQ(components("stories260K", 260032), "stories260K|-|-|-|-|-");
  EXPECT_EQ(components("kjv-llama-3.7M", 3672320), "kjv-llama-3.7M|-|kjv-llama|-|-|3.7M");
  // org/name (line 256); "2507" is a version (line 279).
  EXPECT_EQ(components("Qwen/Qwen3-235B-A22B-Instruct-2507", 235093634560),
            "Qwen3-235B-A22B-Instruct-2507|Qwen|Qwen3|Instruct|2507|235B-A22B");
  // bloom's "7b1" -> "7.1b" (line 290) -> "7.1B" (lines 292-294).
  EXPECT_EQ(components("bigscience/bloom-7b1", 7069016064), "bloom-7b1|bigscience|bloom|-|-|7.1B");
  // 32k against 7.2e9 parameters: far from the count, a context length: finetune, lower case
  // (lines 302-309).
  EXPECT_EQ(components("Mistral-7B-v0.1-32k", 7241732096), "Mistral-7B-v0.1-32k|-|Mistral|32k|v0.1|7B");
  // "mini" is a word size kept only without a numeric one; "128k" is a context length.
  EXPECT_EQ(components("phi-3-mini-128k-instruct", 3821079552), "phi-3-mini-128k-instruct|-|phi-3|128k-instruct|-|mini");
  // A quantization type part is upper-cased and belongs to nothing (line 282); "hf" after the
  // basename is a finetune (line 341).
  EXPECT_EQ(components("Llama-2-7b-hf-q4_K_M", 6738415616), "Llama-2-7b-hf-q4_K_M|-|Llama-2|hf|-|7B");
  // A relative path's "." is not an organization (line 262); a trailing version leaves the
  // basename (lines 344-348).
  EXPECT_EQ(components("./tiny-model-v2", 1000), "tiny-model-v2|-|tiny-model|-|v2|-");
  // A sentence is a name only (line 248).
  EXPECT_EQ(components("My Model 7B", 7000000000), "My Model 7B|-|-|-|-|-");
}

// id_to_title (lines 235-237): words in lower case are title-cased (str.title: a letter after a
// digit starts a new word), versions and words starting with a digit are kept.
TEST(GgufNaming, IdToTitle) {
  EXPECT_EQ(id_to_title("Meta-Llama-3.1-8B-Instruct"), "Meta Llama 3.1 8B Instruct");
  EXPECT_EQ(id_to_title("meta-llama"), "Meta Llama");
  EXPECT_EQ(id_to_title("kjv-llama-3.7M"), "Kjv Llama 3.7M");
  EXPECT_EQ(id_to_title("llama3b-chat-small"), "Llama3B Chat Small");
  EXPECT_EQ(id_to_title("gemma-2-2b-it"), "Gemma 2 2b It");
  EXPECT_EQ(id_to_title("tiny-model-v2"), "Tiny Model v2");
  EXPECT_EQ(id_to_title("stories260K"), "stories260K");  // not all lower case
  EXPECT_EQ(id_to_title("  a--b  "), "A B");
}

// utility.py size_label and model_weight_count_rounded_notation (lines 21-51): at least two
// significant digits before the point; experts as "Nx" + (shared + one expert's).
TEST(GgufNaming, SizeLabels) {
  EXPECT_EQ(gguf_size_label(dense(260032)), "260K");        // 260.032 rounds to 260: 3 digits, fix 0
  EXPECT_EQ(gguf_size_label(dense(3672320)), "3.7M");       // 3.67232: 1 digit, fix 1
  EXPECT_EQ(gguf_size_label(dense(8030261312)), "8.0B");
  EXPECT_EQ(gguf_size_label(dense(134515008)), "135M");
  EXPECT_EQ(gguf_size_label(dense(999)), "1.0K");           // 0.999 rounds to 1: fix 1
  EXPECT_EQ(gguf_size_label(dense(400)), "0.40K");          // round(0.4) = 0, "0".lstrip('0') = "": fix 2
  EXPECT_EQ(gguf_size_label(dense(1000000)), "1000K");      // 1e6 is not > 1e6
  // Mixtral 8x7B: 1,604,517,888 shared + 5,637,144,576 of one expert = 7.24e9.
  EXPECT_EQ(gguf_size_label({46702792704, 1604517888, 5637144576, 8}), "8x7.2B");
}

// gguf_writer.py get_total_parameter_count (lines 113-162): a 3-D "_exps." tensor is ne[2]
// experts, one of which is expert parameters; everything else is shared.
TEST(GgufNaming, ParameterCounts) {
  const std::vector<GgufTensorSpec> t = {
      {"token_embd.weight", GgmlType::F32, {64, 512}},
      {"blk.0.ffn_gate_inp.weight", GgmlType::F32, {64, 4}},
      {"blk.0.ffn_up_exps.weight", GgmlType::F32, {64, 32, 4}},
      {"blk.0.ffn_up_shexp.weight", GgmlType::F32, {64, 16}},
      {"blk.0.attn_norm.weight", GgmlType::F32, {64}},
  };
  const GgufParameterCounts c = gguf_parameter_counts(t);
  EXPECT_EQ(c.total, 64 * 512 + 64 * 4 + 64 * 32 * 4 + 64 * 16 + 64);
  EXPECT_EQ(c.expert, 64 * 32);
  EXPECT_EQ(c.shared, 64 * 512 + 64 * 4 + 64 * 16 + 64);
  EXPECT_EQ(c.expert_count, 4);
  EXPECT_EQ(gguf_size_label(c), "4x36K");  // 33,856 + 2,048 = 35.904K -> "36K"
}

// Directory names alone (no card, no _name_or_path): name = id_to_title(full name) (lines
// 590-592), then set_gguf_meta_model's order (lines 634-654): name, version, finetune, basename,
// size_label.
TEST(GgufNaming, DirectoryNames) {
  EXPECT_EQ(printed(naming("Meta-Llama-3.1-8B-Instruct", 8030261312).kvs),
            (KVs{{"general.name", "Meta Llama 3.1 8B Instruct"}, {"general.finetune", "Instruct"},
                 {"general.basename", "Meta-Llama-3.1"}, {"general.size_label", "8B"}}));
  EXPECT_EQ(printed(naming("Mixtral-8x7B-Instruct-v0.1", 46702792704).kvs),
            (KVs{{"general.name", "Mixtral 8x7B Instruct v0.1"}, {"general.version", "v0.1"},
                 {"general.finetune", "Instruct"}, {"general.basename", "Mixtral"}, {"general.size_label", "8x7B"}}));
  EXPECT_EQ(printed(naming("Qwen3-30B-A3B", 30532122624).kvs),
            (KVs{{"general.name", "Qwen3 30B A3B"}, {"general.basename", "Qwen3"}, {"general.size_label", "30B-A3B"}}));
  EXPECT_EQ(printed(naming("SmolLM2-135M-Instruct", 134515008).kvs),
            (KVs{{"general.name", "SmolLM2 135M Instruct"}, {"general.finetune", "Instruct"},
                 {"general.basename", "SmolLM2"}, {"general.size_label", "135M"}}));
  // No size in the name: prepare_metadata computes it from the parameter count.
  EXPECT_EQ(printed(naming("stories260K", 260032).kvs),
            (KVs{{"general.name", "stories260K"}, {"general.size_label", "260K"}}));
}

// config.json's _name_or_path comes before the directory name (lines 565-584) when it has at
// most one '/'; a local path is not a model id.
TEST(GgufNaming, NameOrPath) {
  // "snapshot-0a1b2c" alone: basename "snapshot", finetune "0a1b2c" (no letter first, line 341);
  // the id's values come first and only the organization-less slots would be filled from it.
  EXPECT_EQ(printed(naming("snapshot-0a1b2c", 8030261312, json::object(),
                           {{"_name_or_path", "meta-llama/Llama-3.1-8B-Instruct"}}).kvs),
            (KVs{{"general.name", "Llama 3.1 8B Instruct"}, {"general.organization", "Meta Llama"},
                 {"general.finetune", "Instruct"}, {"general.basename", "Llama-3.1"}, {"general.size_label", "8B"}}));
  EXPECT_EQ(printed(naming("snapshot-0a1b2c", 8030261312, json::object(), {{"_name_or_path", "/home/me/models/x"}}).kvs),
            (KVs{{"general.name", "Snapshot 0a1b2c"}, {"general.finetune", "0a1b2c"}, {"general.basename", "snapshot"},
                 {"general.size_label", "8.0B"}}));
}

// A model card with the keys the converter reads (apply_metadata_heuristic, lines 370-560).
TEST(GgufNaming, ModelCardKeys) {
  const ModelCard card = parse_model_card(
      "---\n"
      "license: apache-2.0\n"
      "license_name: my-license\n"
      "license_link: https://example.com/LICENSE\n"
      "base_model:\n"
      "- meta-llama/Llama-3.1-8B\n"
      "- https://huggingface.co/mistralai/Mistral-7B-v0.1\n"
      "- https://example.com/some/model\n"
      "- name: Custom Base\n"
      "  organization: Acme\n"
      "tags:\n"
      "- text-generation\n"
      "- llama\n"
      "pipeline_tag: text-generation\n"
      "language:\n"
      "- en\n"
      "- no\n"
      "- fr\n"
      "datasets:\n"
      "- HuggingFaceH4/ultrachat_200k\n"
      "- https://huggingface.co/datasets/foo/bar\n"
      "---\n"
      "# A model\n");
  EXPECT_EQ(card.note, "");
  const GgufNaming n = naming("Meta-Llama-3.1-8B-Instruct", 8030261312, card.fields);
  EXPECT_EQ(n.note, "");
  EXPECT_EQ(printed(n.kvs),
            (KVs{
                {"general.name", "Meta Llama 3.1 8B Instruct"},
                {"general.finetune", "Instruct"},
                {"general.basename", "Meta-Llama-3.1"},
                {"general.size_label", "8B"},
                {"general.license", "apache-2.0"},
                {"general.license.name", "my-license"},
                {"general.license.link", "https://example.com/LICENSE"},
                // Four entries (lines 434-492). An id: name and organization titled, the
                // repo_url built from it (line 484); "3.1" is in the basename, so no version.
                {"general.base_model.count", "#4"},
                {"general.base_model.0.name", "Llama 3.1 8B"},
                {"general.base_model.0.organization", "Meta Llama"},
                {"general.base_model.0.repo_url", "https://huggingface.co/meta-llama/Llama-3.1-8B"},
                // A Hugging Face URL: the URL and the id's parts (lines 454-470).
                {"general.base_model.1.name", "Mistral 7B v0.1"},
                {"general.base_model.1.version", "v0.1"},
                {"general.base_model.1.organization", "Mistralai"},
                {"general.base_model.1.repo_url", "https://huggingface.co/mistralai/Mistral-7B-v0.1"},
                {"general.base_model.2.repo_url", "https://example.com/some/model"},  // another URL
                {"general.base_model.3.name", "Custom Base"},                        // a mapping as is
                {"general.base_model.3.organization", "Acme"},
                // "ultrachat_200k" is lower case: str.title() gives "Ultrachat_200K".
                {"general.dataset.count", "#2"},
                {"general.dataset.0.name", "Ultrachat_200K"},
                {"general.dataset.0.organization", "HuggingFaceH4"},
                {"general.dataset.0.repo_url", "https://huggingface.co/HuggingFaceH4/ultrachat_200k"},
                // .../datasets/foo/bar has three path parts: not matched by line 517's regex.
                {"general.dataset.1.repo_url", "https://huggingface.co/datasets/foo/bar"},
                // tags, then pipeline_tag appended (lines 556-557); "- no" is the string "no"
                // (the Norway fix, line 188), not YAML's false.
                {"general.tags", "[text-generation,llama,text-generation]"},
                {"general.languages", "[en,no,fr]"},
            }));
}

// Card values that name the model come before the config and the directory (lines 396-432).
TEST(GgufNaming, ModelCardNames) {
  const ModelCard card = parse_model_card(
      "---\nmodel_name: My Model\nmodel_creator: Someone\nmodel_type: llama\nversion: \"2.0\"\n"
      "license:\n- mit\n- cc-by-4.0\nbase_model: null\n---\n");
  const GgufNaming n = naming("SmolLM2-135M-Instruct", 134515008, card.fields);
  EXPECT_EQ(printed(n.kvs), (KVs{{"general.name", "My Model"}, {"general.author", "Someone"}, {"general.version", "2.0"},
                                 {"general.finetune", "Instruct"}, {"general.basename", "llama"},
                                 {"general.size_label", "135M"}, {"general.license", "mit,cc-by-4.0"},
                                 {"general.base_model.count", "#0"}}));
}

// What the converter would stop on is left out with a note; the rest is still written.
TEST(GgufNaming, BadCardValuesAreLeftOut) {
  const ModelCard card = parse_model_card("---\nversion: 1.0\nname: 123\ntags: [a, 1, yes]\nlanguage: no\n---\n");
  EXPECT_EQ(card.note, "");
  EXPECT_TRUE(card.fields.at("version").is_number_float());
  const GgufNaming n = naming("stories260K", 260032, card.fields);
  EXPECT_EQ(printed(n.kvs), (KVs{{"general.name", "stories260K"}, {"general.size_label", "260K"}, {"general.tags", "[a]"}}));
  EXPECT_EQ(n.note,
            "README.md 'name' is not a string (123), left out; README.md 'version' is not a string (1.0), left out; "
            "README.md tags element 1 is not a string, left out; README.md tags element true is not a string, left out");
}

// Front matter the converter's yaml.safe_load rejects, or no front matter: no card keys, and a
// note for the former (the converter stops; a model card never changes how the model runs).
TEST(GgufNaming, MalformedOrMissingFrontMatter) {
  for (const char* text : {"---\nlicense: [mit\n---\n", "---\nlicense: mit\n  bad: indent\n---\n", "---\na: *nowhere\n---\n",
                           "---\na: 1\n--- b\n"}) {
    const ModelCard c = parse_model_card(text);
    EXPECT_TRUE(c.fields.empty()) << text;
    EXPECT_TRUE(c.note.starts_with("README.md front matter is not valid YAML: ")) << text << c.note;
  }
  EXPECT_EQ(parse_model_card("---\n- a\n- b\n---\n").note,
            "README.md front matter is not a mapping of keys to values; it is ignored");
  EXPECT_TRUE(parse_model_card("---\nlicense: \xff\n---\n").note.starts_with("README.md is not UTF-8 (byte 13)"));
  for (const char* text : {"", "# Title\n---\nlicense: mit\n---\n", "\xef\xbb\xbf---\nlicense: mit\n---\n", "---\n---\n",
                           " ---\nlicense: mit\n"}) {
    const ModelCard c = parse_model_card(text);
    EXPECT_TRUE(c.fields.empty()) << text;
    EXPECT_EQ(c.note, "") << text;
  }
  // No closing "---": every line after the first is the front matter (lines 179-184); CRLF
  // lines and tabs (two spaces, line 192) are read as the converter reads them.
  EXPECT_EQ(parse_model_card("---\r\nlicense: mit\r\ntags:\r\n\t- a\r\n").fields,
            (json{{"license", "mit"}, {"tags", {"a"}}}));
}

// Scalars typed as PyYAML's resolvers type them (yaml/resolver.py).
TEST(GgufNaming, FrontMatterScalarTypes) {
  const json f = parse_model_card(
                     "---\na: yes\nb: 1.5\nc: 2024-01-01\nd: \"yes\"\ne: ~\nf: 0x1F\ng: On\nh: 1_000\ni: .inf\nj: 3.1.4\n"
                     "k: 'no'\nl: !!str text\nm: !custom x\n---\n")
                     .fields;
  EXPECT_EQ(f.at("a"), true);
  EXPECT_TRUE(f.at("b").is_number_float());
  EXPECT_TRUE(f.at("c").is_binary());  // a timestamp: no naming key takes it
  EXPECT_EQ(f.at("d"), "yes");
  EXPECT_TRUE(f.at("e").is_null());
  EXPECT_EQ(f.at("f"), 31);
  EXPECT_EQ(f.at("g"), true);
  EXPECT_EQ(f.at("h"), 1000);
  EXPECT_TRUE(f.at("i").is_number_float());
  EXPECT_EQ(f.at("j"), "3.1.4");
  EXPECT_EQ(f.at("k"), "no");
  EXPECT_EQ(f.at("l"), "text");
  EXPECT_TRUE(f.at("m").is_binary());
  // Long and deep inputs: bounded work, no recursion as deep as the text (std::regex, nesting).
  const std::string digits(100000, '1'), word(100000, 'x');
  const json g = parse_model_card("---\na: " + digits + "\nb: " + word + "\nbase_model:\n- https://huggingface.co/" + word +
                                  "/z\n- " + word + "-7B\nc: " + std::string(60, '[') + std::string(60, ']') + "\n---\n")
                     .fields;
  EXPECT_TRUE(g.at("a").is_binary());
  EXPECT_EQ(g.at("b"), word);
  EXPECT_TRUE(g.at("c").is_array());
  EXPECT_EQ(parse_model_card("---\nc: " + std::string(50000, '[') + std::string(50000, ']') + "\n---\n").note,
            "README.md front matter is not valid YAML: nested deeper than 64 levels; it is ignored");
  const GgufNaming n = naming("x", 1000, g);
  EXPECT_EQ(printed(n.kvs).at(3), (std::pair<std::string, std::string>{"general.base_model.0.repo_url",
                                                                       "https://huggingface.co/" + word + "/z"}));
}

// From a directory: its own name, whatever the path's spelling, and README.md's problems noted.
TEST(GgufNaming, FromDirectory) {
  TempDir tmp;
  const fs::path dir = tmp / "SmolLM2-135M-Instruct";
  fs::create_directories(dir);
  const GgufNaming a = gguf_naming_for_directory(dir / "." / "", json::object(), dense(134515008), "");
  EXPECT_EQ(printed(a.kvs).front(), (std::pair<std::string, std::string>{"general.name", "SmolLM2 135M Instruct"}));
  testkit::write_file(dir / "README.md", "---\nlicense: [mit\n---\n");
  const GgufNaming b = gguf_naming_for_directory(dir, json::object(), dense(134515008), "");
  EXPECT_EQ(printed(b.kvs), printed(a.kvs));
  EXPECT_TRUE(b.note.starts_with("README.md front matter is not valid YAML")) << b.note;
  // --model-name's counterpart replaces the name only (Metadata.load lines 143-144).
  const GgufNaming c = gguf_naming_for_directory(dir, json::object(), dense(134515008), "Mine");
  EXPECT_EQ(printed(c.kvs).front().second, "Mine");
  EXPECT_EQ(printed(c.kvs).size(), printed(a.kvs).size());
}
