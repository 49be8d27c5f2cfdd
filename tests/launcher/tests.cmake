# dlrm-launch: unit tests (hostfiles, topology, layout, mpirun command and
# failure reports).
if(NOT TARGET dlrm_launcher)
  return()
endif()

set(DLRM_LAUNCHER_TEST_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/hostfile_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/topology_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/layout_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/shard_cores_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/tune_search_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/tuned_config_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/mpirun_test.cc)
add_executable(test_launcher ${DLRM_LAUNCHER_TEST_SOURCES})
target_link_libraries(test_launcher PRIVATE dlrm_launcher dlrm_tune dlrm_model GTest::gtest GTest::gtest_main)
target_include_directories(test_launcher PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../support)
# gtest_add_tests (tests found in the sources at configure time) rather than
# gtest_discover_tests: it returns the names, so they can carry two labels.
gtest_add_tests(TARGET test_launcher SOURCES ${DLRM_LAUNCHER_TEST_SOURCES} TEST_PREFIX "launcher."
  TEST_LIST DLRM_LAUNCHER_TESTS)
set_tests_properties(${DLRM_LAUNCHER_TESTS} PROPERTIES LABELS "unit;launcher" TIMEOUT 120)
