# Multi-host tests: dlrm-launch across 2 and 3 "hosts" made of network
# namespaces on this machine, and faults (unknown or unreachable hosts,
# zero or too few slots, a model too big, a rank killed mid-run, a
# shared-memory exchange asked for across hosts), a scenario run (its
# front as rank 0), and dlrm-serve (its front listening on the first host).
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN); skipped with the reason
# otherwise.
if(NOT TARGET dlrm-launch OR NOT TARGET dlrm-cluster OR NOT TARGET dlrm-shard OR NOT TARGET dlrm-data)
  return()
endif()

set(DLRM_MH_WORK ${CMAKE_CURRENT_BINARY_DIR}/multihost)

add_test(NAME multihost.setup
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/setup.sh $<TARGET_FILE_DIR:dlrm-launch> ${DLRM_MH_WORK})
set_tests_properties(multihost.setup PROPERTIES FIXTURES_SETUP multihost ENVIRONMENT "${DLRM_MPI_ENV}"
  LABELS multihost TIMEOUT 120)

foreach(case hosts2 hosts3 hosts2_bf16 unknown_host host_down zero_slots too_few_slots model_too_big rank_killed shm_across_hosts pool_across_hosts
    scenario serve)
  add_test(NAME multihost.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh ${case} $<TARGET_FILE_DIR:dlrm-launch> ${DLRM_MH_WORK}
            ${CMAKE_SOURCE_DIR}/hostfiles)
  # One at a time: the namespace hosts share this machine's cores, and the
  # rank_killed timing must not depend on what else runs.
  set_tests_properties(multihost.${case} PROPERTIES FIXTURES_REQUIRED multihost SKIP_RETURN_CODE 77
    RESOURCE_LOCK dlrm_netns PROCESSORS 2 LABELS multihost TIMEOUT 120)
endforeach()
