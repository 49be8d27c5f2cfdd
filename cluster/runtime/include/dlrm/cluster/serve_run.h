// dlrm-serve: the cluster behind REST and gRPC endpoints (Open Inference
// Protocol), serving requests as they arrive until it is told to stop.
//
//   world rank 0     the front: the endpoint's servers (serve::Endpoint) and
//                    the ServeFront that batches their requests' pairs
//   shard ranks      as in a file run (ShardRank), until the front ends it
//   dense ranks      scoring the batches the front sends, inputs included
//                    (QuerySource without samples, DenseRank)
// Start-up: the front binds its addresses first (a taken port ends every rank
// at once), then every rank loads; /v2/health/live answers from the moment
// the front listens, /v2/health/ready once every rank has loaded. SIGTERM or
// SIGINT (to mpirun or to rank 0): stop accepting, answer the requests in
// flight (up to --drain-timeout-s), end every rank, exit 0.
#pragma once

#include <mpi.h>

#include <filesystem>
#include <string>

#include "dlrm/cluster/run.h"
#include "dlrm/cluster/serve_front.h"
#include "dlrm/serve/endpoint.h"

namespace dlrm::cluster {

struct ServeOptions {
  serve::EndpointOptions endpoint;
  ServeConfig front;
  std::string model_name = "dlrm";
  // Written once ready: {"http": "host:port", "grpc": "host:port"} (the ports
  // bound, when 0 asked for free ones).
  std::filesystem::path endpoint_file;
};

// Collective over `world`; returns the exit code.
int run_serve(const ClusterOptions& options, const ServeOptions& serve, MPI_Comm world);

}  // namespace dlrm::cluster
