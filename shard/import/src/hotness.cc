// dlrm-shard import --hotness: parse_hotness() and with_hotness() (import.h).
#include <charconv>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/import/import.h"

namespace dlrm::import {

namespace {

// Forwards everything to the wrapped source but arch(), which carries the hotness.
class HotnessSource final : public sharding::ModelSource {
 public:
  HotnessSource(std::unique_ptr<sharding::ModelSource> source, std::vector<int> hotness, const std::string& spec)
      : source_(std::move(source)), arch_(source_->arch()), spec_(spec) {
    arch_.hotness = std::move(hotness);
    arch_.validate();
  }
  std::string describe() const override { return source_->describe() + " hotness=" + spec_; }
  const model::ModelArch& arch() const override { return arch_; }
  void read_rows(int table, int64_t row_begin, int64_t rows, int col_begin, int col_end, float* dst) override {
    source_->read_rows(table, row_begin, rows, col_begin, col_end, dst);
  }
  std::vector<float> read_dense(const std::string& name, const std::vector<int64_t>& shape) override {
    return source_->read_dense(name, shape);
  }

 private:
  std::unique_ptr<sharding::ModelSource> source_;
  model::ModelArch arch_;
  std::string spec_;
};

}  // namespace

std::vector<int> parse_hotness(const std::string& spec, int num_tables) {
  if (spec.empty()) return {};
  if (spec == "dlrm-v2") {
    std::vector<int> hotness = model::make_preset("dlrm-v2").hotness;
    DLRM_CHECK(static_cast<int>(hotness.size()) == num_tables,
               "--hotness dlrm-v2 gives DLRM-v2's {} tables their lookups per pair, but the model has {} tables; "
               "give one value per table instead (--hotness 1,2,...)",
               hotness.size(), num_tables);
    return hotness;
  }
  std::vector<int> hotness;
  size_t begin = 0;
  while (begin <= spec.size()) {
    size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(begin, end - begin);
    int value = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    DLRM_CHECK(!item.empty() && ec == std::errc() && ptr == item.data() + item.size() && value >= 1 &&
                   value <= 65536,
               "--hotness: item {} is '{}'; expected 'dlrm-v2' or a comma-separated list of lookups per pair, one "
               "integer in 1..65536 per table",
               hotness.size(), item);
    hotness.push_back(value);
    begin = end + 1;
  }
  DLRM_CHECK(static_cast<int>(hotness.size()) == num_tables,
             "--hotness lists {} values but the model has {} tables; give one per table", hotness.size(), num_tables);
  return hotness;
}

std::unique_ptr<sharding::ModelSource> with_hotness(std::unique_ptr<sharding::ModelSource> source,
                                                    std::vector<int> hotness, const std::string& spec) {
  return std::make_unique<HotnessSource>(std::move(source), std::move(hotness), spec);
}

}  // namespace dlrm::import
