#include "dlrm/model/shard_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dlrm/common/error.h"
#include "file_header.h"
#include "dlrm/common/progress.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::model {

namespace {

constexpr uint64_t kHeaderAlign = 4096;
constexpr uint64_t kSliceAlign = 64;

uint64_t header_bytes_for(size_t num_slices) {
  return round_up(sizeof(ShardFileHeader) + num_slices * sizeof(ShardSliceRecord), kHeaderAlign);
}


struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// What to do about a shard file that is cut short.
constexpr char kTruncatedAdvice[] = "re-create the model with dlrm-shard";

}  // namespace

// ---------------------------------------------------------------- writer

ShardFileWriter::ShardFileWriter(const fs::path& path, ElementType type, int dim, const ShardInfo& info)
    : ShardFileWriter(path, std::vector<ElementType>(info.slices.size(), type), dim, info) {}

ShardFileWriter::ShardFileWriter(const fs::path& path, const std::vector<ElementType>& slice_types, int dim,
                                 const ShardInfo& info) {
  DLRM_CHECK(!info.slices.empty(), "shard {} has no slices; nothing to write to {}", info.shard, path.string());
  DLRM_ASSERT(slice_types.size() == info.slices.size());
  const bool mixed = std::any_of(slice_types.begin(), slice_types.end(),
                                 [&](ElementType t) { return t != slice_types.front(); });
  uint64_t offset = 0;
  for (size_t k = 0; k < info.slices.size(); ++k) {
    const Slice& slice = info.slices[k];
    const ElementType type = slice_types[k];
    DLRM_ASSERT(slice.rows() > 0 && slice.cols() > 0 && slice.col_end <= dim);
    ShardSliceRecord record{};
    record.table = static_cast<uint32_t>(slice.table);
    record.col_begin = static_cast<uint32_t>(slice.col_begin);
    record.col_end = static_cast<uint32_t>(slice.col_end);
    record.storage_type = mixed ? storage_code(type) : 0;
    record.row_begin = static_cast<uint64_t>(slice.row_begin);
    record.row_end = static_cast<uint64_t>(slice.row_end);
    record.row_stride = model::row_stride(type, slice.cols());
    offset = round_up(offset, kSliceAlign);
    record.data_offset = offset;
    offset += record.row_stride * static_cast<uint64_t>(slice.rows());
    records_.push_back(record);
  }
  std::memcpy(header_.magic, kShardMagic, sizeof(kShardMagic));
  header_.version = mixed ? kShardFormatVersionMixed : kShardFormatVersion;
  header_.storage_type = storage_code(slice_types.front());
  header_.dim = static_cast<uint32_t>(dim);
  header_.shard = static_cast<uint32_t>(info.shard);
  header_.num_slices = static_cast<uint32_t>(records_.size());
  header_.header_bytes = static_cast<uint32_t>(header_bytes_for(records_.size()));
  header_.data_bytes = offset;

  out_ = std::make_unique<StagedFile>(path);
  // The header is patched in finish(); until then the file starts with zeros.
  std::vector<uint8_t> zeros(header_.header_bytes, 0);
  out_->write(zeros.data(), zeros.size());
}

ShardFileWriter::~ShardFileWriter() = default;

void ShardFileWriter::append_rows(const void* src, int64_t rows) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  while (rows > 0) {
    DLRM_CHECK(slice_ < static_cast<int>(records_.size()), "{}: more rows appended than the shard's slices hold",
               out_->path().string());
    const ShardSliceRecord& record = records_[slice_];
    if (rows_done_ == 0 && data_written_ < record.data_offset) {  // alignment padding before the slice
      static constexpr uint8_t kZeros[kSliceAlign] = {};
      size_t pad = record.data_offset - data_written_;
      out_->write(kZeros, pad);
      checksum_.update(kZeros, pad);
      data_written_ += pad;
    }
    auto slice_rows = static_cast<int64_t>(record.row_end - record.row_begin);
    int64_t take = std::min(rows, slice_rows - rows_done_);
    size_t n = static_cast<size_t>(take) * record.row_stride;
    out_->write(bytes, n);
    checksum_.update(bytes, n);
    data_written_ += n;
    bytes += n;
    rows -= take;
    rows_done_ += take;
    if (rows_done_ == slice_rows) {
      ++slice_;
      rows_done_ = 0;
    }
  }
}

uint64_t ShardFileWriter::finish() {
  DLRM_CHECK(slice_ == static_cast<int>(records_.size()) && data_written_ == header_.data_bytes,
             "{}: shard incomplete: {} of {} data bytes written", out_->path().string(), data_written_,
             header_.data_bytes);
  header_.data_checksum = checksum_.digest();
  std::vector<uint8_t> block(header_.header_bytes, 0);
  std::memcpy(block.data(), &header_, sizeof(header_));
  std::memcpy(block.data() + sizeof(header_), records_.data(), records_.size() * sizeof(ShardSliceRecord));
  header_.header_checksum = header_checksum_of<ShardFileHeader>(block.data(), block.size());
  std::memcpy(block.data(), &header_, sizeof(header_));
  out_->pwrite(block.data(), block.size(), 0);
  out_->commit();
  return header_.data_checksum;
}

uint64_t ShardFileWriter::file_bytes() const { return header_.header_bytes + header_.data_bytes; }

// ---------------------------------------------------------------- reader

namespace {

// Reads one byte of every 4 KiB page of [region, region + bytes), so that the
// read-only mapping mprotect just made is faulted in now rather than while
// rows are pooled. On a bare-metal host this costs a few TLB misses per huge
// page; under a hypervisor that shadows the guest's page tables (measured on a
// Firecracker VM, docs/performance.md "Rows faulted in at load") every page's
// first read after mprotect appears to exit to the host (the checksum's read
// of every byte before the mprotect does not help), and pooling ran ~3x slower
// (9.9 against 3.6 ms per dlrm-v2 batch) until every row it used had been read
// once: seconds of a real run. Here it costs 0.04-1 s once, at load.
void touch_pages(const void* region, uint64_t bytes) {
  const auto* p = static_cast<const volatile uint8_t*>(region);
  uint8_t sink = 0;
  for (uint64_t at = 0; at < bytes; at += 4096) sink ^= p[at];
  static_cast<void>(sink);
}

}  // namespace

void ShardFile::load_into_memory(ShardFile& file, int fd, const Options& options) {
  const ShardFileHeader& h = file.header_;
  const std::string name = file.path_.string();
  const uint64_t bytes = std::max<uint64_t>(h.data_bytes, 1);
  const bool owned = !options.allocate;
  void* region = nullptr;
  if (owned) {
    region = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    DLRM_CHECK(region != MAP_FAILED, "cannot allocate {} bytes for the rows of shard file {}: {}", bytes, name,
               std::strerror(errno));
    file.map_ = region;
    file.map_bytes_ = bytes;
    ::madvise(region, bytes, MADV_HUGEPAGE);  // fewer TLB misses on random row gathers
  } else {
    region = options.allocate(bytes);
    DLRM_CHECK(region != nullptr, "no memory was given for the {} bytes of rows of shard file {}", bytes, name);
  }
  file.data_ = static_cast<const uint8_t*>(region);
  ::posix_fadvise(fd, h.header_bytes, h.data_bytes, POSIX_FADV_SEQUENTIAL);
  Checksum sum;
  Progress progress(fmt::format("loading {}", file.path_.filename().string()), h.data_bytes, "B",
                    options.progress);
  constexpr uint64_t kChunk = 16u << 20;
  auto* dst = static_cast<uint8_t*>(region);
  for (uint64_t done = 0; done < h.data_bytes;) {
    uint64_t n = std::min(kChunk, h.data_bytes - done);
    read_exact(fd, file.path_, dst + done, n, h.header_bytes + done, "the row data", kTruncatedAdvice);
    if (options.verify) sum.update(dst + done, n);
    done += n;
    progress.add(n);
  }
  progress.finish();
  if (owned) {
    ::mprotect(region, bytes, PROT_READ);
    touch_pages(region, bytes);
  }
  if (options.verify) {
    uint64_t actual = sum.digest();
    DLRM_CHECK(actual == h.data_checksum,
               "shard file {} is corrupted: its data hashes to {} but the header says {}; re-create the model "
               "with dlrm-shard",
               name, checksum_hex(actual), checksum_hex(h.data_checksum));
  }
}

ShardFile ShardFile::open(const fs::path& path, const Options& options) {
  const std::string name = path.string();
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  DLRM_CHECK(fd.fd >= 0, "cannot open shard file {}: {}", name, std::strerror(errno));
  struct stat st {};
  DLRM_CHECK(::fstat(fd.fd, &st) == 0, "cannot stat shard file {}: {}", name, std::strerror(errno));
  auto file_bytes = static_cast<uint64_t>(st.st_size);

  ShardFile file;
  file.path_ = path;
  DLRM_CHECK(file_bytes >= sizeof(ShardFileHeader),
             "shard file {} is truncated: {} bytes, less than its {}-byte header; re-create the model", name,
             file_bytes, sizeof(ShardFileHeader));
  ShardFileHeader& h = file.header_;
  read_exact(fd.fd, path, &h, sizeof(h), 0, "the header", kTruncatedAdvice);
  DLRM_CHECK(std::memcmp(h.magic, kShardMagic, sizeof(kShardMagic)) == 0,
             "{} is not a dlrm shard file (bad magic); expected a shard-NNN.bin written by dlrm-shard", name);
  DLRM_CHECK(h.version == kShardFormatVersion || h.version == kShardFormatVersionMixed,
             "shard file {} has format version {} but this build reads versions {} and {}; re-shard the model with "
             "this dlrm-shard",
             name, h.version, kShardFormatVersion, kShardFormatVersionMixed);
  constexpr uint32_t kMaxSlices = 1u << 20;
  DLRM_CHECK(h.num_slices > 0 && h.num_slices <= kMaxSlices && h.header_bytes == header_bytes_for(h.num_slices),
             "shard file {} has a corrupted header (header_bytes {} for {} slices); re-create the model", name,
             h.header_bytes, h.num_slices);
  DLRM_CHECK(h.header_bytes <= file_bytes,
             "shard file {} is truncated: {} bytes, less than its {}-byte header; re-create the model", name,
             file_bytes, h.header_bytes);
  std::vector<uint8_t> block(h.header_bytes);
  read_exact(fd.fd, path, block.data(), block.size(), 0, "the header", kTruncatedAdvice);
  uint64_t expect = header_checksum_of<ShardFileHeader>(block.data(), block.size());
  DLRM_CHECK(expect == h.header_checksum,
             "shard file {} has a corrupted header (header checksum {} but the header hashes to {}); "
             "re-create the model with dlrm-shard",
             name, checksum_hex(h.header_checksum), checksum_hex(expect));
  DLRM_CHECK(file_bytes == h.header_bytes + h.data_bytes,
             "shard file {} is {}: {} bytes but its header says {} + {} data bytes; re-create the model", name,
             file_bytes < h.header_bytes + h.data_bytes ? "truncated" : "longer than its header says",
             file_bytes, h.header_bytes, h.data_bytes);

  const std::optional<ElementType> stored = storage_type_of_code(h.storage_type);
  DLRM_CHECK(stored.has_value(), "shard file {} has unknown storage type {}", name, h.storage_type);
  file.slices_.resize(h.num_slices);
  std::memcpy(file.slices_.data(), block.data() + sizeof(h), h.num_slices * sizeof(ShardSliceRecord));
  uint64_t offset = 0;
  for (uint32_t s = 0; s < h.num_slices; ++s) {
    const ShardSliceRecord& r = file.slices_[s];
    std::optional<ElementType> slice_stored = *stored;
    if (h.version == kShardFormatVersionMixed) {
      slice_stored = storage_type_of_code(r.storage_type);
    } else {
      DLRM_CHECK(r.storage_type == 0, "shard file {}: slice {} has storage type {} in a version {} file", name, s,
                 r.storage_type, h.version);
    }
    DLRM_CHECK(slice_stored.has_value(), "shard file {}: slice {} has unknown storage type {}", name, s,
               r.storage_type);
    const ElementType type = *slice_stored;
    file.slice_types_.push_back(type);
    DLRM_CHECK(r.col_begin < r.col_end && r.col_end <= h.dim && r.row_begin < r.row_end,
               "shard file {}: slice {} is empty or outside the {} columns", name, s, h.dim);
    DLRM_CHECK(r.row_stride == row_stride(type, static_cast<int>(r.col_end - r.col_begin)),
               "shard file {}: slice {} has row stride {}, expected {} for {} columns of {}", name, s,
               r.row_stride, row_stride(type, static_cast<int>(r.col_end - r.col_begin)),
               r.col_end - r.col_begin, to_string(type));
    DLRM_CHECK(r.data_offset % kSliceAlign == 0 && r.data_offset >= offset &&
                   r.data_offset + (r.row_end - r.row_begin) * r.row_stride <= h.data_bytes,
               "shard file {}: slice {} lies outside the data section", name, s);
    offset = r.data_offset + (r.row_end - r.row_begin) * r.row_stride;
  }

  if (options.in_memory) {
    load_into_memory(file, fd.fd, options);
    return file;
  }
  file.map_bytes_ = file_bytes;
  int flags = MAP_SHARED | (options.populate ? MAP_POPULATE : 0);
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, flags, fd.fd, 0);
  DLRM_CHECK(map != MAP_FAILED, "cannot map shard file {} ({} bytes): {}", name, file_bytes, std::strerror(errno));
  file.map_ = map;
  file.data_ = static_cast<const uint8_t*>(map) + h.header_bytes;
  if (options.verify) file.verify();
  return file;
}

ShardFile::ShardFile(ShardFile&& other) noexcept { *this = std::move(other); }

ShardFile& ShardFile::operator=(ShardFile&& other) noexcept {
  if (this != &other) {
    if (map_) ::munmap(map_, map_bytes_);
    path_ = std::move(other.path_);
    header_ = other.header_;
    slices_ = std::move(other.slices_);
    slice_types_ = std::move(other.slice_types_);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    data_ = std::exchange(other.data_, nullptr);
  }
  return *this;
}

ShardFile::~ShardFile() {
  if (map_) ::munmap(map_, map_bytes_);
}

void ShardFile::verify() const {
  uint64_t actual = checksum(data_, header_.data_bytes);
  DLRM_CHECK(actual == header_.data_checksum,
             "shard file {} is corrupted: its data hashes to {} but the header says {}; re-create the model "
             "with dlrm-shard",
             path_.string(), checksum_hex(actual), checksum_hex(header_.data_checksum));
}

uint64_t ShardFile::resident_bytes() const {
  if (header_.data_bytes == 0) return 0;
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  auto begin = reinterpret_cast<uintptr_t>(data_) / page * page;
  auto end = reinterpret_cast<uintptr_t>(data_) + header_.data_bytes;
  uint64_t resident = 0;
  constexpr uint64_t kPagesPerStep = 1 << 16;
  std::vector<unsigned char> flags(kPagesPerStep);
  for (uintptr_t at = begin; at < end; at += kPagesPerStep * page) {
    uint64_t bytes = std::min<uint64_t>(kPagesPerStep * page, end - at);
    uint64_t pages = (bytes + page - 1) / page;
    DLRM_CHECK(::mincore(reinterpret_cast<void*>(at), bytes, flags.data()) == 0, "mincore on {} failed: {}",
               path_.string(), std::strerror(errno));
    for (uint64_t p = 0; p < pages; ++p) {
      if (flags[p] & 1) resident += std::min<uint64_t>(page, end - (at + p * page));
    }
  }
  return resident;
}

void check_against_manifest(const ShardFile& file, const Manifest& manifest, int shard) {
  const std::string name = file.path().string();
  DLRM_CHECK(shard >= 0 && shard < manifest.num_shards(), "{}: shard {} is not in the manifest (it lists {})",
             name, shard, manifest.num_shards());
  const ShardInfo& info = manifest.shards[shard];
  const ShardFileHeader& h = file.header();
  const char* advice = "the model directory is inconsistent; re-create it with dlrm-shard";
  DLRM_CHECK(h.shard == static_cast<uint32_t>(shard), "{} holds shard {} but the manifest lists it as shard {}; {}",
             name, h.shard, shard, advice);
  DLRM_CHECK(h.dim == static_cast<uint32_t>(manifest.arch.dim), "{} has dim {} but the manifest says {}; {}", name,
             h.dim, manifest.arch.dim, advice);
  DLRM_CHECK(file.slices().size() == info.slices.size(), "{} holds {} slices but the manifest lists {}; {}", name,
             file.slices().size(), info.slices.size(), advice);
  uint64_t embedding_bytes = 0;
  for (size_t s = 0; s < info.slices.size(); ++s) {
    const ShardSliceRecord& r = file.slices()[s];
    const Slice& m = info.slices[s];
    DLRM_CHECK(r.table == static_cast<uint32_t>(m.table) && r.row_begin == static_cast<uint64_t>(m.row_begin) &&
                   r.row_end == static_cast<uint64_t>(m.row_end) &&
                   r.col_begin == static_cast<uint32_t>(m.col_begin) &&
                   r.col_end == static_cast<uint32_t>(m.col_end),
               "{}: slice {} is table {} rows [{}, {}) columns [{}, {}) but the manifest says table {} rows "
               "[{}, {}) columns [{}, {}); {}",
               name, s, r.table, r.row_begin, r.row_end, r.col_begin, r.col_end, m.table, m.row_begin, m.row_end,
               m.col_begin, m.col_end, advice);
    const ElementType want = manifest.table_dtype(m.table);
    DLRM_CHECK(file.slice_type(static_cast<int>(s)) == want,
               "{}: slice {} (table {}) stores {} but the manifest says table {} is {}; {}", name, s, m.table,
               to_string(file.slice_type(static_cast<int>(s))), m.table, to_string(want), advice);
    embedding_bytes += (r.row_end - r.row_begin) * r.row_stride;
  }
  DLRM_CHECK(embedding_bytes == info.embedding_bytes, "{} holds {} embedding bytes but the manifest says {}; {}",
             name, embedding_bytes, info.embedding_bytes, advice);
  uint64_t file_bytes = h.header_bytes + h.data_bytes;
  DLRM_CHECK(file_bytes == info.file_bytes, "{} is {} bytes but the manifest says {}; {}", name, file_bytes,
             info.file_bytes, advice);
  DLRM_CHECK(checksum_hex(h.data_checksum) == info.checksum,
             "{} has data checksum {} but the manifest says {}; {}", name, checksum_hex(h.data_checksum),
             info.checksum, advice);
}

}  // namespace dlrm::model
