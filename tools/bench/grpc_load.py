#!/usr/bin/python3
"""A closed-loop gRPC load generator for dlrm-serve's benchmark (hey speaks
only HTTP): C threads, each sending ModelInfer requests of P pairs back to
back for S seconds over its own channel, with stubs that grpc_tools.protoc
generates from cluster/serve/proto/inference.proto.

    grpc_load.py --address HOST:PORT --data DATA.bin --manifest MANIFEST.json --proto-dir DIR
                 [--pairs 256] [--concurrency 16] [--seconds 30] [--raw] [--json OUT]

Prints and writes {"requests", "seconds", "requests_per_s", "pairs_per_s",
"p50_ms", "p99_ms", "errors"}; every answer's length is checked.
"""
import argparse
import json
import shutil
import sys
import tempfile
import threading
import time

import numpy as np


def stubs(proto_dir):
    """grpc and the modules grpc_tools.protoc generates from proto_dir/inference.proto (also the tests' client)."""
    out = tempfile.mkdtemp(prefix="dlrm-grpc-stubs-")
    try:
        from grpc_tools import protoc
        if protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                        f"{proto_dir}/inference.proto"]) != 0:
            sys.exit("grpc_tools.protoc could not compile inference.proto")
        sys.path.insert(0, out)
        import grpc
        import inference_pb2
        import inference_pb2_grpc
        sys.path.remove(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)  # the modules are loaded; the files can go
    return grpc, inference_pb2, inference_pb2_grpc


def main():
    ap = argparse.ArgumentParser()
    for name in ["--address", "--data", "--manifest", "--proto-dir"]:
        ap.add_argument(name, required=True)
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--raw", action="store_true", help="inputs in raw_input_contents (else typed contents)")
    ap.add_argument("--json")
    args = ap.parse_args()
    grpc, pb, pbg = stubs(args.proto_dir)
    arch = json.load(open(args.manifest))["dlrm_model"]["arch"]
    features, tables = arch["dense_features"], len(arch["table_rows"])
    rec = np.fromfile(args.data, dtype="<i4").reshape(-1, 1 + features + tables)

    def request(k):
        ids = np.arange(k * args.pairs, (k + 1) * args.pairs) % rec.shape[0]
        dense, sparse = rec[ids, 1:1 + features], rec[ids, 1 + features:]
        req = pb.ModelInferRequest(model_name="dlrm")
        d = req.inputs.add(name="dense", datatype="INT32", shape=[args.pairs, features])
        s = req.inputs.add(name="sparse", datatype="INT32", shape=[args.pairs, tables])
        if args.raw:
            req.raw_input_contents.extend([dense.astype("<i4").tobytes(), sparse.astype("<i4").tobytes()])
        else:
            d.contents.int_contents.extend(dense.reshape(-1).tolist())
            s.contents.int_contents.extend(sparse.reshape(-1).tolist())
        return req

    latencies, errors, lock = [], [], threading.Lock()
    start = threading.Barrier(args.concurrency + 1)

    def client(k):
        stub = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(args.address))
        req = request(k)
        stub.ModelInfer(req)  # connect and warm before the clock starts
        mine = []
        start.wait()
        end = time.perf_counter() + args.seconds
        while (t0 := time.perf_counter()) < end:
            try:
                answer = stub.ModelInfer(req)
                n = len(answer.raw_output_contents[0]) // 4 if answer.raw_output_contents else \
                    len(answer.outputs[0].contents.fp32_contents)
                if n != args.pairs:
                    raise RuntimeError(f"{n} predictions for {args.pairs} pairs")
                mine.append(time.perf_counter() - t0)
            except Exception as e:  # counted, not fatal: the benchmark reports them
                with lock:
                    errors.append(str(e)[:200])
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    lat = np.sort(np.asarray(latencies)) * 1e3
    out = {"requests": len(lat), "seconds": seconds, "requests_per_s": len(lat) / seconds,
           "pairs_per_s": len(lat) * args.pairs / seconds,
           "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
           "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
           "errors": len(errors), "first_error": errors[0] if errors else None}
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
