// The converter's naming heuristics for one model id (write/gguf_naming.h): parameter counts and
// size labels (gguf-py/gguf/gguf_writer.py, utility.py) and the parts of a model id
// (gguf-py/gguf/metadata.py). Line numbers are those of the llama.cpp source at /work/llsrc, the
// version of tests/peer. Characters are classed as ASCII (Python classes Unicode letters and
// digits too; model names and ids are ASCII in practice).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

#include "write/gguf_naming.h"

namespace ramq {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }
char to_lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

// std::regex backtracks by recursion, as deep as the text is long: a part longer than this is a
// plain word (the converter's patterns match only runs of digits that long).
constexpr std::size_t kMaxMatched = 128;

bool full_match(const std::string& s, const char* pattern) {
  return s.size() <= kMaxMatched && std::regex_match(s, std::regex(pattern, std::regex::ECMAScript | std::regex::icase));
}

// utility.py model_weight_count_rounded_notation (lines 21-41), min_digits 2.
std::string rounded_notation(std::int64_t n) {
  const double count = static_cast<double>(n);
  double scaled = count * 1e-3;
  char suffix = 'K';
  if (count > 1e12) {
    scaled = count * 1e-12, suffix = 'T';
  } else if (count > 1e9) {
    scaled = count * 1e-9, suffix = 'B';
  } else if (count > 1e6) {
    scaled = count * 1e-6, suffix = 'M';
  }
  // fix = max(2 - len(str(round(scaled)).lstrip('0')), 0); round() rounds half to even.
  std::string whole = std::to_string(static_cast<long long>(std::nearbyint(scaled)));
  whole.erase(0, whole.find_first_not_of('0') == std::string::npos ? whole.size() : whole.find_first_not_of('0'));
  const int fix = std::max(2 - static_cast<int>(whole.size()), 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%c", fix, scaled, suffix);
  return buf;
}

enum Part : unsigned { kBasename = 1, kSizeLabel = 2, kFinetune = 4, kVersion = 8, kType = 16 };

// A size part (metadata.py lines 286-315): "7b1" -> "7.1B"; a size far from the model's is a
// context length ("8k") and a finetune.
void annotate_size(std::string& part, unsigned& type, std::int64_t total_params) {
  std::replace(part.begin(), part.end(), '_', '.');
  if (is_digit(part.back())) part = part.substr(0, part.size() - 2) + "." + part.back() + part[part.size() - 2];
  if (part.size() > 1 && is_digit(part[part.size() - 2]) && std::string_view("kmbt").find(part.back()) != std::string_view::npos)
    part.back() = to_upper(part.back());
  const std::string number = part.substr(0, part.size() - 1);
  const auto scale = std::string_view(" KMBT").find(part.back());
  // float(part[:-1]) succeeds only for digits with at most one '.' here ("8x7", "A3" fail).
  if (total_params != 0 && scale != std::string_view::npos && std::regex_match(number, std::regex(R"(\d+(\.\d+)?)"))) {
    const double label = std::stod(number) * std::pow(1000.0, static_cast<double>(scale));
    const double total = static_cast<double>(total_params);
    const bool adapter_too_small = total_params < 0 && label < static_cast<double>(-total_params / 8);
    const bool far_from_model = total_params > 0 && std::fabs(label - total) > static_cast<double>(7 * total_params / 8);
    if (adapter_too_small || far_from_model) {
      type |= kFinetune;
      part.back() = to_lower(part.back());
    }
  }
  if (type == 0) type |= kSizeLabel;
}

std::optional<std::string> join_parts(const std::vector<std::string>& parts, const std::vector<unsigned>& types,
                                      unsigned want, unsigned exclude = 0, bool dedupe = false) {
  std::vector<std::string> picked;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!(types[i] & want) || (types[i] & exclude)) continue;
    if (dedupe && std::find(picked.begin(), picked.end(), parts[i]) != picked.end()) continue;
    picked.push_back(parts[i]);
  }
  if (picked.empty()) return std::nullopt;
  std::string s = picked[0];
  for (std::size_t i = 1; i < picked.size(); ++i) s += "-" + picked[i];
  return s;
}

}  // namespace

GgufParameterCounts gguf_parameter_counts(const std::vector<GgufTensorSpec>& tensors) {
  GgufParameterCounts c;
  std::int64_t expert_sum = 0, expert_tensors = 0;
  for (const auto& t : tensors) {
    std::int64_t size = 1;
    for (const auto d : t.ne) size *= d;
    if (t.name.find("_exps.") != std::string::npos && t.ne.size() >= 3) {
      const std::int64_t experts = t.name.find(".bias") != std::string::npos ? t.ne[1] : t.ne[2];
      c.expert += size / experts;
      expert_sum += experts;
      ++expert_tensors;
    } else {
      c.shared += size;
    }
    c.total += size;
  }
  c.expert_count = expert_tensors > 0 ? expert_sum / expert_tensors : 0;
  return c;
}

std::string gguf_size_label(const GgufParameterCounts& c) {
  if (c.expert_count > 0) return std::to_string(c.expert_count) + "x" + rounded_notation(std::llabs(c.shared) + std::llabs(c.expert));
  return rounded_notation(std::llabs(c.total));
}

std::string id_to_title(const std::string& id) {
  // ' '.join(w.title() if w.islower() and not re.match(r'^(v\d+(?:\.\d+)*|\d.*)$', w) else w
  //          for w in id.strip().replace('-', ' ').split())   (metadata.py lines 235-237)
  std::string text = id;
  std::replace(text.begin(), text.end(), '-', ' ');
  std::vector<std::string> words;
  std::string word;
  for (const char c : text + " ") {
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f')) {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  std::string out;
  for (const auto& w : words) {
    const bool lower = std::any_of(w.begin(), w.end(), is_lower) && std::none_of(w.begin(), w.end(), is_upper);
    const bool keep = is_digit(w[0]) || (w[0] == 'v' && full_match(w, R"(v\d+(?:\.\d+)*)"));  // case-sensitive
    std::string t = w;
    if (lower && !keep) {  // str.title(): a letter after a letter is lower case, any other upper case
      bool after_letter = false;
      for (char& c : t) {
        c = after_letter ? to_lower(c) : to_upper(c);
        after_letter = is_alpha(c);
      }
    }
    out += (out.empty() ? "" : " ") + t;
  }
  return out;
}

ModelIdComponents model_id_components(const std::string& model_id, std::int64_t total_params) {
  ModelIdComponents r;
  // metadata.py lines 248-263: a sentence is a name only; "org/name"; an org starting with '.'
  // is a relative path, not an org.
  if (model_id.find(' ') != std::string::npos) {
    r.full_name = model_id;
    return r;
  }
  const auto slash = model_id.find('/');
  r.full_name = slash == std::string::npos ? model_id : model_id.substr(slash + 1);
  if (slash != std::string::npos && model_id[0] != '.') r.organization = model_id.substr(0, slash);  // "" for "/x"

  std::vector<std::string> parts;  // lines 265-270: split on '-', empty parts removed
  for (std::size_t start = 0; start <= r.full_name->size();) {
    const auto dash = std::min(r.full_name->find('-', start), r.full_name->size());
    if (dash > start) parts.push_back(r.full_name->substr(start, dash - start));
    start = dash + 1;
  }
  std::vector<unsigned> types(parts.size(), 0);
  for (std::size_t i = 0; i < parts.size(); ++i) {  // lines 277-322: annotate each part
    std::string& part = parts[i];
    if (full_match(part, R"((v|iter)?\d+([.]\d+)*)")) {
      types[i] |= kVersion;
    } else if (full_match(part, R"(i?q\d(_\w)*|b?fp?(16|32))")) {
      types[i] |= kType;
      std::transform(part.begin(), part.end(), part.begin(), to_upper);
    } else if (i > 0 && full_match(part, R"((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl))")) {
      annotate_size(part, types[i], total_params);
    } else if (i > 0 && full_match(part, "chat|instruct|vision|lora")) {
      types[i] |= (total_params < 0 && full_match(part, "lora")) ? kType : kFinetune;
    }
  }
  // lines 326-330: word sizes ("small") are dropped when a numeric size is present.
  bool numeric_size = false;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if ((types[i] & kSizeLabel) && std::any_of(parts[i].begin(), parts[i].end(), is_digit)) numeric_size = true;
  if (numeric_size)
    for (std::size_t i = 0; i < parts.size(); ++i)
      if ((types[i] & kSizeLabel) && std::all_of(parts[i].begin(), parts[i].end(), is_alpha)) types[i] &= ~kSizeLabel;
  // lines 332-348: the leading plain words and versions are the basename (non-ASCII counts as a
  // letter), later plain words a finetune; a trailing version is not part of the basename.
  bool at_start = true;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool letter = is_alpha(parts[i][0]) || static_cast<unsigned char>(parts[i][0]) >= 0x80;
    if (at_start && ((types[i] == 0 && letter) || (types[i] & kVersion))) {
      types[i] |= kBasename;
    } else {
      at_start = false;
      if (types[i] == 0) types[i] |= kFinetune;
    }
  }
  for (std::size_t i = parts.size(); i-- > 0;) {
    if (!(types[i] & kBasename) || types[i] == kBasename) break;
    types[i] &= ~kBasename;
  }
  // lines 350-362
  r.basename = join_parts(parts, types, kBasename);
  r.size_label = join_parts(parts, types, kSizeLabel, 0, /*dedupe=*/true);
  r.finetune = join_parts(parts, types, kFinetune);
  r.version = join_parts(parts, types, kVersion, kBasename);
  if (!r.size_label && !r.finetune && !r.version) r.basename.reset();  // too ambiguous
  return r;
}

}  // namespace ramq
