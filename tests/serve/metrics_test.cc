// Metrics in Prometheus's text format: every line well formed, every series
// present from the start, counters that count, histograms cumulative and
// consistent with their _count, under concurrent updates and scrapes.
#include "dlrm/serve/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

namespace dlrm::serve {
namespace {

struct Scrape {
  std::map<std::string, double> samples;     // `name{labels}` -> value
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram
  std::vector<std::string> bucket_order;     // the _bucket series in order of appearance
};

// Parses the text, failing the test on any line that is not a comment of the
// format or a sample; a family's samples must follow its # TYPE line.
Scrape parse(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-z_]+) \S.*)");
  static const std::regex kType(R"(# TYPE ([a-z_]+) (counter|gauge|histogram))");
  static const std::regex kSample(R"(([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\S+))");
  Scrape s;
  std::istringstream in(text);
  std::string line, family, helped;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      helped = m[1];
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], helped) << "# TYPE without its # HELP: " << line;
      family = m[1];
      EXPECT_EQ(s.types.count(family), 0u) << "family twice: " << family;
      s.types[family] = m[2];
    } else if (std::regex_match(line, m, kSample)) {
      const std::string name = m[1];
      EXPECT_EQ(name.rfind(family, 0), 0u) << "sample outside its family: " << line;
      const std::string series = name + m[2].str();
      EXPECT_EQ(s.samples.count(series), 0u) << "series twice: " << line;
      const std::string value = m[4];
      s.samples[series] = value == "+Inf" ? INFINITY : std::stod(value);
      if (name.size() > 7 && name.substr(name.size() - 7) == "_bucket") s.bucket_order.push_back(series);
    } else {
      ADD_FAILURE() << "not a line of the format: " << line;
    }
  }
  return s;
}

// Checks the histogram `name{labels...}`: buckets cumulative, +Inf == _count.
void expect_histogram(const Scrape& s, const std::string& name, const std::string& labels, uint64_t count, double sum) {
  const std::string prefix = name + "_bucket{" + (labels.empty() ? "" : labels + ",");
  double previous = 0;
  int buckets = 0;
  for (const std::string& series : s.bucket_order) {
    if (series.rfind(prefix, 0) != 0) continue;
    EXPECT_GE(s.samples.at(series), previous) << series;
    previous = s.samples.at(series);
    ++buckets;
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  EXPECT_GE(buckets, 2);
  EXPECT_EQ(s.samples.at(prefix + "le=\"+Inf\"}"), static_cast<double>(count));
  EXPECT_EQ(s.samples.at(name + "_count" + braces), static_cast<double>(count));
  EXPECT_NEAR(s.samples.at(name + "_sum" + braces), sum, 1e-9 * (1 + std::abs(sum)));
}

const std::vector<std::string> kProtocols = {"http", "grpc"};
const std::vector<std::string> kOutcomes = {"ok", "bad_request", "overloaded", "unavailable", "error"};

std::string requests(const std::string& protocol, const std::string& outcome) {
  return "dlrm_requests_total{protocol=\"" + protocol + "\",outcome=\"" + outcome + "\"}";
}

TEST(Metrics, EverySeriesFromTheStart) {
  const Metrics metrics(100);
  const Scrape s = parse(metrics.text());
  for (const auto& p : kProtocols) {
    for (const auto& o : kOutcomes) EXPECT_EQ(s.samples.at(requests(p, o)), 0) << p << " " << o;
    expect_histogram(s, "dlrm_request_duration_seconds", "protocol=\"" + p + "\"", 0, 0);
  }
  expect_histogram(s, "dlrm_batch_pairs", "", 0, 0);
  EXPECT_EQ(s.types.at("dlrm_requests_total"), "counter");
  EXPECT_EQ(s.types.at("dlrm_request_duration_seconds"), "histogram");
  EXPECT_EQ(s.types.at("dlrm_batch_pairs"), "histogram");
  EXPECT_EQ(s.types.at("dlrm_queue_pairs"), "gauge");
  EXPECT_EQ(s.types.at("dlrm_requests_in_flight"), "gauge");
  EXPECT_EQ(s.types.at("dlrm_pairs_scored_total"), "counter");
  EXPECT_EQ(s.samples.at("dlrm_queue_pairs"), 0);
  EXPECT_EQ(s.samples.at("dlrm_requests_in_flight"), 0);
  EXPECT_EQ(s.samples.at("dlrm_pairs_scored_total"), 0);
  // Batch buckets: powers of two below the batch, then the batch.
  std::vector<std::string> want;
  for (const char* le : {"1", "2", "4", "8", "16", "32", "64", "100", "+Inf"}) {
    want.push_back(std::string("dlrm_batch_pairs_bucket{le=\"") + le + "\"}");
  }
  std::vector<std::string> got;
  for (const auto& series : s.bucket_order) {
    if (series.rfind("dlrm_batch_pairs", 0) == 0) got.push_back(series);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.samples.count("dlrm_request_duration_seconds_bucket{protocol=\"grpc\",le=\"0.0005\"}"), 1u);
  EXPECT_EQ(s.samples.count("dlrm_request_duration_seconds_bucket{protocol=\"http\",le=\"10\"}"), 1u);
}

TEST(Metrics, CountersAndHistogramsCount) {
  Metrics metrics(64);
  metrics.request(Protocol::kHttp, Status::kOk, 0.001);  // on a bound: counts in le="0.001"
  metrics.request(Protocol::kHttp, Status::kOk, 0.02);
  metrics.request(Protocol::kHttp, Status::kBadRequest, 0.0001);
  metrics.request(Protocol::kGrpc, Status::kOverloaded, 30);  // above every bound: +Inf only
  metrics.batch(64);
  metrics.batch(3);
  metrics.scored(67);
  metrics.set_queue(12, 3);
  const Scrape s = parse(metrics.text());
  EXPECT_EQ(s.samples.at(requests("http", "ok")), 2);
  EXPECT_EQ(s.samples.at(requests("http", "bad_request")), 1);
  EXPECT_EQ(s.samples.at(requests("grpc", "overloaded")), 1);
  EXPECT_EQ(s.samples.at(requests("grpc", "ok")), 0);
  expect_histogram(s, "dlrm_request_duration_seconds", "protocol=\"http\"", 3, 0.0211);
  expect_histogram(s, "dlrm_request_duration_seconds", "protocol=\"grpc\"", 1, 30);
  EXPECT_EQ(s.samples.at("dlrm_request_duration_seconds_bucket{protocol=\"http\",le=\"0.0005\"}"), 1);
  EXPECT_EQ(s.samples.at("dlrm_request_duration_seconds_bucket{protocol=\"http\",le=\"0.001\"}"), 2);
  EXPECT_EQ(s.samples.at("dlrm_request_duration_seconds_bucket{protocol=\"http\",le=\"0.025\"}"), 3);
  EXPECT_EQ(s.samples.at("dlrm_request_duration_seconds_bucket{protocol=\"grpc\",le=\"10\"}"), 0);
  expect_histogram(s, "dlrm_batch_pairs", "", 2, 67);
  EXPECT_EQ(s.samples.at("dlrm_batch_pairs_bucket{le=\"2\"}"), 0);
  EXPECT_EQ(s.samples.at("dlrm_batch_pairs_bucket{le=\"4\"}"), 1);
  EXPECT_EQ(s.samples.at("dlrm_batch_pairs_bucket{le=\"64\"}"), 2);
  EXPECT_EQ(s.samples.at("dlrm_pairs_scored_total"), 67);
  EXPECT_EQ(s.samples.at("dlrm_queue_pairs"), 12);
  EXPECT_EQ(s.samples.at("dlrm_requests_in_flight"), 3);
}

TEST(Metrics, ConcurrentUpdatesAndScrapes) {
  Metrics metrics(256);
  const int threads = 6, per_thread = 20000;
  std::atomic<bool> done{false};
  // A scraper reading while the others write: every scrape is consistent.
  std::thread scraper([&] {
    int scrapes = 0;
    while (!done.load() || scrapes == 0) {
      const Scrape s = parse(metrics.text());
      const double count = s.samples.at("dlrm_request_duration_seconds_count{protocol=\"http\"}");
      EXPECT_EQ(s.samples.at("dlrm_request_duration_seconds_bucket{protocol=\"http\",le=\"+Inf\"}"), count);
      ++scrapes;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&metrics, t] {
      for (int i = 0; i < per_thread; ++i) {
        metrics.request(t % 2 ? Protocol::kGrpc : Protocol::kHttp, static_cast<Status>(i % 5), 0.002);
        metrics.batch(1 + i % 256);
        metrics.scored(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  scraper.join();
  const Scrape s = parse(metrics.text());
  for (const auto& p : kProtocols) {
    for (const auto& o : kOutcomes) EXPECT_EQ(s.samples.at(requests(p, o)), threads / 2 * per_thread / 5) << p << o;
    expect_histogram(s, "dlrm_request_duration_seconds", "protocol=\"" + p + "\"", threads / 2 * per_thread,
                     0.002 * threads / 2 * per_thread);
  }
  EXPECT_EQ(s.samples.at("dlrm_pairs_scored_total"), threads * per_thread);
  // Batch sizes 1..256, each equally often: their sum is known exactly.
  expect_histogram(s, "dlrm_batch_pairs", "", threads * per_thread,
                   threads * (per_thread / 256 * 256 * 257 / 2.0 + (per_thread % 256) * (per_thread % 256 + 1) / 2.0));
}

}  // namespace
}  // namespace dlrm::serve
