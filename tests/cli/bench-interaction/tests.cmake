if(NOT TARGET bench-interaction)
  return()
endif()
# The interaction benchmark runs (a short smoke run, not a measurement): every
# case, each row layout included, matches its _ref twin.
add_test(NAME cli.bench_interaction
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/smoke.sh $<TARGET_FILE:bench-interaction>)
set_tests_properties(cli.bench_interaction PROPERTIES LABELS cli TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=1")
