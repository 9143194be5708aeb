#include "ramq/error.h"

namespace ramq {

namespace {
std::string flatten(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return out;
}
}  // namespace

std::string format_error_line(const std::string& file, const std::string& tensor, const std::string& problem) {
  std::string line;
  if (!file.empty()) line += flatten(file) + ": ";
  if (!tensor.empty()) line += "tensor '" + flatten(tensor) + "': ";
  line += flatten(problem);
  return line;
}

Error::Error(std::string file, std::string tensor, std::string problem)
    : std::runtime_error(format_error_line(file, tensor, problem)),
      file_(std::move(file)),
      tensor_(std::move(tensor)),
      problem_(std::move(problem)) {}

}  // namespace ramq
