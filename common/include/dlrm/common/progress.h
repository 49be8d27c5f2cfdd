// Progress bar for long work. On a terminal it redraws one stderr line
// ("writing shards [#####.....] 52% 2.1/4.0 GB 310 MB/s eta 6s"); otherwise it
// logs a line every 10%. add() also polls check_interrupted().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dlrm {

class Progress {
 public:
  // unit "B" prints bytes (KB/MB/GB); anything else prints plain counts.
  Progress(std::string label, uint64_t total, std::string unit = "B", bool enabled = true);
  ~Progress();
  void add(uint64_t n);
  void finish();
  uint64_t done() const { return done_; }

 private:
  void draw(bool final);
  std::string label_;
  uint64_t total_;
  std::string unit_;
  bool enabled_;
  bool tty_;
  uint64_t done_ = 0;
  int last_decile_ = -1;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};


}  // namespace dlrm
