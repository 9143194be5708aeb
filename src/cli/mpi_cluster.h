// ramq under mpirun: how the process was started, and the MPI implementation of ramq::Cluster
// (include/ramq/ramq.h). MPI is initialised only for a run of more than one process; started any
// other way (or by `mpirun -n 1`), ramq never touches MPI.
#pragma once

#include <memory>

#include "ramq/ramq.h"

namespace ramq::cli {

struct Launch {
  bool by_launcher = false;  // started by an MPI launcher (mpirun / mpiexec / PMIx)
  int size = 1;              // processes of the run; 0 = unknown (MPI tells)
  int rank = 0;              // this process's rank (0 when unknown)
};
// From the launcher's environment: Open MPI's OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_RANK,
// MPICH/Hydra's PMI_SIZE / PMI_RANK, or a PMIx launcher's PMIX_RANK (size unknown).
Launch launch_from_environment();

// True when this ramq was built with MPI (CMake option RAMQ_MPI).
bool mpi_built();

// Initialises MPI (MPI_THREAD_FUNNELED: only the main thread sends and receives) and returns the
// run's processes; MPI_Finalize when destroyed. Throws std::runtime_error without MPI.
std::unique_ptr<Cluster> start_mpi(int& argc, char**& argv);

// The cluster of this run (nullptr: one process), set by main().
Cluster* current_cluster();
void set_current_cluster(Cluster* c);

}  // namespace ramq::cli
