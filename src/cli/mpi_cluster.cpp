// ramq::Cluster over MPI (Open MPI as Debian packages it). Messages: an 8-byte length, then the
// bytes in pieces of at most 1 GiB (MPI counts are int). Waiting polls with a short sleep rather
// than spinning, so that processes sharing a machine keep their cores for work while they wait
// (the plan, or their turn to hand a tensor to rank 0).
#include "cli/mpi_cluster.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#if RAMQ_HAVE_MPI

#include <algorithm>
#include <chrono>
#include <thread>

#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace ramq::cli {

namespace {

// A non-negative integer environment variable, or -1 when unset or malformed.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > 1'000'000) return -1;
  return static_cast<int>(n);
}

Cluster* g_cluster = nullptr;

}  // namespace

Launch launch_from_environment() {
  Launch l;
  if (const int size = env_int("OMPI_COMM_WORLD_SIZE"); size >= 0) {
    l.by_launcher = true;
    l.size = size;
    l.rank = std::max(0, env_int("OMPI_COMM_WORLD_RANK"));
  } else if (const int pmi_size = env_int("PMI_SIZE"); pmi_size >= 0) {
    l.by_launcher = true;
    l.size = pmi_size;
    l.rank = std::max(0, env_int("PMI_RANK"));
  } else if (const int pmix_rank = env_int("PMIX_RANK"); pmix_rank >= 0) {
    l.by_launcher = true;
    l.size = 0;  // unknown
    l.rank = pmix_rank;
  }
  return l;
}

Cluster* current_cluster() { return g_cluster; }
void set_current_cluster(Cluster* c) { g_cluster = c; }

#if RAMQ_HAVE_MPI

namespace {

constexpr int kTag = 7;
constexpr std::uint64_t kPiece = std::uint64_t{1} << 30;

void check(int rc, const char* what, int peer) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI: ") + what + " (rank " + std::to_string(peer) +
                           "): " + std::string(text, static_cast<std::size_t>(len)));
}

// Waits for a request, sleeping between tests (50 us growing to 5 ms).
void wait(MPI_Request& req, const char* what, int peer) {
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what, peer);
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

class MpiCluster final : public Cluster {
 public:
  MpiCluster(int& argc, char**& argv) {
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw std::runtime_error("MPI_Init_thread failed");
    // Errors come back as codes (thrown as exceptions, reported on one line) instead of aborting.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    if (MPI_Get_processor_name(name, &len) == MPI_SUCCESS) host_.assign(name, static_cast<std::size_t>(len));
  }
  ~MpiCluster() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string host() const override { return host_; }

  void send(int to, std::span<const std::byte> message) override {
    std::uint64_t n = message.size();
    MPI_Request req;
    check(MPI_Isend(&n, 1, MPI_UINT64_T, to, kTag, MPI_COMM_WORLD, &req), "send", to);
    wait(req, "send", to);
    for (std::uint64_t off = 0; off < n; off += kPiece) {
      const int count = static_cast<int>(std::min(kPiece, n - off));
      check(MPI_Isend(message.data() + off, count, MPI_BYTE, to, kTag, MPI_COMM_WORLD, &req), "send", to);
      wait(req, "send", to);
    }
  }

  std::vector<std::byte> receive(int from) override {
    std::uint64_t n = 0;
    MPI_Request req;
    check(MPI_Irecv(&n, 1, MPI_UINT64_T, from, kTag, MPI_COMM_WORLD, &req), "receive", from);
    wait(req, "receive", from);
    std::vector<std::byte> out(static_cast<std::size_t>(n));
    for (std::uint64_t off = 0; off < n; off += kPiece) {
      const int count = static_cast<int>(std::min(kPiece, n - off));
      check(MPI_Irecv(out.data() + off, count, MPI_BYTE, from, kTag, MPI_COMM_WORLD, &req), "receive", from);
      wait(req, "receive", from);
    }
    return out;
  }

  [[noreturn]] void abort(int status) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
  }

 private:
  int rank_ = 0, size_ = 1;
  std::string host_;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Cluster> start_mpi(int& argc, char**& argv) { return std::make_unique<MpiCluster>(argc, argv); }

#else

bool mpi_built() { return false; }

std::unique_ptr<Cluster> start_mpi(int&, char**&) { throw std::runtime_error("this ramq was built without MPI"); }

#endif

}  // namespace ramq::cli
