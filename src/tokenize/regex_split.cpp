#include "regex_split.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>

namespace ramq::tokenize {

std::string oniguruma_to_icu(std::string_view regex, std::string* why) {
  std::string out;
  out.reserve(regex.size() + 32);
  int class_depth = 0;  // inside [...] (ICU nests classes)
  for (std::size_t i = 0; i < regex.size(); ++i) {
    const char c = regex[i];
    if (c == '\\') {
      if (i + 1 == regex.size()) {
        if (why) *why = "the regex ends with a lone backslash";
        return "";
      }
      const char e = regex[++i];
      if (e == 's') {
        out += class_depth > 0 ? "\\p{White_Space}" : "[\\p{White_Space}]";
      } else if (e == 'S') {
        out += class_depth > 0 ? "\\P{White_Space}" : "[^\\p{White_Space}]";
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out += c;
      // A ']' (or '^]') right after the opening bracket is a literal in Oniguruma.
      if (i + 1 < regex.size() && regex[i + 1] == '^') out += regex[++i];
      if (i + 1 < regex.size() && regex[i + 1] == ']') {
        out += "\\]";
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

RegexSplitter::RegexSplitter(std::string_view regex) {
  std::string why;
  const std::string icu_regex = oniguruma_to_icu(regex, &why);
  if (icu_regex.empty()) throw std::runtime_error(why.empty() ? "the regex is empty" : why);
  UParseError pe{};
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString source = icu::UnicodeString::fromUTF8(icu::StringPiece(icu_regex.data(), static_cast<int32_t>(icu_regex.size())));
  pattern_.reset(icu::RegexPattern::compile(source, 0, pe, status));
  if (U_FAILURE(status) || !pattern_) {
    throw std::runtime_error(std::string("ICU cannot compile it: ") + u_errorName(status) + " at offset " +
                             std::to_string(pe.offset));
  }
}

std::unique_ptr<icu::RegexMatcher> RegexSplitter::matcher() const {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::RegexMatcher> m(pattern_->matcher(status));
  if (U_FAILURE(status) || !m) throw std::runtime_error(std::string("ICU regex matcher: ") + u_errorName(status));
  return m;
}

namespace {

// The text in UTF-16 with the byte offset of every UTF-16 index and back.
struct Utf16Text {
  icu::UnicodeString str;
  std::vector<std::uint32_t> byte_of;  // UTF-16 index -> byte offset (units + 1 entries)
  std::vector<std::int32_t> u16_of;    // byte offset (at a symbol start) -> UTF-16 index (bytes + 1 entries)

  explicit Utf16Text(std::string_view text) : u16_of(text.size() + 1, 0) {
    byte_of.reserve(text.size() + 1);
    for (std::size_t i = 0; i < text.size();) {
      std::uint32_t cp = 0;
      const std::size_t len = decode_utf8(text, i, cp);  // invalid: cp = U+FFFD, one byte
      u16_of[i] = str.length();
      str.append(static_cast<UChar32>(cp));
      while (byte_of.size() < static_cast<std::size_t>(str.length())) byte_of.push_back(static_cast<std::uint32_t>(i));
      i += len == 0 ? 1 : len;
    }
    u16_of[text.size()] = str.length();
    byte_of.push_back(static_cast<std::uint32_t>(text.size()));
  }
};

void regex_split(const Utf16Text& u16, icu::RegexMatcher& m, Piece piece, std::vector<Piece>& out) {
  UErrorCode status = U_ZERO_ERROR;
  const std::int32_t begin = u16.u16_of[piece.begin], end = u16.u16_of[piece.end];
  m.region(begin, end, status);  // opaque, anchoring bounds: the piece is the whole input
  // A hostile regex (nested quantifiers) can backtrack for ever. Every find() gets 10^7 engine
  // steps plus 100 per character of the piece (ICU counts in units of 10,000 steps): far above a
  // tokenizer regex on real text, which steps a few times per character even when one find()
  // scans the whole piece.
  m.setTimeLimit(static_cast<std::int32_t>(std::min<std::int64_t>(1000 + (end - begin) / 100, INT32_MAX)), status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU regex region: ") + u_errorName(status));
  std::int32_t prev = begin;
  auto push = [&](std::int32_t a, std::int32_t b) {
    if (b > a) out.push_back({u16.byte_of[static_cast<std::size_t>(a)], u16.byte_of[static_cast<std::size_t>(b)]});
  };
  while (m.find(status)) {
    const std::int32_t ms = m.start(status), me = m.end(status);
    if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU regex match: ") + u_errorName(status));
    push(prev, ms);  // the text between matches is a piece too (Isolated)
    push(ms, me);    // empty matches give no piece
    prev = me;
  }
  if (status == U_REGEX_TIME_OUT || status == U_REGEX_STACK_OVERFLOW)
    throw std::runtime_error("the pre-tokenizer regex backtracks without end on this text (" +
                             std::string(u_errorName(status)) + ")");
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU regex match: ") + u_errorName(status));
  push(prev, end);
}

}  // namespace

void split_steps(std::string_view text, const std::vector<SplitStep>& steps, std::vector<Piece>& out) {
  if (text.empty()) return;
  if (steps.empty()) {
    out.push_back({0, text.size()});
    return;
  }
  if (steps.size() == 1 && steps[0].hand != SplitPattern::kNone) {
    split_pretokens(text, steps[0].hand, out);  // the fast path: no UTF-16 copy
    return;
  }
  std::unique_ptr<Utf16Text> u16;
  std::vector<Piece> pieces = {{0, text.size()}}, next;
  for (const SplitStep& step : steps) {
    next.clear();
    if (step.regex) {
      if (!u16) u16 = std::make_unique<Utf16Text>(text);
      const auto m = step.regex->matcher();
      m->reset(u16->str);
      for (const Piece& p : pieces) regex_split(*u16, *m, p, next);
    } else {
      std::vector<Piece> sub;
      for (const Piece& p : pieces) {
        sub.clear();
        split_pretokens(text.substr(p.begin, p.end - p.begin), step.hand, sub);
        for (const Piece& s : sub) next.push_back({p.begin + s.begin, p.begin + s.end});
      }
    }
    pieces.swap(next);
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

}  // namespace ramq::tokenize
