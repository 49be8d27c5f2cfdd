// Test helpers: a unique temporary directory removed at the end of the test,
// and ways to damage a file (flip a byte, cut it short, overwrite bytes).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dlrm::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dlrm-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Names in the directory that look like staged output ("*.partial-*").
  std::vector<std::string> partial_names() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path_)) {
      if (e.path().filename().string().find(".partial-") != std::string::npos) names.push_back(e.path().string());
    }
    return names;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void flip_byte(const std::filesystem::path& path, uint64_t offset, uint8_t mask = 0x01) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  ASSERT_TRUE(f.good()) << "cannot read byte " << offset << " of " << path;
  c = static_cast<char>(c ^ mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

inline void overwrite(const std::filesystem::path& path, uint64_t offset, const void* src, size_t bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(static_cast<const char*>(src), static_cast<std::streamsize>(bytes));
}

// Expects `stmt` to throw dlrm::Error whose message contains every one of `parts`.
#define EXPECT_ERROR_WITH(stmt, ...)                                                     \
  do {                                                                                   \
    try {                                                                                \
      stmt;                                                                              \
      ADD_FAILURE() << "expected dlrm::Error from: " #stmt;                              \
    } catch (const ::dlrm::Error& e) {                                                   \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {            \
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)                   \
            << "message lacks '" << part << "': " << e.what();                           \
      }                                                                                  \
    }                                                                                    \
  } while (0)

}  // namespace dlrm::test
