// Synthetic weights from a counter-based generator.
//
// Embedding element (t, r, c): a per-row key k = mix(mix(seed, t), r), then the
// splitmix64 sequence along the row, element c being output c + 1 of the
// generator started at k. Each element is a pure function of (seed, t, r, c),
// so any chunking, column split or shard count yields the same bytes.
#include <cmath>
#include <numbers>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/sharding/source.h"
#include "dlrm/model/dense_file.h"

namespace dlrm::sharding {

namespace {

constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // splitmix64 increment
constexpr uint64_t kTableSalt = 0x2545f4914f6cdd1dull;
constexpr uint64_t kDenseSalt = 0x6a09e667f3bcc909ull;

// splitmix64's output function (a bijective 64-bit mixer).
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t row_key(uint64_t seed, int table, int64_t row) {
  uint64_t table_key = mix64(seed ^ (kTableSalt + static_cast<uint64_t>(table) * kGamma));
  return mix64(table_key + static_cast<uint64_t>(row) * kGamma);
}

// Uniform in [-1, 1) with 24 random bits (exact in fp32).
inline float uniform_pm1(uint64_t bits) { return static_cast<float>(bits >> 40) * 0x1p-23f - 1.0f; }

uint64_t name_hash(const std::string& name) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class SynthSource final : public ModelSource {
 public:
  SynthSource(const model::ModelArch& arch, uint64_t seed) : arch_(arch), seed_(seed), specs_(model::dense_tensor_specs(arch)) {
    arch_.validate();
  }

  std::string describe() const override {
    return fmt::format("synth seed={} tables={} rows={} dim={}", seed_, arch_.num_tables(), arch_.total_rows(),
                       arch_.dim);
  }
  const model::ModelArch& arch() const override { return arch_; }

  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    DLRM_CHECK(table >= 0 && table < arch_.num_tables(), "synth: no table {} (the model has {})", table,
               arch_.num_tables());
    DLRM_CHECK(row_begin >= 0 && rows >= 0 && row_begin + rows <= arch_.table_rows[table],
               "synth: rows [{}, {}) are outside table {} of {} rows", row_begin, row_begin + rows, table,
               arch_.table_rows[table]);
    DLRM_CHECK(col_begin >= 0 && col_begin < col_end && col_end <= arch_.dim,
               "synth: columns [{}, {}) are outside dim {}", col_begin, col_end, arch_.dim);
    // Tables are uniform in +-sqrt(1/rows), as in the DLRM reference.
    const auto bound = static_cast<float>(std::sqrt(1.0 / static_cast<double>(arch_.table_rows[table])));
    const int cols = col_end - col_begin;
    for (int64_t r = 0; r < rows; ++r) {
      const uint64_t key = row_key(seed_, table, row_begin + r);
      float* out = dst + r * cols;
      for (int c = 0; c < cols; ++c) {
        out[c] = bound * uniform_pm1(mix64(key + static_cast<uint64_t>(col_begin + c + 1) * kGamma));
      }
    }
  }

  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    const model::DenseTensorSpec* spec = nullptr;
    for (const auto& s : specs_) {
      if (s.name == name) spec = &s;
    }
    DLRM_CHECK(spec != nullptr, "synth: the model has no dense tensor '{}'", name);
    DLRM_CHECK(spec->shape == shape, "synth: dense tensor {} has shape {}, not {}", name, shape_string(spec->shape),
               shape_string(shape));
    // Linear layers follow the DLRM reference init: weight [out, in] normal with
    // std sqrt(2 / (in + out)), bias [out] normal with std sqrt(1 / out).
    double std_dev = shape.size() == 2 ? std::sqrt(2.0 / static_cast<double>(shape[0] + shape[1]))
                                       : std::sqrt(1.0 / static_cast<double>(shape[0]));
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    const uint64_t key = mix64(seed_ ^ kDenseSalt ^ name_hash(name));
    for (int64_t i = 0; i < count; ++i) {  // Box-Muller on two counter-based uniforms
      uint64_t a = mix64(key + static_cast<uint64_t>(2 * i + 1) * kGamma);
      uint64_t b = mix64(key + static_cast<uint64_t>(2 * i + 2) * kGamma);
      double u1 = 1.0 - static_cast<double>(a >> 11) * 0x1p-53;  // (0, 1]
      double u2 = static_cast<double>(b >> 11) * 0x1p-53;
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      values[i] = static_cast<float>(std_dev * z);
    }
    return values;
  }

 private:
  model::ModelArch arch_;
  uint64_t seed_;
  std::vector<model::DenseTensorSpec> specs_;
};

}  // namespace

std::unique_ptr<ModelSource> make_synth_source(const model::ModelArch& arch, uint64_t seed) {
  return std::make_unique<SynthSource>(arch, seed);
}

}  // namespace dlrm::sharding
