// libFuzzer driver for one target of fuzz_targets.h, chosen at build time (RAMQ_FUZZ_TARGET).
// A ramq::Error is the expected outcome of bad input; any other exception escapes and aborts,
// which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"
#include "ramq/error.h"

namespace {
const ramq::fuzz::Target& target() {
  static const ramq::fuzz::Target* t = [] {
    const auto* found = ramq::fuzz::find_target(RAMQ_FUZZ_TARGET);
    if (!found) {
      std::fprintf(stderr, "unknown fuzz target %s\n", RAMQ_FUZZ_TARGET);
      std::abort();
    }
    return found;
  }();
  return *t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    target().run({data, size});
  } catch (const ramq::Error&) {
  }
  return 0;
}
