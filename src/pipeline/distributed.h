// pipeline, internal: the messages of a run across several processes (include/ramq/ramq.h's
// Cluster). Every other rank sends rank 0, in this order: HELLO (it opened the same model), its
// ANALYSIS (unless a plan file is given), its TENSORs in the order rank 0 writes them, FINISHED;
// or, at any point, one ERROR instead, after which it only waits for STOP. Rank 0 sends each of
// them PLAN (then they encode) or STOP (they exit with its status). Rank 0 therefore always reads
// every rank's last message before committing the output, and after an error either sends STOP
// (when every other rank is waiting for the plan) or ends the run with Cluster::abort().
#pragma once

#include <cstddef>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "ramq/ramq.h"

namespace ramq::pipeline {

// Exit status for an exception, as the command line reports it: 1 bad input (ramq::Error),
// ClusterStop's own, 3 otherwise.
int exit_status_of(std::exception_ptr e);

// Rank 0's side.
class Root {
 public:
  Root(Cluster& cluster, const ModelReader& model);
  const std::vector<int>& owners() const { return owners_; }
  bool remote(const std::string& tensor) const;  // encoded by another rank
  int owner(const std::string& tensor) const;
  std::vector<std::size_t> own_tensors() const;  // indices into model.tensors()

  // Every other rank's HELLO: it read the same tensors and config.json (else Error).
  void hello();
  // Fills in `analysis` (rank 0's, of its own tensors) with every other rank's; the other ranks
  // then wait for the plan (peers_busy false). A rank's error is rethrown after STOP was sent.
  void gather(ModelAnalysis& analysis);
  void send_plan(const Plan& plan);  // the other ranks start encoding (peers_busy true)
  void stop(int status);             // the other ranks exit with this status (peers_busy false)
  // The next tensor of `tensor`'s owner: its `parts` messages (a rank's ERROR is rethrown).
  std::vector<std::vector<std::byte>> receive_tensor(const std::string& tensor, std::size_t parts);
  // Every other rank's FINISHED (an ERROR is rethrown); then they are done (peers_busy false).
  void finished();

 private:
  std::vector<std::byte> receive(int from);
  [[noreturn]] void rethrow_peer_error(int from, const std::vector<std::byte>& message) const;

  Cluster& cluster_;
  const ModelReader& model_;
  std::vector<int> owners_;
  std::map<std::string, std::size_t> index_;  // tensor name -> index
  std::vector<std::string> hosts_;
};

// Every other rank's side.
class Peer {
 public:
  Peer(Cluster& cluster, const ModelReader& model);
  const std::vector<int>& owners() const { return owners_; }
  bool mine(const std::string& tensor) const;
  std::vector<std::size_t> own_tensors() const;

  void hello();
  void send_analysis(const ModelAnalysis& analysis);  // the entries of its own tensors
  Plan wait_for_plan();                               // throws ClusterStop on STOP
  void send_tensor(const std::string& tensor, const std::vector<std::vector<std::byte>>& parts);
  void finished();
  // Reports the error to rank 0, waits for STOP (or the end of the run) and throws ClusterStop.
  [[noreturn]] static void fail(Cluster& cluster, std::exception_ptr error);

 private:
  Cluster& cluster_;
  const ModelReader& model_;
  std::vector<int> owners_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace ramq::pipeline
