// MPI helpers: collective error checks and idle-friendly waits.
#pragma once

#include <mpi.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace dlrm::cluster {

// Thrown on every rank by collective_check() when some rank failed; rank 0
// has already logged each failing rank's message.
class CollectiveFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every rank passes its own error ("" = fine). If any rank failed, rank 0
// logs "rank R (role): message" for each, and all ranks throw
// CollectiveFailure so that the job ends together with a non-zero exit.
void collective_check(MPI_Comm comm, const std::string& stage, const std::string& local_error,
                      const std::vector<std::string>& rank_labels);

// Runs `fn` and returns its error text ("" when it succeeded): this rank's
// part of a collective_check.
template <class Fn>
std::string capture(Fn&& fn) {
  try {
    fn();
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

// Gathers one string per rank to `root` (others get an empty vector).
std::vector<std::string> gather_strings(MPI_Comm comm, const std::string& local, int root);

// Waits for `request`, spinning briefly and then sleeping between tests so
// that a rank waiting for its peers gives its core to them. Called outside a
// parallel region with several OpenMP threads, the other threads block too
// (libgomp's idle threads would otherwise spin for milliseconds).
// `max_sleep_us` caps the sleeps between tests: a rank with nothing to do
// until the run ends (a shard rank under the pool transport) waits with a
// long one, so as not to wake on its busy neighbours' cores thousands of
// times a second.
inline constexpr int kIdleSleepCapUs = 200;
void wait_idle(MPI_Request* request, int max_sleep_us = kIdleSleepCapUs);

// Throws dlrm::Error with MPI's error text when `code` is not MPI_SUCCESS.
void check_mpi(int code, const char* what);

std::string processor_name();

// Collective over `node_comm` (the ranks of one host): throws on every rank
// of the host, naming `what` and the directory, with `advice`, unless
// shm_backing_directory() has room for the sum of the ranks' `bytes` plus
// `extra`.
void check_shared_room(MPI_Comm node_comm, uint64_t bytes, uint64_t extra, const std::string& what,
                       const std::string& advice);

// Collective over `node_comm` (the ranks of one host): each rank's `bytes` of
// a shared-memory window (MPI_Win_allocate_shared, each rank's part on its
// own pages); returns this rank's part. Open MPI backs the window with a file
// in osc_sm_backing_directory (/dev/shm) and fails fatally, or hangs, when
// that has too little room, so the room is checked first and the whole host
// throws together, naming `what` and the directory, with `advice`.
void* allocate_shared_window(MPI_Comm node_comm, MPI_Aint bytes, const std::string& what, const std::string& advice,
                             MPI_Win* window);

// Before MPI_Init: Open MPI's MCA parameter `name` takes `value` unless the
// user gave it one (mpirun --mca NAME V and -x both reach the process as
// OMPI_MCA_NAME in its environment, and win). Returns whether the default
// was applied.
bool default_mca_param(const char* name, const char* value);

// The parameters the programs default before MPI_Init: mpi_yield_when_idle 1.
// Shard and dense ranks (and a dense rank's OpenMP threads) share cores, and
// an idle rank spinning in MPI takes the core from the one working: with it a
// plain `mpirun` of the 1+1 layout on 2 cores ran about 6% faster (median
// ratio 0.72 against 0.68; docs/performance.md).
void default_mca_params();

}  // namespace dlrm::cluster
