// dlrm-launch: hostfile + model -> rank layout, core binding, mpirun command.
//   dlrm-launch --hostfile FILE --model DIR [options] -- <dlrm-cluster arguments>
// Reads the hostfile, the model manifest (shard count and bytes) and each
// host's topology (hwloc here, --topology / --topology-file for the others),
// chooses where every shard and dense rank runs (and, when the dlrm-cluster
// arguments hold --scenario, the front as rank 0), writes an Open MPI
// hostfile and rankfile and runs mpirun (or prints everything with --dry-run).
// Exit code: mpirun's; 2 when dlrm-launch itself refuses (bad hostfile, the
// model does not fit, ...).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/log.h"
#include "dlrm/common/shm_room.h"
#include "dlrm/launcher/hostfile.h"
#include "dlrm/launcher/layout.h"
#include "dlrm/launcher/mpirun.h"
#include "dlrm/launcher/topology.h"
#include "dlrm/launcher/tuned_config.h"
#include "dlrm/launcher/work.h"
#include "dlrm/model/manifest.h"

namespace fs = std::filesystem;
using namespace dlrm::launcher;

namespace {

constexpr int kRefusedExitCode = 2;

struct Args {
  std::string hostfile;
  std::string model;
  std::vector<std::string> topology;
  std::string topology_file;
  LayoutOptions layout;
  std::string shard_cores = "auto";
  std::string transport = "auto";
  std::string tcp_if;
  std::string mpirun = "mpirun";
  std::vector<std::string> mpirun_args;
  std::string program;
  std::string run_dir;
  bool keep_files = false;
  bool dry_run = false;
  bool quiet = false;
  std::string config;
  std::vector<std::string> cluster_args;
};

// --config tuned.json: its layout options where the command line gives none,
// its cluster options before the user's (which win).
void apply_config(Args& args, const CLI::App& app) {
  if (args.config.empty()) return;
  const TunedConfig tuned = read_tuned_config(args.config);
  if (app.count("--shard-cores") == 0) args.shard_cores = tuned.launch.shard_cores;
  if (app.count("--dense-per-node") == 0) args.layout.dense_per_node = tuned.launch.dense_per_node;
  if (app.count("--threads-per-dense") == 0) args.layout.threads_per_dense = tuned.launch.threads_per_dense;
  args.cluster_args = merge_cluster_args(tuned.cluster, args.cluster_args);
  std::error_code ec;
  if (!tuned.model.empty() && !fs::equivalent(tuned.model, args.model, ec)) {
    spdlog::warn("{} was tuned for the model {}, not {}", args.config, tuned.model, args.model);
  }
}

// Topology of every host: --topology, then the topology file, then "*"
// entries, then hwloc for this machine; other hosts are assumed to be like it.
std::vector<HostTopology> host_topologies(const Hostfile& hostfile, const Args& args) {
  std::map<std::string, HostTopology> given;
  for (const auto& item : args.topology) {
    auto eq = item.find('=');
    DLRM_CHECK(eq != std::string::npos && eq > 0,
               "--topology '{}' is not HOST=SPEC; write e.g. --topology node01='numa=2 cores_per_numa=16 "
               "mem_per_numa=192G' (HOST may be * for every host)",
               item);
    std::string host = item.substr(0, eq);
    DLRM_CHECK(host == "*" || hostfile.find(host) >= 0, "--topology names host {} which is not in {}", host,
               hostfile.source);
    DLRM_CHECK(!given.count(host), "--topology gives host {} twice", host);
    given[host] = parse_topology_spec(item.substr(eq + 1), "--topology " + item);
    given[host].origin = "--topology";
  }
  std::map<std::string, HostTopology> from_file;
  if (!args.topology_file.empty()) {
    from_file = read_topology_file(args.topology_file);
    for (auto& [host, topology] : from_file) topology.origin = "topology file " + args.topology_file;
  }
  std::optional<HostTopology> local;
  auto local_topology = [&] {
    if (!local) local = detect_local_topology();
    return *local;
  };
  std::vector<HostTopology> out;
  for (const auto& host : hostfile.hosts) {
    if (given.count(host.name)) {
      out.push_back(given[host.name]);
    } else if (from_file.count(host.name)) {
      out.push_back(from_file[host.name]);
    } else if (given.count("*")) {
      out.push_back(given["*"]);
    } else if (from_file.count("*")) {
      out.push_back(from_file["*"]);
    } else if (is_local_host(host.name)) {
      out.push_back(local_topology());
      out.back().origin = "this machine, hwloc";
    } else {
      out.push_back(local_topology());
      out.back().origin = "no topology given: assumed same as this machine (hwloc); use --topology to say otherwise";
    }
  }
  return out;
}

fs::path default_program() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("dlrm-cluster") : self.parent_path() / "dlrm-cluster";
}

fs::path make_run_dir(const std::string& requested) {
  if (!requested.empty()) {
    fs::create_directories(requested);
    return fs::absolute(requested);
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/dlrm-launch-XXXXXX";
  DLRM_CHECK(mkdtemp(pattern.data()) != nullptr, "cannot create a directory like {} for the rankfile: {}",
             pattern, std::strerror(errno));
  return pattern;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  DLRM_CHECK(out.good(), "cannot write {}", path.string());
}

// The mpirun command's settings from the options (hostfile and rankfile
// paths left empty). Refuses a missing dlrm-cluster (unless a dry run) and
// --model after --; warns about --threads after --.
CommandOptions command_options(const Args& args, const fs::path& model) {
  CommandOptions command;
  command.mpirun = args.mpirun;
  command.transport = parse_transport(args.transport);
  command.tcp_if = args.tcp_if;
  for (const auto& arg : args.mpirun_args) {
    for (auto& word : split_words(arg)) command.mpirun_args.push_back(word);
  }
  for (const char* name : kOpenMpWaitVariables) {
    if (std::getenv(name) != nullptr) command.user_openmp_wait.push_back(name);
  }
  command.program = args.program.empty() ? default_program() : fs::absolute(args.program);
  DLRM_CHECK(args.dry_run || fs::exists(command.program),
             "{} does not exist; build dlrm-cluster next to dlrm-launch or pass --program PATH",
             command.program.string());
  command.program_args = {"--model", model.string()};
  for (size_t i = 0; i < args.cluster_args.size(); ++i) {
    const std::string& a = args.cluster_args[i];
    DLRM_CHECK(a != "--model" && a.rfind("--model=", 0) != 0,
               "give the model once, as dlrm-launch --model DIR (it is passed on to dlrm-cluster), not after --");
    if (a == "--threads" || a.rfind("--threads=", 0) == 0) {
      spdlog::warn("--threads after -- overrides the threads the layout chose for every dense rank");
    }
    command.program_args.push_back(a);
  }
  return command;
}

// Bytes free where Open MPI keeps shared-memory windows (its
// osc_sm_backing_directory, /dev/shm by default), when the layout's one host
// is this machine; 0 otherwise (unknown: the pool transport is not chosen).
uint64_t local_shm_room(const Layout& layout) {
  if (layout.hosts_used() != 1) return 0;
  for (const RankPlan& r : layout.ranks) {
    if (!is_local_host(layout.hostfile.hosts[static_cast<size_t>(r.host)].name)) return 0;
  }
  return dlrm::shm_backing_room().value_or(0);
}

// "model DIR: N shards, X of embeddings (DTYPE), dense weights Y"
std::string model_line(const fs::path& model, const dlrm::model::Manifest& manifest, const ModelNeeds& needs) {
  uint64_t total = 0;
  for (auto b : needs.shard_bytes) total += b;
  return fmt::format("model {}: {} shards, {} of embeddings ({}), dense weights {}", model.string(),
                     manifest.num_shards(), dlrm::format_binary_bytes(total), manifest.storage_summary(),
                     dlrm::format_binary_bytes(needs.dense_bytes));
}

// After mpirun: a stopping signal, or a failed job with what the failures name.
void report_result(const MpirunResult& result, const MpirunFailures& failures) {
  const int code = result.exit_code;
  if (result.forwarded_signal != 0) {
    std::fprintf(stderr, "dlrm-launch: stopped: signal %d (%s) passed on to mpirun; the job ended with exit code %d\n",
                 result.forwarded_signal, strsignal(result.forwarded_signal), code);
  } else if (code != 0) {
    std::string text = fmt::format("dlrm-launch: the job failed (mpirun exit code {})", code);
    if (failures.found().empty()) {
      text += "; mpirun's messages are above\n";
    } else {
      text += ":\n";
      for (const auto& line : failures.found()) text += "  " + line + "\n";
    }
    std::fputs(text.c_str(), stderr);
  }
}

int launch(const Args& args) {
  Hostfile hostfile = read_hostfile(args.hostfile);
  dlrm::model::Manifest manifest = dlrm::model::load_manifest(args.model);
  const ModelNeeds needs = model_needs(manifest);
  std::vector<HostTopology> topologies = host_topologies(hostfile, args);
  LayoutOptions layout_options = args.layout;
  // A scenario run and dlrm-serve have a front (rank 0).
  const bool serving = fs::path(args.program).filename() == "dlrm-serve";
  layout_options.front = serving || scenario_run(args.cluster_args);
  layout_options.shard_cores = parse_shard_cores(args.shard_cores);
  layout_options.int8_mlp = program_option(args.cluster_args, "--mlp") == "int8";
  Layout layout = choose_layout(hostfile, topologies, needs, layout_options);
  const fs::path model = fs::absolute(args.model);
  CommandOptions command = command_options(args, model);
  {
    std::string why;
    const std::string transport = default_exchange_transport(
        layout, command.program_args, std::accumulate(needs.shard_bytes.begin(), needs.shard_bytes.end(), uint64_t{0}),
        local_shm_room(layout), why);
    if (!transport.empty()) command.program_args.insert(command.program_args.end(), {"--exchange-transport", transport});
    if (!why.empty()) layout.notes.push_back(why);
  }

  fs::path run_dir = make_run_dir(args.run_dir);
  command.hostfile = run_dir / "hostfile";
  command.rankfile = run_dir / "rankfile";
  write_text(command.hostfile, hostfile_text(hostfile, layout.ranks_per_host()));
  write_text(command.rankfile, rankfile_text(layout));

  auto env = mpirun_environment(geteuid() == 0);
  auto argv = mpirun_command(layout, command);
  const std::string summary = model_line(model, manifest, needs);
  if (args.dry_run) {
    std::printf("%s\n%s\nrankfile %s:\n%s\ncommand:\n%s\n", summary.c_str(), layout_table(layout).c_str(),
                command.rankfile.string().c_str(), rankfile_text(layout).c_str(), shell_command(env, argv).c_str());
    // The command names the files, so they stay; say so, since nothing else will remove them.
    if (args.run_dir.empty()) {
      std::printf("(the hostfile and rankfile stay in %s for this command: remove it when done, or pass --run-dir)\n",
                  run_dir.string().c_str());
    }
    std::fflush(stdout);
    return 0;
  }
  if (!args.quiet) {
    std::printf("%s\n%s\ndlrm-launch: %s\n", summary.c_str(), layout_table(layout).c_str(),
                shell_command(env, argv).c_str());
    std::fflush(stdout);
  }
  MpirunFailures failures(layout);
  // dlrm-serve and a scenario run's front drain on SIGUSR2, which mpirun
  // passes on to every rank; its SIGTERM would abort the job a second later,
  // requests or queries in flight and all (a second Ctrl-C still does that).
  MpirunResult result = run_mpirun(argv, env, failures, layout_options.front ? SIGUSR2 : 0);
  report_result(result, failures);
  if (args.run_dir.empty() && !args.keep_files) {
    std::error_code ec;
    fs::remove_all(run_dir, ec);
  } else {
    spdlog::info("hostfile and rankfile kept in {}", run_dir.string());
  }
  return result.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  dlrm::init_logging("dlrm-launch");
  Args args;
  // Everything after "--" belongs to dlrm-cluster.
  int split = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  }
  for (int i = split + 1; i < argc; ++i) args.cluster_args.push_back(argv[i]);

  CLI::App app{"dlrm-launch: place a sharded DLRM model's shard and dense ranks on hosts, NUMA nodes and cores, "
               "then run dlrm-cluster under mpirun.\n"
               "  dlrm-launch --hostfile FILE --model DIR [options] -- <dlrm-cluster arguments>"};
  app.add_option("--hostfile", args.hostfile, "Open MPI hostfile: HOST [slots=N] [max_slots=M] per line")
      ->required();
  app.add_option("--model", args.model, "model directory (manifest.json from dlrm-shard); passed to dlrm-cluster")
      ->required();
  app.add_option("--topology", args.topology,
                 "HOST=SPEC, e.g. node01='numa=2 cores_per_numa=16 mem_per_numa=192G [sockets=2]' (HOST * = all "
                 "others); repeatable. Default: hwloc here, the same as here for other hosts");
  app.add_option("--topology-file", args.topology_file, "lines of HOST SPEC (# comments; * for every other host)");
  app.add_option("--dense-per-node", args.layout.dense_per_node,
                 "dense ranks per NUMA node (default: 1 per NUMA node with a core left after the shards)");
  app.add_option("--threads-per-dense", args.layout.threads_per_dense,
                 "OpenMP threads (and cores) per dense rank (default: the node's free cores shared out)");
  app.add_option("--shard-cores", args.shard_cores,
                 "whether shard ranks get cores of their own: auto (where the model's pooling work pays for "
                 "them; the layout's notes give the figures), own, or shared (with the dense ranks)")
      ->capture_default_str();
  app.add_option("--mem-fraction", args.layout.mem_fraction, "share of each NUMA node's memory to plan for")
      ->capture_default_str();
  app.add_option("--transport", args.transport,
                 "auto (self,vader on one host, + tcp across hosts), tcp (self,tcp) or shm-tcp (self,vader,tcp)")
      ->capture_default_str();
  app.add_option("--tcp-if", args.tcp_if, "network for MPI and Open MPI's own traffic (CIDR or interface), e.g. "
                                          "10.0.0.0/24: btl_tcp_if_include and oob_tcp_if_include");
  app.add_option("--mpirun", args.mpirun, "mpirun to run")->capture_default_str();
  app.add_option("--mpirun-arg", args.mpirun_args, "extra mpirun arguments, split on spaces; repeatable");
  app.add_option("--program", args.program, "dlrm-cluster binary (default: next to dlrm-launch)");
  app.add_option("--run-dir", args.run_dir, "write the hostfile and rankfile here and keep them (default: a "
                                            "temporary directory, removed after the run)");
  app.add_flag("--keep-files", args.keep_files, "keep the temporary hostfile and rankfile");
  app.add_flag("--dry-run", args.dry_run, "print the layout, the rankfile and the mpirun command; run nothing");
  app.add_flag("--quiet", args.quiet, "do not print the layout before running");
  app.add_option("--config", args.config,
                 "tuned.json from dlrm-tune: its layout and dlrm-cluster options (the command line's win)");
  try {
    app.parse(split, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    apply_config(args, app);
    return launch(args);
  } catch (const std::exception& e) {
    dlrm::report_fatal(e);
    return kRefusedExitCode;
  }
}
