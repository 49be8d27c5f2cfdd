# Format tests (test_formats): the restricted unpickler, PyTorch checkpoints,
# ONNX models, Criteo TSV conversion and .npz accuracy data. Most cases read
# small files that tests/formats/make_fixtures.py writes with Debian's torch
# and onnx (the formats.fixtures setup test); without torch that test is
# skipped (exit 77) and the cases that need its files skip themselves.
set(DLRM_FORMATS_FIXTURES ${CMAKE_CURRENT_BINARY_DIR}/formats_fixtures)

file(GLOB DLRM_FORMATS_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cc)
add_executable(test_formats ${DLRM_FORMATS_TEST_SOURCES})
target_link_libraries(test_formats PRIVATE dlrm_cluster dlrm_shard onnx_proto protobuf::libprotobuf ZLIB::ZLIB
  GTest::gtest GTest::gtest_main)
target_compile_definitions(test_formats PRIVATE DLRM_FORMATS_FIXTURES="${DLRM_FORMATS_FIXTURES}")

add_test(NAME formats.fixtures
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/make_fixtures.py ${DLRM_FORMATS_FIXTURES})
set_tests_properties(formats.fixtures PROPERTIES FIXTURES_SETUP formats_fixtures SKIP_RETURN_CODE 77
  LABELS formats TIMEOUT 300)

gtest_discover_tests(test_formats TEST_PREFIX formats. DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS formats TIMEOUT 300 FIXTURES_REQUIRED formats_fixtures)

# Command-line bad input: each case exits non-zero with a message naming the
# file and entry, and leaves no output behind.
if(TARGET dlrm-shard AND TARGET dlrm-data)
  add_test(NAME formats.cli_bad_input
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_bad_input.sh $<TARGET_FILE_DIR:dlrm-shard> ${DLRM_FORMATS_FIXTURES}
      ${CMAKE_CURRENT_BINARY_DIR}/formats_cli)
  set_tests_properties(formats.cli_bad_input PROPERTIES FIXTURES_REQUIRED formats_fixtures SKIP_RETURN_CODE 77
    LABELS "cli;formats" TIMEOUT 300)
endif()
