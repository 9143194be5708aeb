// libramq: the pipeline read -> analyze -> plan -> encode -> write behind a few calls.
// The `ramq` command-line tool is a thin shell over these.
#pragma once

#include <cstddef>
#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ramq/analysis.h"
#include "ramq/error.h"
#include "ramq/eval.h"
#include "ramq/mlx_writer.h"
#include "ramq/options.h"
#include "ramq/plan.h"
#include "ramq/safetensors.h"
#include "ramq/version.h"

namespace ramq {

// Analyzes a Hugging Face model directory.
ModelAnalysis analyze_directory(const std::filesystem::path& model_dir, const Options& opt);

// Reads analysis.json / plan.json (validated; errors name the file and the tensor).
ModelAnalysis load_analysis(const std::filesystem::path& path);
Plan load_plan(const std::filesystem::path& path);

// Writes JSON with stable formatting (2-space indent, sorted keys, trailing newline), atomically.
void save_json(const std::filesystem::path& path, const nlohmann::json& j);

// make_plan, with the budget policy's target covering the whole output: the container the writer
// adds to the plan's tensor bytes (GGUF header, metadata and tokenizer, padding; safetensors
// headers) is measured on `model` and subtracted from the target. Without a model (nullptr) the
// budget covers tensor bytes only, and plan.json's details say so.
Plan plan_for_model(const ModelAnalysis& analysis, const Options& opt, const ModelReader* model);
// plan_for_model with the model directory the analysis records, when it can be read.
Plan plan_for_analysis(const ModelAnalysis& analysis, const Options& opt);
// Bytes of the model files the writer would produce for `plan` (GGUF: the whole file; MLX: the
// safetensors shards), computed without encoding.
std::uint64_t output_file_bytes(const ModelReader& model, const Plan& plan, const Options& opt);

// ---- several processes (MPI) ---------------------------------------------------------------
// The processes of one run spread over machines: under `mpirun -n K ramq quantize ...` the
// command line passes one (src/cli/mpi_cluster.cpp). Every rank analyses and encodes its share
// of the tensors (assign_tensors_to_ranks); rank 0 gathers the analysis, plans, broadcasts the
// plan and writes the one output, receiving the other ranks' encoded tensors in the order it
// writes them. The output is byte-identical to a single process's.
class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string host() const = 0;
  // One message of any length; messages from one rank to another arrive in the order sent.
  // send may block until the receiver takes the message.
  virtual void send(int to, std::span<const std::byte> message) = 0;
  virtual std::vector<std::byte> receive(int from) = 0;
  // Ends every process of the run at once with this exit status (rank 0, after reporting why).
  [[noreturn]] virtual void abort(int status) = 0;
  // Kept by the pipeline on rank 0: true while other ranks may be blocked waiting for rank 0
  // (analysing, or sending it tensors), so that an error on rank 0 must end the run with abort()
  // once reported; false while they are waiting for a message rank 0 always sends, or are done.
  bool peers_busy = true;
};

// Thrown by quantize() on ranks other than 0 when the run ends there early (rank 0 reported the
// error, or --dry-run): exit with status(), print nothing.
class ClusterStop : public std::exception {
 public:
  explicit ClusterStop(int status) : status_(status) {}
  int status() const noexcept { return status_; }
  const char* what() const noexcept override { return "stopped by rank 0"; }

 private:
  int status_;
};

// The rank that analyses and encodes each tensor (index into model.tensors()): longest
// processing time first, i.e. tensors by decreasing bytes (ties: lower index first), each to the
// rank with the fewest bytes so far (ties: lower rank). Deterministic.
std::vector<int> assign_tensors_to_ranks(const ModelReader& model, int ranks);

struct QuantizeRequest {
  std::filesystem::path model_dir;
  std::filesystem::path output;
  std::optional<std::filesystem::path> plan_file;      // use this plan instead of analyze + plan
  std::optional<std::filesystem::path> save_analysis;  // also write the analysis here
  std::optional<std::filesystem::path> save_plan;      // also write the plan used here
  bool dry_run = false;  // stop after the plan (result.written stays empty): no model is written
  // Replace an existing output file that is not recognisably ramq's (include/ramq/output_path.h);
  // never a directory holding files ramq did not write.
  bool force = false;
  // Other files the caller will write after quantize() returns (e.g. --report), with the option
  // that names them: checked with the outputs above before any work.
  std::vector<std::pair<std::filesystem::path, std::string>> other_outputs;
  // The command line (argv) recorded in the audit manifest (ramq-manifest.json); see manifest.h.
  std::vector<std::string> command_line;
  // Run across these processes (when size() > 1; see Cluster); every rank calls quantize() with
  // the same request and options. Only rank 0's result is filled in.
  Cluster* cluster = nullptr;
};

struct QuantizeResult {
  Plan plan;
  std::optional<ModelAnalysis> analysis;  // the analysis the plan came from (none with plan_file)
  WriteSummary written;
};

QuantizeResult quantize(const QuantizeRequest& req, const Options& opt);

}  // namespace ramq
