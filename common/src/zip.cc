#include "dlrm/common/zip.h"

#include "dlrm/common/error.h"

namespace dlrm {

std::string zip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string s = zip_error_strerror(&error);
  zip_error_fini(&error);
  return s;
}

void zip_read_failed(zip_file_t* f, zip_int64_t got, const std::filesystem::path& archive, std::string_view what) {
  DLRM_FAIL("{}: cannot read {} ({}); the archive is truncated or damaged", archive.string(), what,
            got < 0 ? std::string(zip_file_strerror(f)) : std::string("unexpected end of entry"));
}

}  // namespace dlrm
