#pragma once

namespace ramq {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace ramq
