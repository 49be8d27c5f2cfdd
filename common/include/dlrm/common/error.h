// Errors of dlrm-cluster.
//
// Caller and input errors throw dlrm::Error through DLRM_CHECK / DLRM_FAIL with a
// message that names the file, field, table or rank and says what to do.
// Internal invariants use DLRM_ASSERT, which aborts; never use it for input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dlrm {

class Error : public std::runtime_error {
 public:
  Error(std::string message, const char* src_file, int src_line)
      : std::runtime_error(std::move(message)), src_file_(src_file), src_line_(src_line) {}
  // Where in dlrm-cluster's source the error was raised (for developers' logs).
  const char* src_file() const { return src_file_; }
  int src_line() const { return src_line_; }

 private:
  const char* src_file_;
  int src_line_;
};

[[noreturn]] void throw_error(const char* src_file, int src_line, std::string message);
[[noreturn]] void assert_fail(const char* src_file, int src_line, const char* expr);

// Set by SIGINT/SIGTERM once install_interrupt_handler() ran; long loops poll it
// through check_interrupted() so that staged output is cleaned up on Ctrl-C.
// The same signal a second time kills at once; the other one after the first
// (mpirun's SIGTERM after the user's SIGINT) is part of the same stop.
// stop_on_sigusr2: SIGUSR2 stops too (dlrm-serve: mpirun passes SIGUSR2 on to
// every rank and goes on, where its SIGTERM aborts the job after a second).
void install_interrupt_handler(bool stop_on_sigusr2 = false);
bool interrupted();
void check_interrupted();

}  // namespace dlrm

#define DLRM_FAIL(...) ::dlrm::throw_error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))

#define DLRM_CHECK(cond, ...)                                   \
  do {                                                          \
    if (!(cond)) [[unlikely]] {                                 \
      ::dlrm::throw_error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
    }                                                           \
  } while (0)

#define DLRM_ASSERT(cond)                                       \
  do {                                                          \
    if (!(cond)) [[unlikely]] ::dlrm::assert_fail(__FILE__, __LINE__, #cond); \
  } while (0)
