#include "dlrm/launcher/topology.h"

#include <arpa/inet.h>
#include <hwloc.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"

namespace dlrm::launcher {

int HostTopology::sockets() const {
  std::set<int> sockets;
  for (const auto& node : numa) sockets.insert(node.socket);
  return static_cast<int>(sockets.size());
}

int HostTopology::cores() const {
  int total = 0;
  for (const auto& node : numa) total += static_cast<int>(node.cores.size());
  return total;
}

uint64_t HostTopology::memory_bytes() const {
  uint64_t total = 0;
  for (const auto& node : numa) total += node.memory_bytes;
  return total;
}

std::string HostTopology::summary() const {
  bool uniform = true;
  for (const auto& node : numa) {
    uniform = uniform && node.cores.size() == numa.front().cores.size() &&
              node.memory_bytes == numa.front().memory_bytes;
  }
  int n = static_cast<int>(numa.size());
  std::string out = plural(sockets(), "socket") + ", ";
  if (uniform && n > 0) {
    out += fmt::format("{} x {} cores, {}{}", plural(n, "NUMA node"), numa.front().cores.size(),
                       format_binary_bytes(numa.front().memory_bytes), n == 1 ? "" : " each");
  } else {
    out += fmt::format("{} NUMA nodes:", n);
    for (const auto& node : numa) {
      out += fmt::format(" [{}: {} cores, {}]", node.index, node.cores.size(),
                         format_binary_bytes(node.memory_bytes));
    }
  }
  return out;
}

HostTopology parse_topology_spec(const std::string& spec, const std::string& where) {
  int numa = 0, cores_per_numa = 0, sockets = 0;
  uint64_t mem_per_numa = 0;
  std::string words = spec;  // "numa=2,cores_per_numa=16,..." needs no shell quotes
  std::replace(words.begin(), words.end(), ',', ' ');
  std::istringstream in(words);
  auto count = [&](const std::string& key, const std::string& value) {
    int n = 0;
    size_t used = 0;
    try {
      n = std::stoi(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    DLRM_CHECK(used == value.size() && used > 0 && n > 0 && n <= 65536,
               "{}: {}='{}' must be a positive whole number", where, key, value);
    return n;
  };
  for (std::string item; in >> item;) {
    auto eq = item.find('=');
    DLRM_CHECK(eq != std::string::npos,
               "{}: '{}' is not KEY=VALUE; write e.g. \"numa=2 cores_per_numa=16 mem_per_numa=192G\"", where, item);
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "numa") {
      numa = count(key, value);
    } else if (key == "cores_per_numa") {
      cores_per_numa = count(key, value);
    } else if (key == "sockets") {
      sockets = count(key, value);
    } else if (key == "mem_per_numa") {
      mem_per_numa = parse_byte_size(value, where + ": mem_per_numa");
      DLRM_CHECK(mem_per_numa > 0, "{}: mem_per_numa must be positive", where);
    } else {
      DLRM_FAIL("{}: unknown key '{}'; the keys are numa, cores_per_numa, mem_per_numa and sockets", where, key);
    }
  }
  DLRM_CHECK(numa > 0 && cores_per_numa > 0 && mem_per_numa > 0,
             "{}: give numa=, cores_per_numa= and mem_per_numa= (e.g. \"numa=2 cores_per_numa=16 "
             "mem_per_numa=192G\"), got '{}'",
             where, spec);
  if (sockets == 0) sockets = numa;
  DLRM_CHECK(numa % sockets == 0, "{}: numa={} is not a multiple of sockets={} (NUMA nodes per socket must be equal)",
             where, numa, sockets);
  HostTopology topology;
  topology.origin = where;
  for (int n = 0; n < numa; ++n) {
    NumaNode node;
    node.index = n;
    node.socket = n / (numa / sockets);
    for (int c = 0; c < cores_per_numa; ++c) node.cores.push_back(n * cores_per_numa + c);
    node.memory_bytes = mem_per_numa;
    topology.numa.push_back(std::move(node));
  }
  return topology;
}

std::map<std::string, HostTopology> parse_topology_file(const std::string& text, const std::string& source) {
  std::map<std::string, HostTopology> out;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string host;
    if (!(words >> host)) continue;
    std::string spec;
    std::getline(words, spec);
    std::string where = fmt::format("{}:{}", source, number);
    DLRM_CHECK(host.find('=') == std::string::npos,
               "{}: the line must start with a host name (or *) followed by its spec, e.g. "
               "\"node01 numa=2 cores_per_numa=16 mem_per_numa=192G\"",
               where);
    DLRM_CHECK(!out.count(host), "{}: host {} is described twice", where, host);
    out[host] = parse_topology_spec(spec, where);
  }
  return out;
}

std::map<std::string, HostTopology> read_topology_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  DLRM_CHECK(in.good(), "topology file {} is missing or unreadable", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_topology_file(text.str(), path.string());
}

HostTopology detect_local_topology() {
  hwloc_topology_t topo = nullptr;
  DLRM_CHECK(hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0,
             "hwloc could not read this machine's topology; describe it with --topology HOST=SPEC");
  HostTopology topology;
  topology.origin = "hwloc";
  int numa_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  int core_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  for (int n = 0; n < numa_count; ++n) {
    hwloc_obj_t numa = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n);
    NumaNode node;
    node.index = n;
    node.memory_bytes = numa->attr ? numa->attr->numanode.local_memory : 0;
    hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, numa);
    node.socket = package ? static_cast<int>(package->logical_index) : 0;
    for (int c = 0; c < core_count; ++c) {
      hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, c);
      if (hwloc_bitmap_isincluded(core->cpuset, numa->cpuset)) node.cores.push_back(static_cast<int>(c));
    }
    if (!node.cores.empty()) topology.numa.push_back(std::move(node));
  }
  if (topology.numa.empty() && core_count > 0) {
    // No NUMA information: one node with every core.
    NumaNode node;
    for (int c = 0; c < core_count; ++c) node.cores.push_back(c);
    node.memory_bytes = hwloc_get_root_obj(topo)->total_memory;
    topology.numa.push_back(std::move(node));
  }
  hwloc_topology_destroy(topo);
  DLRM_CHECK(!topology.numa.empty(), "hwloc found no cores on this machine; describe it with --topology HOST=SPEC");
  for (size_t n = 0; n < topology.numa.size(); ++n) topology.numa[n].index = static_cast<int>(n);
  return topology;
}

bool is_local_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0) return true;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) {
    std::string full = name;
    std::string short_name = full.substr(0, full.find('.'));
    if (host == full || host == short_name) return true;
  }
  ifaddrs* addrs = nullptr;
  bool local = false;
  if (getifaddrs(&addrs) == 0) {
    for (ifaddrs* a = addrs; a && !local; a = a->ifa_next) {
      if (!a->ifa_addr) continue;
      char text[INET6_ADDRSTRLEN] = {};
      if (a->ifa_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text, sizeof(text));
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, text, sizeof(text));
      }
      local = host == text;
    }
    freeifaddrs(addrs);
  }
  return local;
}

}  // namespace dlrm::launcher
