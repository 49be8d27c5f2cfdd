# libFuzzer targets, built with clang++ (the main build may use g++) by
# run_fuzzer.sh straight from the sources into the build directory, then run
# for a bounded time from the seed corpus in tests/fuzz/corpus. Any crash,
# sanitizer report, leak, timeout or out-of-memory fails the test.
#   fuzz.pickle  the restricted unpickler (shard/import/src/pickle*.cc)
#   fuzz.tsv     the Criteo TSV line parser (cluster/datasets/src/criteo.cc)
#   fuzz.checkpoint  whole .pt (zip, legacy) and .onnx files through
#                TorchCheckpoint / OnnxModel and the architecture inference
#   fuzz.scenario  the scenario options' values (--scenario, --mode,
#                --pairs-per-query) and Settings::validate
#   fuzz.serve_http  REST inference bodies, JSON and binary-data extension,
#                through parse_http_request and http_response (cluster/serve)
#   fuzz.serve_grpc  serialized ModelInferRequest messages through
#                parse_grpc_request and grpc_response (cluster/serve); both
#                serve targets parse each input for a one-hot model and for a
#                multi-hot one (per-table bags, transformed dense features)
#   fuzz.multi_hot  dlrm-v2 multi-hot files (the .npz's zip directory, the
#                .npy headers) through Dataset::open_multi_hot, then every
#                held bag, label and dense value (cluster/datasets)
#   fuzz.tuned_config  tuned.json (dlrm-launch --config) through
#                parse_tuned_config, written back and parsed again
# DLRM_FUZZ_SECONDS sets the time per target (default 20).
set(DLRM_FUZZ_SECONDS 20 CACHE STRING "Seconds each libFuzzer target runs under CTest")
foreach(target pickle tsv checkpoint scenario serve_http serve_grpc multi_hot tuned_config)
  add_test(NAME fuzz.${target}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzzer.sh ${target} ${PROJECT_SOURCE_DIR}
      ${CMAKE_CURRENT_BINARY_DIR}/fuzz ${DLRM_FUZZ_SECONDS})
  set_tests_properties(fuzz.${target} PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL ON)
endforeach()
