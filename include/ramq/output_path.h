// Where ramq may write. Every file or directory a run writes (-o, --save-analysis, --save-plan,
// --report, a GGUF's manifest sidecar) goes through these rules, first before any work is done
// and again, under a lock, at the moment it is moved into place:
//  - never onto, inside, or around anything the same run reads (the model directory, a plan or
//    analysis file), compared after resolving symbolic links and by inode;
//  - never onto a symbolic link, a FIFO, a socket or a device, nor a directory where a file goes
//    (or the reverse);
//  - an existing output is replaced only when it is recognisably ramq's own: a directory whose
//    ramq-manifest.json lists every file in it, a file named by the ramq manifest beside it, or a
//    JSON/HTML file that ramq writes (kind "ramq-...", the report's generator tag). --force also
//    lets a run replace any other regular file; never a directory that holds files ramq did not
//    write.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ramq {

inline constexpr const char* kManifestName = "ramq-manifest.json";     // inside an MLX output directory
inline constexpr const char* kManifestSuffix = ".ramq-manifest.json";  // beside a GGUF file: FILE.ramq-manifest.json
// The report's tag, which marks an HTML page as ramq's output.
inline constexpr const char* kReportGeneratorTag = "<meta name=\"generator\" content=\"ramq";

struct OutputTarget {
  std::filesystem::path path;
  bool is_directory = false;  // an MLX output directory
  bool has_sidecar = false;   // a GGUF file with FILE.ramq-manifest.json beside it
  std::string option;         // how the user named it ("-o", "--save-plan"), for messages
};

// What stands at an output path now.
enum class ExistingKind {
  kAbsent,       // nothing (or an empty directory where a directory goes)
  kRamqOutput,   // ramq's own output: may be replaced
  kForeignFile,  // a regular file ramq did not write: replaced only with --force
  kNever,        // never replaced: a link, special file, wrong kind, or a directory with foreign files
};
struct ExistingOutput {
  ExistingKind kind = ExistingKind::kAbsent;
  std::string why;  // for kForeignFile and kNever: what it is, as a phrase after the path
};
ExistingOutput classify_existing_output(const std::filesystem::path& path, bool is_directory);

// Checks the outputs of one run against its inputs (files or directories it reads), against each
// other and against what exists, before any work is done. Throws ramq::Error naming the output,
// the option and the reason. With `force`, foreign regular files are approved for replacement
// (only as they are now: a file put there later is refused at commit).
void check_output_targets(const std::vector<OutputTarget>& outputs, const std::vector<std::filesystem::path>& inputs,
                          bool force);

// A flock on an output's directory: exclusive while outputs are moved into place (AtomicOutput::
// commit), so that two runs writing the same name commit one after the other and a GGUF file and
// its manifest always come from one run; shared while an existing output is examined, so that
// it is never seen between the two moves. Released when the descriptor is closed, also by a crash.
// A directory that does not exist (yet), cannot be opened, or whose file system has no flock is
// not locked (best effort).
class OutputDirectoryLock {
 public:
  OutputDirectoryLock(const std::filesystem::path& dir, bool exclusive);
  ~OutputDirectoryLock();
  OutputDirectoryLock(const OutputDirectoryLock&) = delete;
  OutputDirectoryLock& operator=(const OutputDirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// The check AtomicOutput::commit makes under its lock: the path may be replaced now.
void check_replace_at_commit(const std::filesystem::path& path, bool is_directory);

}  // namespace ramq
