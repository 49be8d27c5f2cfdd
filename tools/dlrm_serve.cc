// dlrm-serve: the cluster behind REST and gRPC, speaking the Open Inference
// Protocol (KServe v2).
//   mpirun -n R dlrm-serve --model DIR [--http 127.0.0.1:8000] [--grpc 127.0.0.1:8001] [--batch N]
//          [--max-wait-us U] [--max-queue-pairs Q] [--max-body-bytes B]
// World rank 0 is the front (the servers and the batcher); ranks 1 .. S serve
// the model's S shards; the others are dense ranks. R >= S + 2.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include "dlrm/cluster/serve_run.h"
#include "mpi_program.h"

int main(int argc, char** argv) {
  const double start_time = dlrm::cluster::steady_seconds();
  dlrm::tools::init_mpi_program(argc, argv, "dlrm-serve");

  dlrm::cluster::ClusterOptions options;
  dlrm::cluster::ServeOptions serve;
  CLI::App app{"Serve a sharded DLRM model over HTTP and gRPC (Open Inference Protocol, KServe v2).\n"
               "Run under mpirun with at least (shards + 2) ranks: rank 0 is the front, ranks 1..S the shards, the "
               "rest dense ranks. SIGTERM or SIGINT to rank 0, SIGUSR2 to mpirun or SIGTERM to dlrm-launch: stop "
               "accepting, answer what is in flight, exit 0 (a plain mpirun aborts the job on its own SIGTERM; "
               "docs/serving.md)."};
  dlrm::tools::add_model_options(app, options);
  auto off = [](std::string& address) {
    return [&address](const std::string& value) { address = value == "off" ? "" : value; };
  };
  app.add_option("--http", "REST address host:port (port 0: a free one; 'off': none)")
      ->default_str(serve.endpoint.http)
      ->each(off(serve.endpoint.http));
  app.add_option("--grpc", "gRPC address host:port (port 0: a free one; 'off': none)")
      ->default_str(serve.endpoint.grpc)
      ->each(off(serve.endpoint.grpc));
  app.add_option("--max-wait-us", serve.front.max_wait_us,
                 "how long a partial batch may wait for more pairs (0: it goes as soon as a dense rank can take it)")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--max-queue-pairs", serve.front.max_queue_pairs,
                 "pairs waiting for a dense rank beyond which new requests get 429 / RESOURCE_EXHAUSTED")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-body-bytes", serve.endpoint.max_body_bytes,
                 "largest request body; a larger one gets 400 / INVALID_ARGUMENT")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--drain-timeout-s", serve.front.drain_timeout_s,
                 "after SIGTERM: how long the requests in flight may take before they are refused (503)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--server-threads", serve.endpoint.threads, "threads per server (REST, gRPC): requests handled at once")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--model-name", serve.model_name, "the model's name in the protocol's paths and messages")
      ->capture_default_str();
  app.add_option("--endpoint-file", serve.endpoint_file,
                 "once ready, write {\"http\": ADDRESS, \"grpc\": ADDRESS} here (the ports bound)");
  app.add_flag("--quiet", options.quiet, "no summary at exit");
  return dlrm::tools::run_mpi_program(app, argc, argv, [&] {
    options.start_time = start_time;
    serve.front.batch = options.batch;
    return dlrm::cluster::run_serve(options, serve, MPI_COMM_WORLD);
  });
}
