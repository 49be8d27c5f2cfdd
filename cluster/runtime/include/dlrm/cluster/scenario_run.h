// A scenario run: queries as they arrive, by MLPerf LoadGen's rules.
//
//   world rank 0     the front (front.h): issues the queries, batches their
//                    pairs, gathers the predictions, judges the run
//   shard ranks      as in a file run (ShardRank), until the front ends it
//   dense ranks      every sample of --data in memory (the QuerySampleLibrary),
//                    scoring the batches the front sends (QuerySource,
//                    DenseRank)
// The front warms up (untimed queries, which also measure the offline rate),
// then runs the scenario once, or with --find-peak an offline trial and
// server trials by bisection; it prints the summary, writes --summary,
// --latency-log, --report (with a "scenario" section) and, in accuracy mode,
// --out with every sample's prediction in sample order.
#pragma once

#include <mpi.h>

#include "dlrm/cluster/run.h"

namespace dlrm::cluster {

// Collective over `world`; options.scenario must be set.
ClusterOutcome run_scenario(const ClusterOptions& options, MPI_Comm world);

}  // namespace dlrm::cluster
