# dlrm-tune end to end on a tiny model with tiny time budgets: files, plot,
# tuned.json through dlrm-launch --config, resume, Ctrl-C, refusals.
if(TARGET dlrm-tune AND TARGET dlrm-launch AND TARGET dlrm-bench AND TARGET dlrm-cluster AND TARGET dlrm-shard
   AND TARGET dlrm-data)
  add_test(NAME tune.cli
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tune.sh $<TARGET_FILE_DIR:dlrm-tune> ${CMAKE_CURRENT_BINARY_DIR}/tune_cli)
  set_tests_properties(tune.cli PROPERTIES LABELS "tune;launcher;mpi" ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 TIMEOUT 300)
endif()
