# The cluster library: routing and the request format as unit tests, the
# exchange under mpiexec at several rank counts.
dlrm_unit_test(test_cluster cluster LIBS dlrm_cluster OpenMP::OpenMP_CXX)
# The exchange itself, with multi-hot bags, at several rank counts.
add_executable(test_exchange_mpi ${CMAKE_CURRENT_LIST_DIR}/mpi/exchange_mpi_test.cc)
target_link_libraries(test_exchange_mpi PRIVATE dlrm_cluster dlrm_sharding GTest::gtest)
target_include_directories(test_exchange_mpi PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../support)
foreach(ranks 2 3 4 5)
  add_test(NAME exchange_mpi.n${ranks} COMMAND ${MPIEXEC_EXECUTABLE} -n ${ranks} $<TARGET_FILE:test_exchange_mpi>)
  set_tests_properties(exchange_mpi.n${ranks} PROPERTIES ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 LABELS mpi
    TIMEOUT 300)
endforeach()

