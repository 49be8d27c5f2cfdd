// NumPy .npz archives (numpy.savez / savez_compressed: a zip of .npy members,
// stored or deflated), read with libzip, and the accuracy-data layout built
// on them.
//
// Accuracy data (.npz) holds, for N samples of a model with F dense features
// and T tables (the oracle in tests/oracle writes exactly these):
//   dense      [N, F]  raw integer counts (any integer dtype, or floats that
//                      hold integers); dlrm-cluster applies log(max(x,0)+1)
//   sparse     [N, T]  one index per table (integer dtype, fits int32)
//   labels     [N]     0 or 1 (integer, bool or float dtype)
//   reference  [N]     optional: reference predictions (float32/64), e.g.
//                      PyTorch's, compared per sample (also [N, 1])
// read_npz_dataset() turns them, or a range of the samples, into MLPerf
// binary records in memory: a dense rank reads only its own samples.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dlrm/datasets/dataset.h"
#include "dlrm/common/npy.h"

namespace dlrm::datasets {

class NpzFile {
 public:
  // Opens the archive and parses every member's .npy header. Throws naming
  // the file and member when it is not a zip, a member is not a valid .npy,
  // or the archive is truncated.
  static NpzFile open(const std::filesystem::path& path);
  NpzFile(NpzFile&&) noexcept;
  NpzFile& operator=(NpzFile&&) noexcept;
  ~NpzFile();

  const std::filesystem::path& path() const { return path_; }
  // Array names (member names without ".npy"), in archive order.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const;
  // Throws listing the arrays present when `name` is absent.
  const NpyHeader& header(const std::string& name) const;
  // Elements [first, first + count) of the flattened (C-order) array, or all
  // from `first` when count < 0, converted: integer and bool kinds to int64,
  // float kinds (f4, f8) to double; the other conversion throws naming the
  // dtype.
  std::vector<int64_t> read_ints(const std::string& name, int64_t first = 0, int64_t count = -1) const;
  std::vector<double> read_floats(const std::string& name, int64_t first = 0, int64_t count = -1) const;

  class Reader;
  // Array `name` read in order from element `first`, a part at a time (so a
  // large array is never whole in memory). A stored member seeks to `first`;
  // a deflated one is read up to it.
  Reader reader(const std::string& name, int64_t first = 0) const;

 private:
  NpzFile() = default;
  struct Member;
  const Member& member(const std::string& name) const;
  std::filesystem::path path_;
  std::vector<Member> members_;
};

class NpzFile::Reader {
 public:
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();
  const NpyHeader& header() const;
  const std::string& name() const;
  int64_t position() const;  // the next element
  // The next `count` elements, converted as by read_ints / read_floats;
  // throws naming the file, array and element when there are fewer left.
  std::vector<int64_t> ints(int64_t count);
  std::vector<double> floats(int64_t count);

 private:
  friend class NpzFile;
  struct State;
  explicit Reader(std::unique_ptr<State> state);
  std::vector<uint8_t> raw(int64_t count);
  std::unique_ptr<State> state_;
};

// Accuracy data in memory: MLPerf binary records plus optional reference outputs.
struct NpzDataset {
  std::filesystem::path path;
  RecordLayout layout;
  int64_t samples = 0;           // in the archive
  int64_t first = 0, count = 0;  // the samples read: [first, first + count)
  std::vector<int32_t> records;  // count * layout.record_ints()
  std::vector<float> reference;  // count predictions; empty when the archive has no 'reference'
  // A Dataset viewing `records`, indexed like the whole archive (valid while
  // this object lives and is not moved).
  Dataset view() const;
};

// The sample count N of accuracy data, after checking that the arrays above
// are present with shapes that fit `layout` (F, T).
int64_t npz_samples(const std::filesystem::path& path, const RecordLayout& layout);

// Reads samples [first, first + count) (all from `first` when count < 0) and
// checks them; errors name the file, array and sample and list what was
// expected. The arrays are converted `part_samples` samples at a time.
NpzDataset read_npz_dataset(const std::filesystem::path& path, const RecordLayout& layout, int64_t first = 0,
                            int64_t count = -1, int64_t part_samples = int64_t{1} << 16);

// Whether `path` names an .npz file (by extension).
bool is_npz(const std::filesystem::path& path);

// The samples of --data: an .npz of accuracy data (npz_samples) or the
// MLPerf binary layout (whole records of `layout`).
int64_t data_samples(const std::filesystem::path& path, const RecordLayout& layout);

// Reference predictions from a .npy file or from the 'reference' array of an
// .npz file (for dlrm-cluster --reference).
std::vector<float> read_reference_predictions(const std::filesystem::path& path);

// Writes the records of an accuracy .npz as an MLPerf binary file and, when
// `reference_out` is not empty, its reference array as float32 .npy (both
// staged). The layout's F and T come from the arrays' shapes.
void convert_npz(const std::filesystem::path& npz, const std::filesystem::path& out,
                 const std::filesystem::path& reference_out);

}  // namespace dlrm::datasets
