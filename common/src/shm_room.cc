#include "dlrm/common/shm_room.h"

#include <sys/statvfs.h>

#include <cstdlib>

namespace dlrm {

std::string shm_backing_directory() {
  const char* env = std::getenv("OMPI_MCA_osc_sm_backing_directory");
  return env && *env ? env : "/dev/shm";
}

std::optional<uint64_t> shm_backing_room() {
  struct statvfs fs {};
  if (statvfs(shm_backing_directory().c_str(), &fs) != 0) return std::nullopt;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

}  // namespace dlrm
