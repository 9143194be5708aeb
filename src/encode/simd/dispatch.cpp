// Run-time choice of the encoders' SIMD level (include/ramq/ggml_types.h): the best level the CPU
// supports, capped by RAMQ_ISA, overridden by set_simd_level. Compiled once, for the baseline ISA.
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "encode/simd/kernels.h"
#include "ramq/ggml_types.h"

namespace ramq {
namespace {

bool cpu_has(SimdLevel level) {
  switch (level) {
    case SimdLevel::Portable: return true;
#if defined(RAMQ_X86_KERNELS)
    // Every extension the level's kernels are compiled with (src/encode/CMakeLists.txt): a virtual
    // machine may expose AVX2 and hide F16C or BMI2, and the kernels must then not run.
    case SimdLevel::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
    case SimdLevel::Avx512:
      return cpu_has(SimdLevel::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    default: return false;
#endif
  }
  return false;
}

const simd::Kernels& table_of(SimdLevel level) {
#if defined(RAMQ_X86_KERNELS)
  if (level == SimdLevel::Avx512) return simd::avx512::kKernels;
  if (level == SimdLevel::Avx2) return simd::avx2::kKernels;
#endif
  (void)level;
  return simd::portable::kKernels;
}

SimdLevel best_supported() {
  SimdLevel best = SimdLevel::Portable;
  for (const SimdLevel l : {SimdLevel::Avx2, SimdLevel::Avx512})
    if (cpu_has(l)) best = l;
  return best;
}

// RAMQ_ISA caps the level (an unsupported one falls back to the best supported below it);
// unknown values are ignored.
SimdLevel default_level() {
  SimdLevel level = best_supported();
  const char* env = std::getenv("RAMQ_ISA");
  if (env != nullptr && *env != '\0') {
    if (const auto want = parse_simd_level(env)) {
      while (static_cast<int>(level) > static_cast<int>(*want) || !cpu_has(level))
        level = static_cast<SimdLevel>(static_cast<int>(level) - 1);
    }
  }
  return level;
}

std::atomic<const simd::Kernels*> g_override{nullptr};

}  // namespace

std::string_view simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Portable: return "portable";
    case SimdLevel::Avx2: return "avx2";
    case SimdLevel::Avx512: return "avx512";
  }
  return "?";
}

std::optional<SimdLevel> parse_simd_level(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512})
    if (lower == simd_level_name(l)) return l;
  return std::nullopt;
}

std::vector<SimdLevel> supported_simd_levels() {
  std::vector<SimdLevel> out;
  for (const SimdLevel l : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512})
    if (cpu_has(l)) out.push_back(l);
  return out;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(simd::kernels().level); }

void set_simd_level(SimdLevel level) {
  if (!cpu_has(level))
    throw std::invalid_argument("set_simd_level: " + std::string(simd_level_name(level)) +
                                " is not supported by this CPU or build");
  g_override.store(&table_of(level), std::memory_order_release);
}

void reset_simd_level() { g_override.store(nullptr, std::memory_order_release); }

void simd::override_kernels_for_testing(const Kernels* k) { g_override.store(k, std::memory_order_release); }

const simd::Kernels& simd::kernels() {
  if (const Kernels* k = g_override.load(std::memory_order_acquire)) return *k;
  static const Kernels& fallback = table_of(default_level());
  return fallback;
}

}  // namespace ramq
