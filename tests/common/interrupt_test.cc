// The interrupt handler: a first SIGINT or SIGTERM sets the flag, another
// signal after it (mpirun's SIGTERM after the user's Ctrl-C) leaves the stop
// in progress alone, the same signal twice kills at once. Each case runs in
// a child process (death tests): the flag cannot be reset.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

#include "dlrm/common/error.h"

namespace dlrm {
namespace {

TEST(InterruptDeathTest, OtherSignalAfterTheFirstIsPartOfTheSameStop) {
  EXPECT_EXIT(
      {
        install_interrupt_handler();
        std::raise(SIGINT);
        std::raise(SIGTERM);
        std::exit(interrupted() ? 3 : 4);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EXIT(
      {
        install_interrupt_handler();
        std::raise(SIGTERM);
        std::raise(SIGINT);
        std::exit(interrupted() ? 3 : 4);
      },
      ::testing::ExitedWithCode(3), "");
}

TEST(InterruptDeathTest, SameSignalTwiceKillsAtOnce) {
  EXPECT_EXIT(
      {
        install_interrupt_handler();
        std::raise(SIGINT);
        std::raise(SIGINT);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "");
}

}  // namespace
}  // namespace dlrm
