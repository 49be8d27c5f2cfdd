#include "dlrm/launcher/hostfile.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "dlrm/common/error.h"

namespace dlrm::launcher {
namespace {

constexpr int kMaxSlots = 1 << 20;

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_' || c == ':' || c == '[' || c == ']';
}

// Splits "a  slots = 4 max_slots=8" into {"a", "slots=4", "max_slots=8"}.
std::vector<std::string> tokens_of(const std::string& line) {
  std::vector<std::string> raw;
  std::istringstream in(line);
  for (std::string word; in >> word;) raw.push_back(word);
  std::vector<std::string> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string token = raw[i];
    // Join "slots" "=" "4", "slots=" "4" and "slots" "=4".
    if (i + 1 < raw.size() && raw[i + 1].front() == '=' && token.find('=') == std::string::npos) {
      token += raw[++i];
    }
    if (token.back() == '=' && i + 1 < raw.size()) token += raw[++i];
    out.push_back(token);
  }
  return out;
}

int parse_count(const std::string& value, const std::string& key, const std::string& where) {
  int n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  DLRM_CHECK(!value.empty() && ec == std::errc() && end == value.data() + value.size(),
             "{}: {}='{}' is not a whole number; write e.g. {}=4", where, key, value, key);
  DLRM_CHECK(n >= 0 && n <= kMaxSlots, "{}: {}={} is out of range (1 .. {})", where, key, value, kMaxSlots);
  return n;
}

}  // namespace

int Hostfile::total_slots() const {
  int total = 0;
  for (const auto& host : hosts) total += host.slots;
  return total;
}

int Hostfile::find(const std::string& name) const {
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Hostfile parse_hostfile(const std::string& text, const std::string& source) {
  Hostfile hostfile;
  hostfile.source = source;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto tokens = tokens_of(line);
    if (tokens.empty()) continue;
    std::string where = fmt::format("{}:{}", source, number);

    HostEntry host;
    host.line = number;
    std::string name = tokens[0];
    DLRM_CHECK(name.find('=') == std::string::npos,
               "{}: the line starts with '{}' but must start with a host name (HOST [slots=N] [max_slots=M])",
               where, name);
    if (auto at = name.find('@'); at != std::string::npos) {
      host.user = name.substr(0, at);
      name = name.substr(at + 1);
      DLRM_CHECK(!host.user.empty() && !name.empty(), "{}: '{}' is not user@host", where, tokens[0]);
    }
    for (char c : name) {
      DLRM_CHECK(is_host_char(c),
                 "{}: '{}' is not a host name (letters, digits, '.', '-', '_' or an address); "
                 "write HOST [slots=N] [max_slots=M]",
                 where, name);
    }
    host.name = name;

    bool slots_given = false;
    for (size_t i = 1; i < tokens.size(); ++i) {
      const std::string& token = tokens[i];
      auto eq = token.find('=');
      DLRM_CHECK(eq != std::string::npos,
                 "{}: unexpected '{}' after host {}; one host per line, attributes as slots=N or max_slots=M",
                 where, token, name);
      std::string key = token.substr(0, eq), value = token.substr(eq + 1);
      if (key == "slots" || key == "count" || key == "cpu" || key == "cpus") {
        DLRM_CHECK(!slots_given, "{}: slots given twice for host {}", where, name);
        host.slots = parse_count(value, key, where);
        DLRM_CHECK(host.slots > 0,
                   "{}: host {} has {}=0; give it at least one slot or remove the line", where, name, key);
        slots_given = true;
      } else if (key == "max_slots" || key == "max-slots" || key == "slots_max" || key == "slots-max") {
        DLRM_CHECK(host.max_slots == 0, "{}: max_slots given twice for host {}", where, name);
        host.max_slots = parse_count(value, key, where);
        DLRM_CHECK(host.max_slots > 0, "{}: host {} has {}=0; give at least one or remove it", where, name, key);
      } else {
        DLRM_FAIL("{}: unknown attribute '{}' for host {}; dlrm-launch reads HOST [slots=N] [max_slots=M]", where,
                  key, name);
      }
    }
    DLRM_CHECK(host.max_slots == 0 || host.max_slots >= host.slots,
               "{}: host {} has max_slots={} below slots={}; raise max_slots or lower slots", where, name,
               host.max_slots, host.slots);
    if (int prev = hostfile.find(name); prev >= 0) {
      DLRM_FAIL("{}: host {} is listed twice (also on line {}); give it one line with the total slots", where, name,
                hostfile.hosts[prev].line);
    }
    hostfile.hosts.push_back(std::move(host));
  }
  DLRM_CHECK(!hostfile.hosts.empty(), "{} lists no hosts; write one line per host: HOST slots=N", source);
  return hostfile;
}

Hostfile read_hostfile(const std::filesystem::path& path) {
  std::ifstream in(path);
  DLRM_CHECK(in.good(), "hostfile {} is missing or unreadable; pass an Open MPI hostfile (HOST slots=N per line)",
             path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_hostfile(text.str(), path.string());
}

std::string hostfile_text(const Hostfile& hostfile, const std::vector<int>& slots) {
  DLRM_ASSERT(slots.size() == hostfile.hosts.size());
  std::string out = "# written by dlrm-launch from " + hostfile.source + "\n";
  for (size_t i = 0; i < hostfile.hosts.size(); ++i) {
    const auto& host = hostfile.hosts[i];
    if (slots[i] <= 0) continue;
    out += host.user.empty() ? host.name : host.user + "@" + host.name;
    out += fmt::format(" slots={}", slots[i]);
    if (host.max_slots > 0) out += fmt::format(" max_slots={}", std::max(host.max_slots, slots[i]));
    out += "\n";
  }
  return out;
}

}  // namespace dlrm::launcher
