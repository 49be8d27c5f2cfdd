# Dry runs lay out the full terabyte-40m model from a plan-only model
# directory (dlrm-shard --plan-only: manifest.json, no shard files).
if(TARGET dlrm-launch AND TARGET dlrm-shard)
  add_test(NAME launcher.dry_run
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dry_run.sh $<TARGET_FILE_DIR:dlrm-launch>
            $<TARGET_FILE:dlrm-shard> ${CMAKE_SOURCE_DIR}/hostfiles ${CMAKE_CURRENT_BINARY_DIR}/launcher_dry_run)
  set_tests_properties(launcher.dry_run PROPERTIES LABELS launcher TIMEOUT 120)
endif()

# Scenario runs through dlrm-launch on this machine (rank 0 is the front):
# accuracy-mode predictions equal a plain file-mode run's.
if(TARGET dlrm-launch AND TARGET dlrm-cluster AND TARGET dlrm-shard AND TARGET dlrm-data)
  add_test(NAME launcher.scenario
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/scenario.sh $<TARGET_FILE_DIR:dlrm-launch>
            ${CMAKE_CURRENT_BINARY_DIR}/launcher_scenario)
  set_tests_properties(launcher.scenario PROPERTIES LABELS "launcher;mpi" ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 TIMEOUT 120)
endif()

# dlrm-launch --program dlrm-serve on this machine: the layout has the front,
# a REST answer equals a plain file-mode run's predictions, and one SIGTERM
# to dlrm-launch drains the job (exit 0, no dlrm-serve left).
if(TARGET dlrm-launch AND TARGET dlrm-serve AND TARGET dlrm-cluster AND TARGET dlrm-shard AND TARGET dlrm-data)
  add_test(NAME launcher.serve
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-launch>
            ${CMAKE_CURRENT_BINARY_DIR}/launcher_serve)
  set_tests_properties(launcher.serve PROPERTIES LABELS "launcher;mpi;serve" ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 TIMEOUT 180)
endif()
