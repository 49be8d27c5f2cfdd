// Where Open MPI keeps its shared-memory windows, and the room there. Open
// MPI backs MPI_Win_allocate_shared with a file in its
// osc_sm_backing_directory (OMPI_MCA_osc_sm_backing_directory, /dev/shm by
// default); the pool transport keeps its rows files there too. The cluster
// checks the room before it allocates, and dlrm-launch before it chooses the
// pool transport.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dlrm {

std::string shm_backing_directory();
// Bytes free in shm_backing_directory(), or nothing when it cannot be read.
std::optional<uint64_t> shm_backing_room();

}  // namespace dlrm
