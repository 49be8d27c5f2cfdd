// Helpers shared by the format tests: where the Python-made fixtures live
// (tests/support/make_fixtures.py, run by the support.fixtures CTest), and
// ways to copy and cut files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "test_files.h"
#include "dlrm/common/npy.h"

namespace dlrm::test {

inline std::filesystem::path fixtures() { return DLRM_FORMATS_FIXTURES; }

// Skips the test when the fixtures were not made (no torch in /usr/bin/python3).
#define REQUIRE_FIXTURES()                                                                            \
  do {                                                                                                \
    if (!std::filesystem::exists(::dlrm::test::fixtures() / "done")) {                                \
      GTEST_SKIP() << "fixtures missing in " << ::dlrm::test::fixtures()                              \
                   << " (formats.fixtures needs /usr/bin/python3 with torch and onnx)";               \
    }                                                                                                 \
  } while (0)

// Copies the first `bytes` bytes of src to dst.
inline void copy_prefix(const std::filesystem::path& src, const std::filesystem::path& dst, uint64_t bytes) {
  std::string all = read_file(src);
  write_file(dst, all.substr(0, static_cast<size_t>(bytes)));
}

// Expected values of a state_dict key from an expected*/ .npy directory.
inline std::vector<float> expected_values(const std::string& dir, const std::string& key,
                                          std::vector<int64_t>* shape = nullptr) {
  return read_npy_f32(fixtures() / dir / (key + ".npy"), shape);
}

inline std::vector<std::string> expected_keys() {
  std::vector<std::string> keys;
  for (const auto& e : std::filesystem::directory_iterator(fixtures() / "expected")) keys.push_back(e.path().stem());
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace dlrm::test
