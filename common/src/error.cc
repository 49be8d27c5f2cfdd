#include "dlrm/common/error.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace dlrm {

void throw_error(const char* src_file, int src_line, std::string message) {
  throw Error(std::move(message), src_file, src_line);
}

void assert_fail(const char* src_file, int src_line, const char* expr) {
  std::fprintf(stderr, "dlrm: internal error: assertion '%s' failed at %s:%d; please report it\n",
               expr, src_file, src_line);
  std::abort();
}

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  int first = 0;
  if (g_signal.compare_exchange_strong(first, sig)) return;
  // The same signal again (a second Ctrl-C): die at once. Another one is a
  // launcher passing the stop on (mpirun's SIGTERM after the user's SIGINT):
  // the stop in progress goes on.
  if (first == sig) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}
}  // namespace

void install_interrupt_handler(bool stop_on_sigusr2) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (stop_on_sigusr2) std::signal(SIGUSR2, on_signal);
}

bool interrupted() { return g_signal.load(std::memory_order_relaxed) != 0; }

void check_interrupted() {
  if (interrupted()) {
    DLRM_FAIL("interrupted by signal {}; partial output removed", g_signal.load());
  }
}

}  // namespace dlrm
