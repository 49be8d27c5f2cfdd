# dlrm-serve under mpiexec with real clients (curl, hey, http.client, grpcio),
# on the models and data of the cluster_mpi fixture (tests/cli/dlrm-cluster).
#   serve_mpi.protocol.PLAN.sS.dD  REST and gRPC against the _ref reference, bad
#                                  requests, concurrent clients, /metrics, SIGTERM
#   serve_mpi.hey                  load with hey; a full queue answers 429
#   serve_mpi.drain                SIGUSR2 to mpiexec under load
#   serve_mpi.rank_dies            a dense rank killed mid-run
#   serve_mpi.bad_args             taken ports, malformed addresses, too few ranks
# (serve.* are the protocol library's unit tests, tests/serve.)
if(NOT TARGET dlrm-serve OR NOT TARGET dlrm-cluster)
  return()
endif()

# plan:shards:dense ranks (a front besides)
foreach(item table:2:1 row:2:2 column:2:1 auto:2:2)
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 dense)
  set(name serve_mpi.protocol.${plan}.s${shards}.d${dense})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-serve> ${DLRM_MPI_WORK} protocol
      ${plan} ${shards} ${dense})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS "mpi;serve" TIMEOUT 400)
endforeach()

foreach(case hey drain rank_dies bad_args)
  add_test(NAME serve_mpi.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-serve> ${DLRM_MPI_WORK} ${case})
  set_tests_properties(serve_mpi.${case} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS "mpi;serve" TIMEOUT 400)
endforeach()

# A dcn model with multi-hot bags (the cluster_dcn fixture of tests/cli/dlrm-cluster).
add_test(NAME serve_mpi.protocol_dcn.row.s2.d2
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-serve> ${DLRM_MPI_WORK}-dcn protocol_dcn row 2 2)
set_tests_properties(serve_mpi.protocol_dcn.row.s2.d2 PROPERTIES FIXTURES_REQUIRED cluster_dcn
  ENVIRONMENT "${DLRM_MPI_ENV}" PROCESSORS 2 LABELS "mpi;serve;dcn" TIMEOUT 400)
