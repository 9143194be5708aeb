// The audit manifest (ramq-manifest.json) that every `ramq quantize` output carries: tool
// version, the command line and every option, the sha256 of every input file, the decision for
// every tensor with the metrics that drove it, and the sha256 of every output file. `ramq verify`
// re-hashes an output against it.
//
// Where it lives: for an MLX directory OUT, OUT/ramq-manifest.json (inside the directory, written
// before the directory is renamed into place, so both appear together); for a GGUF file
// OUT.gguf, the sidecar OUT.gguf.ramq-manifest.json, written to a temporary before the GGUF file
// is renamed into place and renamed right after it (a crash between the two renames leaves the
// GGUF without a manifest, never a manifest describing another file: an older sidecar is removed
// first).
//
// Deterministic: same inputs and options give the same bytes on every run and thread count (no
// timestamps, no host names, no thread count; paths are recorded as given on the command line,
// input and output files relative to the model directory and the output).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramq/analysis.h"
#include "ramq/output_path.h"
#include "ramq/plan.h"

namespace ramq {

// The manifest's own digest, over its exact bytes: the file is the body (the manifest JSON
// without this key, dumped with indent 2, keys sorted) with this key added as the last member,
// on its own line. `ramq verify` takes that line out again and hashes the bytes that remain, so
// any edit to the file (even re-indenting it) is reported. It guards against accidents and
// careless edits: whoever can rewrite the manifest can rewrite the digest too (docs/reliability.md).
inline constexpr const char* kManifestDigestKey = "manifest_sha256";
// The manifest's text with its digest (the body must have no manifest_sha256 key).
std::string manifest_text_with_digest(const nlohmann::json& body);
// The digest the text records, after checking that the text is exactly a body with its digest
// line: throws ramq::Error(shown, "", ...) otherwise or when the digest does not match.
void check_manifest_digest(const std::string& text, const std::string& shown);

// The name a manifest records for a file output: its final file name ("out.gguf/" -> "out.gguf").
std::string manifest_output_name(const std::filesystem::path& output);

// OUT/ramq-manifest.json for a directory output, OUT.ramq-manifest.json for a file output.
std::filesystem::path manifest_path_for(const std::filesystem::path& output, bool is_directory);

// argv as recorded: argv[0] becomes "ramq"; --threads, --progress-interval (with their values),
// -q and --quiet are left out, since none of them changes the output.
std::vector<std::string> manifest_command_line(const std::vector<std::string>& argv);


struct FileDigest {
  std::string file;  // relative name (inputs: to the model directory; outputs: to the output)
  std::uint64_t bytes = 0;
  std::string sha256;
};
FileDigest digest_file(const std::filesystem::path& path, const std::string& recorded_name);

// What the manifest records besides the output files.
struct ManifestContext {
  std::vector<std::string> command_line;  // already through manifest_command_line
  nlohmann::json options;                 // the run's settings (null: none recorded)
  std::string model_dir;                  // as given
  std::vector<FileDigest> inputs;         // model files, sorted by name
  std::optional<FileDigest> plan_file;    // --plan (name as given)
  std::vector<FileDigest> side_outputs;   // --save-analysis / --save-plan (names as given)
  const Plan* plan = nullptr;
  const ModelAnalysis* analysis = nullptr;  // null when the plan came from a file
  // What the writer wrote, where it reports it (GGUF: the ggml type of each tensor, by name): the
  // manifest records this, not the plan's wish ("planned_gguf_type" keeps a differing wish).
  std::map<std::string, std::string> written_encodings;
};

// The manifest object for `outputs` (sorted by name by the caller).
nlohmann::json manifest_json(const ManifestContext& ctx, const std::vector<FileDigest>& outputs);

// Hashes every regular file directly inside `dir` (except the manifest) and writes
// dir/ramq-manifest.json. Throws ramq::Error on I/O failure.
void write_directory_manifest(const std::filesystem::path& dir, const ManifestContext& ctx);
// Writes manifest text to `path` (errors name `shown`, the manifest's final name).
void write_manifest_text(const std::filesystem::path& path, const std::string& text, const std::string& shown);
// The manifest text for one output file `file`, recorded under `recorded_name` (its final name).
std::string file_manifest_text(const std::filesystem::path& file, const std::string& recorded_name,
                               const ManifestContext& ctx);

struct VerifyReport {
  std::filesystem::path manifest;
  std::size_t files = 0;  // output files checked
};
// Re-hashes the output (directory or file) against its manifest. Throws ramq::Error naming the
// first file that is missing, changed, a symbolic link, or (in a directory) not listed; a file
// output whose name differs from the one recorded (renamed); or the manifest itself when it is
// missing, a link, malformed, or not byte for byte what its digest says.
VerifyReport verify_output(const std::filesystem::path& output);

}  // namespace ramq
