// Small helpers for writing well-formed XHTML/SVG text: escaping and fixed number formats
// (snprintf in the "C" locale, so output never depends on the environment).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ramq::report {

// Escapes &, <, >, " and ' (text and attribute values alike).
std::string esc(std::string_view s);
// Fixed-point number with `decimals` digits ("-0" never appears).
std::string fixed(double v, int decimals);
// A number with `digits` significant digits (%g style).
std::string sig(double v, int digits);
// 1234567 -> "1.23 MB" (decimal units).
std::string human_bytes(std::uint64_t b);
// 0.1234 -> "12.3 %".
std::string percent(double fraction);
// ` name="value"` with the value escaped.
std::string attr(std::string_view name, std::string_view value);

}  // namespace ramq::report
