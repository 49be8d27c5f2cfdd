# Command-line tests of the tools: each case of a script is one CTest entry.
if(TARGET dlrm-shard)
  set(DLRM_SHARD_CLI_CASES
    synth_inspect_verify plans_and_trailing_slash import_npy
    verify_flipped_data_byte verify_flipped_header_byte verify_truncated verify_flipped_dense_byte
    verify_manifest_version verify_missing_dir inspect_not_a_model
    dtype_int4_writes_verifies dtype_quantized_plans dtype_unknown table_dtype_bad preset_unknown zero_shards more_shards_than_rows
    table_plan_too_many_shards column_splits_not_dividing plan_unknown
    max_shard_bytes_too_small max_shard_bytes_bad_size max_shard_bytes_suffixes out_exists
    import_missing_path import_bad_npy import_npy_bad_shape import_npy_unexpected_file import_npy_empty_dir
    import_not_a_checkpoint missing_required_option
    interrupted_write_leaves_nothing)
  foreach(case ${DLRM_SHARD_CLI_CASES})
    add_test(NAME shard_cli.${case}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/shard_cli.sh $<TARGET_FILE:dlrm-shard> ${case})
    set_tests_properties(shard_cli.${case} PROPERTIES LABELS cli TIMEOUT 120)
  endforeach()
endif()

# dlrm-shard import of bad checkpoints: each case exits non-zero with a
# message naming the file and entry, and leaves no output behind.
if(TARGET dlrm-shard AND TARGET dlrm-data)
  add_test(NAME shard_cli.import_bad_input
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/import_bad_input.sh $<TARGET_FILE_DIR:dlrm-shard> ${DLRM_FORMATS_FIXTURES}
      ${CMAKE_CURRENT_BINARY_DIR}/import_bad_input)
  set_tests_properties(shard_cli.import_bad_input PROPERTIES FIXTURES_REQUIRED formats_fixtures SKIP_RETURN_CODE 77
    LABELS "cli;formats" TIMEOUT 300)
endif()

# dlrm-shard tune-precision: both model families tuned at budget 0.001 and
# re-evaluated independently by dlrm-reference; bad inputs refused.
if(TARGET dlrm-shard AND TARGET dlrm-data AND TARGET dlrm-reference)
  foreach(case dot dcn bad_input)
    add_test(NAME shard_cli.tune_precision.${case}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tune_precision.sh $<TARGET_FILE_DIR:dlrm-shard>
              ${CMAKE_CURRENT_BINARY_DIR}/tune_precision ${case})
    set_tests_properties(shard_cli.tune_precision.${case} PROPERTIES LABELS cli PROCESSORS 2 TIMEOUT 300)
  endforeach()
endif()
