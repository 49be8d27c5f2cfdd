# Oracle tests: dlrm-cluster against PyTorch itself. oracle.setup trains a
# small reference-architecture DLRM with Debian's torch (tests/oracle/oracle.py)
# and saves it in every importable format; each oracle.FORMAT.PLAN.sN.nR test
# imports one format with dlrm-shard (N shards, a different plan per N), serves
# it with R ranks under mpiexec, and requires PyTorch's predictions to within
# 1e-5 and PyTorch's AUC to within 1e-6 (check.py derives both tolerances).
# Without torch in /usr/bin/python3 the setup exits 77 and everything skips.
if(NOT TARGET dlrm-cluster OR NOT TARGET dlrm-shard)
  return()
endif()

set(DLRM_ORACLE_WORK ${CMAKE_CURRENT_BINARY_DIR}/oracle)

add_test(NAME oracle.setup
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/oracle.py --out ${DLRM_ORACLE_WORK}/torch)
set_tests_properties(oracle.setup PROPERTIES FIXTURES_SETUP oracle SKIP_RETURN_CODE 77 LABELS "oracle"
  ENVIRONMENT "OMP_NUM_THREADS=1" PROCESSORS 2 TIMEOUT 900)

# plan:shards:ranks:data — N = 1, 2, 3 shards with one or two dense ranks;
# the 2-shard runs read the .npz accuracy data, the others the MLPerf binary.
set(DLRM_ORACLE_CONFIGS table:1:2:bin row:2:4:npz column:3:4:bin)
foreach(format legacy zip wrapped npy onnx)
  foreach(item ${DLRM_ORACLE_CONFIGS})
    string(REPLACE ":" ";" cfg ${item})
    list(GET cfg 0 plan)
    list(GET cfg 1 shards)
    list(GET cfg 2 ranks)
    list(GET cfg 3 data)
    set(name oracle.${format}.${plan}.s${shards}.n${ranks})
    add_test(NAME ${name}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_ORACLE_WORK} ${format}
        ${plan} ${shards} ${ranks} ${data})
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED oracle ENVIRONMENT "${DLRM_MPI_ENV}"
      SKIP_RETURN_CODE 77 PROCESSORS 2 LABELS "oracle;mpi" TIMEOUT 300)
  endforeach()
endforeach()

# Quantized serving of the oracle model (issue 7): fp32/fp16/int8/int4 tables x
# fp32/int8 MLPs (int8 MLPs calibrated on oracle.py's held-out calib.bin), each
# relative AUC loss against the fp32 run within the issue's goals, checked both
# by dlrm-cluster --auc-budget and by quantized.py; prints the table and writes
# it to oracle/quantized/table.json. 9 runs of 8192 samples: a few seconds.
add_test(NAME oracle.quantized
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/quantized.py $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_ORACLE_WORK})
set_tests_properties(oracle.quantized PROPERTIES FIXTURES_REQUIRED oracle ENVIRONMENT "${DLRM_MPI_ENV};OMP_NUM_THREADS=1"
  SKIP_RETURN_CODE 77 PROCESSORS 2 LABELS "oracle;mpi" TIMEOUT 300)

# DLRM-v2 (issue 16): oracle_dcn.py trains a DLRM_DCN of small-v2's shape in
# plain PyTorch (tests/oracle/dlrm_dcn.py: the cross network and multi-hot
# bags from the formulas) and saves it under TorchRec's keys, DLRMTrain's
# "model." prefix, Intel's renaming and as .npy files, with test pairs in
# MLPerf's dlrm-v2 layout; each oracle.dcn.FORMAT.PLAN.sN.nR imports one form
# and requires PyTorch's predictions within 1e-5 (check.py).
set(DLRM_ORACLE_DCN_WORK ${CMAKE_CURRENT_BINARY_DIR}/oracle-dcn)
add_test(NAME oracle.dcn.setup
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/oracle_dcn.py --out ${DLRM_ORACLE_DCN_WORK}/torch)
set_tests_properties(oracle.dcn.setup PROPERTIES FIXTURES_SETUP oracle_dcn SKIP_RETURN_CODE 77 LABELS "oracle;dcn"
  ENVIRONMENT "OMP_NUM_THREADS=1" PROCESSORS 2 TIMEOUT 900)
foreach(item torchrec:table:1:2 dlrmtrain:row:2:4 intel:column:3:4 npy-torchrec:auto:2:5 torchrec:row:3:5)
  string(REPLACE ":" ";" cfg ${item})
  list(GET cfg 0 format)
  list(GET cfg 1 plan)
  list(GET cfg 2 shards)
  list(GET cfg 3 ranks)
  set(name oracle.dcn.${format}.${plan}.s${shards}.n${ranks})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_ORACLE_DCN_WORK} ${format}
      ${plan} ${shards} ${ranks} multihot)
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED oracle_dcn ENVIRONMENT "${DLRM_MPI_ENV}"
    SKIP_RETURN_CODE 77 PROCESSORS 2 LABELS "oracle;mpi;dcn" TIMEOUT 300)
endforeach()
add_test(NAME oracle.dcn.quantized
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/quantized_dcn.sh $<TARGET_FILE_DIR:dlrm-cluster> ${DLRM_ORACLE_DCN_WORK})
set_tests_properties(oracle.dcn.quantized PROPERTIES FIXTURES_REQUIRED oracle_dcn
  ENVIRONMENT "${DLRM_MPI_ENV};OMP_NUM_THREADS=1" SKIP_RETURN_CODE 77 PROCESSORS 2 LABELS "oracle;mpi;dcn" TIMEOUT 300)
