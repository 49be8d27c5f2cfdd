# DLRM_DCN (DLRM-v2) import. import.dcn_fixtures writes a tiny DLRM_DCN with
# tests/oracle/dlrm_dcn.py (seed 16): torch.save files in the TorchRec,
# DLRMTrain and Intel namings, .npy directories in the TorchRec and Intel
# namings, and the expected internal tensors; it joins the formats_fixtures
# fixture, so test_import's DcnCheckpoint cases run after it (and skip without
# torch). shard_cli.import_dcn imports each form with dlrm-shard and compares
# the model directory with the PyTorch model (dlrm_dcn.py compare).
set(DLRM_DCN_FIXTURES ${CMAKE_CURRENT_BINARY_DIR}/dcn_fixtures)
add_test(NAME import.dcn_fixtures
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/oracle/dlrm_dcn.py write ${DLRM_DCN_FIXTURES} --arch tiny --seed 16)
set_tests_properties(import.dcn_fixtures PROPERTIES FIXTURES_SETUP formats_fixtures SKIP_RETURN_CODE 77
  LABELS "unit;formats" TIMEOUT 300)
target_compile_definitions(test_import PRIVATE DLRM_DCN_FIXTURES="${DLRM_DCN_FIXTURES}")

# The plain-PyTorch DLRM_DCN against a pair-by-pair float64 numpy evaluation of its formulas.
add_test(NAME import.dlrm_dcn_selftest
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/oracle/dlrm_dcn.py selftest --seed 16)
set_tests_properties(import.dlrm_dcn_selftest PROPERTIES SKIP_RETURN_CODE 77 LABELS "unit;formats" TIMEOUT 300)

if(TARGET dlrm-shard)
  add_test(NAME shard_cli.import_dcn
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli/dlrm-shard/import_dcn.sh $<TARGET_FILE:dlrm-shard> ${DLRM_DCN_FIXTURES}
      ${CMAKE_CURRENT_BINARY_DIR}/import_dcn)
  set_tests_properties(shard_cli.import_dcn PROPERTIES FIXTURES_REQUIRED formats_fixtures SKIP_RETURN_CODE 77
    LABELS "cli;formats" TIMEOUT 300)
endif()
