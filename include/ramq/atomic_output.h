// Output that appears under its final name only when complete: everything is written into a
// temporary sibling (".NAME.ramq-tmp-PID") which is renamed at commit(); if the object is
// destroyed before commit() (error, exception) the temporary is removed. SIGINT/SIGTERM remove
// registered temporaries too. SIGKILL (or a crash) leaves the hidden temporary behind, never a
// partial file under the final name; the next AtomicOutput for the same name removes such
// leftovers of processes that are no longer running.
#pragma once

#include <filesystem>
#include <memory>

namespace ramq {

class AtomicOutput {
 public:
  // is_directory: the output is a directory (MLX) rather than a single file.
  AtomicOutput(std::filesystem::path final_path, bool is_directory);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& final_path() const { return final_; }
  // Moves the temporary into place, then the attached companion, under an exclusive lock on the
  // directory (a second run committing the same name waits). An existing output is replaced only
  // when include/ramq/output_path.h's rules allow it (check_replace_at_commit).
  void commit();
  // A second output committed together with this one (the manifest beside a GGUF file): same
  // directory, moved into place right after this one, under the same lock.
  void attach(std::unique_ptr<AtomicOutput> companion);

 private:
  std::filesystem::path final_;
  std::filesystem::path temp_;
  bool is_dir_;
  bool committed_ = false;
  std::filesystem::path registered_;  // absolute temp path known to the signal handler
  std::unique_ptr<AtomicOutput> companion_;
  void move_into_place();
};

// Installs SIGINT/SIGTERM/SIGHUP handlers that delete registered temporaries and exit(130/143).
void install_cleanup_signal_handlers();

}  // namespace ramq
