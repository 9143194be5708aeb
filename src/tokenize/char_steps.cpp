#include "char_steps.h"

#include <utility>

namespace ramq::tokenize {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos);
  s = std::move(out);
}

struct Span {
  std::size_t begin, end;
  bool is_match;
};

// The matches of `delimiter` in `word` and the stretches between them, in order.
std::vector<Span> find_literal(std::string_view word, std::string_view delimiter) {
  std::vector<Span> spans;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = word.find(delimiter, pos)) != std::string_view::npos; pos = hit + delimiter.size()) {
    if (hit > pos) spans.push_back({pos, hit, false});
    spans.push_back({hit, hit + delimiter.size(), true});
  }
  if (pos < word.size()) spans.push_back({pos, word.size(), false});
  return spans;
}

// tokenizers' SplitDelimiterBehavior applied to the spans of one word.
std::vector<Span> apply_behavior(std::vector<Span> spans, SplitBehavior behavior) {
  std::vector<Span> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return spans;
    case SplitBehavior::kRemoved:
      for (const Span& s : spans)
        if (!s.is_match) out.push_back(s);
      return out;
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) {
        if (s.is_match && previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.is_match;
      }
      return out;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.is_match;
      }
      return out;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
  }
  return spans;
}

void split_words(std::vector<std::string>& words, std::string_view delimiter, SplitBehavior behavior) {
  std::vector<std::string> next;
  for (const std::string& w : words) {
    for (const Span& s : apply_behavior(find_literal(w, delimiter), behavior))
      if (s.end > s.begin) next.push_back(w.substr(s.begin, s.end - s.begin));
  }
  words.swap(next);
}

}  // namespace

std::string apply_normalizer(std::string_view text, const std::vector<TextEdit>& edits) {
  std::string s(text);
  for (const TextEdit& e : edits) {
    switch (e.kind) {
      case TextEdit::Kind::kNfc:
        s = nfc(s);
        break;
      case TextEdit::Kind::kPrepend:
        if (!s.empty()) s.insert(0, e.to);
        break;
      case TextEdit::Kind::kReplace:
        replace_all(s, e.from, e.to);
        break;
    }
  }
  return s;
}

void char_pretokenize(std::string text, const std::vector<CharStep>& steps, bool at_text_start,
                      std::vector<std::string>& out) {
  if (text.empty()) return;
  std::vector<std::string> words = {std::move(text)};
  for (const CharStep& step : steps) {
    if (step.kind == CharStep::Kind::kSplit) {
      split_words(words, step.delimiter, step.behavior);
      continue;
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::string& w = words[i];
      replace_all(w, " ", step.delimiter);
      const bool prepend = step.prepend == CharStep::Prepend::kAlways ||
                           (step.prepend == CharStep::Prepend::kFirst && i == 0 && at_text_start);
      if (prepend && !w.starts_with(step.delimiter)) w.insert(0, step.delimiter);
    }
    if (step.split) split_words(words, step.delimiter, SplitBehavior::kMergedWithNext);
  }
  for (auto& w : words)
    if (!w.empty()) out.push_back(std::move(w));
}

}  // namespace ramq::tokenize
