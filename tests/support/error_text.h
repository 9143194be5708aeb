// The message of the ramq::Error a call throws, for tests that check what an error says.
#pragma once

#include <string>

#include "ramq/error.h"

namespace ramq::testkit {

// e.what() of the ramq::Error f() throws, or "(no ramq::Error)" when it returns.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no ramq::Error)";
}

}  // namespace ramq::testkit
