// Hostfile parsing: every syntax Open MPI hostfiles use here, every error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "dlrm/common/error.h"
#include "dlrm/launcher/hostfile.h"

namespace dlrm::launcher {
namespace {

// The message of the dlrm::Error that `parse` throws ("" if none).
template <class F>
std::string error_of(F&& parse) {
  try {
    parse();
  } catch (const dlrm::Error& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_hostfile(text, "hosts.txt"); });
}

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
  std::string e = parse_error("a slots=2\nb slots=0\n");
  EXPECT_NE(e.find("hosts.txt:2"), std::string::npos) << e;
  EXPECT_NE(e.find("slots=0"), std::string::npos) << e;
  EXPECT_NE(e.find("host b"), std::string::npos) << e;
}

TEST(Hostfile, MalformedSlotValues) {
  for (const char* text : {"a slots=\n", "a slots=four\n", "a slots=-1\n", "a slots=2x\n", "a slots=1.5\n",
                           "a slots=99999999999\n"}) {
    std::string e = parse_error(text);
    EXPECT_NE(e.find("hosts.txt:1"), std::string::npos) << text << ": " << e;
  }
}

TEST(Hostfile, UnknownAttribute) {
  std::string e = parse_error("a slots=2\n\nb sockets=2\n");
  EXPECT_NE(e.find("hosts.txt:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown attribute 'sockets'"), std::string::npos) << e;
}

TEST(Hostfile, StrayWordAfterHost) {
  std::string e = parse_error("a b\n");
  EXPECT_NE(e.find("hosts.txt:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected 'b'"), std::string::npos) << e;
}

TEST(Hostfile, LineWithoutHost) {
  std::string e = parse_error("slots=4\n");
  EXPECT_NE(e.find("must start with a host name"), std::string::npos) << e;
}

TEST(Hostfile, BadHostCharacters) {
  EXPECT_NE(parse_error("no$de slots=1\n").find("not a host name"), std::string::npos);
  EXPECT_NE(parse_error("@node slots=1\n").find("not user@host"), std::string::npos);
}

TEST(Hostfile, DuplicateHostNamesBothLines) {
  std::string e = parse_error("a slots=2\nb\na slots=4\n");
  EXPECT_NE(e.find("hosts.txt:3"), std::string::npos) << e;
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
  EXPECT_NE(e.find("listed twice"), std::string::npos) << e;
}

TEST(Hostfile, RepeatedAttributes) {
  EXPECT_NE(parse_error("a slots=2 slots=3\n").find("slots given twice"), std::string::npos);
  EXPECT_NE(parse_error("a max_slots=2 max_slots=3\n").find("max_slots given twice"), std::string::npos);
}

TEST(Hostfile, MaxSlotsBelowSlots) {
  std::string e = parse_error("a slots=4 max_slots=2\n");
  EXPECT_NE(e.find("max_slots=2 below slots=4"), std::string::npos) << e;
  EXPECT_NE(parse_error("a max_slots=0\n").find("max_slots=0"), std::string::npos);
}

TEST(Hostfile, EmptyFile) {
  EXPECT_NE(parse_error("").find("lists no hosts"), std::string::npos);
  EXPECT_NE(parse_error("# only comments\n\n   # more\n").find("lists no hosts"), std::string::npos);
}

TEST(Hostfile, MissingFile) {
  std::string e = error_of([] { read_hostfile("/nonexistent/dir/hosts"); });
  EXPECT_NE(e.find("/nonexistent/dir/hosts"), std::string::npos) << e;
}

TEST(Hostfile, ReadsFileAndNamesItInErrors) {
  auto path = std::filesystem::temp_directory_path() / ("hostfile_test_" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << "a slots=2\nb slots=0\n";
  }
  std::string e = error_of([&] { read_hostfile(path); });
  std::filesystem::remove(path);
  EXPECT_NE(e.find(path.string() + ":2"), std::string::npos) << e;
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
