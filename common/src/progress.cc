#include "dlrm/common/progress.h"

#include "dlrm/common/format.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "dlrm/common/error.h"

namespace dlrm {

Progress::Progress(std::string label, uint64_t total, std::string unit, bool enabled)
    : label_(std::move(label)),
      total_(std::max<uint64_t>(total, 1)),
      unit_(std::move(unit)),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && tty_ && enabled_ && last_decile_ >= 0) std::fputc('\n', stderr);
}

void Progress::add(uint64_t n) {
  done_ += n;
  check_interrupted();
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ > std::chrono::milliseconds(200)) {
      last_draw_ = now;
      draw(false);
    }
  } else {
    int decile = static_cast<int>(10 * std::min(done_, total_) / total_);
    if (decile != last_decile_ && decile < 10) {
      last_decile_ = decile;
      draw(false);
    }
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
  double rate = secs > 0 ? done_ / secs : 0.0;
  std::string amount, speed;
  if (unit_ == "B") {
    amount = fmt::format("{}/{}", format_bytes(done_), format_bytes(total_));
    speed = fmt::format("{}/s", format_bytes(rate));
  } else {
    amount = fmt::format("{}/{} {}", done_, total_, unit_);
    speed = fmt::format("{:.0f} {}/s", rate, unit_);
  }
  double eta = rate > 0 ? (total_ - std::min(done_, total_)) / rate : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %s %s %s", label_.c_str(), bar.c_str(), frac * 100,
                 amount.c_str(), speed.c_str(),
                 final ? fmt::format("in {:.1f}s\n", secs).c_str() : fmt::format("eta {:.0f}s ", eta).c_str());
    std::fflush(stderr);
    last_decile_ = 0;
  } else {
    spdlog::info("{}: {:3.0f}% {} {}{}", label_, frac * 100, amount, speed,
                 final ? fmt::format(" in {:.1f}s", secs) : "");
  }
}

}  // namespace dlrm
