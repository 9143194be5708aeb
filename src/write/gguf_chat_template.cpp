// Chat templates for GGUF, found and written as llama.cpp's converter does (llama.cpp v0.5.0, the
// version of tests/peer):
//  * where: gguf-py/gguf/vocab.py, SpecialVocab._try_load_from_tokenizer_json. Nothing is read
//    unless tokenizer_config.json exists and is a non-empty object ("if not tokenizer_config:
//    return True"). Its "chat_template" key wins whenever present (tokenizer_config.get(
//    'chat_template', chat_template_alt)), even as null; otherwise chat_template.jinja (opened in
//    text mode: universal newlines), which with additional_chat_templates/*.jinja becomes the list
//    [{"name": "default", ...}, {"name": <file stem>, ...}...]; otherwise chat_template.json's
//    "chat_template". The converter logs and ignores a value that is not null, a string or a list;
//    ramq refuses it instead, with one line naming the file.
//  * how: gguf-py/gguf/gguf_writer.py, GGUFWriter.add_chat_template. A string is
//    tokenizer.chat_template. In a list of {name, template}, every character of a name outside
//    [A-Za-z0-9] becomes '_'; entries without a name or template are skipped; "default" is
//    tokenizer.chat_template, any other name tokenizer.chat_template.<name>, and the names go in
//    the string array tokenizer.chat_templates (key names: gguf-py/gguf/constants.py,
//    Keys.Tokenizer.CHAT_TEMPLATE / CHAT_TEMPLATE_N / CHAT_TEMPLATES). llama.cpp reads them back in
//    src/llama-model.cpp, llama_model_chat_template(model, name).
#include "write/gguf_chat_template.h"

#include <algorithm>
#include <map>
#include <system_error>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/json_io.h"
#include "ramq/utf8.h"

namespace ramq {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxTemplateBytes = 16u << 20;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Python's text-mode read (universal newlines), as the converter reads template files.
std::string read_text_like_python(const fs::path& p) {
  return python_universal_newlines(read_regular_file(p, kMaxTemplateBytes));
}

// additional_chat_templates/*.jinja, by file name (the converter's order is the directory's).
std::vector<fs::path> additional_template_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  const fs::path sub = dir / kAdditionalChatTemplatesDir;
  if (!fs::is_directory(sub, ec)) return files;
  for (fs::directory_iterator it(sub, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".jinja") files.push_back(it->path());
  if (ec) throw Error(sub.string(), "", "cannot list the directory: " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

// chat_template.jinja (plus additional templates) or chat_template.json: the converter's
// chat_template_alt. Null when neither file is there.
json alternative_template(const fs::path& dir) {
  const fs::path jinja = dir / "chat_template.jinja";
  if (is_file(jinja)) {
    json main = read_text_like_python(jinja);
    const auto extra = additional_template_files(dir);
    if (extra.empty()) return main;
    json list = json::array({{{"name", "default"}, {"template", main}}});
    for (const auto& f : extra) list.push_back({{"name", f.stem().string()}, {"template", read_text_like_python(f)}});
    return list;
  }
  const fs::path json_file = dir / "chat_template.json";
  if (!is_file(json_file)) return nullptr;
  const json j = read_json_file(json_file);
  if (!j.is_object()) throw Error(json_file.string(), "", "is not a JSON object");
  const auto it = j.find("chat_template");
  return it == j.end() ? json(nullptr) : *it;
}

// "a string", "an object", ... for messages.
std::string a_json_type(const json& j) {
  if (j.is_null()) return "null";
  const std::string t = j.type_name();
  return (t[0] == 'a' || t[0] == 'o' ? "an " : "a ") + t;
}

// GGUFWriter.add_chat_template's name filter.
std::string gguf_template_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) c = '_';
  }
  return out;
}

void add_listed_templates(const json& list, const std::string& file, ChatTemplates& out) {
  std::map<std::string, std::string> named;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    const std::string where = "chat_template entry " + std::to_string(i);
    if (!e.is_object()) throw Error(file, "", where + " must be an object {name, template}, not " + a_json_type(e));
    const json name = e.value("name", json(""));
    const json tmpl = e.value("template", json(nullptr));
    if (!name.is_string()) throw Error(file, "", where + ": 'name' must be a string, not " + a_json_type(name));
    if (!tmpl.is_null() && !tmpl.is_string())
      throw Error(file, "", where + ": 'template' must be a string, not " + a_json_type(tmpl));
    const std::string key = gguf_template_name(name.get<std::string>());
    if (key.empty() || tmpl.is_null()) continue;
    if (key == "default") {
      out.main = tmpl.get<std::string>();
    } else if (!named.emplace(key, tmpl.get<std::string>()).second) {
      throw Error(file, "", where + ": a second template named '" + key + "' (GGUF keys must be unique)");
    }
  }
  out.named.assign(named.begin(), named.end());
}

}  // namespace

ChatTemplates read_chat_templates(const fs::path& dir) {
  ChatTemplates out;
  const fs::path config_file = dir / "tokenizer_config.json";
  if (!is_file(config_file)) return out;
  const json config = read_json_file(config_file);
  if (!config.is_object()) throw Error(config_file.string(), "", "is not a JSON object");
  if (config.empty()) return out;

  const auto own = config.find("chat_template");
  const bool from_config = own != config.end();
  const json value = from_config ? *own : alternative_template(dir);
  const std::string file =
      from_config ? config_file.string()
                  : (is_file(dir / "chat_template.jinja") ? dir / "chat_template.jinja" : dir / "chat_template.json").string();
  if (value.is_null()) return out;
  if (value.is_string()) {
    out.main = value.get<std::string>();
  } else if (value.is_array()) {
    add_listed_templates(value, file, out);
  } else {
    throw Error(file, "", std::string("'chat_template' must be a string or a list of {name, template}, not ") +
                              a_json_type(value));
  }
  return out;
}

void append_chat_template_kvs(const ChatTemplates& templates, std::vector<GgufKV>& kvs) {
  std::vector<std::string> names;
  for (const auto& [name, text] : templates.named) {
    kvs.push_back({"tokenizer.chat_template." + name, GgufValue::str(text)});
    names.push_back(name);
  }
  if (!names.empty()) kvs.push_back({"tokenizer.chat_templates", GgufValue::strings(names)});
  if (templates.main) kvs.push_back({"tokenizer.chat_template", GgufValue::str(*templates.main)});
}

}  // namespace ramq
