// One error type for every bad input: it names the file, the tensor (if any) and the problem,
// and renders as a single line for the CLI.
#pragma once

#include <stdexcept>
#include <string>

namespace ramq {

class Error : public std::runtime_error {
 public:
  Error(std::string file, std::string tensor, std::string problem);

  const std::string& file() const noexcept { return file_; }
  const std::string& tensor() const noexcept { return tensor_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string file_;
  std::string tensor_;
  std::string problem_;
};

// "file: tensor 'name': problem" (parts that are empty are left out; newlines are flattened).
std::string format_error_line(const std::string& file, const std::string& tensor, const std::string& problem);

}  // namespace ramq
