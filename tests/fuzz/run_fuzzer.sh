#!/usr/bin/env bash
# Builds one libFuzzer target with clang++ (-fsanitize=fuzzer,address,undefined)
# straight from the sources, then fuzzes it for a bounded time from the seed
# corpus. A crash, leak, timeout or out-of-memory fails the test and leaves the
# input in WORK/crash-*.
#   run_fuzzer.sh NAME SOURCE_DIR WORK SECONDS
#   NAME: pickle | tsv | checkpoint | scenario | serve_http | serve_grpc | multi_hot | tuned_config
set -euo pipefail
NAME=$1 SRC=$2 WORK=$3 SECONDS_MAX=$4
CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "SKIP: $CXX not found (install clang and libclang-rt-14-dev)"; exit 77
fi
mkdir -p "$WORK"
# A toolchain that cannot build libFuzzer targets at all is a skip, not a failure.
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$WORK/probe.cc"
if ! "$CXX" -fsanitize=fuzzer,address "$WORK/probe.cc" -o "$WORK/probe" 2>"$WORK/probe.log"; then
  echo "SKIP: $CXX cannot build libFuzzer targets (install libclang-rt-14-dev): $(head -c 300 "$WORK/probe.log")"
  exit 77
fi
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -I"$SRC/common/include" -I"$SRC/shard/model/include" -I"$SRC/shard/sharding/include" -I"$SRC/shard/import/include"
  -I"$SRC/cluster/datasets/include" -I"$SRC/cluster/scenario/include" -I"$SRC/launcher/include")
common=("$SRC/common/src/error.cc")
unpickler=("$SRC"/shard/import/src/{pickle,pickle_globals,pickle_source,pickle_text,pickle_value}.cc)
# The protocol library without its generated messages (dense_feature is in dataset.cc).
serve=("$SRC"/cluster/serve/src/{protocol,http_body,tensor_check}.cc "$SRC/cluster/datasets/src/dataset.cc" "${common[@]}")
serve_flags=(-I"$SRC/cluster/serve/include" -DDLRM_VERSION=\"fuzz\" -fsanitize-ignorelist="$SRC/tests/fuzz/ubsan_ignorelist.txt")
case $NAME in
  pickle)
    sources=("$SRC/tests/fuzz/pickle_fuzzer.cc" "${unpickler[@]}" "${common[@]}")
    libs=($(pkg-config --libs fmt)) ;;
  tsv)
    sources=("$SRC/tests/fuzz/tsv_fuzzer.cc" "$SRC/cluster/datasets/src/criteo.cc" "$SRC/cluster/datasets/src/npz.cc"
      "$SRC/common/src/zip.cc" "$SRC/cluster/datasets/src/dataset.cc" "$SRC/common/src/npy.cc" "$SRC/common/src/staged_output.cc"
      "$SRC/common/src/progress.cc" "$SRC/common/src/format.cc" "${common[@]}")
    flags+=($(pkg-config --cflags spdlog fmt libzip zlib))
    libs=($(pkg-config --libs spdlog fmt libzip zlib)) ;;
  multi_hot)
    sources=("$SRC/tests/fuzz/multi_hot_fuzzer.cc" "$SRC"/cluster/datasets/src/{dataset,multi_hot,multi_hot_writer}.cc
      "$SRC"/common/src/{npy,staged_output,format}.cc "${common[@]}")
    flags+=($(pkg-config --cflags spdlog fmt zlib))
    libs=($(pkg-config --libs spdlog fmt zlib)) ;;
  checkpoint)
    sources=("$SRC/tests/fuzz/checkpoint_fuzzer.cc" "${unpickler[@]}"
      "$SRC"/shard/import/src/{torch_checkpoint,torch_legacy,torch_read,torch_tensors,torch_zip}.cc
      "$SRC"/shard/import/src/{onnx_model,onnx_read,onnx_wire,state_dict,state_dict_keys,state_dict_layout}.cc "$SRC"/shard/model/src/*.cc
      "$SRC"/common/src/*.cc)
    flags+=(-DONNX_NAMESPACE=onnx -DONNX_ML=1 $(pkg-config --cflags spdlog fmt libzip protobuf libxxhash))
    libs=($(pkg-config --libs spdlog fmt libzip protobuf libxxhash) -lonnx_proto) ;;
  scenario)
    sources=("$SRC/tests/fuzz/scenario_fuzzer.cc" "$SRC"/cluster/scenario/src/{settings,queries}.cc "${common[@]}")
    flags+=($(pkg-config --cflags fmt))
    libs=($(pkg-config --libs fmt)) ;;
  serve_http)
    sources=("$SRC/tests/fuzz/serve_http_fuzzer.cc" "${serve[@]}")
    flags+=("${serve_flags[@]}" $(pkg-config --cflags fmt))
    libs=($(pkg-config --libs fmt)) ;;
  serve_grpc)
    # The messages only (no gRPC service), generated when the .proto changed.
    if ! command -v protoc >/dev/null; then echo "SKIP: protoc not found (install protobuf-compiler)"; exit 77; fi
    proto_out=$WORK/serve_proto
    if [ ! -f "$proto_out/inference.pb.cc" ] || [ "$SRC/cluster/serve/proto/inference.proto" -nt "$proto_out/inference.pb.cc" ]; then
      mkdir -p "$proto_out"
      protoc --cpp_out="$proto_out" -I "$SRC/cluster/serve/proto" inference.proto
    fi
    sources=("$SRC/tests/fuzz/serve_grpc_fuzzer.cc" "$SRC/cluster/serve/src/grpc_codec.cc" "$proto_out/inference.pb.cc"
      "${serve[@]}")
    flags+=("${serve_flags[@]}" -I"$proto_out" $(pkg-config --cflags fmt protobuf))
    libs=($(pkg-config --libs fmt protobuf)) ;;
  tuned_config)
    sources=("$SRC/tests/fuzz/tuned_config_fuzzer.cc" "$SRC/launcher/src/tuned_config.cc" "$SRC/common/src/json.cc"
      "${common[@]}")
    flags+=(-fsanitize-ignorelist="$SRC/tests/fuzz/ubsan_ignorelist.txt" $(pkg-config --cflags fmt))
    libs=($(pkg-config --libs fmt)) ;;
  *) echo "unknown fuzz target $NAME"; exit 2 ;;
esac
# Rebuild only when a source, this script (the flags) or the ignore list changed.
bin=$WORK/${NAME}_fuzzer
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$SRC/shard" "$SRC/cluster/datasets" "$SRC/cluster/scenario" \
    "$SRC/cluster/serve" "$SRC/common" "$SRC/launcher/src/tuned_config.cc" "$SRC/tests/fuzz/run_fuzzer.sh" "$SRC/tests/fuzz/ubsan_ignorelist.txt" \
    -newer "$bin" -print -quit)" ]; then
  echo "building $bin"
  # One object per source, compiled on every core, then linked.
  objdir=$WORK/${NAME}_obj
  rm -rf "$objdir" && mkdir -p "$objdir"
  pids=()
  for i in "${!sources[@]}"; do
    "$CXX" "${flags[@]}" -c "${sources[$i]}" -o "$objdir/$i.o" &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 0.2; done
  done
  for pid in "${pids[@]}"; do wait "$pid"; done  # a failed compile fails the test (set -e)
  "$CXX" "${flags[@]}" "$objdir"/*.o "${libs[@]}" -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi
corpus=$WORK/${NAME}_corpus
mkdir -p "$corpus"
cd "$WORK"
# Seeds from the source tree first, then the corpus grown by earlier runs.
# -error_exitcode=1: libFuzzer's default (77) is CTest's skip code here, which
# would report a crash as a skipped test. The random seed is fixed, so that a
# run is repeatable; DLRM_FUZZ_SEED=N explores from another one (0: a new
# seed every run, libFuzzer's default).
seed=${DLRM_FUZZ_SEED:-1}
echo "fuzzing $NAME for ${SECONDS_MAX} s, libFuzzer -seed=$seed (DLRM_FUZZ_SEED to change)"
"$bin" -seed="$seed" -max_total_time="$SECONDS_MAX" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -error_exitcode=1 \
  "$corpus" "$SRC/tests/fuzz/corpus/$NAME"
