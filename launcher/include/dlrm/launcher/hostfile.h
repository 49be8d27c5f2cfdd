// Open MPI hostfiles, as dlrm-launch reads and writes them.
//
// One host per line:   HOST [slots=N] [max_slots=M]     # comment
//   - `#` starts a comment anywhere on a line; blank lines are skipped;
//   - a bare HOST counts 1 slot; `count=`, `cpu=` and `cpus=` are read as
//     slots, `max-slots=`, `slots_max=` and `slots-max=` as max_slots;
//   - HOST may be `user@host` (the user is kept for mpirun);
//   - spaces around `=` are allowed.
// Errors name FILE:LINE and say what to write instead: a malformed or
// unknown attribute, slots=0, max_slots < slots, a host listed twice, no hosts.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dlrm::launcher {

struct HostEntry {
  std::string name;  // host name or address, as in the rankfile
  std::string user;  // from user@host; empty if none
  int slots = 1;
  int max_slots = 0;  // 0: not given
  int line = 0;       // 1-based line in the hostfile
};

struct Hostfile {
  std::string source;  // file name used in messages
  std::vector<HostEntry> hosts;

  int total_slots() const;
  // Index of `name` in hosts, or -1.
  int find(const std::string& name) const;
};

// `source` names the text in error messages ("hosts.txt").
Hostfile parse_hostfile(const std::string& text, const std::string& source);
// Throws naming the file when it is missing or unreadable.
Hostfile read_hostfile(const std::filesystem::path& path);

// Hostfile text for mpirun: one line per host with the given slots
// (slots[i] for hosts[i]), keeping user@ and max_slots.
std::string hostfile_text(const Hostfile& hostfile, const std::vector<int>& slots);

}  // namespace dlrm::launcher
