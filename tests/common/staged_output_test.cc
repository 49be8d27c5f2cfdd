#include "dlrm/common/staged_output.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "dlrm/common/error.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace dlrm {
namespace {

using test::TempDir;

TEST(CommonStagedOutput, FileAppearsOnlyAtCommit) {
  TempDir dir;
  {
    StagedFile out(dir / "f.bin");
    out.write("hello", 5);
    EXPECT_FALSE(fs::exists(dir / "f.bin"));
    EXPECT_TRUE(fs::exists(out.staging_path()));
    uint32_t patch = 0x4c4c4548;  // "HELL"
    out.pwrite(&patch, 4, 0);
    out.commit();
  }
  EXPECT_EQ(test::read_file(dir / "f.bin"), "HELLo");
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CommonStagedOutput, UncommittedFileRemoved) {
  TempDir dir;
  {
    StagedFile out(dir / "f.bin");
    out.write("x", 1);
  }
  EXPECT_FALSE(fs::exists(dir / "f.bin"));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CommonStagedOutput, DirAppearsOnlyAtCommit) {
  TempDir dir;
  fs::path out = dir / "model";
  {
    StagedDir staged(out, false);
    test::write_file(staged.staging_path() / "a.txt", "a");
    EXPECT_FALSE(fs::exists(out));
    staged.commit();
  }
  EXPECT_EQ(test::read_file(out / "a.txt"), "a");
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CommonStagedOutput, DirRemovedOnException) {
  TempDir dir;
  fs::path out = dir / "model";
  try {
    StagedDir staged(out, false);
    test::write_file(staged.staging_path() / "a.txt", "a");
    DLRM_FAIL("something went wrong writing {}", out.string());
  } catch (const Error&) {
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CommonStagedOutput, ExistingDirNeedsOverwrite) {
  TempDir dir;
  fs::path out = dir / "model";
  fs::create_directories(out);
  test::write_file(out / "old.txt", "old");
  EXPECT_ERROR_WITH(StagedDir(out, false), out.string(), "already exists");
  EXPECT_TRUE(fs::exists(out / "old.txt"));
  {
    StagedDir staged(out, true);
    test::write_file(staged.staging_path() / "new.txt", "new");
    staged.commit();
  }
  EXPECT_FALSE(fs::exists(out / "old.txt"));
  EXPECT_TRUE(fs::exists(out / "new.txt"));
}

TEST(CommonStagedOutput, TrailingSeparatorNamesTheSameDir) {
  TempDir dir;
  fs::path out = dir.path() / "model" / "";
  {
    StagedDir staged(out, false);
    EXPECT_EQ(staged.path(), dir / "model");
    EXPECT_EQ(staged.staging_path().parent_path(), dir.path());
    test::write_file(staged.staging_path() / "a.txt", "a");
    staged.commit();
  }
  EXPECT_TRUE(fs::exists(dir / "model" / "a.txt"));
  EXPECT_TRUE(dir.partial_names().empty());
}

TEST(CommonStagedOutput, ReadExactReportsTruncation) {
  TempDir dir;
  test::write_file(dir / "short.bin", "0123456789");
  std::FILE* f = std::fopen((dir / "short.bin").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  char buf[8];
  read_exact(f, dir / "short.bin", buf, 4, 6, "the tail");
  EXPECT_EQ(std::string(buf, 4), "6789");
  EXPECT_ERROR_WITH(read_exact(f, dir / "short.bin", buf, 8, 6, "the tail"), (dir / "short.bin").string(),
                    "truncated", "the tail");
  std::fclose(f);
}

// The file-descriptor form: the same message, with the advice appended.
TEST(CommonStagedOutput, ReadExactFdReportsTruncationAndAdvice) {
  TempDir dir;
  test::write_file(dir / "short.bin", "0123456789");
  const int fd = ::open((dir / "short.bin").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char buf[8];
  read_exact(fd, dir / "short.bin", buf, 4, 6, "the tail");
  EXPECT_EQ(std::string(buf, 4), "6789");
  EXPECT_ERROR_WITH(read_exact(fd, dir / "short.bin", buf, 8, 6, "the tail", "copy it again"),
                    (dir / "short.bin").string(), "truncated: the tail needs 8 bytes at offset 6, only 4 present; "
                    "copy it again");
  EXPECT_ERROR_WITH(read_exact(-1, dir / "short.bin", buf, 4, 0, "the head"), "reading the head of",
                    (dir / "short.bin").string(), "failed");
  ::close(fd);
}

}  // namespace
}  // namespace dlrm
