if(NOT TARGET dlrm-bench)
  return()
endif()
# dlrm-bench end to end: bound and cluster, --repeat, JSON, bad options.
add_test(NAME cluster_mpi.bench
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bench.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK})
set_tests_properties(cluster_mpi.bench PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
  PROCESSORS 2 LABELS mpi TIMEOUT 300)
