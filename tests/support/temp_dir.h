// Test support: a fresh, uniquely named temporary directory removed when it goes out of scope.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

namespace ramq::testkit {

// A fresh, uniquely named directory under std::filesystem::temp_directory_path(), removed
// (recursively, errors ignored) when the object is destroyed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ramq-test") {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto p = base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                       std::to_string(rd()));
      std::error_code ec;
      if (std::filesystem::create_directory(p, ec) && !ec) {
        path_ = p;
        return;
      }
    }
    throw std::runtime_error("TempDir: cannot create a unique directory");
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace ramq::testkit
