#include "pretokenize.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <array>

namespace ramq::tokenize {
namespace {

constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Character classes of one symbol.
enum : std::uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kNewline = 8 /* \r or \n */ };

std::uint8_t classify(std::uint32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  const std::uint32_t mask = U_GET_GC_MASK(c);
  std::uint8_t cls = 0;
  if (mask & U_GC_L_MASK) cls |= kLetter;
  if (mask & U_GC_N_MASK) cls |= kNumber;
  if (u_isUWhiteSpace(c)) cls |= kSpace;
  if (cp == '\r' || cp == '\n') cls |= kNewline;
  return cls;
}

const std::array<std::uint8_t, 128>& ascii_classes() {
  static const std::array<std::uint8_t, 128> table = [] {
    std::array<std::uint8_t, 128> t{};
    for (std::uint32_t c = 0; c < 128; ++c) t[c] = classify(c);
    return t;
  }();
  return table;
}

char ascii_lower(std::uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? static_cast<char>(cp + 32) : static_cast<char>(cp); }

// Length (in symbols, >= 1) of the regex match starting at symbol i.
std::size_t match_at(const std::vector<std::uint32_t>& cp, const std::vector<std::uint8_t>& cls, std::size_t i,
                     std::size_t max_digits) {
  const std::size_t n = cp.size();
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp[i] == '\'' && i + 1 < n && cp[i + 1] < 128) {
    const char c1 = ascii_lower(cp[i + 1]);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (i + 2 < n && cp[i + 2] < 128) {
      const char c2 = ascii_lower(cp[i + 2]);
      if (((c1 == 'r' || c1 == 'v') && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    }
  }
  auto run = [&](std::size_t j, std::uint8_t want) {
    while (j < n && (cls[j] & want)) ++j;
    return j;
  };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (cls[i] & kLetter) return run(i + 1, kLetter) - i;
  if (!(cls[i] & (kLetter | kNumber | kNewline)) && i + 1 < n && (cls[i + 1] & kLetter)) return run(i + 2, kLetter) - i;
  // \p{N}{1,max_digits}
  if (cls[i] & kNumber) {
    std::size_t j = i + 1;
    while (j < n && j - i < max_digits && (cls[j] & kNumber)) ++j;
    return j - i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  auto other = [&](std::size_t j) { return !(cls[j] & (kLetter | kNumber | kSpace)); };
  std::size_t j = i;
  if (cp[i] == ' ' && i + 1 < n && other(i + 1)) j = i + 1;
  if (other(j)) {
    while (j < n && other(j)) ++j;
    return run(j, kNewline) - i;
  }
  // Here cp[i] is white space. \s*[\r\n]+ : up to the last \r or \n of the white-space run.
  const std::size_t end = run(i, kSpace);
  for (std::size_t k = end; k > i; --k) {
    if (cls[k - 1] & kNewline) return k - i;
  }
  // \s+(?!\S) : the run, or all but its last symbol when a non-space follows; else \s+.
  if (end == n || end - i == 1) return end - i;
  return end - 1 - i;
}

}  // namespace

std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex) {
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  cp = 0xFFFD;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  std::uint32_t v = 0, min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, v = b0 & 0x1Fu, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, v = b0 & 0x0Fu, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, v = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (text.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  cp = v;
  return len;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void split_pretokens(std::string_view text, SplitPattern pattern, std::vector<Piece>& out) {
  if (text.empty()) return;
  if (pattern == SplitPattern::kNone) {
    out.push_back({0, text.size()});
    return;
  }
  // Symbols: code points (or single invalid bytes), their classes and byte offsets.
  std::vector<std::uint32_t> cps;
  std::vector<std::uint8_t> cls;
  std::vector<std::size_t> offsets;
  cps.reserve(text.size());
  cls.reserve(text.size());
  offsets.reserve(text.size() + 1);
  const auto& ascii = ascii_classes();
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    offsets.push_back(i);
    cps.push_back(cp);
    cls.push_back(len == 0 ? std::uint8_t{0} : cp < 128 ? ascii[cp] : classify(cp));
    i += len == 0 ? 1 : len;
  }
  offsets.push_back(text.size());
  const std::size_t max_digits = pattern == SplitPattern::kLlama3 ? 3 : 1;
  for (std::size_t i = 0; i < cps.size();) {
    const std::size_t len = match_at(cps, cls, i, max_digits);
    out.push_back({offsets[i], offsets[i + len]});
    i += len;
  }
}

std::string nfc(std::string_view text) {
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* norm = unorm2_getNFCInstance(&status);
  if (U_FAILURE(status)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  // Appends the NFC of a valid UTF-8 run; false (nothing appended) if it is already NFC or ICU fails.
  auto normalize_run = [&](std::string_view run) {
    std::u16string src(run.size(), u'\0'), dst;
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(src.data(), static_cast<int32_t>(src.size()), &len, run.data(), static_cast<int32_t>(run.size()), &st);
    if (U_FAILURE(st)) return false;
    if (unorm2_isNormalized(norm, src.data(), len, &st) || U_FAILURE(st)) return false;
    dst.resize(src.size() * 3 + 16);
    const int32_t n = unorm2_normalize(norm, src.data(), len, dst.data(), static_cast<int32_t>(dst.size()), &st);
    if (U_FAILURE(st)) return false;
    std::string utf8(static_cast<std::size_t>(n) * 3, '\0');
    int32_t n8 = 0;
    u_strToUTF8(utf8.data(), static_cast<int32_t>(utf8.size()), &n8, dst.data(), n, &st);
    if (U_FAILURE(st)) return false;
    out.append(utf8.data(), static_cast<std::size_t>(n8));
    return true;
  };
  auto add_run = [&](std::string_view run) {
    if (!run.empty() && !normalize_run(run)) out.append(run);
  };
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    if (len != 0) {
      i += len;
      continue;
    }
    add_run(text.substr(start, i - start));
    out.push_back(text[i]);
    start = ++i;
  }
  add_run(text.substr(start));
  return out;
}

namespace {

struct ByteLevelTables {
  std::array<std::uint32_t, 256> to_cp{};
  std::array<int, 324> to_byte{};  // code points 0..323 -> byte, or -1
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables = [] {
    ByteLevelTables t;
    t.to_byte.fill(-1);
    std::uint32_t extra = 0;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t.to_cp[b] = printable ? b : 256 + extra++;
      t.to_byte[t.to_cp[b]] = static_cast<int>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

std::uint32_t byte_to_codepoint(unsigned char b) { return byte_level_tables().to_cp[b]; }

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  const auto& t = byte_level_tables();
  std::string out;
  out.reserve(token.size());
  for (std::size_t i = 0; i < token.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(token, i, cp);
    if (len == 0 || cp >= t.to_byte.size() || t.to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.to_byte[cp]));
    i += len;
  }
  return out;
}

}  // namespace ramq::tokenize
