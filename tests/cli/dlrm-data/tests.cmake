# Command-line tests of dlrm-data and dlrm-reference: one setup (two small
# models with the same weights, sharded 1 and 3 ways, and a data file), then
# determinism, reference agreement, info, and bad input (each failure must
# exit non-zero with an error naming the problem and leave no output).
if(NOT TARGET dlrm-data OR NOT TARGET dlrm-reference OR NOT TARGET dlrm-shard)
  return()
endif()

set(DLRM_DATA_CLI_WORK ${CMAKE_CURRENT_BINARY_DIR}/data_cli)
set(DLRM_DATA_CLI_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh)

add_test(NAME data_cli.setup
  COMMAND bash ${DLRM_DATA_CLI_SCRIPT} $<TARGET_FILE_DIR:dlrm-data> ${DLRM_DATA_CLI_WORK} setup)
set_tests_properties(data_cli.setup PROPERTIES FIXTURES_SETUP data_cli LABELS cli TIMEOUT 300)

foreach(case synth_deterministic reference info missing_model bad_sample_count bad_data_file bad_output
    multi_hot_synth multi_hot_bad multi_hot_model_labels)
  add_test(NAME data_cli.${case}
    COMMAND bash ${DLRM_DATA_CLI_SCRIPT} $<TARGET_FILE_DIR:dlrm-data> ${DLRM_DATA_CLI_WORK} ${case})
  set_tests_properties(data_cli.${case} PROPERTIES FIXTURES_REQUIRED data_cli LABELS cli TIMEOUT 300)
endforeach()
