# dlrm-tune end to end on a tiny model with tiny time budgets: files, plot,
# tuned.json through dlrm-launch --config, resume, Ctrl-C, refusals.
if(TARGET dlrm-tune AND TARGET dlrm-launch AND TARGET dlrm-bench AND TARGET dlrm-cluster AND TARGET dlrm-shard
   AND TARGET dlrm-data)
  add_test(NAME tune.cli
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tune.sh $<TARGET_FILE_DIR:dlrm-tune> ${CMAKE_CURRENT_BINARY_DIR}/tune_cli)
  # Under the sanitizers a server trial of the tiny model takes over 40 s
  # (measured 42 s), so the latency-bound case needs a longer budget there.
  set(tune_env "${DLRM_MPI_ENV}")
  set(tune_timeout 300)
  if(DLRM_SANITIZE)
    list(APPEND tune_env "DLRM_TUNE_LATENCY_BUDGET_S=200")
    set(tune_timeout 900)
  endif()
  set_tests_properties(tune.cli PROPERTIES LABELS "tune;launcher;mpi" ENVIRONMENT "${tune_env}"
    PROCESSORS 2 TIMEOUT ${tune_timeout})
endif()
