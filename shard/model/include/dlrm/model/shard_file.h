// The shard file: the embedding rows one shard rank serves.
//
// Layout (little-endian):
//   [0, 64)             ShardFileHeader
//   [64, ...)           ShardSliceRecord x num_slices
//   [header_bytes, ...) data: for each slice in order, rows() stored rows of
//                       row_stride bytes each, starting 64-byte aligned
//                       (header_bytes is a multiple of 4096, so rows in an mmap
//                       are 64-byte aligned too)
// Stored rows are laid out as the row-layout table of dlrm/model/row_codec.h
// says for the slice's storage type; each ShardSliceRecord records its
// row_stride (= row_stride(type, col_end - col_begin)). The slice's type:
//   version 1  the header's storage_type (every slice alike); records' storage_type 0
//   version 2  the record's storage_type (a shard of a mixed model); the header's
//              is its first slice's
// A shard whose slices are all of one type is written as version 1.
// data_checksum is XXH3-64 over the data section; header_checksum is XXH3-64
// over [0, header_bytes) with the header_checksum field zeroed.
// The file is written under a staged name and renamed when complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "dlrm/common/checksum.h"
#include "dlrm/model/row_codec.h"
#include "dlrm/model/manifest.h"

namespace dlrm {
class StagedFile;
}

namespace dlrm::model {

inline constexpr char kShardMagic[8] = {'D', 'L', 'R', 'M', 'S', 'H', 'R', 'D'};
inline constexpr uint32_t kShardFormatVersion = 1;       // one storage type per file
inline constexpr uint32_t kShardFormatVersionMixed = 2;  // one storage type per slice

struct ShardFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t storage_type;  // ElementType
  uint32_t dim;           // full embedding dim of the model
  uint32_t shard;
  uint32_t num_slices;
  uint32_t header_bytes;  // offset of the data section
  uint64_t data_bytes;
  uint64_t data_checksum;
  uint64_t header_checksum;
  uint64_t reserved;
};
static_assert(sizeof(ShardFileHeader) == 64);

struct ShardSliceRecord {
  uint32_t table;
  uint32_t col_begin;
  uint32_t col_end;
  uint32_t storage_type;  // version 2: the slice's ElementType code; version 1: 0
  uint64_t row_begin;
  uint64_t row_end;
  uint64_t row_stride;   // bytes per stored row
  uint64_t data_offset;  // from the start of the data section
};
static_assert(sizeof(ShardSliceRecord) == 48);

// Streams one shard file: rows are appended slice by slice, in order.
class ShardFileWriter {
 public:
  ShardFileWriter(const std::filesystem::path& path, ElementType type, int dim, const ShardInfo& info);
  // slice_types[s]: the storage type of info.slices[s].
  ShardFileWriter(const std::filesystem::path& path, const std::vector<ElementType>& slice_types, int dim,
                  const ShardInfo& info);
  ~ShardFileWriter();
  // Appends `rows` rows of the current slice, already encoded (row_stride bytes each).
  void append_rows(const void* src, int64_t rows);
  // Checks every slice is complete, patches the header, renames into place.
  // Returns the data checksum; file_bytes() is the final size.
  uint64_t finish();
  uint64_t file_bytes() const;
  uint64_t row_stride(int slice) const { return records_[slice].row_stride; }

 private:
  std::unique_ptr<StagedFile> out_;
  ShardFileHeader header_{};
  std::vector<ShardSliceRecord> records_;
  Checksum checksum_;
  int slice_ = 0;
  int64_t rows_done_ = 0;  // in the current slice
  uint64_t data_written_ = 0;
};

// A shard file mapped read-only. open() checks magic, version, header
// checksum, every slice's row_stride and extent, and the file size, throwing
// naming the file; verify() also recomputes the data checksum.
class ShardFile {
 public:
  struct Options {
    bool populate = false;   // MAP_POPULATE: fault every page in at open
    bool verify = false;     // recompute the data checksum at open
    // Copy the rows into anonymous memory (transparent huge pages, placed on
    // the NUMA node of the thread that loads them) instead of serving from
    // the page cache, which the kernel may reclaim under the rows' feet. The
    // checksum is then computed during that single read.
    bool in_memory = false;
    bool progress = false;   // progress while loading in_memory
    // With in_memory: where the rows go instead of anonymous memory, given
    // the data section's size (memory the caller owns and frees, e.g. a
    // shared-memory window that other processes read; left writable).
    std::function<void*(uint64_t bytes)> allocate = nullptr;
  };
  static ShardFile open(const std::filesystem::path& path, const Options& options);
  static ShardFile open(const std::filesystem::path& path) { return open(path, Options{}); }
  ShardFile(ShardFile&&) noexcept;
  ShardFile& operator=(ShardFile&&) noexcept;
  ~ShardFile();

  const ShardFileHeader& header() const { return header_; }
  const std::vector<ShardSliceRecord>& slices() const { return slices_; }
  // The header's storage type: every slice's in a version 1 file, the first
  // slice's in a version 2 file (use slice_type).
  ElementType storage_type() const { return *storage_type_of_code(header_.storage_type); }
  ElementType slice_type(int s) const { return slice_types_[static_cast<size_t>(s)]; }
  // First byte of slice `s`'s rows.
  const uint8_t* slice_rows(int s) const { return data_ + slices_[s].data_offset; }
  // Slice `s`'s rows as the embedding-bag kernels read them.
  RowsView slice_view(int s) const { return slice_view(s, data_); }
  // The same where this file's data section lies at `data` (a copy of it
  // loaded by another process, in memory shared with this one).
  RowsView slice_view(int s, const uint8_t* data) const {
    const ShardSliceRecord& rec = slices_[s];
    return {data + rec.data_offset, rec.row_stride, static_cast<int64_t>(rec.row_end - rec.row_begin),
            static_cast<int>(rec.col_end - rec.col_begin), slice_type(s)};
  }
  uint64_t data_bytes() const { return header_.data_bytes; }
  const std::filesystem::path& path() const { return path_; }
  // Recomputes the data checksum; throws naming the file on a mismatch.
  void verify() const;
  // Bytes of the data section resident in memory now (mincore).
  uint64_t resident_bytes() const;

 private:
  ShardFile() = default;
  static void load_into_memory(ShardFile& file, int fd, const Options& options);
  std::filesystem::path path_;
  ShardFileHeader header_{};
  std::vector<ShardSliceRecord> slices_;
  std::vector<ElementType> slice_types_;
  void* map_ = nullptr;  // unmapped by this object (not rows in Options::allocate's memory)
  size_t map_bytes_ = 0;
  const uint8_t* data_ = nullptr;
};

// Checks a ShardFile against the manifest's entry for it (slices, each
// slice's storage type against its table's, dim, checksum); throws naming the file and the first difference.
void check_against_manifest(const ShardFile& file, const Manifest& manifest, int shard);

}  // namespace dlrm::model
