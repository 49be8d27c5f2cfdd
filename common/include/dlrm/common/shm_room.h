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

// Whether `rows_bytes` of the pool transport's rows fit in `room` bytes with
// a tenth to spare: the margin dlrm-launch and --exchange-transport auto
// leave before they choose the pool transport.
inline bool pool_rows_fit(uint64_t rows_bytes, uint64_t room) {
  return static_cast<double>(rows_bytes) * 1.1 <= static_cast<double>(room);
}

}  // namespace dlrm
