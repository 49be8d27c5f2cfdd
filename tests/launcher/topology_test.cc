// Topology specs, topology files and the hwloc view of this machine.
#include <gtest/gtest.h>

#include "test_files.h"
#include "dlrm/common/error.h"
#include "dlrm/launcher/topology.h"

namespace dlrm::launcher {
namespace {

TEST(Topology, SpecTwoSockets) {
  HostTopology t = parse_topology_spec("numa=2 cores_per_numa=16 mem_per_numa=192G", "test");
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(t.sockets(), 2) << "sockets default to one per NUMA node";
  EXPECT_EQ(t.cores(), 32);
  EXPECT_EQ(t.numa[1].cores.front(), 16) << "NUMA node 1's cores follow node 0's";
  EXPECT_EQ(t.numa[1].cores.back(), 31);
  EXPECT_EQ(t.numa[0].memory_bytes, 192ull << 30);
  EXPECT_EQ(t.memory_bytes(), 384ull << 30);
  EXPECT_EQ(t.summary(), "2 sockets, 2 NUMA nodes x 16 cores, 192.0 GiB each");
}

TEST(Topology, SpecWithCommas) {
  HostTopology t = parse_topology_spec("numa=2,cores_per_numa=4,mem_per_numa=8G", "test");
  EXPECT_EQ(t.cores(), 8);
  EXPECT_EQ(t.memory_bytes(), 16ull << 30);
}

TEST(Topology, SpecSubNumaClustering) {
  HostTopology t = parse_topology_spec("sockets=2 numa=4 cores_per_numa=8 mem_per_numa=64GB", "test");
  EXPECT_EQ(t.sockets(), 2);
  EXPECT_EQ(t.numa[0].socket, 0);
  EXPECT_EQ(t.numa[1].socket, 0);
  EXPECT_EQ(t.numa[2].socket, 1);
  EXPECT_EQ(t.numa[3].memory_bytes, 64000000000ull);
}

TEST(Topology, SpecErrorsNameTheSpec) {
  EXPECT_ERROR_WITH(parse_topology_spec("numa=2 cores_per_numa=16", "--topology x"), "mem_per_numa");
  EXPECT_ERROR_WITH(parse_topology_spec("numa=2 cores=16 mem_per_numa=1G", "w"), "unknown key 'cores'");
  EXPECT_ERROR_WITH(parse_topology_spec("numa=0 cores_per_numa=1 mem_per_numa=1G", "w"), "positive whole number");
  EXPECT_ERROR_WITH(parse_topology_spec("numa=two cores_per_numa=1 mem_per_numa=1G", "w"), "numa='two'");
  EXPECT_ERROR_WITH(parse_topology_spec("numa=3 sockets=2 cores_per_numa=1 mem_per_numa=1G", "w"),
                    "multiple of sockets");
  EXPECT_ERROR_WITH(parse_topology_spec("numa 2", "where-it-came-from"), "where-it-came-from");
  EXPECT_ERROR_WITH(parse_topology_spec("numa=1 cores_per_numa=1 mem_per_numa=lots", "w"), "not a size");
}

TEST(Topology, FileWithDefaultAndComments) {
  auto hosts = parse_topology_file(
      "# hosts of the lab\n"
      "node01 numa=2 cores_per_numa=16 mem_per_numa=192G   # big\n"
      "\n"
      "*      numa=1 cores_per_numa=4 mem_per_numa=16G\n",
      "topo.txt");
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts.at("node01").numa.size(), 2u);
  EXPECT_EQ(hosts.at("*").cores(), 4);
}

TEST(Topology, FileErrorsNameFileAndLine) {
  EXPECT_ERROR_WITH(parse_topology_file("a numa=1 cores_per_numa=1 mem_per_numa=1G\nb numa=1\n", "t.txt"), "t.txt:2");
  EXPECT_ERROR_WITH(parse_topology_file(
                        "a numa=1 cores_per_numa=1 mem_per_numa=1G\na numa=1 cores_per_numa=1 mem_per_numa=1G\n", "t.txt"),
                    "described twice");
  EXPECT_ERROR_WITH(parse_topology_file("numa=1 cores_per_numa=1 mem_per_numa=1G\n", "t.txt"),
                    "must start with a host name");
}

TEST(Topology, ThisMachineThroughHwloc) {
  HostTopology t = detect_local_topology();
  ASSERT_FALSE(t.numa.empty());
  EXPECT_GE(t.cores(), 1);
  EXPECT_GT(t.memory_bytes(), 0u);
  // Logical core indices cover 0 .. cores-1 once each, NUMA node by NUMA node.
  std::vector<int> all;
  for (const auto& node : t.numa) all.insert(all.end(), node.cores.begin(), node.cores.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < static_cast<int>(all.size()); ++i) EXPECT_EQ(all[i], i);
}

TEST(Topology, LocalHostNames) {
  EXPECT_TRUE(is_local_host("localhost"));
  EXPECT_TRUE(is_local_host("127.0.0.1"));
  EXPECT_FALSE(is_local_host("10.231.0.250"));
  EXPECT_FALSE(is_local_host("no-such-host.invalid"));
}

}  // namespace
}  // namespace dlrm::launcher
