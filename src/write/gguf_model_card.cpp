// README.md front matter, read as llama.cpp's converter reads it (write/gguf_model_card.h).
//
// gguf-py/gguf/metadata.py, Metadata.load_model_card (lines 157-202 of the llama.cpp source at
// /work/llsrc): the file is read as UTF-8 text (universal newlines) and split with
// str.splitlines(); the first line must be exactly "---"; the lines after it up to the next line
// that is exactly "---" (or the end) are joined with "\n" plus a final "\n"; "- no\n" becomes
// "- \"no\"\n" (the Norway problem) and every tab two spaces; yaml.safe_load parses it, and a
// result that is not a mapping gives no fields.
//
// The parser is libyaml (Debian libyaml-dev), the YAML 1.1 parser that PyYAML's own C loader
// wraps; PyYAML's SafeLoader is the same YAML 1.1 design in Python. Scalars are typed with
// PyYAML's implicit resolvers (yaml/resolver.py): an unquoted `yes`, `no`, `on`, `off`, `true`
// ... is a boolean, `1.0` a float, `2024-01-01` a timestamp, `~`/`null`/empty null. libyaml's
// loader gives an unquoted scalar with an explicit `!!str` the same tag as an untagged one, so
// `!!str 1.0` is typed as a float here (PyYAML: a string); model cards do not write that.
#include "write/gguf_model_card.h"

#include <yaml.h>

#include <memory>
#include <regex>
#include <string_view>
#include <system_error>

#include "ramq/error.h"
#include "ramq/input_file.h"
#include "ramq/utf8.h"

namespace ramq {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxReadmeBytes = std::uint64_t{64} << 20;
constexpr int kMaxDepth = 6;                  // converted to JSON; the naming keys look 3 levels deep
constexpr std::size_t kMaxNodes = 1u << 20;   // aliases may repeat a subtree: bound the copies

// Length of a line boundary of str.splitlines() at `i` (after universal newlines), 0 if none:
// \n \v \f \x1c \x1d \x1e, U+0085, U+2028, U+2029.
std::size_t line_break_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) return 1;
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xc2 && at(1) == 0x85) return 2;
  if (c == 0xe2 && at(1) == 0x80 && (at(2) == 0xa8 || at(2) == 0xa9)) return 3;
  return 0;
}

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = line_break_at(s, i);
    if (n == 0) {
      ++i;
      continue;
    }
    lines.emplace_back(s.substr(start, i - start));
    i += n;
    start = i;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

// PyYAML's implicit resolvers (yaml/resolver.py), as whole-string matches.
const std::regex& bool_re() {
  static const std::regex r("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  return r;
}
const std::regex& float_re() {
  static const std::regex r(
      R"([-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?)"
      R"(|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))");
  return r;
}
const std::regex& int_re() {
  static const std::regex r(
      R"([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)");
  return r;
}
const std::regex& null_re() {
  static const std::regex r("~|null|Null|NULL|");
  return r;
}
const std::regex& timestamp_re() {
  static const std::regex r(
      R"([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])"
      R"(|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?)"
      R"((?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)");
  return r;
}

// std::regex backtracks by recursion, as deep as the text is long: scalars longer than this are
// not matched. None of null, bool or timestamp is this long; one that could be a number (digits,
// signs, points, '_', ':', hex digits, exponents) is taken for one, and no naming key takes that.
constexpr std::size_t kMaxResolvedScalar = 128;
bool could_be_number(const std::string& text) {
  return std::string_view("-+.0123456789").find(text[0]) != std::string_view::npos &&
         text.find_first_not_of("0123456789_.:+-eExXbBoOabcdefABCDEF") == std::string::npos;
}

// A value that no naming key accepts (timestamps, binary, sets, custom tags ...).
json other_value(std::string_view text) { return json::binary(std::vector<std::uint8_t>(text.begin(), text.end())); }

json number_value(const std::string& text, bool is_float) {
  std::string digits;
  for (const char c : text)
    if (c != '_') digits += c;
  if (is_float) return json(std::strtod(digits.c_str(), nullptr));
  return json(static_cast<std::int64_t>(std::strtoll(digits.c_str(), nullptr, 0)));
}

// A scalar as PyYAML's composer and SafeConstructor type it.
json scalar_value(const yaml_node_t& node) {
  const std::string text(reinterpret_cast<const char*>(node.data.scalar.value), node.data.scalar.length);
  const std::string tag = node.tag ? reinterpret_cast<const char*>(node.tag) : YAML_STR_TAG;
  const bool plain = node.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  const bool implicit = tag == YAML_STR_TAG && plain;
  if (tag == YAML_STR_TAG && !plain) return json(text);
  if (text.size() > kMaxResolvedScalar) return implicit && !could_be_number(text) ? json(text) : other_value(text);
  if ((implicit || tag == YAML_NULL_TAG) && std::regex_match(text, null_re())) return json(nullptr);
  if ((implicit || tag == YAML_BOOL_TAG) && std::regex_match(text, bool_re()))
    return json(text[0] == 'y' || text[0] == 'Y' || text[0] == 't' || text[0] == 'T' || text == "on" || text == "On" ||
                text == "ON");
  if ((implicit || tag == YAML_FLOAT_TAG) && std::regex_match(text, float_re())) return number_value(text, true);
  if ((implicit || tag == YAML_INT_TAG) && std::regex_match(text, int_re())) return number_value(text, false);
  if (implicit && (std::regex_match(text, timestamp_re()) || text == "=")) return other_value(text);
  if (implicit) return json(text);
  return other_value(text);  // an explicit tag the text does not fit, !!timestamp, !!binary, !foo ...
}

class Converter {
 public:
  explicit Converter(yaml_document_t& doc) : doc_(doc) {}

  // Throws std::length_error when aliases repeat too much.
  json value(const yaml_node_t* node, int depth) {
    if (++nodes_ > kMaxNodes) throw std::length_error("the front matter repeats its aliases too often");
    if (!node || depth > kMaxDepth) return other_value("");
    const std::string tag = node->tag ? reinterpret_cast<const char*>(node->tag) : "";
    switch (node->type) {
      case YAML_SCALAR_NODE: return scalar_value(*node);
      case YAML_SEQUENCE_NODE: {
        if (tag != YAML_SEQ_TAG) return other_value(tag);
        json a = json::array();
        for (auto* it = node->data.sequence.items.start; it < node->data.sequence.items.top; ++it)
          a.push_back(value(yaml_document_get_node(&doc_, *it), depth + 1));
        return a;
      }
      case YAML_MAPPING_NODE: {
        if (tag != YAML_MAP_TAG) return other_value(tag);
        json o = json::object();
        for (auto* p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; ++p) {
          const json k = value(yaml_document_get_node(&doc_, p->key), depth + 1);
          if (k.is_string()) o[k.get<std::string>()] = value(yaml_document_get_node(&doc_, p->value), depth + 1);
        }
        return o;
      }
      case YAML_NO_NODE: break;
    }
    return other_value("");
  }

 private:
  yaml_document_t& doc_;
  std::size_t nodes_ = 0;
};

struct Parser {
  yaml_parser_t p;
  Parser(const std::string& text) {
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Parser() { yaml_parser_delete(&p); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  std::string error() const {
    std::string e = p.problem ? p.problem : "unknown error";
    if (p.context) e = std::string(p.context) + ", " + e;
    return e + " (line " + std::to_string(p.problem_mark.line + 2) + " of README.md)";  // +1: 1-based, +1: the "---"
  }
};

struct Document {
  yaml_document_t d{};
  bool loaded = false;
  ~Document() {
    if (loaded) yaml_document_delete(&d);
  }
};

// libyaml's scanner checks every open flow or block level on each token, so deep nesting costs
// time quadratic in the depth (50,000 '[' take seconds): a first pass over the events, which the
// parser produces as it scans, stops at this depth. PyYAML itself recurses per level and stops
// near Python's recursion limit.
constexpr int kMaxNesting = 64;

void check_nesting(const std::string& text) {
  Parser parser(text);
  int depth = 0;
  for (bool done = false; !done;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser.p, &event)) throw std::runtime_error(parser.error());
    if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT) ++depth;
    if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT) --depth;
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (depth > kMaxNesting) throw std::runtime_error("nested deeper than " + std::to_string(kMaxNesting) + " levels");
  }
}

// yaml.safe_load of the front matter: the one document's root as JSON (null for an empty stream).
// Throws std::runtime_error with the parser's message.
json load_yaml(const std::string& text) {
  check_nesting(text);
  Parser parser(text);
  Document first;
  if (!yaml_parser_load(&parser.p, &first.d)) throw std::runtime_error(parser.error());
  first.loaded = true;
  const yaml_node_t* root = yaml_document_get_root_node(&first.d);
  if (!root) return json(nullptr);
  Document second;
  if (!yaml_parser_load(&parser.p, &second.d)) throw std::runtime_error(parser.error());
  second.loaded = true;
  if (yaml_document_get_root_node(&second.d)) throw std::runtime_error("more than one YAML document");
  return Converter(first.d).value(root, 0);
}

}  // namespace

ModelCard parse_model_card(const std::string& readme_text) {
  ModelCard card;
  if (const auto bad = first_invalid_utf8(readme_text)) {
    card.note = "README.md is not UTF-8 (byte " + std::to_string(*bad) + "): its front matter is ignored";
    return card;
  }
  const std::vector<std::string> lines = split_lines(python_universal_newlines(readme_text));
  if (lines.empty() || lines[0] != "---") return card;  // no front matter
  std::string yaml;
  for (std::size_t i = 1; i < lines.size() && lines[i] != "---"; ++i) yaml += lines[i] + "\n";
  if (yaml.empty()) yaml = "\n";
  replace_all(yaml, "- no\n", "- \"no\"\n");
  replace_all(yaml, "\t", "  ");
  json data;
  try {
    data = load_yaml(yaml);
  } catch (const std::exception& e) {
    card.note = std::string("README.md front matter is not valid YAML: ") + e.what() + "; it is ignored";
    return card;
  }
  if (data.is_object()) {
    card.fields = std::move(data);
  } else if (!data.is_null()) {
    card.note = "README.md front matter is not a mapping of keys to values; it is ignored";
  }
  return card;
}

ModelCard read_model_card(const fs::path& model_dir) {
  const fs::path path = model_dir / "README.md";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  try {
    return parse_model_card(read_regular_file(path, kMaxReadmeBytes));
  } catch (const Error& e) {
    ModelCard card;
    card.note = "README.md is not read (" + e.problem() + "): its front matter is ignored";
    return card;
  }
}

}  // namespace ramq
