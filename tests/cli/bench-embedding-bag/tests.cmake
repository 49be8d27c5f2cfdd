if(NOT TARGET bench-embedding-bag)
  return()
endif()
# The kernel benchmark runs (a short smoke run, not a measurement): every
# case matches its _ref twin, and the shared-memory cases sit on the pages
# they name.
add_test(NAME cli.bench_embedding_bag
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/smoke.sh $<TARGET_FILE:bench-embedding-bag>)
set_tests_properties(cli.bench_embedding_bag PROPERTIES LABELS cli TIMEOUT 120 ENVIRONMENT "OMP_NUM_THREADS=1")
