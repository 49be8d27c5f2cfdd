// Hostfile parsing: every syntax Open MPI hostfiles use here, every error.
#include <gtest/gtest.h>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/hostfile.h"

namespace dlrm::launcher {
namespace {

// Expects parse_hostfile(text, "hosts.txt") to throw naming every one of the parts.
#define EXPECT_PARSE_ERROR(text, ...) EXPECT_ERROR_WITH(parse_hostfile(text, "hosts.txt"), __VA_ARGS__)

TEST(Hostfile, SlotsMaxSlotsCommentsAndBlankLines) {
  Hostfile hf = parse_hostfile(
      "# cluster\n"
      "\n"
      "node01 slots=32 max_slots=64   # two sockets\n"
      "   \t\n"
      "node02 slots = 16\n"
      "node03\n"
      "10.0.0.4 slots=2\n",
      "hosts.txt");
  ASSERT_EQ(hf.hosts.size(), 4u);
  EXPECT_EQ(hf.hosts[0].name, "node01");
  EXPECT_EQ(hf.hosts[0].slots, 32);
  EXPECT_EQ(hf.hosts[0].max_slots, 64);
  EXPECT_EQ(hf.hosts[0].line, 3);
  EXPECT_EQ(hf.hosts[1].slots, 16);
  EXPECT_EQ(hf.hosts[1].line, 5);
  EXPECT_EQ(hf.hosts[2].slots, 1) << "a bare host counts one slot";
  EXPECT_EQ(hf.hosts[2].max_slots, 0);
  EXPECT_EQ(hf.hosts[3].name, "10.0.0.4");
  EXPECT_EQ(hf.total_slots(), 32 + 16 + 1 + 2);
  EXPECT_EQ(hf.find("node03"), 2);
  EXPECT_EQ(hf.find("node09"), -1);
}

TEST(Hostfile, AliasesUserAndCrLf) {
  Hostfile hf = parse_hostfile("alice@a count=4 max-slots=8\r\nb cpu=2 slots_max=2\nc cpus=3 slots-max=5\n", "h");
  ASSERT_EQ(hf.hosts.size(), 3u);
  EXPECT_EQ(hf.hosts[0].name, "a");
  EXPECT_EQ(hf.hosts[0].user, "alice");
  EXPECT_EQ(hf.hosts[0].slots, 4);
  EXPECT_EQ(hf.hosts[0].max_slots, 8);
  EXPECT_EQ(hf.hosts[1].slots, 2);
  EXPECT_EQ(hf.hosts[1].max_slots, 2);
  EXPECT_EQ(hf.hosts[2].slots, 3);
  EXPECT_EQ(hf.hosts[2].max_slots, 5);
}

TEST(Hostfile, SpacesAroundEquals) {
  for (const char* text : {"a slots =4\n", "a slots= 4\n", "a slots = 4\n", "a slots=4\n"}) {
    Hostfile hf = parse_hostfile(text, "h");
    EXPECT_EQ(hf.hosts[0].slots, 4) << text;
  }
}

TEST(Hostfile, ZeroSlotsNamesFileAndLine) {
  EXPECT_PARSE_ERROR("a slots=2\nb slots=0\n", "hosts.txt:2", "slots=0", "host b");
}

TEST(Hostfile, MalformedSlotValues) {
  for (const char* text : {"a slots=\n", "a slots=four\n", "a slots=-1\n", "a slots=2x\n", "a slots=1.5\n",
                           "a slots=99999999999\n"}) {
    SCOPED_TRACE(text);
    EXPECT_PARSE_ERROR(text, "hosts.txt:1");
  }
}

TEST(Hostfile, UnknownAttribute) {
  EXPECT_PARSE_ERROR("a slots=2\n\nb sockets=2\n", "hosts.txt:3", "unknown attribute 'sockets'");
}

TEST(Hostfile, StrayWordAfterHost) {
  EXPECT_PARSE_ERROR("a b\n", "hosts.txt:1", "unexpected 'b'");
}

TEST(Hostfile, LineWithoutHost) {
  EXPECT_PARSE_ERROR("slots=4\n", "must start with a host name");
}

TEST(Hostfile, BadHostCharacters) {
  EXPECT_PARSE_ERROR("no$de slots=1\n", "not a host name");
  EXPECT_PARSE_ERROR("@node slots=1\n", "not user@host");
}

TEST(Hostfile, DuplicateHostNamesBothLines) {
  EXPECT_PARSE_ERROR("a slots=2\nb\na slots=4\n", "hosts.txt:3", "line 1", "listed twice");
}

TEST(Hostfile, RepeatedAttributes) {
  EXPECT_PARSE_ERROR("a slots=2 slots=3\n", "slots given twice");
  EXPECT_PARSE_ERROR("a max_slots=2 max_slots=3\n", "max_slots given twice");
}

TEST(Hostfile, MaxSlotsBelowSlots) {
  EXPECT_PARSE_ERROR("a slots=4 max_slots=2\n", "max_slots=2 below slots=4");
  EXPECT_PARSE_ERROR("a max_slots=0\n", "max_slots=0");
}

TEST(Hostfile, EmptyFile) {
  EXPECT_PARSE_ERROR("", "lists no hosts");
  EXPECT_PARSE_ERROR("# only comments\n\n   # more\n", "lists no hosts");
}

TEST(Hostfile, MissingFile) {
  EXPECT_ERROR_WITH(read_hostfile("/nonexistent/dir/hosts"), "/nonexistent/dir/hosts");
}

TEST(Hostfile, ReadsFileAndNamesItInErrors) {
  test::TempDir dir;
  const auto path = dir / "hosts";
  test::write_file(path, "a slots=2\nb slots=0\n");
  EXPECT_ERROR_WITH(read_hostfile(path), path.string() + ":2");
}

TEST(Hostfile, TextForMpirunSkipsUnusedHostsAndKeepsUser) {
  Hostfile hf = parse_hostfile("u@a slots=2 max_slots=4\nb slots=2\nc slots=2\n", "h");
  std::string text = hostfile_text(hf, {3, 0, 1});
  EXPECT_NE(text.find("u@a slots=3 max_slots=4\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nb "), std::string::npos) << text;
  EXPECT_NE(text.find("c slots=1\n"), std::string::npos) << text;
  // What we write parses back.
  Hostfile back = parse_hostfile(text, "written");
  EXPECT_EQ(back.hosts.size(), 2u);
}

}  // namespace
}  // namespace dlrm::launcher
