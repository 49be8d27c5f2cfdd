// Output that is either complete or absent.
//
// StagedFile writes "<path>.partial-<pid>" and renames it onto <path> in
// commit(); StagedDir does the same for a directory. Destroying either without
// commit() removes the partial output, so an error, an exception or Ctrl-C
// (install_interrupt_handler + check_interrupted) never leaves something that
// looks finished. A crash (SIGKILL) leaves only a ".partial-" name behind.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace dlrm {

class StagedFile {
 public:
  explicit StagedFile(std::filesystem::path path);
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  void write(const void* src, size_t bytes);
  // Writes at an absolute offset (used to patch headers after streaming data).
  void pwrite(const void* src, size_t bytes, uint64_t offset);
  uint64_t bytes_written() const { return written_; }
  // Flushes, syncs and renames onto the final path.
  void commit();
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& staging_path() const { return staging_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path staging_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

class StagedDir {
 public:
  // Fails when `path` exists unless `overwrite` (the old directory is replaced at commit).
  StagedDir(std::filesystem::path path, bool overwrite);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Where to write files now; they appear under path() after commit().
  const std::filesystem::path& staging_path() const { return staging_; }
  const std::filesystem::path& path() const { return path_; }
  void commit();

 private:
  std::filesystem::path path_;
  std::filesystem::path staging_;
  bool overwrite_;
  bool committed_ = false;
};

// Reads exactly `bytes` at `offset` of the open file `fd` (pread, retried on
// short reads and EINTR) or throws an Error naming `path` and `what` ("the
// header"); a short file is reported as truncated, followed by `advice` ("copy
// it again") when given.
void read_exact(int fd, const std::filesystem::path& path, void* dst, size_t bytes, uint64_t offset,
                std::string_view what, std::string_view advice = {});
// The same through fileno(file).
void read_exact(std::FILE* file, const std::filesystem::path& path, void* dst, size_t bytes,
                uint64_t offset, std::string_view what, std::string_view advice = {});

// `text` as the whole of `path`, written through a StagedFile: complete or absent.
void write_text_file(const std::filesystem::path& path, std::string_view text);

}  // namespace dlrm
