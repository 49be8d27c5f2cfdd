#include "dlrm/common/staged_output.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "dlrm/common/error.h"

namespace fs = std::filesystem;

namespace dlrm {

namespace {
// "out/" and "out" name the same output; without this the staging name of
// "out/" would be "out/.partial-<pid>", inside the output itself.
fs::path without_trailing_separator(fs::path path) {
  while (!path.empty() && !path.has_filename() && path.has_relative_path()) path = path.parent_path();
  return path;
}

fs::path staging_name(const fs::path& path) {
  return fs::path(path.string() + fmt::format(".partial-{}", ::getpid()));
}
}  // namespace

StagedFile::StagedFile(fs::path path)
    : path_(without_trailing_separator(std::move(path))), staging_(staging_name(path_)) {
  file_ = std::fopen(staging_.c_str(), "wb");
  DLRM_CHECK(file_ != nullptr, "cannot create {}: {}; check that the directory exists and is writable",
             staging_.string(), std::strerror(errno));
}

StagedFile::~StagedFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(staging_, ec);
  }
}

void StagedFile::write(const void* src, size_t bytes) {
  if (bytes == 0) return;
  size_t n = std::fwrite(src, 1, bytes, file_);
  DLRM_CHECK(n == bytes, "writing {} failed after {} bytes: {} (disk full?)", staging_.string(),
             written_ + n, std::strerror(errno));
  written_ += bytes;
}

void StagedFile::pwrite(const void* src, size_t bytes, uint64_t offset) {
  DLRM_CHECK(std::fflush(file_) == 0, "writing {} failed: {}", staging_.string(), std::strerror(errno));
  ssize_t n = ::pwrite(::fileno(file_), src, bytes, static_cast<off_t>(offset));
  DLRM_CHECK(n == static_cast<ssize_t>(bytes), "writing {} at offset {} failed: {}", staging_.string(),
             offset, std::strerror(errno));
}

void StagedFile::commit() {
  DLRM_ASSERT(!committed_);
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  int err = errno;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  DLRM_CHECK(ok, "finishing {} failed: {} (disk full?)", staging_.string(), std::strerror(err));
  std::error_code ec;
  fs::rename(staging_, path_, ec);
  DLRM_CHECK(!ec, "cannot rename {} to {}: {}", staging_.string(), path_.string(), ec.message());
  committed_ = true;
}

StagedDir::StagedDir(fs::path path, bool overwrite)
    : path_(without_trailing_separator(std::move(path))), staging_(staging_name(path_)), overwrite_(overwrite) {
  DLRM_CHECK(!path_.empty(), "output directory name is empty");
  std::error_code ec;
  if (fs::exists(path_, ec) && !overwrite_) {
    DLRM_FAIL("output {} already exists; remove it or choose another --out", path_.string());
  }
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  DLRM_CHECK(!ec, "cannot create output directory {}: {}", staging_.string(), ec.message());
}

StagedDir::~StagedDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDir::commit() {
  DLRM_ASSERT(!committed_);
  std::error_code ec;
  if (overwrite_ && fs::exists(path_, ec)) fs::remove_all(path_, ec);
  fs::rename(staging_, path_, ec);
  DLRM_CHECK(!ec, "cannot rename {} to {}: {}", staging_.string(), path_.string(), ec.message());
  committed_ = true;
}

void read_exact(int fd, const fs::path& path, void* dst, size_t bytes, uint64_t offset, std::string_view what,
                std::string_view advice) {
  // pread may return less than asked (at most ~2 GB per call, or on a signal):
  // only a zero return means the file ends early.
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    DLRM_CHECK(n >= 0, "reading {} of {} failed: {}", what, path.string(), std::strerror(errno));
    DLRM_CHECK(n > 0, "{} is truncated: {} needs {} bytes at offset {}, only {} present{}{}", path.string(), what,
               bytes, offset, done, advice.empty() ? "" : "; ", advice);
    done += static_cast<size_t>(n);
  }
}

void read_exact(std::FILE* file, const fs::path& path, void* dst, size_t bytes, uint64_t offset,
                std::string_view what, std::string_view advice) {
  read_exact(::fileno(file), path, dst, bytes, offset, what, advice);
}

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  StagedFile out(path);
  out.write(text.data(), text.size());
  out.commit();
}

}  // namespace dlrm
