# dlrm-serve under mpiexec with real clients (curl, hey, http.client, grpcio),
# on the models and data of the cluster_mpi fixture (tests/cli/dlrm-cluster).
#   serve.protocol.PLAN.sS.dD   REST and gRPC against the _ref reference, bad
#                               requests, concurrent clients, /metrics, SIGTERM
#   serve.hey                   load with hey; a full queue answers 429
#   serve.drain                 SIGTERM under load
#   serve.rank_dies             a dense rank killed mid-run
#   serve.bad_args              taken ports, malformed addresses, too few ranks
if(NOT TARGET dlrm-serve OR NOT TARGET dlrm-cluster)
  return()
endif()

# plan:shards:dense ranks (a front besides)
foreach(item table:2:1 row:2:2 column:2:1 auto:2:2)
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 plan)
  list(GET cfg 1 shards)
  list(GET cfg 2 dense)
  set(name serve.protocol.${plan}.s${shards}.d${dense})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-serve> ${DLRM_MPI_WORK} protocol
      ${plan} ${shards} ${dense})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS "mpi;serve" TIMEOUT 400)
endforeach()

foreach(case hey drain rank_dies bad_args)
  add_test(NAME serve.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/serve.sh $<TARGET_FILE_DIR:dlrm-serve> ${DLRM_MPI_WORK} ${case})
  set_tests_properties(serve.${case} PROPERTIES FIXTURES_REQUIRED cluster_mpi ENVIRONMENT "${DLRM_MPI_ENV}"
    PROCESSORS 2 LABELS "mpi;serve" TIMEOUT 400)
endforeach()
