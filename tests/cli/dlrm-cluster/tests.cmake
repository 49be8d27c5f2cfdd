# Multi-rank tests: the real dlrm-cluster under mpiexec at 2..5 ranks over
# table-, row-, column-wise and auto plans, each checked against the
# single-process _ref reference, run twice (pooled rows through shared memory,
# then through MPI all-to-all) for bit-identical output, and
# finally all compared with each other.
if(NOT TARGET dlrm-cluster OR NOT TARGET dlrm-reference OR NOT TARGET dlrm-data OR NOT TARGET dlrm-shard)
  return()
endif()

# plan:shards:ranks
set(DLRM_MPI_CONFIGS
  table:1:2 table:2:3 table:2:4 table:3:5
  row:2:3 row:3:4 row:2:5
  column:1:2 column:2:4 column:4:5
  auto:2:4)

set(plans "")
foreach(item ${DLRM_MPI_CONFIGS})
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(APPEND plans "${plan}:${shards}")
endforeach()
list(REMOVE_DUPLICATES plans)

add_test(NAME cluster_mpi.setup
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/setup.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK} ${plans})
set_tests_properties(cluster_mpi.setup PROPERTIES FIXTURES_SETUP cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
  LABELS mpi TIMEOUT 300)

set(runs "")
foreach(item ${DLRM_MPI_CONFIGS})
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 ranks)
  set(name cluster_mpi.${plan}.s${shards}.n${ranks})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK} ${plan} ${shards} ${ranks})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS mpi TIMEOUT 300)
  list(APPEND runs ${name})
endforeach()

add_test(NAME cluster_mpi.agreement
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_run.py agreement ${DLRM_MPI_WORK})
set_tests_properties(cluster_mpi.agreement PROPERTIES FIXTURES_REQUIRED cluster_mpi DEPENDS "${runs}" LABELS mpi)

add_test(NAME cluster_mpi.bad_input
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bad_input.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK})
set_tests_properties(cluster_mpi.bad_input PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
  PROCESSORS 2 LABELS mpi TIMEOUT 300)

# What --exchange-transport auto picks (pool where shard ranks share the
# dense ranks' cores, else shm) and that each pick predicts the same.
add_test(NAME cluster_mpi.auto_transport
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/auto_transport.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK})
set_tests_properties(cluster_mpi.auto_transport PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
  PROCESSORS 2 LABELS mpi TIMEOUT 300)

# Quantized tables and int8 MLPs against their own reference and against fp32.
add_test(NAME cluster_mpi.quantized
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/quantized.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK})
set_tests_properties(cluster_mpi.quantized PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
  PROCESSORS 2 LABELS mpi TIMEOUT 300)

# Mixed per-table storage (fp32, fp16, int8 and int4 tables in one model) at
# several plans and rank counts, against its own reference and against fp32.
foreach(item table:2:3 row:2:4 column:2:4 auto:3:5)
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 ranks)
  add_test(NAME cluster_mpi.mixed.${plan}.s${shards}.n${ranks}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/mixed.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK} small ${plan} ${shards}
            ${ranks})
  set_tests_properties(cluster_mpi.mixed.${plan}.s${shards}.n${ranks} PROPERTIES FIXTURES_REQUIRED cluster_mpi
    ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 LABELS mpi TIMEOUT 300)
endforeach()

# Scenario runs (rank 0 is the front): accuracy mode equal to file mode over
# several plans and rank counts (plan:shards:ranks, ranks counting the
# front), VALID far below capacity, INVALID far above it, --find-peak,
# Ctrl-C, and values refused before any work.
foreach(item table:2:4 row:3:6 column:2:5 auto:2:5)
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 ranks)
  set(name cluster_mpi.scenario.accuracy.${plan}.s${shards}.n${ranks})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/scenario.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK} accuracy
            ${plan} ${shards} ${ranks})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS mpi TIMEOUT 300)
endforeach()
foreach(case valid invalid find_peak interrupt bad_values)
  add_test(NAME cluster_mpi.scenario.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/scenario.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_MPI_WORK} ${case})
  # Latency verdicts want the cores to themselves.
  set_tests_properties(cluster_mpi.scenario.${case} PROPERTIES FIXTURES_REQUIRED cluster_mpi
    ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 RUN_SERIAL TRUE LABELS mpi TIMEOUT 300)
endforeach()

# DLRM-v2's shape (small-v2: the DCNv2 cross network, multi-hot bags pooled
# on the shards, data in MLPerf's dlrm-v2 layout): the same checks as above at
# several plans and rank counts, plus scenarios in accuracy mode.
set(DLRM_DCN_WORK ${DLRM_MPI_WORK}-dcn)
set(DLRM_DCN_CONFIGS table:2:3 row:2:4 column:2:4 auto:3:5)
set(plans "")
foreach(item ${DLRM_DCN_CONFIGS})
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(APPEND plans "${plan}:${shards}")
endforeach()
add_test(NAME cluster_dcn.setup
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/setup.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_DCN_WORK} ${plans})
set_tests_properties(cluster_dcn.setup PROPERTIES FIXTURES_SETUP cluster_dcn
  ENVIRONMENT "${DLRM_MPI_ENV};PRESET=small-v2" LABELS "mpi;dcn" TIMEOUT 300)
set(runs "")
foreach(item ${DLRM_DCN_CONFIGS})
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 ranks)
  set(name cluster_dcn.${plan}.s${shards}.n${ranks})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_DCN_WORK} ${plan} ${shards} ${ranks})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cluster_dcn ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS "mpi;dcn" TIMEOUT 300)
  list(APPEND runs ${name})
endforeach()
add_test(NAME cluster_dcn.agreement
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_run.py agreement ${DLRM_DCN_WORK})
set_tests_properties(cluster_dcn.agreement PROPERTIES FIXTURES_REQUIRED cluster_dcn DEPENDS "${runs}"
  LABELS "mpi;dcn")
add_test(NAME cluster_dcn.mixed.row.s2.n4
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/mixed.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_DCN_WORK} small-v2 row 2 4)
set_tests_properties(cluster_dcn.mixed.row.s2.n4 PROPERTIES FIXTURES_REQUIRED cluster_dcn
  ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 LABELS "mpi;dcn" TIMEOUT 300)
add_test(NAME cluster_dcn.scenario.accuracy.row.s2.n5
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/scenario.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_DCN_WORK} accuracy row 2 5)
set_tests_properties(cluster_dcn.scenario.accuracy.row.s2.n5 PROPERTIES FIXTURES_REQUIRED cluster_dcn
  ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 LABELS "mpi;dcn" TIMEOUT 300)
