// Escaping and number formatting for the report's markup.
#include "report/markup.h"

#include <cmath>
#include <cstdio>

namespace ramq::report {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0 (tab, newline and carriage return are).
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string sig(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string human_bytes(std::uint64_t b) {
  const double v = static_cast<double>(b);
  if (b >= 1000000000ULL) return fixed(v / 1e9, 2) + " GB";
  if (b >= 1000000ULL) return fixed(v / 1e6, 3) + " MB";
  if (b >= 1000ULL) return fixed(v / 1e3, 1) + " kB";
  return std::to_string(b) + " B";
}

std::string percent(double fraction) { return fixed(100.0 * fraction, 1) + " %"; }

std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + esc(value) + "\"";
}

}  // namespace ramq::report
