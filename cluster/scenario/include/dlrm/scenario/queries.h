// The queries of a run: how many pairs each has, which samples it scores
// and, in the server scenario, when it is scheduled.
//
//   sizes      QuerySize: 1, a fixed N, or MLPerf's quantiles drawn uniformly
//              (seeded mt19937, stream "sizes")
//   samples    performance mode: a run of consecutive samples starting at a
//              uniform offset in [0, samples - pairs] (stream "offsets");
//              accuracy mode: consecutive queries cover [0, samples) once, in
//              order, the last one cut to what is left
//   arrivals   server: Poisson, gaps ~ Exponential(target_qps) (stream
//              "schedule"); the first query at the first gap
#pragma once

#include <cstdint>
#include <optional>
#include <random>

#include "dlrm/scenario/settings.h"

namespace dlrm::scenario {

struct Query {
  int64_t id = 0;
  int32_t pairs = 0;
  int64_t first_sample = 0;  // samples [first_sample, first_sample + pairs)
  int64_t scheduled_ns = 0;  // from the start of the run (server; 0 otherwise)
};

// Scheduled times of a Poisson process at `qps` queries per second.
class PoissonArrivals {
 public:
  PoissonArrivals(double qps, uint64_t seed);
  // The next scheduled time in ns from the start (strictly increasing).
  int64_t next_ns();

 private:
  std::mt19937 rng_;
  std::exponential_distribution<double> gap_;
  double t_ = 0;
};

// Pair counts drawn by QuerySize.
class QuerySizer {
 public:
  QuerySizer(QuerySize size, uint64_t seed);
  int32_t next();

 private:
  QuerySize size_;
  std::mt19937 rng_;
};

class QueryGenerator {
 public:
  // samples: how many samples the dense ranks hold (LoadGen's QSL).
  QueryGenerator(const Settings& settings, int64_t samples);
  // The next query (ids 0, 1, ...); nullopt in accuracy mode once every
  // sample has been issued.
  std::optional<Query> next();
  // Queries accuracy mode issues in all (the samples covered once).
  int64_t samples() const { return samples_; }

 private:
  Settings settings_;
  int64_t samples_;
  QuerySizer sizes_;
  std::mt19937_64 offsets_;
  std::optional<PoissonArrivals> arrivals_;
  int64_t next_id_ = 0;
  int64_t next_sample_ = 0;  // accuracy mode
};

}  // namespace dlrm::scenario
