// What a host offers to the layout: NUMA nodes, their cores and memory.
//
// The local host is read with hwloc. Other hosts are described by a spec,
//   "numa=2 cores_per_numa=16 mem_per_numa=192G [sockets=2]"   (or comma-separated)
// given with --topology HOST=SPEC or one per line in a topology file:
//   # HOST   SPEC
//   node01   numa=2 cores_per_numa=16 mem_per_numa=192G
//   *        numa=1 cores_per_numa=8 mem_per_numa=32G     # every other host
// Sizes take K, M, G, T (binary: 192G = 192 GiB) or KB, MB, GB, TB (decimal)
// or plain bytes. Cores are numbered the way Open MPI's rankfile counts them:
// logical core indices over the whole host, NUMA node 0's cores first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dlrm/common/format.h"

namespace dlrm::launcher {

struct NumaNode {
  int index = 0;           // logical NUMA node index on its host
  int socket = 0;          // logical package index
  std::vector<int> cores;  // logical core indices (host-wide), ascending
  uint64_t memory_bytes = 0;
};

struct HostTopology {
  std::vector<NumaNode> numa;
  std::string origin;  // where it came from: "hwloc", "--topology", "assumed same as local host", ...

  int sockets() const;
  int cores() const;
  uint64_t memory_bytes() const;
  // "2 sockets, 2 NUMA nodes x 16 cores, 192.0 GiB each"
  std::string summary() const;
};

// Parses a spec; `where` names it in errors ("--topology node01=...").
HostTopology parse_topology_spec(const std::string& spec, const std::string& where);

// HOST -> spec text from a topology file ("*" for every host not listed).
// Errors name FILE:LINE; the specs are parsed (checked) here too.
std::map<std::string, HostTopology> parse_topology_file(const std::string& text, const std::string& source);
std::map<std::string, HostTopology> read_topology_file(const std::filesystem::path& path);

// The machine this runs on, through hwloc (NUMA nodes without cores are left
// out: they hold no ranks).
HostTopology detect_local_topology();

// Whether `host` names this machine: "localhost", 127.x, ::1, this host name
// (short or full) or an address of one of its interfaces.
bool is_local_host(const std::string& host);

}  // namespace dlrm::launcher
