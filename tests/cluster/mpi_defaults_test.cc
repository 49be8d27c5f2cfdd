// default_mca_param: the programs' Open MPI defaults give way to the user's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "dlrm/cluster/mpi_util.h"

namespace dlrm::cluster {
namespace {

constexpr const char* kVar = "OMPI_MCA_dlrm_test_param";

TEST(DefaultMcaParam, AppliedWhenUnset) {
  unsetenv(kVar);
  EXPECT_TRUE(default_mca_param("dlrm_test_param", "1"));
  ASSERT_NE(std::getenv(kVar), nullptr);
  EXPECT_EQ(std::string(std::getenv(kVar)), "1");
  unsetenv(kVar);
}

TEST(DefaultMcaParam, TheUsersValueWins) {
  // mpirun --mca dlrm_test_param 0 (or -x) puts it in the environment first.
  setenv(kVar, "0", 1);
  EXPECT_FALSE(default_mca_param("dlrm_test_param", "1"));
  EXPECT_EQ(std::string(std::getenv(kVar)), "0");
  // An empty value is the user's too.
  setenv(kVar, "", 1);
  EXPECT_FALSE(default_mca_param("dlrm_test_param", "1"));
  EXPECT_EQ(std::string(std::getenv(kVar)), "");
  unsetenv(kVar);
}

TEST(DefaultMcaParam, YieldWhenIdle) {
  const char* before = std::getenv("OMPI_MCA_mpi_yield_when_idle");
  const std::string saved = before ? before : "";
  unsetenv("OMPI_MCA_mpi_yield_when_idle");
  default_mca_params();
  ASSERT_NE(std::getenv("OMPI_MCA_mpi_yield_when_idle"), nullptr);
  EXPECT_EQ(std::string(std::getenv("OMPI_MCA_mpi_yield_when_idle")), "1");
  if (before) {
    setenv("OMPI_MCA_mpi_yield_when_idle", saved.c_str(), 1);
  } else {
    unsetenv("OMPI_MCA_mpi_yield_when_idle");
  }
}

}  // namespace
}  // namespace dlrm::cluster
