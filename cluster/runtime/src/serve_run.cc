#include "dlrm/cluster/serve_run.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <optional>

#include "dlrm/common/error.h"
#include "dlrm/common/json.h"
#include "dlrm/common/staged_output.h"
#include "job.h"

namespace dlrm::cluster {

namespace {

serve::ModelSignature signature(const Job& job, const ServeOptions& serve) {
  serve::ModelSignature s;
  s.name = serve.model_name;
  s.dense_features = job.manifest.arch.dense_features;
  s.table_rows = job.manifest.arch.table_rows;
  s.hotness = job.manifest.arch.hotness;
  s.dense_transformed = job.manifest.arch.dcn();  // DLRM-v2's data holds transformed features
  return s;
}

// The front allocates and frees request-sized buffers (bodies, parsed inputs,
// answers) on many threads. glibc would hand them back to the kernel
// (madvise, munmap), and every such return shoots down TLB entries on every
// core the process ran on: interrupts on the cores the dense ranks compute
// on (a quarter of the front's time under load went there). Freed memory is
// kept for reuse instead; the front's peak stays bounded by the queue and
// --max-body-bytes.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void write_endpoint_file(const ServeOptions& serve, const serve::Endpoint& endpoint) {
  if (serve.endpoint_file.empty()) return;
  JsonWriter w({.indent = 2});
  w.begin_object();
  w.field("http", endpoint.http_address());
  w.field("grpc", endpoint.grpc_address());
  w.end_object();
  write_text_file(serve.endpoint_file, w.str());
}

std::string summary_table(const ServeStats& s) {
  return fmt::format("\n  dlrm-serve: {} requests answered, {} pairs in {} steps, {:.1f} s up, {:.0f} pairs/s "
                     "on average{}\n",
                     s.requests, s.pairs, s.steps, s.seconds, s.seconds > 0 ? s.pairs / s.seconds : 0.0,
                     s.drained ? "" : " (the drain timeout cut some requests short)");
}

}  // namespace

int run_serve(const ClusterOptions& options, const ServeOptions& serve, MPI_Comm world) {
  // SIGTERM/SIGINT (to rank 0) or SIGUSR2 (to mpirun, which passes it on):
  // the front stops accepting and drains; the other ranks go on until the
  // front ends them. The same signal again kills at once.
  install_interrupt_handler(true);
  Job job(options, world);
  job.t_entry = options.start_time > 0 ? options.start_time : steady_seconds();
  start_job(job, true);
  job.batch = options.batch;
  const serve::ModelSignature model = signature(job, serve);
  serve::Metrics metrics(job.batch);
  std::optional<ServeFront> front;
  std::optional<serve::Endpoint> endpoint;
  std::vector<int> dense;
  for (int r : job.roles.dense_rank) dense.push_back(job.world_rank_of(r));
  job.check("opening the endpoint", capture([&] {
              if (!job.front) return;
              front.emplace(world, dense, model, serve.front, metrics);
              endpoint.emplace(serve.endpoint, model, *front, metrics);
              endpoint->start();
              spdlog::info("listening: http {} grpc {} (live; ready once every rank has loaded)",
                           endpoint->http_address().empty() ? "off" : endpoint->http_address(),
                           endpoint->grpc_address().empty() ? "off" : endpoint->grpc_address());
            }));
  const RoutingTable routing(job.manifest);
  FrontWorker worker;
  job.check("setting aside shared memory for the rows", capture([&] { share_rows(job); }));
  job.check("loading shards and MLPs", capture([&] {
              if (!job.front) worker.load(job, routing, nullptr);
            }));
  std::optional<Exchange> exchange;
  job.check("opening the exchange", capture([&] {
              if (!job.front) open_exchange(job, routing, exchange);
            }));
  if (job.front) {
    keep_freed_memory();
    job.check("writing the endpoint file", capture([&] { write_endpoint_file(serve, *endpoint); }));
    front->set_ready();
    spdlog::info("ready after {:.1f} s: {} shard ranks, {} dense ranks, batch {}", steady_seconds() - job.t_entry,
                 job.roles.shards(), job.roles.dense_ranks(), job.batch);
    const ServeStats stats = front->run([] { return interrupted(); }, [&] { endpoint->stop(); });
    if (!options.quiet) std::cout << summary_table(stats) << std::flush;
    return stats.drained ? 0 : 1;
  }
  job.check("writing the endpoint file", "");
  worker.run(*exchange);
  exchange->finish();
  release_rows(job);
  return 0;
}

}  // namespace dlrm::cluster
