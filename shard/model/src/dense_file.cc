#include "dlrm/model/dense_file.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include "dlrm/common/checksum.h"
#include "dlrm/common/error.h"
#include "file_header.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm::model {

namespace {

constexpr uint64_t kAlign = 64;
constexpr uint32_t kMaxTensors = 1u << 16;
constexpr uint32_t kMaxDims = 4;

uint64_t header_bytes_for(size_t num_tensors) {
  return round_up(sizeof(DenseFileHeader) + num_tensors * sizeof(DenseTensorRecord), kAlign);
}


struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

DenseFileInfo write_dense_file(const fs::path& path, const std::vector<DenseTensor>& tensors) {
  std::vector<DenseTensorRecord> records(tensors.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const DenseTensor& t = tensors[i];
    DenseTensorRecord& r = records[i];
    std::memset(&r, 0, sizeof(r));
    DLRM_CHECK(!t.name.empty() && t.name.size() < sizeof(r.name),
               "dense tensor name '{}' must have 1 to {} characters", t.name, sizeof(r.name) - 1);
    DLRM_CHECK(t.shape.size() <= kMaxDims, "dense tensor {} has {} dimensions; at most {} are supported", t.name,
               t.shape.size(), kMaxDims);
    uint64_t count = 1;
    for (int64_t d : t.shape) {
      DLRM_CHECK(d >= 0, "dense tensor {} has a negative dimension", t.name);
      count *= static_cast<uint64_t>(d);
    }
    DLRM_CHECK(count == t.values.size(), "dense tensor {} has shape of {} elements but {} values", t.name, count,
               t.values.size());
    std::memcpy(r.name, t.name.data(), t.name.size());
    r.ndim = static_cast<uint32_t>(t.shape.size());
    for (size_t d = 0; d < t.shape.size(); ++d) r.shape[d] = t.shape[d];
    offset = round_up(offset, kAlign);
    r.data_offset = offset;
    r.count = count;
    offset += count * sizeof(float);
  }
  uint64_t data_bytes = round_up(offset, kAlign);

  std::vector<uint8_t> data(data_bytes, 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::memcpy(data.data() + records[i].data_offset, tensors[i].values.data(), records[i].count * sizeof(float));
  }
  DenseFileHeader header{};
  std::memcpy(header.magic, kDenseMagic, sizeof(kDenseMagic));
  header.version = kDenseFormatVersion;
  header.num_tensors = static_cast<uint32_t>(tensors.size());
  header.header_bytes = static_cast<uint32_t>(header_bytes_for(tensors.size()));
  header.data_bytes = data_bytes;
  header.data_checksum = checksum(data.data(), data.size());

  std::vector<uint8_t> block(header.header_bytes, 0);
  std::memcpy(block.data(), &header, sizeof(header));
  std::memcpy(block.data() + sizeof(header), records.data(), records.size() * sizeof(DenseTensorRecord));
  header.header_checksum = header_checksum_of<DenseFileHeader>(block.data(), block.size());
  std::memcpy(block.data(), &header, sizeof(header));

  StagedFile out(path);
  out.write(block.data(), block.size());
  out.write(data.data(), data.size());
  out.commit();
  return DenseFileInfo{block.size() + data.size(), header.data_checksum};
}

std::vector<DenseTensor> read_dense_file(const fs::path& path, DenseFileInfo* info) {
  const std::string name = path.string();
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  DLRM_CHECK(file != nullptr, "cannot open dense weights {}: {}", name, std::strerror(errno));
  std::error_code ec;
  uint64_t file_bytes = fs::file_size(path, ec);
  DLRM_CHECK(!ec, "cannot stat dense weights {}: {}", name, ec.message());
  DLRM_CHECK(file_bytes >= sizeof(DenseFileHeader),
             "dense weights {} are truncated: {} bytes, less than the {}-byte header; re-create the model", name,
             file_bytes, sizeof(DenseFileHeader));
  DenseFileHeader h;
  read_exact(file.get(), path, &h, sizeof(h), 0, "the header");
  DLRM_CHECK(std::memcmp(h.magic, kDenseMagic, sizeof(kDenseMagic)) == 0,
             "{} is not a dlrm dense weights file (bad magic); expected a dense.bin written by dlrm-shard", name);
  DLRM_CHECK(h.version == kDenseFormatVersion,
             "dense weights {} have format version {} but this build reads version {}; re-shard the model with "
             "this dlrm-shard",
             name, h.version, kDenseFormatVersion);
  DLRM_CHECK(h.num_tensors <= kMaxTensors && h.header_bytes == header_bytes_for(h.num_tensors),
             "dense weights {} have a corrupted header (header_bytes {} for {} tensors); re-create the model", name,
             h.header_bytes, h.num_tensors);
  DLRM_CHECK(file_bytes >= h.header_bytes,
             "dense weights {} are truncated: {} bytes, less than the {}-byte header; re-create the model", name,
             file_bytes, h.header_bytes);
  std::vector<uint8_t> block(h.header_bytes);
  read_exact(file.get(), path, block.data(), block.size(), 0, "the header");
  uint64_t expect = header_checksum_of<DenseFileHeader>(block.data(), block.size());
  DLRM_CHECK(expect == h.header_checksum,
             "dense weights {} have a corrupted header (header checksum {} but the header hashes to {}); "
             "re-create the model with dlrm-shard",
             name, checksum_hex(h.header_checksum), checksum_hex(expect));
  DLRM_CHECK(file_bytes == h.header_bytes + h.data_bytes,
             "dense weights {} are {}: {} bytes but the header says {} + {} data bytes; re-create the model", name,
             file_bytes < h.header_bytes + h.data_bytes ? "truncated" : "longer than the header says", file_bytes,
             h.header_bytes, h.data_bytes);

  std::vector<uint8_t> data(h.data_bytes);
  read_exact(file.get(), path, data.data(), data.size(), h.header_bytes, "the data");
  uint64_t actual = checksum(data.data(), data.size());
  DLRM_CHECK(actual == h.data_checksum,
             "dense weights {} are corrupted: the data hashes to {} but the header says {}; re-create the model "
             "with dlrm-shard",
             name, checksum_hex(actual), checksum_hex(h.data_checksum));

  std::vector<DenseTensor> tensors(h.num_tensors);
  for (uint32_t i = 0; i < h.num_tensors; ++i) {
    DenseTensorRecord r;
    std::memcpy(&r, block.data() + sizeof(h) + i * sizeof(r), sizeof(r));
    DLRM_CHECK(std::memchr(r.name, '\0', sizeof(r.name)) != nullptr && r.name[0] != '\0' && r.ndim <= kMaxDims,
               "dense weights {}: tensor record {} is corrupted", name, i);
    DenseTensor& t = tensors[i];
    t.name = r.name;
    uint64_t count = 1;
    for (uint32_t d = 0; d < r.ndim; ++d) {
      DLRM_CHECK(r.shape[d] >= 0, "dense weights {}: tensor {} has a negative dimension", name, t.name);
      t.shape.push_back(r.shape[d]);
      count *= static_cast<uint64_t>(r.shape[d]);
    }
    DLRM_CHECK(count == r.count && r.data_offset % kAlign == 0 && r.data_offset <= h.data_bytes &&
                   r.count <= (h.data_bytes - r.data_offset) / sizeof(float),
               "dense weights {}: tensor {} lies outside the data section", name, t.name);
    t.values.resize(r.count);
    std::memcpy(t.values.data(), data.data() + r.data_offset, r.count * sizeof(float));
  }
  if (info) *info = DenseFileInfo{file_bytes, h.data_checksum};
  return tensors;
}

std::vector<DenseTensorSpec> dense_tensor_specs(const ModelArch& arch) {
  std::vector<DenseTensorSpec> specs;
  auto add_mlp = [&](const char* prefix, const std::vector<int>& widths, int64_t in) {
    for (size_t i = 0; i < widths.size(); ++i) {
      int64_t out = widths[i];
      // nn.Sequential of Linear, ReLU, Linear, ...: Linear layers sit at even indices.
      specs.push_back({fmt::format("{}.{}.weight", prefix, 2 * i), {out, in}});
      specs.push_back({fmt::format("{}.{}.bias", prefix, 2 * i), {out}});
      in = out;
    }
  };
  add_mlp("bot_l", arch.bottom_mlp, arch.dense_features);
  if (arch.dcn()) {
    const int64_t width = arch.cross_width(), rank = arch.cross_rank;
    for (int l = 0; l < arch.cross_layers; ++l) {
      specs.push_back({fmt::format("cross.{}.V", l), {rank, width}});
      specs.push_back({fmt::format("cross.{}.W", l), {width, rank}});
      specs.push_back({fmt::format("cross.{}.bias", l), {width}});
    }
  }
  add_mlp("top_l", arch.top_mlp, arch.top_input_width());
  return specs;
}

}  // namespace dlrm::model
