// The exchange line of the human summary: bytes against the minimum, or,
// with the pool transport, that nothing crossed.
#include <gtest/gtest.h>

#include <string>

#include "dlrm/cluster/report.h"

namespace dlrm::cluster {
namespace {

TEST(ExchangeSummary, BytesAgainstTheMinimumAndHow) {
  Report r;
  r.exchange_bytes_per_pair = 13417;
  r.index_bytes_per_pair = 105;
  r.pooled_bytes_per_pair = 13312;
  r.minimum_bytes_per_pair = 13416;
  r.exchange_type = "fp32";
  r.exchange_transport = "shm";
  EXPECT_EQ(exchange_summary(r),
            "13417 bytes/pair (indices 105 out, rows 13312 back; minimum 13416, 1.000x), pooled rows as fp32 by shm");
  // No minimum (nothing to exchange): no division by zero.
  r.minimum_bytes_per_pair = 0;
  EXPECT_NE(exchange_summary(r).find("minimum 0, 13417.000x"), std::string::npos) << exchange_summary(r);
}

TEST(ExchangeSummary, PoolSaysNothingCrossed) {
  Report r;
  r.exchange_transport = "pool";
  EXPECT_EQ(exchange_summary(r), "none: the dense ranks pooled the rows themselves from the shards' shared memory (pool)");
  EXPECT_NE(report_table(r).find("  exchange           none: the dense ranks pooled"), std::string::npos);
}

}  // namespace
}  // namespace dlrm::cluster
